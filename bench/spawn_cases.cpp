// Spawn and reap N workers: the harness's real code path (Supervisor::run: Boost.Process
// vfork launch of shmcheck-worker, the attach barrier, the go, its own waitpid reaping)
// against a hand-made loop: fork, execv of the same executable with the same argv, set
// the go, waitpid each; and the Supervisor again with `shmcheck` itself as the worker
// (`shmcheck worker ...`: how runs started their workers before shmcheck-worker). Each run starts N
// workers of the same kind over a fresh control segment and one mutex: each worker execs, attaches
// to the control segment, opens the mutex's segment, waits for the go and exits cleanly with no
// operation to do (ops: 0).
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "harness_cases.hpp"
#include "shmcheck/core/robust_mutex.hpp"
#include "shmcheck/core/segment.hpp"
#include "shmcheck/harness/control_segment.hpp"
#include "shmcheck/harness/fault_schedule.hpp"
#include "shmcheck/harness/supervisor.hpp"
#include "shmcheck/harness/worker.hpp"

namespace shmcheck::bench {
namespace {

constexpr const char* kSpawnGroup =
    "Harness: spawn and reap N workers (worker: attach, wait for go, exit)";

// One trial's objects: the control segment and the mutex the workers open. The
// creator's destructors unlink both.
struct SpawnSetup {
  std::optional<harness::ControlSegment> control;
  std::optional<core::Segment> mutex;
  std::vector<harness::WorkerConfig> configs;
};

std::optional<SpawnSetup> make_setup(std::uint32_t workers, std::string& error) {
  SpawnSetup s;
  const std::string run = core::new_run_id();
  core::SegmentOptions copts;
  copts.run_id = run;
  copts.object = "control";
  probes::ControlShape shape;
  shape.workers = workers;
  shape.mutexes = 1;
  auto control = harness::ControlSegment::create(copts, shape);
  if (!control) {
    error = "control segment: " + control.error().message();
    return std::nullopt;
  }
  s.control.emplace(std::move(control).value());
  core::SegmentOptions mopts;
  mopts.run_id = run;
  mopts.object = "guard";
  mopts.kind = core::ObjectKind::kMutex;
  mopts.payload_size = sizeof(core::RobustMutex);
  auto mutex = core::Segment::create(mopts);
  if (!mutex) {
    error = "mutex segment: " + mutex.error().message();
    return std::nullopt;
  }
  s.mutex.emplace(std::move(mutex).value());
  if (auto m = core::RobustMutex::create_at(s.mutex->payload()); !m) {
    error = "mutex: " + m.error().message();
    return std::nullopt;
  }
  for (std::uint32_t w = 0; w < workers; ++w) {
    harness::WorkerConfig c;
    c.index = w;
    c.role = "locker";
    c.role_index = w;
    c.run_id = run;
    c.ops = 0;
    c.object.name = "guard";
    c.object.kind = "mutex";
    c.object.segment_ref = s.mutex->ref().to_string();
    s.configs.push_back(std::move(c));
  }
  return s;
}

double ms_between(std::chrono::steady_clock::time_point a,
                  std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

TrialValue supervisor_trial(std::uint32_t workers, const std::string& executable,
                            const HarnessOptions& opts) {
  std::string error;
  auto setup = make_setup(workers, error);
  if (!setup) return trial_failed(error);
  harness::SupervisorOptions sopts;
  sopts.control_ref = setup->control->segment().ref().to_string();
  sopts.worker_executable = executable;
  sopts.timeout = opts.base.deadline;        // watchdog: no worker may hang the trial
  sopts.start_timeout = opts.base.deadline;  // the attach barrier
  sopts.quiet = true;
  const harness::FaultSchedule no_faults;
  harness::Supervisor supervisor(*setup->control, setup->configs, no_faults, sopts);
  const auto t0 = std::chrono::steady_clock::now();
  auto report = supervisor.run();
  const auto t1 = std::chrono::steady_clock::now();
  if (!report) return trial_failed("supervisor: " + report.error().message());
  std::size_t clean = 0;
  for (const auto& w : report->workers) {
    for (const auto& inc : w.incarnations) clean += inc.clean ? 1U : 0U;
  }
  if (clean != workers || report->stall.stalled) {
    return trial_failed(std::to_string(clean) + " of " + std::to_string(workers) +
                        " workers exited cleanly" +
                        (report->stall.stalled ? " (watchdog: " + report->stall.reason + ")" : ""));
  }
  TrialValue t;
  t.ok = true;
  t.seconds = ms_between(t0, t1) / 1e3;
  t.values = {ms_between(t0, t1)};
  return t;
}

// Kills the pids not yet reaped when the deadline passes first.
class ReapWatchdog {
 public:
  ReapWatchdog(const std::vector<pid_t>& pids, std::chrono::milliseconds deadline)
      : pids_(pids), reaped_(pids.size(), false), thread_([this, deadline] { watch(deadline); }) {}
  ~ReapWatchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  ReapWatchdog(const ReapWatchdog&) = delete;
  ReapWatchdog& operator=(const ReapWatchdog&) = delete;
  void reaped(std::size_t i) {
    std::lock_guard lock(mutex_);
    reaped_[i] = true;
  }
  [[nodiscard]] bool fired() {
    std::lock_guard lock(mutex_);
    return fired_;
  }

 private:
  void watch(std::chrono::milliseconds deadline) {
    std::unique_lock lock(mutex_);
    if (cv_.wait_for(lock, deadline, [this] { return done_; })) return;
    fired_ = true;
    for (std::size_t i = 0; i < pids_.size(); ++i) {
      if (!reaped_[i]) ::kill(pids_[i], SIGKILL);
    }
  }

  const std::vector<pid_t>& pids_;
  std::vector<bool> reaped_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  bool fired_ = false;
  std::thread thread_;
};

TrialValue fork_exec_trial(std::uint32_t workers, const std::string& executable,
                           const HarnessOptions& opts) {
  std::string error;
  auto setup = make_setup(workers, error);
  if (!setup) return trial_failed(error);
  const std::string control = setup->control->segment().ref().to_string();
  // argv exactly as Supervisor::spawn builds it, prepared before any fork.
  std::vector<std::vector<std::string>> args;
  for (std::uint32_t w = 0; w < workers; ++w) {
    args.push_back({executable, "worker", "--control", control, "--index", std::to_string(w),
                    "--incarnation", "0", "--config", setup->configs[w].to_json().dump()});
  }
  std::vector<std::vector<char*>> argv(workers);
  for (std::uint32_t w = 0; w < workers; ++w) {
    for (auto& a : args[w]) argv[w].push_back(a.data());
    argv[w].push_back(nullptr);
  }

  const auto t0 = std::chrono::steady_clock::now();
  std::vector<pid_t> pids;
  pids.reserve(workers);
  for (std::uint32_t w = 0; w < workers; ++w) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::execv(executable.c_str(), argv[w].data());
      ::_exit(127);
    }
    if (pid < 0) {
      error = std::string("fork: ") + std::strerror(errno);
      break;
    }
    pids.push_back(pid);
  }
  setup->control->set_phase(harness::RunPhase::kGo);
  std::size_t clean = 0;
  bool fired = false;
  {
    ReapWatchdog watchdog(pids, opts.base.deadline);
    for (std::size_t i = 0; i < pids.size(); ++i) {
      int status = 0;
      while (::waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
      }
      watchdog.reaped(i);
      clean += WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 1U : 0U;
    }
    fired = watchdog.fired();
  }
  const auto t1 = std::chrono::steady_clock::now();
  if (!error.empty()) return trial_failed(error);
  if (fired) return trial_failed("deadline passed: workers killed");
  if (clean != workers) {
    return trial_failed(std::to_string(clean) + " of " + std::to_string(workers) +
                        " workers exited 0");
  }
  TrialValue t;
  t.ok = true;
  t.seconds = ms_between(t0, t1) / 1e3;
  t.values = {ms_between(t0, t1)};
  return t;
}

// A harness late in a long run holds its per-event lists: a trial run by a spawner
// holding `bytes` of touched heap, whose page tables a fork copies and a vfork does not.
template <class Trial>
auto with_heap(std::size_t bytes, Trial trial) {
  return
      [bytes, trial](std::uint32_t n, const std::string& executable, const HarnessOptions& opts) {
        std::vector<char> heap(bytes);
        std::memset(heap.data(), 1, heap.size());
        return trial(n, executable, opts);
      };
}

Figure spawn_figure(const std::string& id, const std::string& label, const std::string& note) {
  return make_figure(id, kSpawnGroup, label, "ms", Better::kLower, note);
}

}  // namespace

void add_limit(Report& report, const std::string& id, const std::string& group, double value,
               const std::string& unit, const std::string& text) {
  Figure f = make_figure(
      id, group, "limit from issue 7: " + text + " (not measured)", unit, Better::kLower,
      "an absolute target, not a measurement: the ratio to it is figure / limit");
  f.summary = summarize({value});
  report.add(std::move(f));
}

void run_spawn_cases(Report& report, const HarnessOptions& opts) {
  std::fprintf(stderr, "harness: spawn and reap\n");
  MeasureBatch batch(report, opts.base);
  const std::vector<std::uint32_t> counts = {8, 64, 256};
  // One figure per (case, N): `trial(N, worker executable, opts)`, one trial each.
  const auto add = [&](const std::string& id, const std::string& label, const char* note,
                       std::uint32_t n, auto trial, const std::string& executable) {
    batch.add({spawn_figure(id, label, note)}, 1, 1, false,
              [n, trial, &executable, &opts](std::uint64_t) { return trial(n, executable, opts); });
  };
  for (const std::uint32_t n : counts) {
    const std::string ns = std::to_string(n);
    add("harness.spawn.supervisor." + ns, "shmcheck Supervisor, " + ns + " workers",
        "Supervisor::run() starting shmcheck-worker: Boost.Process vfork launch, attach barrier, "
        "go, "
        "waitpid(-1, WNOHANG) reaping; wall time from run() to return",
        n, supervisor_trial, opts.worker);
    add("harness.spawn.fork_exec." + ns, "fork/exec + waitpid loop, " + ns + " workers",
        "fork + execv of the same executable and argv, go, blocking waitpid per pid; wall "
        "time from the first fork to the last reap",
        n, fork_exec_trial, opts.worker);
    add("harness.spawn.supervisor_shmcheck." + ns,
        "shmcheck Supervisor, " + ns + " workers, shmcheck as the worker",
        "as the first, with the workers started as `shmcheck worker ...` (42 shared "
        "libraries: prometheus-cpp, libcurl, yaml-cpp, ...)",
        n, supervisor_trial, opts.shmcheck);
  }
  constexpr std::size_t kHeap = std::size_t{256} << 20;
  add("harness.spawn.supervisor.64.heap",
      "shmcheck Supervisor, 64 workers, spawner holding 256 MiB",
      "as the first, the bench process holding 256 MiB of touched heap (a harness late in a "
      "long soak): Supervisor::spawn vforks, so its cost does not grow with the heap",
      64, with_heap(kHeap, supervisor_trial), opts.worker);
  add("harness.spawn.fork_exec.64.heap",
      "fork/exec + waitpid loop, 64 workers, spawner holding 256 MiB",
      "the fork/exec loop with the same 256 MiB heap: every fork copies its page tables", 64,
      with_heap(kHeap, fork_exec_trial), opts.worker);
  batch.run();
  report.compare("harness.spawn.supervisor.64.heap", "harness.spawn.fork_exec.64.heap");
  report.compare("harness.spawn.supervisor.64.heap", "harness.spawn.supervisor.64");
  for (const std::uint32_t n : counts) {
    const std::string ns = std::to_string(n);
    report.compare("harness.spawn.supervisor." + ns, "harness.spawn.fork_exec." + ns);
    report.compare("harness.spawn.supervisor." + ns, "harness.spawn.supervisor_shmcheck." + ns);
  }
  add_limit(report, "harness.spawn.limit", kSpawnGroup, 1000, "ms", "256 workers in under 1 s");
  report.compare("harness.spawn.supervisor.256", "harness.spawn.limit",
                 at_most(1.0, "< 1 s (<= 1x)"));
}

}  // namespace shmcheck::bench
