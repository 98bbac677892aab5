#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "fixture.hpp"
#include "shmcheck/reports/reporter.hpp"
#include "shmcheck/reports/svg_chart.hpp"
#include "shmcheck/reports/xml.hpp"
#include "shmcheck/testing/golden.hpp"
#include "shmcheck/testing/process.hpp"

namespace shmcheck::reports {
namespace {

using shmcheck::testing::matches_golden;
using testing::failing_run;
using testing::passing_run;
using testing::suite_of;

std::string render(const Reporter& r, const SuiteResult& s) {
  std::ostringstream out;
  r.write(s, out);
  return out.str();
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(XmlEscape, EscapesMarkupControlBytesAndInvalidUtf8) {
  EXPECT_EQ(xml_escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&apos;");
  EXPECT_EQ(xml_escape(std::string("x\x01y\x1b", 4)), "x\\x01y\\x1b");
  EXPECT_EQ(xml_escape("caf\xc3\xa9"), "caf\xc3\xa9");    // valid UTF-8 kept
  EXPECT_EQ(xml_escape("bad\xff\xc3"), "bad\\xff\\xc3");  // invalid bytes escaped
  EXPECT_EQ(xml_escape("tab\tnl\n"), "tab\tnl\n");
}

TEST(SuiteExitCode, IsTheWorstRun) {
  auto pass = passing_run();
  auto fail = failing_run();
  EXPECT_EQ(suite_exit_code({pass}), 0);
  EXPECT_EQ(suite_exit_code({pass, fail}), 1);
  auto env = pass;
  env.exit_code = 3;
  EXPECT_EQ(suite_exit_code({fail, env, pass}), 3);
}

TEST(JunitReporter, MatchesGolden) {
  const auto text = render(*make_junit_reporter(), suite_of({passing_run(), failing_run()}));
  EXPECT_TRUE(matches_golden(text, "junit.xml.golden"));
}

TEST(JunitReporter, CountsFailuresPerSuite) {
  const auto text = render(*make_junit_reporter(), suite_of({failing_run()}));
  // lost failed, torn passed, one unexpected worker death, one stall.
  EXPECT_NE(text.find("tests=\"4\" failures=\"3\" errors=\"0\""), std::string::npos) << text;
  EXPECT_NE(text.find("expected lost 0, got 3"), std::string::npos);
  EXPECT_NE(text.find("<property name=\"seed\" value=\"42\"/>"), std::string::npos);
}

// A stall the spec expects (`stalled: 1`, met) passed the run (exit 0) but was a
// <failure> in the JUnit file, so a CI system failed the job; unexpected, it fails.
TEST(JunitReporter, AnExpectedStallIsAPassingCase) {
  auto run = passing_run();
  run.stalls.push_back({1.5, "no progress for 1s; locker[0] holds guard", {}});
  run.expectations.push_back({"stalled", "1", "1", true});
  const auto expected = render(*make_junit_reporter(), suite_of({run}));
  EXPECT_NE(expected.find("failures=\"0\""), std::string::npos) << expected;
  EXPECT_NE(expected.find("stall 1 (expected)"), std::string::npos) << expected;
  run.expectations.back() = {"stalled", "0", "1", false};
  const auto unexpected = render(*make_junit_reporter(), suite_of({run}));
  EXPECT_NE(unexpected.find("<failure type=\"stalled\""), std::string::npos) << unexpected;
}

TEST(JunitReporter, RunErrorIsAnErrorCase) {
  auto run = passing_run();
  run.verdict = probes::RunVerdict::kError;
  run.exit_code = 3;
  run.error = "/dev/shm is full";
  run.expectations.clear();
  const auto text = render(*make_junit_reporter(), suite_of({run}));
  EXPECT_NE(text.find("<error type=\"run_error\" message=\"/dev/shm is full\">"), std::string::npos)
      << text;
}

TEST(Reporters, ARunThatEndedEarlySaysWhyInEveryFormat) {
  auto run = failing_run();
  run.ended_early = "consumer 1's delivery log filled to 3 of 4 records after 2.5s";
  const auto suite = suite_of({run});
  EXPECT_NE(render(*make_junit_reporter(), suite)
                .find("<property name=\"ended_early\" value=\"consumer 1&apos;s delivery log "
                      "filled to 3 of 4 records after 2.5s\"/>"),
            std::string::npos);
  EXPECT_NE(
      render(*make_html_reporter(), suite).find("ended early: consumer 1&apos;s delivery log"),
      std::string::npos);
  EXPECT_NE(render(*make_markdown_reporter(), suite).find("- ended early: consumer 1's delivery"),
            std::string::npos);
  EXPECT_NE(render(*make_json_reporter(), suite).find("\"ended_early\": \"consumer 1's"),
            std::string::npos);
  auto passed = passing_run();  // a passing run has no section of its own: a line says it
  passed.ended_early = run.ended_early;
  EXPECT_NE(render(*make_markdown_reporter(), suite_of({passed}))
                .find(passed.spec_name + " ended early: consumer 1's delivery"),
            std::string::npos);
}

// The summary's throughput is the `throughput` expectation's: messages delivered, where
// it added every role's operations, push and pop alike (398 k/s beside the console's
// and the expectation's 199k/s for one producer and one consumer).
TEST(MarkdownReporter, ThroughputCountsAMessageOnce) {
  auto run = passing_run();
  probes::RoleStats consumer{"consumer", {}};
  consumer.stats.ops[2] = 5000;  // its pops of the 5000 messages
  run.roles.push_back(consumer);
  const auto text = render(*make_markdown_reporter(), suite_of({run}));
  EXPECT_NE(text.find("| 2.5 k/s |"), std::string::npos) << text;  // 5000 delivered in 2 s
  EXPECT_EQ(text.find("| 5 k/s |"), std::string::npos) << text;
}

// Backticks in a name are text, not code; a spec that never ran has no command to
// reproduce it (an empty `sh` block before); the faults column counts the schedule's
// fired faults, which a run cut short by a signal still has (it said 0 beside 3 fired).
TEST(MarkdownReporter, EscapesBackticksAndCountsFiredFaultsFromTheSchedule) {
  auto run = failing_run();
  run.spec_name = "bad `tick` | pipe";
  auto not_run = failing_run();
  not_run.spec_name = "later";
  not_run.repro.clear();
  not_run.error = "not run: interrupted by SIGTERM";
  const auto text = render(*make_markdown_reporter(), suite_of({run, not_run}));
  EXPECT_NE(text.find("### bad \\`tick\\` \\| pipe: FAIL"), std::string::npos) << text;
  EXPECT_EQ(text.find("```sh\n\n```"), std::string::npos) << text;

  auto cut = passing_run();
  cut.workers.clear();  // as after SIGTERM
  const auto row = render(*make_markdown_reporter(), suite_of({cut}));
  const auto fired = std::ranges::count(cut.fault_schedule, probes::FaultStatus::kFired,
                                        &probes::ScheduledFault::status);
  ASSERT_GT(fired, 0);
  EXPECT_NE(row.find("| " + std::to_string(fired) + " | 0 |"), std::string::npos) << row;
}

// A refused spec's file name went into the table as it was: its control bytes (an ESC
// that recolours a terminal showing the file) and bytes that are not UTF-8 (which a
// GitHub step summary must be) are written as \xNN, as on the console.
TEST(MarkdownReporter, WritesControlBytesAndInvalidUtf8AsEscapes) {
  auto run = failing_run();
  run.spec_name = "odd\x1b[31m\xff.yaml";
  const auto text = render(*make_markdown_reporter(), suite_of({run}));
  EXPECT_NE(text.find("odd\\x1b[31m\\xff.yaml"), std::string::npos) << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
  EXPECT_EQ(text.find('\xff'), std::string::npos) << text;
}

TEST(MarkdownReporter, MatchesGolden) {
  const auto text = render(*make_markdown_reporter(), suite_of({passing_run(), failing_run()}));
  EXPECT_TRUE(matches_golden(text, "summary.md.golden"));
}

TEST(HtmlReporter, MatchesGolden) {
  const auto text = render(*make_html_reporter(), suite_of({passing_run(), failing_run()}));
  EXPECT_TRUE(matches_golden(text, "report.html.golden"));
}

TEST(HtmlReporter, IsSelfContained) {
  const auto text = render(*make_html_reporter(), suite_of({passing_run(), failing_run()}));
  EXPECT_EQ(text.find("<script"), std::string::npos);
  EXPECT_EQ(text.find("http://"),
            text.find("http://www.w3.org/2000/svg"));  // only the SVG namespace
  EXPECT_EQ(text.find("https://"), std::string::npos);
  EXPECT_EQ(text.find("<link"), std::string::npos);
  // Every section the issue names is there.
  for (const char* section : {"Verdicts", "Latency per role", "Throughput", "Lock wait",
                              "Ring waits", "Timeline", "Fault schedule", "Leaks"}) {
    EXPECT_NE(text.find(section), std::string::npos) << section;
  }
  // Injected faults are marked on the throughput chart.
  EXPECT_NE(text.find("class=\"marker kill\""), std::string::npos);
  EXPECT_NE(text.find("class=\"marker pause\""), std::string::npos);
  // Hostile names are escaped.
  EXPECT_EQ(text.find("broken <ring>"), std::string::npos);
  EXPECT_NE(text.find("broken &lt;ring&gt; &amp; &quot;quotes&quot;"), std::string::npos);
}

// A soak's per-event tables show their first and last 50 rows and count the rest.
// A kill and the restart a millisecond later share a spot on the timeline: the kill
// is drawn last, on top, where in time order the restart's blue hid every kill.
TEST(HtmlReporter, TheTimelineDrawsAKillOverTheRestartBesideIt) {
  auto run = testing::passing_run();
  run.timeline = {{0.0, "producer", 1, 101, "spawn", ""},
                  {0.8, "producer", 1, 101, "kill", "SIGKILL"},
                  {0.8, "producer", 1, 101, "exit", "killed"},
                  {0.801, "producer", 1, 102, "restart", "incarnation 1"}};
  const auto text = render(*make_html_reporter(), testing::suite_of({run}));
  const auto kill = text.find("class=\"event kill\"");
  const auto exit = text.find("class=\"event exit\"");
  const auto restart = text.find("class=\"event restart\"");
  ASSERT_NE(kill, std::string::npos);
  ASSERT_NE(exit, std::string::npos);
  ASSERT_NE(restart, std::string::npos);
  EXPECT_GT(kill, exit);
  EXPECT_GT(exit, restart);
}

TEST(HtmlReporter, LongTablesShowTheirEndsAndCountTheRest) {
  auto run = passing_run();
  for (std::uint32_t i = 0; i < 500; ++i) {
    probes::CrashAttribution a;
    a.crash.role = "producer";
    a.crash.incarnation = i;
    a.effect = "none";
    a.description = "crash-" + std::to_string(i) + ".";
    run.integrity->crashes.push_back(a);
  }
  const auto text = render(*make_html_reporter(), suite_of({run}));
  for (const int shown : {0, 49, 450, 499}) {
    EXPECT_NE(text.find("crash-" + std::to_string(shown) + "."), std::string::npos) << shown;
  }
  for (const int hidden : {50, 251, 449}) {
    EXPECT_EQ(text.find("crash-" + std::to_string(hidden) + "."), std::string::npos) << hidden;
  }
  EXPECT_NE(text.find("400 more rows, not shown here (500 in all"), std::string::npos);
  // 100 rows are not capped.
  run.integrity->crashes.resize(100);
  const auto short_text = render(*make_html_reporter(), suite_of({run}));
  EXPECT_NE(short_text.find("crash-50."), std::string::npos);
  EXPECT_EQ(short_text.find("more rows"), std::string::npos);
  // The JUnit output lists the fault schedule the same way.
  run.fault_schedule.assign(300, run.fault_schedule.front());
  const auto junit = render(*make_junit_reporter(), suite_of({run}));
  EXPECT_EQ(count_of(junit, "kill producer[1] at ring.push.before_commit"), 100U);
  EXPECT_NE(junit.find("... 200 more (the JSON report has all 300)"), std::string::npos);
}

TEST(JsonReporter, MatchesGolden) {
  const auto text = render(*make_json_reporter(), suite_of({passing_run(), failing_run()}));
  EXPECT_TRUE(matches_golden(text, "shmcheck.json.golden"));
}

TEST(JsonReporter, RoundTripsEveryRun) {
  const auto suite = suite_of({passing_run(), failing_run()});
  const auto doc = nlohmann::json::parse(render(*make_json_reporter(), suite));
  EXPECT_EQ(doc.at("format"), "shmcheck-suite");
  EXPECT_EQ(doc.at("exit_code"), 1);
  EXPECT_EQ(doc.at("verdict"), "fail");
  ASSERT_EQ(doc.at("runs").size(), 2U);
  auto back = probes::run_result_from_json(doc.at("runs").at(0));
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_EQ(back->spec_name, suite.runs[0].spec_name);
  EXPECT_EQ(back->seed, 42U);
  EXPECT_EQ(back->expectations, suite.runs[0].expectations);
}

std::string file_text_of(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(WriteReportFile, WritesAtomicallyAndAppends) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("shmcheck-report-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "summary.md").string();
  const auto suite = suite_of({passing_run()});
  const auto md = make_markdown_reporter();
  ASSERT_TRUE(write_report_file(*md, suite, path));
  ASSERT_TRUE(write_report_file(*md, suite, path, /*append=*/true));
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto text = ss.str();
  EXPECT_EQ(text.find("## shmcheck"), 0U);
  EXPECT_NE(text.find("## shmcheck", 1), std::string::npos);  // appended once more
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
  EXPECT_FALSE(write_report_file(*md, suite, (dir / "no-such-dir" / "x.md").string()));
  // Appended to a file whose last line is unfinished (another step's text), the summary
  // starts a line of its own: "content## shmcheck" was no heading.
  const auto step = (dir / "step.md").string();
  std::ofstream(step) << "previous step content";
  ASSERT_TRUE(write_report_file(*md, suite, step, /*append=*/true));
  EXPECT_EQ(file_text_of(step).rfind("previous step content\n## shmcheck", 0), 0U)
      << file_text_of(step);
  std::filesystem::remove_all(dir);
}

// Writes `bytes` of text, then throws when told to: a renderer failing mid-report.
class BytesReporter final : public Reporter {
 public:
  BytesReporter(std::size_t bytes, bool throws) : bytes_(bytes), throws_(throws) {}
  [[nodiscard]] std::string_view format() const override { return "bytes"; }
  [[nodiscard]] std::string_view file_name() const override { return "bytes.txt"; }
  void write(const SuiteResult& /*suite*/, std::ostream& out) const override {
    for (std::size_t i = 0; i < bytes_; ++i) out << static_cast<char>('a' + i % 26);
    if (throws_) throw std::runtime_error("renderer failed");
  }

 private:
  std::size_t bytes_;
  bool throws_;
};

std::string file_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A report is streamed into its temporary file; whatever fails on the way (a renderer
// that throws, a write refused when the file grows past a limit), the old report stays
// whole and no temporary file is left behind.
TEST(WriteReportFile, AFailureMidWayKeepsTheOldReportAndLeavesNoTemporaryFile) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("shmcheck-report-fail-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = dir / "bytes.txt";
  const auto suite = suite_of({passing_run()});
  ASSERT_TRUE(write_report_file(BytesReporter(10, false), suite, path.string()));
  ASSERT_EQ(file_text(path), "abcdefghij");
  // Larger than the write buffer, so the file is partly written when it fails.
  EXPECT_THROW((void)write_report_file(BytesReporter(200'000, true), suite, path.string()),
               std::runtime_error);
  // A file size limit (RLIMIT_FSIZE) makes write(2) fail with EFBIG after 100 KiB;
  // in a child, so the limit stays there.
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::alarm(30);  // watchdog
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{100 * 1024, 100 * 1024};
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(10);
    auto written = write_report_file(BytesReporter(300'000, false), suite, path.string());
    if (written) ::_exit(11);
    if (written.error().sys_errno != EFBIG) ::_exit(12);
    if (written.error().message().find(".tmp.") == std::string::npos) ::_exit(13);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: setrlimit, 11: no error, 12: not EFBIG, 13: no path";
  EXPECT_EQ(file_text(path), "abcdefghij");
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename(), "bytes.txt") << "left behind: " << entry.path();
  }
  std::filesystem::remove_all(dir);
}

// The temporary file beside a report has an unpredictable name and is created
// exclusively: a link planted in a shared directory at the name it used to have
// (report.tmp.<pid>) no longer makes the writer truncate and fill the link's target.
TEST(WriteReportFile, ALinkPlantedAtAGuessableTemporaryNameIsNotFollowed) {
  namespace fs = std::filesystem;
  const auto dir =
      fs::temp_directory_path() / ("shmcheck-report-planted-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto victim = dir / "victim";
  std::ofstream(victim) << "precious";
  const auto path = dir / "report.txt";
  fs::create_symlink(victim, path.string() + ".tmp." + std::to_string(::getpid()));
  ASSERT_TRUE(
      write_report_file(BytesReporter(10, false), suite_of({passing_run()}), path.string()));
  EXPECT_EQ(file_text(path), "abcdefghij");
  EXPECT_EQ(file_text(victim), "precious");
  fs::remove_all(dir);
}

// A writer SIGKILLed mid-report leaves its temporary file; the next write of that report
// removes it once its writer is gone and it is 10 s old, and leaves a live writer's, a
// young one and anything not named as a temporary alone. (Each kill's fragment stayed
// for good beside the reports: a 512 KiB half JSON that globs picked up.)
TEST(WriteReportFile, ATemporaryAKilledWriterLeftIsRemovedByTheNextWrite) {
  namespace fs = std::filesystem;
  const auto dir =
      fs::temp_directory_path() / ("shmcheck-report-stale-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto path = dir / "shmcheck.json";
  const pid_t gone = shmcheck::testing::fork_child([] { return 0; });
  ASSERT_TRUE(shmcheck::testing::wait_child(gone, std::chrono::seconds(10)).exited);
  const auto old_enough = fs::file_time_type::clock::now() - std::chrono::minutes(1);
  const auto make = [&](const std::string& name, bool old) {
    std::ofstream(dir / name) << "{ half";
    if (old) fs::last_write_time(dir / name, old_enough);
    return dir / name;
  };
  const auto stale = make("shmcheck.json.tmp." + std::to_string(gone) + ".0123456789abcdef", true);
  const auto young = make("shmcheck.json.tmp." + std::to_string(gone) + ".1123456789abcdef", false);
  const auto live = make("shmcheck.json.tmp.1.2123456789abcdef", true);  // init never dies
  const auto other = make("other.json.tmp." + std::to_string(gone) + ".3123456789abcdef", true);
  // Not named as a temporary is: a user's backup whose date reads as a pid.
  const auto backup = make("shmcheck.json.tmp.20240101.bak", true);
  ASSERT_TRUE(
      write_report_file(BytesReporter(10, false), suite_of({passing_run()}), path.string()));
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(young));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(fs::exists(backup));
  fs::remove_all(dir);
}

// A report to one of the process's own descriptors ("-", /dev/stdout, /dev/fd/N) is
// written through that descriptor, where the shell's `>>` left it: opening the path
// again replaced the file standard output was redirected to, and whatever the job had
// written there before and after the report was lost.
TEST(WriteReportFile, AReportToAnOwnDescriptorAppendsWhereTheDescriptorIs) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("shmcheck-report-fd-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto log = dir / "ci.log";
  std::ofstream(log) << "before\n";
  const int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  struct stat before {};
  ASSERT_EQ(::stat(log.c_str(), &before), 0);
  for (const std::string& path :
       {"/dev/fd/" + std::to_string(fd), "/proc/self/fd/" + std::to_string(fd)}) {
    ASSERT_TRUE(check_output_file(path)) << path;
    ASSERT_TRUE(write_report_file(BytesReporter(10, false), suite_of({passing_run()}), path))
        << path;
  }
  ASSERT_EQ(::write(fd, "after\n", 6), 6);
  ::close(fd);
  EXPECT_EQ(file_text(log), "before\nabcdefghijabcdefghijafter\n");
  struct stat after {};
  ASSERT_EQ(::stat(log.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "the file was replaced, not written through";
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename(), "ci.log") << "left behind: " << entry.path();
  }

  // A descriptor that is not open, or open only for reading, is refused up front.
  const int read_only = ::open(log.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(read_only, 0);
  const auto refused = check_output_file("/dev/fd/" + std::to_string(read_only));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().sys_errno, EBADF);
  ::close(read_only);
  const auto closed = check_output_file("/dev/fd/" + std::to_string(read_only));
  ASSERT_FALSE(closed);
  EXPECT_EQ(closed.error().sys_errno, EBADF);
  fs::remove_all(dir);
}

// A descriptor another program left non-blocking (standard output under some CI
// wrappers): a report bigger than the pipe's buffer met EAGAIN and was lost (exit 3);
// the writer now waits for the reader.
TEST(WriteReportFile, AReportThroughANonBlockingDescriptorWaitsForItsReader) {
  const shmcheck::testing::Watchdog watchdog(std::chrono::seconds(60), "non-blocking report");
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  ASSERT_EQ(::fcntl(pipe_fds[1], F_SETFL, O_NONBLOCK), 0);
  constexpr std::size_t kBytes = 300'000;  // several pipe buffers
  const pid_t reader = shmcheck::testing::fork_child([&] {
    ::close(pipe_fds[1]);
    ::usleep(100'000);  // the writer fills the pipe first
    std::size_t total = 0;
    char buf[4096];
    for (ssize_t n = 0; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) {
      total += static_cast<std::size_t>(n);
    }
    return total == kBytes ? 0 : 1;
  });
  ::close(pipe_fds[0]);
  const auto written = write_report_file(BytesReporter(kBytes, false), suite_of({passing_run()}),
                                         "/dev/fd/" + std::to_string(pipe_fds[1]));
  ::close(pipe_fds[1]);
  EXPECT_TRUE(written) << written.error().message();
  const auto reader_exit = shmcheck::testing::wait_child(reader, std::chrono::seconds(30));
  EXPECT_TRUE(reader_exit.ok()) << reader_exit.describe() << " (1: not every byte arrived)";
}

// check_output_file answers for a report before it is written: yes for a new file in a
// directory that takes files (leaving nothing there), an existing one, a device or a
// FIFO without a reader (asked, never opened: an open would wait); no, with the reason,
// for a missing directory or a directory in the file's place.
TEST(CheckOutputFile, SaysWhetherAReportCouldBeWrittenWithoutWritingIt) {
  namespace fs = std::filesystem;
  const auto dir =
      fs::temp_directory_path() / ("shmcheck-report-check-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const shmcheck::testing::Watchdog watchdog(std::chrono::seconds(60), "check_output_file");
  EXPECT_TRUE(check_output_file((dir / "new.json").string()));
  EXPECT_TRUE(fs::is_empty(dir)) << "the probe's temporary file was left";
  std::ofstream(dir / "old.json") << "old";
  EXPECT_TRUE(check_output_file((dir / "old.json").string()));
  std::string old;
  std::ifstream(dir / "old.json") >> old;
  EXPECT_EQ(old, "old") << "the check wrote to the report";
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  EXPECT_TRUE(check_output_file((dir / "fifo").string()));
  EXPECT_TRUE(check_output_file("/dev/null"));

  const auto missing = check_output_file((dir / "missing" / "x.json").string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().sys_errno, ENOENT);
  EXPECT_NE(missing.error().brief().find("missing/x.json"), std::string::npos)
      << missing.error().brief();
  const auto directory = check_output_file(dir.string());
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.error().sys_errno, EISDIR);
  fs::remove_all(dir);
}

// A report to something that is not a regular file is written into it, never renamed
// over it: as root, `--json /dev/full` used to replace the device node with a regular
// file (and `--json /dev/stdout` would have replaced that link). Here: a FIFO read by a
// child, a symbolic link to it, a link to a regular file (its target replaced, the link
// kept), a dangling link (its target created), and, as root, another user's link (not
// followed: replaced, its target untouched) and a private copy of /dev/full (the write
// fails with ENOSPC and the device stays a device).
TEST(WriteReportFile, ADevicePipeOrLinkIsWrittenThroughNotReplaced) {
  namespace fs = std::filesystem;
  const auto dir =
      fs::temp_directory_path() / ("shmcheck-report-nodes-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // A writer's open() of a FIFO waits for a reader: should a reader never come, this
  // ends the test instead of hanging it.
  const shmcheck::testing::Watchdog watchdog(std::chrono::seconds(60), "FIFO report test");
  const auto suite = suite_of({passing_run()});
  const BytesReporter ten(10, false);

  // Reads the FIFO to its end in a child, which exits 0 when it read exactly `want`.
  const auto read_fifo_in_child = [](const fs::path& fifo, const std::string& want) {
    const pid_t child = ::fork();
    if (child == 0) {
      ::alarm(30);  // watchdog
      std::ifstream in(fifo);
      std::stringstream ss;
      ss << in.rdbuf();
      ::_exit(ss.str() == want ? 0 : 1);
    }
    return child;
  };
  const auto reaped_ok = [](pid_t child) {
    int status = 0;
    return ::waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  };
  const auto fifo = dir / "fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const auto& path : {fifo, dir / "link-to-fifo"}) {
    if (path != fifo) fs::create_symlink(fifo, path);
    const pid_t reader = read_fifo_in_child(fifo, "abcdefghij");
    ASSERT_GT(reader, 0);
    EXPECT_TRUE(write_report_file(ten, suite, path.string())) << path;
    EXPECT_TRUE(reaped_ok(reader)) << path;
    EXPECT_TRUE(fs::is_fifo(fs::symlink_status(fifo))) << "the FIFO was replaced";
  }
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dir / "link-to-fifo")));

  const auto target = dir / "target.txt";
  std::ofstream(target) << "old";
  fs::create_symlink(target, dir / "link.txt");
  ASSERT_TRUE(write_report_file(ten, suite, (dir / "link.txt").string()));
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dir / "link.txt")));
  EXPECT_EQ(file_text(target), "abcdefghij");

  fs::create_symlink(dir / "created.txt", dir / "dangling.txt");
  ASSERT_TRUE(write_report_file(ten, suite, (dir / "dangling.txt").string()));
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dir / "dangling.txt")));
  EXPECT_EQ(file_text(dir / "created.txt"), "abcdefghij");

  if (::geteuid() == 0) {
    // Another user's link is not followed: it is replaced, its target left alone.
    const auto victim = dir / "victim";
    std::ofstream(victim) << "precious";
    const auto planted = dir / "planted.json";
    fs::create_symlink(victim, planted);
    ASSERT_EQ(::lchown(planted.c_str(), 65534, 65534), 0);
    ASSERT_TRUE(write_report_file(ten, suite, planted.string()));
    EXPECT_FALSE(fs::is_symlink(fs::symlink_status(planted)));
    EXPECT_EQ(file_text(planted), "abcdefghij");
    EXPECT_EQ(file_text(victim), "precious");

    const auto full = dir / "full";
    ASSERT_EQ(::mknod(full.c_str(), S_IFCHR | 0600, ::makedev(1, 7)), 0);
    auto written = write_report_file(ten, suite, full.string());
    ASSERT_FALSE(written);
    EXPECT_EQ(written.error().sys_errno, ENOSPC);
    EXPECT_TRUE(fs::is_character_file(fs::symlink_status(full))) << "the device was replaced";
  }
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos)
        << "left behind: " << entry.path();
  }
  fs::remove_all(dir);
}

TEST(SvgChart, EmptyChartsSayNoData) {
  EXPECT_NE(svg::render(svg::LineChart{"t", "x", "y", {}, {}, 100, 100}).find("no data"),
            std::string::npos);
  EXPECT_NE(svg::render(svg::BarChart{"t", "y", {}, {}, 100, 100}).find("no data"),
            std::string::npos);
}

// Marks closer than a few pixels are drawn once, titled with how many they stand for;
// marks far apart are each drawn. So a chart's size follows its width, not the run's.
TEST(SvgChart, MarksAFewPixelsApartAreDrawnOnce) {
  svg::LineChart chart{"t", "x", "y", {{"ops", {{0, 1}, {10, 1}}}}, {}, 880, 280};
  for (int i = 0; i < 1000; ++i)
    chart.markers.push_back({0.01 * i, "kill " + std::to_string(i), "kill"});
  for (int i = 0; i < 5; ++i) chart.markers.push_back({2.0 * i + 0.5, "pause", "pause"});
  const auto text = svg::render(chart);
  const auto kills = count_of(text, "class=\"marker kill\"");
  EXPECT_GT(kills, 100U);  // 800 px of plot: one line per 3-4 px at most
  EXPECT_LT(kills, 300U);
  EXPECT_EQ(count_of(text, "class=\"marker pause\""), 5U);
  EXPECT_NE(text.find("kill 0 (and 3 more kill marks up to x=0.03)"), std::string::npos) << text;

  svg::Timeline tl{"t", "s", 10, {}, 880};
  svg::Lane lane{"producer[0]", {}, {}};
  for (int i = 0; i < 1000; ++i) {
    lane.spans.push_back({0.01 * i, 0.01 * i + 0.0099, "run"});  // restarted within 0.1 ms
    lane.events.push_back({0.01 * i + 0.0099, "kill", "kill"});
  }
  lane.spans.push_back({9.9, 9.95, "paused"});
  tl.lanes.push_back(lane);
  const auto timeline = svg::render(tl);
  EXPECT_EQ(count_of(timeline, "class=\"span run\""), 1U);
  EXPECT_EQ(count_of(timeline, "class=\"span paused\""), 1U);
  EXPECT_LT(count_of(timeline, "class=\"event kill\""), 300U);
}

// A line of a day's samples (every 100 ms) is drawn with at most four points per pixel
// column: its first, lowest, highest and last. The chart stays kilobytes, and a
// one-sample dip (a kill) is still drawn at its depth.
TEST(SvgChart, ALongSeriesIsDrawnWithAtMostFourPointsPerPixelColumn) {
  svg::LineChart chart{"t", "s", "ops/s", {{"ops", {}}}, {}, 880, 280};
  constexpr int kSamples = 864'000;
  constexpr int kDip = 500'000;
  for (int i = 0; i < kSamples; ++i) {
    chart.series[0].points.push_back({0.1 * (i + 1), i == kDip ? 0.0 : 1000.0 + i % 7});
  }
  const auto text = svg::render(chart);
  const auto begin = text.find("points=\"");
  ASSERT_NE(begin, std::string::npos);
  const auto end = text.find('"', begin + 8);
  const std::string pts = text.substr(begin + 8, end - begin - 8);
  const auto drawn = static_cast<std::size_t>(std::count(pts.begin(), pts.end(), ' '));
  EXPECT_LE(drawn, 4U * 800);  // 800 px of plot
  EXPECT_GE(drawn, 800U);
  EXPECT_LT(text.size(), 100'000U);
  // The y pixel of 0 ops/s (the axis, y = 28 + 212) is drawn: the dip kept its depth.
  EXPECT_NE(pts.find(",240.0 "), std::string::npos);
  // And a short series is drawn point by point.
  svg::LineChart short_chart{"t", "s", "ops/s", {{"ops", {{1, 1}, {2, 5}, {3, 2}}}}, {}, 880, 280};
  const auto short_text = svg::render(short_chart);
  const auto b = short_text.find("points=\"");
  const auto e = short_text.find('"', b + 8);
  EXPECT_EQ(std::count(short_text.begin() + static_cast<std::ptrdiff_t>(b),
                       short_text.begin() + static_cast<std::ptrdiff_t>(e + 1), ','),
            3);
}

// The visits and the gap, as text: "0 1 [3] 5 6" for 7 items with edges of 2.
std::string capped(std::size_t n, std::size_t edge) {
  std::string out;
  for_each_capped(
      n, edge, [&](std::size_t i) { out += std::to_string(i) + " "; },
      [&](std::size_t skipped) { out += "[" + std::to_string(skipped) + "] "; });
  return out;
}

TEST(ForEachCapped, ShowsTheEdgesAndCountsTheMiddleForAnyEdge) {
  EXPECT_EQ(capped(7, 2), "0 1 [3] 5 6 ");
  EXPECT_EQ(capped(4, 2), "0 1 2 3 ");  // two edges hold everything
  EXPECT_EQ(capped(5, 2), "0 1 [1] 3 4 ");
  EXPECT_EQ(capped(3, 0), "[3] ");
  EXPECT_EQ(capped(0, 0), "");
  EXPECT_EQ(capped(3, SIZE_MAX), "0 1 2 ");  // no overflow of 2 * edge
  EXPECT_EQ(capped(3, SIZE_MAX / 2 + 1), "0 1 2 ");
}

// Each <text class="cls"> of a chart, in order: its content, or the value of
// `attribute` where one is named.
std::vector<std::string> texts(const std::string& svg_text, const std::string& cls,
                               const std::string& attribute = "") {
  std::vector<std::string> out;
  const std::string open = "<text class=\"" + cls + "\"";
  for (auto at = svg_text.find(open); at != std::string::npos; at = svg_text.find(open, at + 1)) {
    const auto begin = attribute.empty()
                           ? svg_text.find('>', at) + 1
                           : svg_text.find(attribute + "=\"", at) + attribute.size() + 2;
    out.push_back(
        svg_text.substr(begin, svg_text.find(attribute.empty() ? '<' : '"', begin) - begin));
  }
  return out;
}

std::vector<std::string> ticks(const std::string& svg_text) { return texts(svg_text, "tick"); }

// Axes are ticked at round numbers: a 3.01 s run every 0.5 s (fifths of it read 0.602,
// 1.2, 1.81), and a 203k ops/s peak tops out at 250k, not 500k, so the line fills the
// height.
TEST(SvgChart, AxesAreTickedAtRoundNumbers) {
  const svg::LineChart chart{"t", "s", "ops/s", {{"ops", {{0.5, 190'000}, {3.01, 203'000}}}},
                             {},  880, 280};
  const std::vector<std::string> expected = {"0",   "50k", "100k", "150k", "200k", "250k", "0",
                                             "0.5", "1",   "1.5",  "2",    "2.5",  "3"};
  EXPECT_EQ(ticks(svg::render(chart)), expected);
  const svg::Timeline tl{"t", "s", 42, {}, 880};
  const std::vector<std::string> seconds = {"0", "10", "20", "30", "40"};
  EXPECT_EQ(ticks(svg::render(tl)), seconds);
  // Bars: the count axis only (the buckets label themselves).
  const svg::BarChart bars{"t", "count", {{"a", 7}, {"b", 3}}, {}, 880, 280};
  const auto bar_ticks = ticks(svg::render(bars));
  const std::vector<std::string> counts = {"0", "2", "4", "6", "8", "a", "b"};
  EXPECT_EQ(bar_ticks, counts);
  // A count is whole: one sample is ticked 0 and 1, not 0, 0.2, ... 1.
  const svg::BarChart one{"t", "count", {{"a", 1}}, {}, 880, 280};
  const std::vector<std::string> whole = {"0", "1", "a"};
  EXPECT_EQ(ticks(svg::render(one)), whole);
}

// A histogram's p50 and p99 in one bucket (a tight distribution) were two labels drawn
// on one spot, unreadable: the second steps down a line. Far apart, both sit on top.
TEST(SvgChart, PercentileLabelsInOneBucketAreNotDrawnOverEachOther) {
  svg::BarChart bars{"t", "count", {{"a", 7}, {"b", 3}, {"c", 1}, {"d", 1}}, {}, 880, 280};
  bars.markers = {{0.5, "p50 4.1 us", "p50"}, {0.5, "p99 9.8 us", "p99"}};
  const std::vector<std::string> stacked = {"38.0", "51.0"};
  EXPECT_EQ(texts(svg::render(bars), "marker-label", "y"), stacked);
  bars.markers = {{0.5, "p50 4.1 us", "p50"}, {3.5, "p99 2 ms", "p99"}};
  const std::vector<std::string> apart = {"38.0", "38.0"};
  EXPECT_EQ(texts(svg::render(bars), "marker-label", "y"), apart);
  // In the last of 24 buckets (the 16 px right of it are too few for "p99 2.5 s") the
  // label goes left of its line, inside the chart; elsewhere right of it.
  bars.bars.assign(24, {"b", 1});
  bars.markers = {{23.5, "p99 2.5 s", "p99"}};
  EXPECT_NE(svg::render(bars).find("<text class=\"marker-label\" text-anchor=\"end\""),
            std::string::npos);
  bars.markers = {{20.5, "p99 2.5 s", "p99"}};
  EXPECT_NE(svg::render(bars).find("<text class=\"marker-label\" x="), std::string::npos);
}

TEST(SvgChart, FormatsSiNumbers) {
  EXPECT_EQ(svg::format_si(1500), "1.5k");
  EXPECT_EQ(svg::format_si(2'000'000), "2M");
  EXPECT_EQ(svg::format_si(250), "250");
}

}  // namespace
}  // namespace shmcheck::reports
