// Reports from a real run: `shmcheck run --report-dir` on two example specs writes
// every format; the Markdown summary and the JUnit XML match golden files whose
// placeholders stand for what varies between runs (rates, times, run ids, host).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "shmcheck/testing/golden.hpp"
#include "shmcheck/testing/server.hpp"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using shmcheck::testing::matches_golden;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ReportsFromARealRun, ReportDirWritesEveryFormatAndTheyMatchTheirGoldens) {
  const auto dir = fs::temp_directory_path() / ("shmcheck-reports-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto step_summary = dir / "step-summary.md";
  ::setenv("GITHUB_STEP_SUMMARY", step_summary.c_str(), 1);
  auto run = shmcheck::testing::ServerProcess::start(
      {SHMCHECK_BINARY, "run", std::string(SHMCHECK_SOURCE_DIR) + "/specs/mutex-owner-death.yaml",
       std::string(SHMCHECK_SOURCE_DIR) + "/specs/spsc-producer-crash.yaml", "--keep-going",
       "--quiet", "--report-dir", (dir / "out").string()},
      (dir / "run.log").string());
  ::unsetenv("GITHUB_STEP_SUMMARY");
  ASSERT_TRUE(run.has_value());
  const int status = run->wait_exit(120s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << run->log();
  for (const char* f : {"shmcheck.json", "junit.xml", "report.html", "summary.md"}) {
    EXPECT_TRUE(fs::exists(dir / "out" / f)) << f;
  }
  const auto summary = slurp(dir / "out" / "summary.md");
  EXPECT_TRUE(matches_golden(summary, "real-run-summary.md.golden"));
  EXPECT_EQ(slurp(step_summary), summary) << "GITHUB_STEP_SUMMARY gets the same summary";
  EXPECT_TRUE(matches_golden(slurp(dir / "out" / "junit.xml"), "real-run-junit.xml.golden"));
  const auto doc = nlohmann::json::parse(slurp(dir / "out" / "shmcheck.json"));
  EXPECT_EQ(doc.at("format"), "shmcheck-suite");
  ASSERT_EQ(doc.at("runs").size(), 2U);
  EXPECT_EQ(doc["runs"][1].at("spec").at("name"), "spsc-producer-crash");
  EXPECT_FALSE(doc["runs"][1].at("fault_schedule").empty());
  fs::remove_all(dir);
}

// Refused before the run (before, after a run whose result it then lost): a report in
// a missing directory or where no file can be made, and a --report-dir where a report's
// name is taken by a directory.
TEST(ReportsFromARealRun, AnUnwritableReportIsAnEnvironmentError) {
  const auto dir =
      fs::temp_directory_path() / ("shmcheck-reports-bad-" + std::to_string(::getpid()));
  fs::create_directories(dir / "out" / "shmcheck.json");
  const std::string junit = (dir / "missing-dir" / "junit.xml").string();
  const std::string taken = (dir / "out" / "shmcheck.json").string();
  for (const auto& [flag, path, said] :
       {std::tuple{"--junit", junit,
                   "--junit (" + junit + "; cannot create a file in " +
                       (dir / "missing-dir").string() +
                       " to replace it): No such file or directory"},
        // Where no file can be created beside it (it read "No such file" of /proc/version).
        std::tuple{"--json", std::string("/proc/version"),
                   std::string("--json (/proc/version; cannot create a file in /proc to replace "
                               "it)")},
        std::tuple{"--report-dir", (dir / "out").string(),
                   "--report-dir (" + taken + "): Is a directory"}}) {
    auto run = shmcheck::testing::ServerProcess::start(
        {SHMCHECK_BINARY, "run", std::string(SHMCHECK_SOURCE_DIR) + "/specs/mutex-owner-death.yaml",
         "--quiet", flag, path},
        (dir / "run.log").string());
    ASSERT_TRUE(run.has_value());
    const int status = run->wait_exit(120s);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3) << run->log();
    EXPECT_NE(run->log().find(said), std::string::npos) << run->log();
    EXPECT_EQ(run->log().find("mutex-owner-death: pass"), std::string::npos) << run->log();
  }
  fs::remove_all(dir);
}

// A --report-dir is made only when the runs are about to start: a bad spec (exit 2) or a
// metrics port already taken (exit 3) leaves no directory behind. Before, the directory
// (and its missing parents) was made while the flags were read, and stayed.
TEST(ReportsFromARealRun, ARefusedRunLeavesNoReportDir) {
  const auto dir =
      fs::temp_directory_path() / ("shmcheck-reports-refused-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path bad_spec = dir / "bad.yaml";
  std::ofstream(bad_spec) << "name: bad\nduration: soon\n";
  const int taken = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(taken, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  ASSERT_EQ(::getsockname(taken, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  const std::string good_spec = std::string(SHMCHECK_SOURCE_DIR) + "/specs/mutex-owner-death.yaml";
  // Spelled three ways: plain, with a trailing '/', and through a '..'.
  const std::string reports = (dir / "new" / "reports").string();
  for (const auto& [args, report_dir, code] :
       {std::tuple{std::vector<std::string>{bad_spec.string()}, reports, 2},
        std::tuple{std::vector<std::string>{bad_spec.string()}, reports + "/", 2},
        std::tuple{std::vector<std::string>{bad_spec.string()},
                   (dir / "new" / "x" / ".." / "reports").string(), 2},
        // A report named inside the directory to be made is checked there, and goes too.
        std::tuple{std::vector<std::string>{bad_spec.string(), "--junit", reports + "/j.xml"},
                   reports, 2},
        std::tuple{std::vector<std::string>{good_spec, "--metrics-listen", "127.0.0.1:" + port},
                   reports, 3}}) {
    SCOPED_TRACE(report_dir);
    std::vector<std::string> argv{SHMCHECK_BINARY, "run", "--quiet", "--report-dir", report_dir};
    argv.insert(argv.end(), args.begin(), args.end());
    auto run = shmcheck::testing::ServerProcess::start(argv, (dir / "run.log").string());
    ASSERT_TRUE(run.has_value());
    const int status = run->wait_exit(120s);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == code) << run->log();
    EXPECT_FALSE(fs::exists(dir / "new")) << run->log();
    EXPECT_EQ(run->log().find("mutex-owner-death: pass"), std::string::npos) << run->log();
    fs::remove_all(dir / "new");  // each case on its own
  }
  ::close(taken);
  fs::remove_all(dir);
}

// A report file inside a --report-dir that is not there yet: the run makes the directory
// and writes both (it was refused before the run: "cannot create a file in" the directory).
TEST(ReportsFromARealRun, AReportInsideTheReportDirToBeMadeIsWritten) {
  const auto dir =
      fs::temp_directory_path() / ("shmcheck-reports-inside-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string reports = (dir / "new" / "reports").string();
  auto run = shmcheck::testing::ServerProcess::start(
      {SHMCHECK_BINARY, "run", "--quiet", "--duration", "300ms",
       std::string(SHMCHECK_SOURCE_DIR) + "/tests/integration/specs/short-mutex.yaml",
       "--report-dir", reports, "--junit", reports + "/j.xml"},
      (dir / "run.log").string());
  ASSERT_TRUE(run.has_value());
  const int status = run->wait_exit(120s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << run->log();
  EXPECT_TRUE(fs::exists(reports + "/junit.xml")) << run->log();
  EXPECT_TRUE(fs::exists(reports + "/j.xml")) << run->log();
  fs::remove_all(dir);
}

TEST(ReportsFromARealRun, BadMetricsAddressIsAUsageError) {
  const auto dir =
      fs::temp_directory_path() / ("shmcheck-reports-usage-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto run = shmcheck::testing::ServerProcess::start(
      {SHMCHECK_BINARY, "run", std::string(SHMCHECK_SOURCE_DIR) + "/specs/mutex-owner-death.yaml",
       "--metrics-listen", "nonsense", "--linger", "2s"},
      (dir / "run.log").string());
  ASSERT_TRUE(run.has_value());
  const int status = run->wait_exit(60s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << run->log();
  EXPECT_NE(run->log().find("HOST:PORT"), std::string::npos) << run->log();
  fs::remove_all(dir);
}

}  // namespace
