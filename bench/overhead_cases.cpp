// Probes and live metrics on versus off: the same spec run by the real `shmcheck run`,
// same duration, three ways alternating repetition by repetition (MeasureBatch):
//   baseline     probes on, metrics off (the default)
//   metrics on   --metrics-listen on a free loopback port, /metrics scraped every 250 ms
//                by this program while the run lasts
//   probes off   --no-probes: no latency / lock-wait sampling in the workers (journals,
//                counters and the verdict stay)
// Figures: the workers' operations per second (sum of every worker's completed
// operations, from --json, over the spec's duration), and the same operations per
// CPU-second of the run and its workers (wait4's rusage). A run whose verdict is not
// "pass" fails the figures.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "harness_cases.hpp"
#include "shmcheck/testing/http.hpp"

namespace shmcheck::bench {
namespace {

constexpr const char* kOverheadGroup =
    "Harness: probes and live metrics, same spec (a locker, an SPSC pair at 10k/s), workers' "
    "ops/s";

enum class Mode { kBaseline, kMetrics, kNoProbes };

// The overhead spec: an uncontended locker (a lock-wait sample per operation) and a
// producer -> consumer pair paced at 10k/s (a latency sample per message), for
// `seconds`: one busy process and two that sleep between messages, on two CPUs. (Two
// lockers and a pair at 20k/s, whose producer yields instead of sleeping, were four
// busy processes on two CPUs: the scheduler's phase set the figure, 21-42 M ops/s on
// every side, and probes and metrics passed or missed 5% by turns.)
std::string overhead_spec(double seconds) {
  const auto ms = static_cast<long>(seconds * 1000);
  return "name: harness-overhead\n"
         "seed: 1\n"
         "duration: " +
         std::to_string(ms) +
         "ms\n"
         "timeout: 30s\n"
         "objects:\n"
         "  - { name: queue, kind: spsc_ring, backing: posix, capacity: 1024, message_size: 64 }\n"
         "  - { name: guard, kind: mutex, backing: posix }\n"
         "processes:\n"
         "  - { role: producer, count: 1, uses: queue, rate: 10k/s }\n"
         "  - { role: consumer, count: 1, uses: queue }\n"
         "  - { role: locker, count: 1, uses: guard }\n"
         "expect:\n"
         "  delivery: exactly_once\n"
         "  exclusion_violations: 0\n"
         "  leaked_objects: 0\n";
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "harness_bench.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Waits for pid until `deadline`; then SIGTERM (the run removes its objects and
// exits), and SIGKILL 10 s later. The exit status, or -1 when it had to be stopped.
// `usage`: the CPU time of the run and of every worker it reaped (wait4).
int wait_run(pid_t pid, std::chrono::steady_clock::time_point deadline, rusage& usage) {
  int status = 0;
  bool terminated = false;
  auto kill_at = deadline + std::chrono::seconds(10);
  for (;;) {
    const pid_t r = ::wait4(pid, &status, WNOHANG, &usage);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    const auto now = std::chrono::steady_clock::now();
    if (!terminated && now > deadline) {
      ::kill(pid, SIGTERM);
      terminated = true;
    } else if (now > kill_at) {
      ::kill(pid, SIGKILL);
      kill_at = now + std::chrono::hours(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (terminated) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TrialValue overhead_trial(Mode mode, const HarnessOptions& opts, const TempDir& dir,
                          const std::string& spec) {
  const std::string json = (dir.path() / "run.json").string();
  std::filesystem::remove(json);
  std::vector<std::string> args = {opts.shmcheck, "run", spec, "--quiet", "--json", json};
  int port = 0;
  std::optional<testing::ReservedPort> reserved;  // held until the run has bound it
  if (mode == Mode::kMetrics) {
    port = reserved.emplace().port();
    if (port <= 0) return trial_failed("no free TCP port for --metrics-listen");
    args.push_back("--metrics-listen");
    args.push_back("127.0.0.1:" + std::to_string(port));
  }
  if (mode == Mode::kNoProbes) args.push_back("--no-probes");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  std::fflush(stdout);
  const pid_t pid = ::fork();
  if (pid < 0) return trial_failed("fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the run cleans up after itself on SIGTERM
    if (std::freopen("/dev/null", "w", stdout) == nullptr) ::_exit(127);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  // The scraper: GET /metrics every 250 ms while the run lasts.
  std::atomic<bool> running{true};
  std::atomic<int> scrapes{0};
  std::thread scraper;
  if (mode == Mode::kMetrics) {
    scraper = std::thread([&] {
      while (running.load()) {
        const auto r = testing::http_get(port, "/metrics", std::chrono::milliseconds(1000));
        if (r && r->status == 200) ++scrapes;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    });
  }
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(opts.run_seconds)) +
                        opts.base.deadline;
  rusage usage{};
  const int rc = wait_run(pid, deadline, usage);
  running = false;
  if (scraper.joinable()) scraper.join();
  if (rc < 0) return trial_failed("shmcheck run overran its deadline and was stopped");
  if (rc != 0) return trial_failed("shmcheck run exited " + std::to_string(rc));
  if (mode == Mode::kMetrics && scrapes.load() == 0) {
    return trial_failed("no /metrics scrape succeeded: the figure would not cost anything");
  }
  std::ifstream in(json);
  if (!in) return trial_failed("shmcheck run wrote no " + json);
  const auto doc = nlohmann::json::parse(in, nullptr, false);
  if (doc.is_discarded() || !doc.contains("runs") || doc["runs"].empty()) {
    return trial_failed("unreadable --json document");
  }
  const auto& run = doc["runs"][0];
  if (run.value("verdict", "") != "pass") {
    return trial_failed("verdict " + run.value("verdict", "?") + ", not pass");
  }
  double ops = 0;
  for (const auto& w : run["workers"]) ops += w.value("ops", 0.0);
  const auto seconds = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  const double cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
  if (cpu <= 0) return trial_failed("no CPU time reported for the run");
  TrialValue t;
  t.ok = true;
  t.seconds = opts.run_seconds;
  t.values = {ops / opts.run_seconds / 1e6, ops / cpu / 1e6};
  return t;
}

// Two figures per way of running: ops per second of wall time (the measure),
// and ops per CPU-second of the run and its workers (user + sys from wait4): the cost
// per operation, much less sensitive to how much CPU other processes leave the run.
std::vector<Figure> overhead_figures(const std::string& key, const std::string& label,
                                     const std::string& note) {
  return {make_figure("harness.overhead." + key, kOverheadGroup, label, "M ops/s", Better::kHigher,
                      note + "; sum of workers' ops / duration"),
          make_figure("harness.overhead." + key + ".cpu", kOverheadGroup,
                      label + ", per CPU-second", "M ops/cpu-s", Better::kHigher,
                      note + "; sum of workers' ops / CPU time (user + sys) of the run and its "
                             "workers")};
}

}  // namespace

void run_overhead_cases(Report& report, const HarnessOptions& opts) {
  std::fprintf(stderr, "harness: probes and metrics on/off (%g s runs)\n", opts.run_seconds);
  const auto dir = std::make_shared<TempDir>();
  const std::string spec = (dir->path() / "harness-overhead.yaml").string();
  {
    std::ofstream out(spec);
    out << overhead_spec(opts.run_seconds);
    if (!out) throw std::runtime_error("cannot write " + spec);
  }
  MeasureBatch batch(report, opts.base);
  const auto add = [&](Mode mode, std::vector<Figure> figures) {
    batch.add(std::move(figures), 1, 1, false, [mode, &opts, dir, spec](std::uint64_t) {
      return overhead_trial(mode, opts, *dir, spec);
    });
  };
  add(Mode::kBaseline, overhead_figures("baseline", "probes on, metrics off (default run)",
                                        "shmcheck run SPEC --json"));
  add(Mode::kMetrics, overhead_figures("metrics", "metrics on: --metrics-listen, scraped 4/s",
                                       "shmcheck run SPEC --metrics-listen 127.0.0.1:PORT, GET "
                                       "/metrics every 250 ms while it runs"));
  add(Mode::kNoProbes, overhead_figures("no_probes", "probes off: --no-probes",
                                        "shmcheck run SPEC --no-probes: no latency or lock-wait "
                                        "sampling"));
  batch.run();
  const Target target = at_least(0.95, ">= 0.95x (<= 5%)");
  report.compare("harness.overhead.metrics", "harness.overhead.baseline", target);
  report.compare("harness.overhead.baseline", "harness.overhead.no_probes", target);
  report.compare("harness.overhead.metrics.cpu", "harness.overhead.baseline.cpu");
  report.compare("harness.overhead.baseline.cpu", "harness.overhead.no_probes.cpu");
}

}  // namespace shmcheck::bench
