// Boost.Process 1.74 offers bp::posix::use_vfork (spawn() below) only where this is
// defined, and its config leaves it undefined under _GNU_SOURCE, which g++ always sets
// (POSIX.1-2008 dropped vfork; glibc keeps it). Defined here, before any Boost header.
#ifndef BOOST_POSIX_HAS_VFORK
#define BOOST_POSIX_HAS_VFORK 1
#endif

#include "shmcheck/harness/supervisor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/posix.hpp>
#include <cassert>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <system_error>

#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/harness/build_stamp.hpp"
#include "shmcheck/harness/roles.hpp"

namespace shmcheck::harness {
namespace {

constexpr std::uint64_t kMs = 1'000'000;
// A timed fault handled this long after its time says so in its note. The loop ticks
// every millisecond; a tenth of a second is the harness held up, not its tick.
constexpr std::uint64_t kLateFaultNs = 100 * kMs;
// A loop tick this long after the last: the harness was held up, and its watchdog did
// not watch meanwhile.
constexpr std::uint64_t kHeldUpNs = 250 * kMs;

std::string format_ns(std::uint64_t ns) {
  char buf[64];
  if (ns >= 1'000'000'000ULL) {
    std::snprintf(buf, sizeof buf, "%.3fs", static_cast<double>(ns) / 1e9);
  } else {
    std::snprintf(buf, sizeof buf, "%.3fms", static_cast<double>(ns) / 1e6);
  }
  return buf;
}

void sleep_ms(int ms) {
  timespec ts{0, static_cast<long>(ms) * 1'000'000L};
  while (::nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

// Signals one worker process. Only a real pid (> 1): kill(-1, sig) would signal every
// process the harness may signal (as root, the whole host), kill(0, sig) the harness's
// own process group (and the shell that started it).
void signal_worker(pid_t pid, int sig) noexcept {
  if (pid > 1) ::kill(pid, sig);
}

// A timed kill is a crash the spec asked for, not a bug: with a signal that dumps core
// (SIGABRT, SIGSEGV, SIGBUS), the worker's core-file limit is lowered to 0 first, or under
// `ulimit -c unlimited` each one wrote a core file into the working directory. (Failpoint
// kills do the same in the worker, core::failpoint.) Best effort: the kill goes anyway.
void kill_without_core(pid_t pid, int sig) noexcept {
  if (pid <= 1) return;
  rlimit limit{};
  if (sig != SIGKILL && sig != SIGTERM && ::prlimit(pid, RLIMIT_CORE, nullptr, &limit) == 0 &&
      limit.rlim_cur != 0) {
    limit.rlim_cur = 0;
    (void)::prlimit(pid, RLIMIT_CORE, &limit, nullptr);
  }
  signal_worker(pid, sig);
}

// A sum of durations in ns that stops at the largest value instead of wrapping: a spec
// may ask for a duration and a timeout of 292 years each (int64 ns), and their wrapped
// sum made a stall of a run 1 s in.
std::uint64_t sum_saturating(std::initializer_list<std::uint64_t> terms) {
  std::uint64_t sum = 0;
  for (const std::uint64_t t : terms) {
    sum = t > std::numeric_limits<std::uint64_t>::max() - sum
              ? std::numeric_limits<std::uint64_t>::max()
              : sum + t;
  }
  return sum;
}

std::atomic<int> g_interrupt{0};
// The signals that end a run early (install_interrupt_handlers).
constexpr std::array kInterruptSignals = {SIGINT, SIGTERM, SIGHUP};

extern "C" void on_interrupt(int sig) { g_interrupt.store(sig, std::memory_order_relaxed); }

// Every signal blocked in this thread for the scope (the previous mask restored on the
// way out, an exception included): a thread that vforks must not take a signal while
// its child borrows its memory.
class AllSignalsBlocked {
 public:
  AllSignalsBlocked() noexcept {
    sigset_t all{};
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &previous_);
  }
  ~AllSignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr); }
  AllSignalsBlocked(const AllSignalsBlocked&) = delete;
  AllSignalsBlocked& operator=(const AllSignalsBlocked&) = delete;
  [[nodiscard]] const sigset_t& previous() const noexcept { return previous_; }

 private:
  sigset_t previous_{};
};

}  // namespace

namespace {

// What `executable --build-stamp` prints, trimmed; nullopt when it cannot be run, fails,
// or has not finished its output within 5 s or 4 KiB (then it is killed). Reaped here,
// whatever happens.
std::optional<std::string> build_stamp_of(const std::string& executable) {
  std::array<int, 2> out{};
  if (::pipe2(out.data(), O_CLOEXEC) != 0) return std::nullopt;
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  ::posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::array<char*, 3> argv{const_cast<char*>(executable.c_str()),
                            const_cast<char*>("--build-stamp"), nullptr};
  pid_t pid = 0;
  const int spawned =
      ::posix_spawn(&pid, executable.c_str(), &actions, nullptr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  if (spawned != 0) {
    ::close(out[0]);
    return std::nullopt;
  }
  std::string text;
  pollfd readable{out[0], POLLIN, 0};
  const std::uint64_t deadline = monotonic_ns() + 5'000'000'000ULL;
  bool complete = false;  // its end of the pipe closed
  for (std::uint64_t now = monotonic_ns(); now < deadline && text.size() <= 4096;
       now = monotonic_ns()) {
    if (::poll(&readable, 1, static_cast<int>((deadline - now) / 1'000'000 + 1)) <= 0) continue;
    std::array<char, 256> buf{};
    const ssize_t n = ::read(out[0], buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      complete = n == 0;
      break;
    }
    text.append(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(out[0]);
  if (!complete) ::kill(pid, SIGKILL);  // a hung or babbling executable is not waited for
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!complete || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

}  // namespace

WorkerExecutable worker_executable_beside_self() {
  std::error_code ec;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {"/proc/self/exe", ""};
  const auto worker = self.parent_path() / "shmcheck-worker";
  if (!std::filesystem::is_regular_file(worker, ec) || ::access(worker.c_str(), X_OK) != 0) {
    return {"/proc/self/exe", ""};
  }
  const auto stamp = build_stamp_of(worker.string());
  if (stamp && *stamp == build_stamp()) return {worker.string(), ""};
  return {"/proc/self/exe",
          worker.string() + " is not of this build (its build stamp " +
              (stamp ? "'" + *stamp + "'" : std::string("could not be read")) + ", this one's '" +
              std::string(build_stamp()) +
              "'): workers start from this binary instead, more slowly; install both "
              "from one build"};
}

void install_interrupt_handlers() noexcept {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  ::sigemptyset(&sa.sa_mask);
  for (const int sig : kInterruptSignals) ::sigaction(sig, &sa, nullptr);
  // A closed stdout or stderr (`shmcheck run spec.yaml | head`) killed the harness on its
  // next line, mid-run, leaving its objects behind. Ignored, that write fails (EPIPE)
  // and the run goes on to its verdict, reports and cleanup. The workers inherit it
  // (exec keeps an ignored signal), so a worker's message to a closed stderr cannot
  // turn into an unexpected death either.
  ::signal(SIGPIPE, SIG_IGN);
}

int interrupt_signal() noexcept { return g_interrupt.load(std::memory_order_relaxed); }

std::uint64_t cgroup_oom_kills() noexcept {
  try {
    std::ifstream cg("/proc/self/cgroup");
    std::string line;
    std::string path;
    while (std::getline(cg, line)) {
      if (line.rfind("0::", 0) == 0) path = line.substr(3);
    }
    if (path.empty()) return 0;
    std::ifstream events("/sys/fs/cgroup" + path + "/memory.events");
    std::string key;
    std::uint64_t value = 0;
    while (events >> key >> value) {
      if (key == "oom_kill") return value;
    }
  } catch (...) {
  }
  return 0;
}

// ---- reporting values --------------------------------------------------------------------

nlohmann::json IncarnationOutcome::to_json() const {
  nlohmann::json j = {{"incarnation", incarnation},
                      {"pid", pid},
                      {"clean", clean},
                      {"injected", injected},
                      {"unexpected", unexpected},
                      {"restarted", restarted},
                      {"cause", cause},
                      {"ended_after_ns", ended_after_ns},
                      {"progress", slot.progress},
                      {"last_op", probes::to_string(slot.current_op)}};
  if (exited) j["exit_code"] = exit_code;
  if (signaled) j["signal"] = signal_name(signal);
  if (fault) j["fault"] = *fault;
  return j;
}

std::uint32_t WorkerHistory::restarts() const noexcept {
  return incarnations.empty() ? 0 : static_cast<std::uint32_t>(incarnations.size() - 1);
}

nlohmann::json WorkerHistory::to_json() const {
  nlohmann::json incs = nlohmann::json::array();
  for (const auto& i : incarnations) incs.push_back(i.to_json());
  return {{"index", config.index},           {"role", config.role},
          {"role_index", config.role_index}, {"object", config.object.name},
          {"restarts", restarts()},          {"incarnations", std::move(incs)}};
}

nlohmann::json StallReport::to_json() const {
  return {{"stalled", stalled},
          {"after_ns", after_ns},
          {"reason", reason},
          {"workers", workers},
          {"holders", holders}};
}

// ---- the supervisor ------------------------------------------------------------------------

struct Supervisor::Live {
  pid_t pid = 0;  // 0: no process running for this worker
  std::uint32_t incarnation = 0;
  bool restart_pending = false;
  bool finished = false;  // no further incarnation will run
  int sent_signal = 0;    // timed kill sent to the current incarnation
  std::optional<std::size_t> sent_fault;
  std::uint64_t resume_at_ns = 0;          // SIGCONT due (paused by a fault)
  std::optional<std::size_t> pause_fault;  // the planned fault that paused it, when known
  bool stopped = false;
  // Objects it holds a claim in while stopped: a slot of an MPMC ring that peers cannot
  // pass until it continues (options_.claims_of). Read once per stop, and only when the
  // watchdog needs it (a scan of every slot of every MPMC ring); a stopped process
  // cannot move its claims, so reading late is as exact as reading at once. Empty
  // until read.
  std::optional<std::vector<std::size_t>> stopped_claims;
  bool harness_kill = false;  // SIGKILLed by kill_all (end of run or watchdog)
};

Supervisor::Supervisor(ControlSegment& control, std::vector<WorkerConfig> workers,
                       const FaultSchedule& schedule, SupervisorOptions options)
    : control_(control),
      configs_(std::move(workers)),
      schedule_(schedule),
      options_(std::move(options)),
      live_(configs_.size()),
      timed_begin_(
          static_cast<std::size_t>(std::ranges::partition_point(schedule_.faults,
                                                                [](const ScheduledFault& f) {
                                                                  return is_failpoint_fault(f.type);
                                                                }) -
                                   schedule_.faults.begin())),
      next_timed_(timed_begin_) {
  assert(
      std::ranges::is_sorted(schedule_.faults.begin() + static_cast<std::ptrdiff_t>(timed_begin_),
                             schedule_.faults.end(), {}, &ScheduledFault::at) &&
      "expand_fault_schedule orders the timed faults by when they fire");
  report_.faults.resize(schedule_.faults.size());
  report_.workers.resize(configs_.size());
  for (std::size_t i = 0; i < configs_.size(); ++i) report_.workers[i].config = configs_[i];
  std::size_t objects = 0;
  for (const auto& c : configs_) objects = std::max<std::size_t>(objects, c.object.index + 1);
  last_object_progress_.assign(objects, 0);
  last_object_progress_ns_.assign(objects, 0);
}

Supervisor::~Supervisor() { kill_all(); }

core::Result<pid_t> Supervisor::spawn(std::size_t worker, std::uint32_t incarnation) {
  WorkerConfig cfg = configs_[worker];
  cfg.incarnation = incarnation;
  // Failpoint faults are armed in the first incarnation only: a restart runs clean.
  if (incarnation > 0) cfg.failpoints.clear();
  cfg.broken = options_.broken;
  std::vector<std::string> args = {"worker",
                                   "--control",
                                   options_.control_ref,
                                   "--index",
                                   std::to_string(worker),
                                   "--incarnation",
                                   std::to_string(incarnation),
                                   "--config",
                                   cfg.to_json().dump()};
  const pid_t parent = ::getpid();
  const pid_t group = groups_.empty() ? 0 : *groups_.begin();
  std::error_code ec;
  namespace bp = boost::process;
  // vfork, not fork: the child borrows the harness's memory until its exec instead of
  // copying its page tables, so a spawn costs the same however large the harness has
  // grown (a harness of 140 MB, restarting a producer 100 times a second, spent a
  // quarter of a CPU in fork's copy_page_range). A borrowing child must not run the
  // harness's signal handlers (they would set the harness's interrupt flag): every
  // signal is blocked across the vfork, and the child resets the handled ones (its own
  // handler table: vfork does not share it) before it unblocks.
  bp::child child = [&] {
    const AllSignalsBlocked blocked;
    const sigset_t* const old = &blocked.previous();
    return bp::child(
        bp::exe = options_.worker_executable, bp::args = args, ec, bp::posix::use_vfork,
        bp::extend::on_exec_setup = [parent, group, old](auto&) {
          // In the child between vfork and exec: async-signal-safe calls only, no writes
          // to the harness's memory. Out of the harness's process group first (a
          // terminal's Ctrl-C no longer reaches it); then an interrupt that came before is
          // discarded (SIG_IGN drops a pending signal) rather than delivered at the
          // unblock, where it would have killed the worker-to-be; then the default, which
          // the worker gets.
          if (::setpgid(0, group) != 0) ::setpgid(0, 0);
          struct sigaction sa {};
          sa.sa_handler = SIG_IGN;
          for (const int sig : kInterruptSignals) ::sigaction(sig, &sa, nullptr);
          sa.sa_handler = SIG_DFL;
          for (const int sig : kInterruptSignals) ::sigaction(sig, &sa, nullptr);
          ::prctl(PR_SET_PDEATHSIG, SIGKILL);
          if (::getppid() != parent) ::_exit(kWorkerExitSetup);  // the harness already died
          ::sigprocmask(SIG_SETMASK, old, nullptr);
        });
  }();
  if (ec) {
    return core::make_error(core::error_code_from_errno(ec.value()), "spawn worker",
                            options_.worker_executable, ec.value());
  }
  const pid_t pid = child.id();
  child.detach();  // reaped by pid here, never by Boost.Process
  if (pid <= 0) {
    // Boost.Process 1.74 can fail without setting ec (seen with the descriptor limit
    // reached: its error pipe cannot be made) and leave id() at -1. A -1 kept as a
    // worker's pid would later be kill(-1, SIGKILL): every process on the host.
    return core::make_error(core::ErrorCode::kLimit, "spawn worker",
                            "no process started (pid " + std::to_string(pid) +
                                "); is the open-file limit (ulimit -n) too low?");
  }
  // The worker's own process group, never the harness's: killpg of that at the end of
  // the run would kill the harness and whatever started it.
  const pid_t actual_group = ::getpgid(pid);
  if (actual_group > 1 && actual_group != ::getpgrp()) groups_.insert(actual_group);
  return pid;
}

void Supervisor::note_spawn_failure(const core::Error& error) {
  ++report_.spawn_failures;
  if (!report_.spawn_error.empty()) return;
  report_.spawn_error = error.brief();
  first_spawn_error_ = error;
}

std::optional<std::size_t> Supervisor::worker_of(pid_t pid) const {
  for (std::size_t i = 0; i < live_.size(); ++i) {
    if (live_[i].pid == pid) return i;
  }
  return std::nullopt;
}

std::optional<std::size_t> Supervisor::failpoint_fault(
    std::size_t worker, const probes::WorkerSlotSnapshot& slot) const {
  // Several faults may arm one failpoint of one worker (a pause on hit 100, a kill on
  // hit 1000): the hit the slot recorded says which one acted. Two pauses on one hit act
  // one after the other: the first of them not yet fired is the one stopping it now
  // (the second was reported "not reached" while it had paused the worker too).
  std::optional<std::size_t> first;
  for (std::size_t f = 0; f < timed_begin_; ++f) {
    const auto& fault = schedule_.faults[f];
    if (fault.worker == worker && fault.failpoint == slot.injected_failpoint &&
        fault.occurrence == slot.injected_occurrence &&
        (fault.type == FaultType::kPauseAtFailpoint) ==
            (slot.injected_action == core::FailpointAction::kPause)) {
      if (report_.faults[f].status != probes::FaultStatus::kFired) return f;
      if (!first) first = f;
    }
  }
  return first;
}

void Supervisor::reap(std::uint64_t now) {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG | WUNTRACED);
    if (pid <= 0) return;  // 0: nothing more now; -1: ECHILD
    const auto w = worker_of(pid);
    if (!w) continue;  // a grandchild reparented to us (subreaper): reaped, nothing to record
    auto& live = live_[*w];
    if (WIFSTOPPED(status)) {
      live.stopped = true;
      if (live.resume_at_ns == 0) {
        // Not ours: a failpoint pause. Resume it after the fault's duration.
        const auto snap = control_.view().worker(static_cast<std::uint32_t>(*w)).snapshot();
        std::uint64_t pause_ns = 100 * kMs;
        if (const auto f = failpoint_fault(*w, snap)) {
          pause_ns = static_cast<std::uint64_t>(schedule_.faults[*f].duration.count());
          report_.faults[*f].status = probes::FaultStatus::kFired;
          live.pause_fault = f;
        }
        live.resume_at_ns = now + pause_ns;
        event(now, *w, pid, "pause",
              "SIGSTOP at " + std::string(core::to_string(snap.injected_failpoint)));
      }
      continue;
    }
    on_exit(*w, status, now);
  }
}

void Supervisor::on_exit(std::size_t w, int status, std::uint64_t now) {
  auto& live = live_[w];
  const auto snap = control_.view().worker(static_cast<std::uint32_t>(w)).snapshot();
  IncarnationOutcome o;
  o.incarnation = live.incarnation;
  o.pid = live.pid;
  o.exited = WIFEXITED(status);
  o.exit_code = o.exited ? WEXITSTATUS(status) : 0;
  o.signaled = WIFSIGNALED(status);
  o.signal = o.signaled ? WTERMSIG(status) : 0;
  o.slot = snap;
  o.ended_after_ns =
      report_.started_ns != 0 && now > report_.started_ns ? now - report_.started_ns : 0;
  const bool slot_current = snap.pid == live.pid && snap.incarnation == live.incarnation;
  bool timed_kill = false;  // the signal a timed fault sent ended it
  // The failpoint fault this incarnation recorded acting, if any, and the signal its
  // kill raises (SIGKILL for a failpoint armed outside the schedule).
  const auto fault = slot_current && snap.injected ? failpoint_fault(w, snap) : std::nullopt;
  const int fault_signal = fault ? schedule_.faults[*fault].signal : SIGKILL;

  // Its work done and its journals final (WorkerSlot::finish), the process was only
  // leaving: a timed kill that reaches it now ends nothing the run tests.
  const bool finished = slot_current && snap.state == probes::WorkerState::kExited;
  if (o.exited && o.exit_code == 0 && finished) {
    o.clean = true;
    o.cause = "clean exit";
  } else if (finished && live.sent_signal != 0 && o.signaled && o.signal == live.sent_signal) {
    o.clean = true;
    o.cause = "clean exit (a timed " + signal_name(o.signal) + " came after its work was done)";
  } else if (slot_current && snap.injected &&
             ((snap.injected_action == core::FailpointAction::kKill && o.signaled &&
               o.signal == fault_signal) ||
              (snap.injected_action == core::FailpointAction::kExit && o.exited))) {
    o.injected = true;
    const std::string fp(core::to_string(snap.injected_failpoint));
    o.cause = "failpoint " + fp + " hit " + std::to_string(snap.injected_occurrence) + " (" +
              (o.exited ? "_exit(" + std::to_string(o.exit_code) + ")" : signal_name(o.signal)) +
              ")";
    if (fault) {
      o.fault = fault;
      report_.faults[*fault].status = probes::FaultStatus::kFired;
    }
  } else if (live.sent_signal != 0 && o.signaled && o.signal == live.sent_signal) {
    // Before the teardown's SIGKILL: the timed kill was sent first.
    o.injected = true;
    o.fault = live.sent_fault;
    o.cause = "timed kill (" + signal_name(o.signal) + ")";
    timed_kill = true;
  } else if (live.harness_kill && o.signaled && o.signal == SIGKILL) {
    o.cause = report_.stall.stalled ? "killed by the watchdog (stall)"
                                    : "killed when the run was torn down";
  } else {
    o.unexpected = true;
    if (o.signaled && o.signal == SIGKILL) {
      o.cause = cgroup_oom_kills() > oom_kills_at_start_
                    ? "SIGKILL not sent by shmcheck: OOM kill (cgroup oom_kill rose)"
                    : "unexpected SIGKILL not sent by shmcheck (possibly OOM; no cgroup "
                      "oom_kill recorded)";
    } else if (o.signaled) {
      o.cause = "unexpected signal " + signal_name(o.signal);
    } else if (o.exit_code == kWorkerExitSetup) {
      o.cause = "could not attach to the run (exit " + std::to_string(o.exit_code) + ")";
    } else if (o.exit_code == kWorkerExitFailure) {
      o.cause = "an operation failed (exit " + std::to_string(o.exit_code) + ", see its log)";
    } else {
      o.cause = "exit code " + std::to_string(o.exit_code);
    }
  }

  if (live.sent_fault && !timed_kill) {
    // Its timed kill ended nothing: the process was leaving, its work done at the run's
    // last instant (not yet reaped), or something else ended it first (a failpoint
    // crash). The fault did not fire, and a rule none of whose faults fired fails
    // timed_faults_fired. Before, it counted as fired beside a clean exit, and such a
    // run passed now and then.
    unmark_kill(o.pid, *live.sent_fault,
                o.clean ? "its worker had done its work, and was leaving, when the signal came"
                        : "something else ended its worker first: " + o.cause);
  }
  const bool restart = o.injected && o.fault && schedule_.faults[*o.fault].restart && !stop_sent_ &&
                       !report_.stall.stalled;
  o.restarted = restart;
  // An injected fault's line may be held back (a spec may kill every few ms); anything
  // unexpected is always printed.
  if (!options_.quiet && !o.clean) {
    say_held_fault_lines(now, false);
    if (!o.injected || fault_lines_.admit(now)) {
      std::fprintf(stderr, "  t=%s %s[%u] pid %d: %s%s\n", format_ns(o.ended_after_ns).c_str(),
                   configs_[w].role.c_str(), configs_[w].role_index, o.pid, o.cause.c_str(),
                   restart ? " -> restart" : "");
    }
  }
  // A timed kill is a "kill" event (and marker) when it is sent; the victim's death,
  // a moment later, is its exit. A failpoint kill is learnt only here: its one "kill".
  // A clean exit is no fault: marked, it drew a red line at the end of every chart, in
  // a run without faults too.
  if (timed_kill) {
    event(now, w, o.pid, "exit", o.cause, false);
  } else {
    event(now, w, o.pid, o.injected && !o.exited ? "kill" : "exit", o.cause, !o.clean);
  }
  if (o.injected) ++injected_[o.exited ? "exit" : "kill"];
  report_.workers[w].incarnations.push_back(std::move(o));
  live.pid = 0;
  live.sent_signal = 0;
  live.sent_fault.reset();
  live.resume_at_ns = 0;
  live.pause_fault.reset();
  live.stopped = false;
  live.stopped_claims.reset();
  live.harness_kill = false;
  if (restart) {
    live.restart_pending = true;
  } else {
    live.finished = true;
  }
}

void Supervisor::fire_timed_faults(std::uint64_t now) {
  const std::uint64_t t = now - report_.started_ns;
  // The timed faults follow the failpoint ones in firing order: a cursor, so a tick
  // costs the faults that are due, not a scan of the schedule (a 1 h soak killing every
  // 10 ms plans 360 k faults; scanning them every millisecond took a third of a CPU).
  for (; next_timed_ < schedule_.faults.size(); ++next_timed_) {
    const std::size_t f = next_timed_;
    const auto& fault = schedule_.faults[f];
    auto& outcome = report_.faults[f];
    const auto due = static_cast<std::uint64_t>(fault.at.count());
    if (due > t) break;
    // Handled well after its time, the harness was held up (an overloaded host, the
    // harness itself stopped): what the fault did, or why it was skipped, is of that
    // later instant, and the note says so.
    const bool late = t - due >= kLateFaultNs;
    const std::string lateness =
        late ? format_ns(t - due) + " after it came due (the harness was held up)" : "";
    auto& live = live_[fault.worker];
    if (live.pid == 0 || live.stopped) {
      outcome.status = probes::FaultStatus::kSkipped;
      const char* why = live.stopped ? "its worker was paused" : "its worker was not running";
      outcome.note = std::string(why) +
                     (late ? " when the harness got to it, " + lateness : " when it came due");
      continue;
    }
    if (live.sent_fault) {
      // An earlier timed kill of this incarnation is on its way: a second signal would
      // change nothing, yet count as fired (faults due every 100 us, handled in one
      // tick, "fired" 14 kills at one pid for one death).
      outcome.status = probes::FaultStatus::kSkipped;
      outcome.note = "its worker was already being killed by fault [" +
                     std::to_string(*live.sent_fault) + "]" +
                     (late ? " when the harness got to it, " + lateness : " when it came due");
      continue;
    }
    if (late) outcome.note = "fired " + lateness;
    if (fault.type == FaultType::kKillAtTime) {
      kill_without_core(live.pid, fault.signal);
      live.sent_signal = fault.signal;
      live.sent_fault = f;
      event(now, fault.worker, live.pid, "kill", fault.describe());
    } else {
      signal_worker(live.pid, SIGSTOP);
      live.resume_at_ns = now + static_cast<std::uint64_t>(fault.duration.count());
      live.pause_fault = f;
      event(now, fault.worker, live.pid, "pause", fault.describe());
    }
    outcome.status = probes::FaultStatus::kFired;
  }
  // A pause ends when its time is up or when the run does (end_ns: the duration's end,
  // or earlier when the check's records ended the run). A worker held stopped past the
  // end kept its peers from draining until the watchdog took the run for overrun ("for:
  // 10s" in a 4 s run). The fault's outcome says the pause was cut short.
  const std::uint64_t end_ns = control_.run().end_ns.load(std::memory_order_relaxed);
  const std::uint64_t run_end = end_ns != 0 ? end_ns : std::numeric_limits<std::uint64_t>::max();
  for (auto& live : live_) {
    if (live.pid != 0 && live.resume_at_ns != 0 && (now >= live.resume_at_ns || now >= run_end)) {
      const bool cut_short = now < live.resume_at_ns;
      signal_worker(live.pid, SIGCONT);
      event(now, static_cast<std::size_t>(&live - live_.data()), live.pid, "resume",
            cut_short ? "SIGCONT: the run is over, the pause cut short" : "SIGCONT");
      if (cut_short && live.pause_fault) {
        report_.faults[*live.pause_fault].note =
            "cut short by " + format_ns(live.resume_at_ns - now) + ": the run ended first";
      }
      live.resume_at_ns = 0;
      live.pause_fault.reset();
      live.stopped = false;
      live.stopped_claims.reset();
      // A pause is not a stall: its object's clock starts again (only its: a repeating
      // pause of a ring's consumer hid a hung mutex before).
      last_object_progress_ns_[configs_[static_cast<std::size_t>(&live - live_.data())]
                                   .object.index] = now;
    }
  }
}

void Supervisor::say_held_fault_lines(std::uint64_t now, bool final) {
  if (options_.quiet) return;
  const auto held = fault_lines_.take_held(now, final);
  if (held.lines == 0) return;
  std::fprintf(
      stderr, "  ... and %llu more injected faults in the last %.1f s (the reports list each)\n",
      static_cast<unsigned long long>(held.lines), static_cast<double>(held.window_ns) / 1e9);
}

void Supervisor::update_producers_done() {
  auto& flags = control_.run().producers_done;
  for (std::size_t obj = 0; obj < kMaxRunObjects; ++obj) {
    bool any = false;
    bool all_finished = true;
    for (std::size_t w = 0; w < configs_.size(); ++w) {
      if (configs_[w].role != "producer" || configs_[w].object.index != obj) continue;
      any = true;
      if (!live_[w].finished) all_finished = false;
    }
    if (any && all_finished && flags[obj].load(std::memory_order_relaxed) == 0) {
      flags[obj].store(1, std::memory_order_release);
    }
  }
}

bool Supervisor::all_done() const {
  for (const auto& live : live_) {
    if (!live.finished) return false;
  }
  return true;
}

std::string Supervisor::object_name(std::size_t obj) const {
  return obj < options_.object_names.size() ? options_.object_names[obj] : std::to_string(obj);
}

std::string Supervisor::describe_worker(std::size_t w) const {
  const auto snap = control_.view().worker(static_cast<std::uint32_t>(w)).snapshot();
  std::string out = configs_[w].role + "[" + std::to_string(configs_[w].role_index) + "]";
  if (live_[w].pid == 0) return out + ": not running";
  out += " (pid " + std::to_string(live_[w].pid) + ", incarnation " +
         std::to_string(live_[w].incarnation) + "): ";
  out += std::string(probes::to_string(snap.state));
  if (snap.state == probes::WorkerState::kInOp) {
    out +=
        " " + std::string(probes::to_string(snap.current_op)) + " #" + std::to_string(snap.op_seq);
  }
  out += ", progress " + std::to_string(snap.progress);
  if (snap.holding != 0) out += ", holding " + object_name(snap.holding - 1);
  if (const auto& claims = live_[w].stopped_claims) {
    for (const std::size_t obj : *claims) out += ", holding a claimed slot of " + object_name(obj);
  }
  if (live_[w].stopped) out += ", stopped (SIGSTOP)";
  return out;
}

void Supervisor::unmark_kill(pid_t pid, std::size_t fault, std::string why) {
  auto& outcome = report_.faults[fault];
  outcome.status = probes::FaultStatus::kSkipped;
  outcome.note = std::move(why);
  // The "kill" event sent it, and its marker on the throughput chart, were of a kill
  // that did not happen.
  auto& timeline = report_.timeline;
  const auto sent = std::find_if(timeline.rbegin(), timeline.rend(), [&](const auto& e) {
    return e.pid == static_cast<std::int32_t>(pid) && e.kind == "kill";
  });
  if (sent == timeline.rend()) return;
  auto& markers = report_.throughput.fault_markers;
  const auto marker = std::find_if(markers.rbegin(), markers.rend(), [&](const auto& m) {
    return m.kind == "kill" && m.t_s == sent->t_s && m.role == sent->role && m.index == sent->index;
  });
  if (marker != markers.rend()) markers.erase(std::next(marker).base());
  timeline.erase(std::next(sent).base());
}

void Supervisor::event(std::uint64_t now, std::size_t worker, pid_t pid, std::string kind,
                       std::string detail, bool marked) {
  const double t = report_.started_ns != 0 && now > report_.started_ns
                       ? static_cast<double>(now - report_.started_ns) / 1e9
                       : 0.0;
  const auto& cfg = configs_[worker];
  if (kind == "pause") ++injected_["pause"];
  if (marked && (kind == "kill" || kind == "exit" || kind == "pause" || kind == "resume")) {
    report_.throughput.fault_markers.push_back({t, kind, cfg.role, cfg.role_index});
  }
  report_.timeline.push_back({t, cfg.role, cfg.role_index, static_cast<std::int32_t>(pid),
                              std::move(kind), std::move(detail)});
}

void Supervisor::sample_throughput(std::uint64_t now) {
  auto& tp = report_.throughput;
  const auto interval = static_cast<std::uint64_t>(tp.interval_s * 1e9);
  if (tp.series.empty()) {
    for (const auto& cfg : configs_) {
      bool seen = false;
      for (const auto& series : tp.series) seen = seen || series.role == cfg.role;
      if (!seen) tp.series.push_back({cfg.role, {}});
    }
    last_role_ops_.assign(tp.series.size(), 0);
    next_sample_ns_ = report_.started_ns + interval;
  }
  while (now >= next_sample_ns_) {
    std::vector<std::uint64_t> totals(tp.series.size(), 0);
    for (std::size_t w = 0; w < configs_.size(); ++w) {
      for (std::size_t i = 0; i < tp.series.size(); ++i) {
        if (tp.series[i].role == configs_[w].role) {
          totals[i] += control_.view().worker(static_cast<std::uint32_t>(w)).snapshot().progress;
        }
      }
    }
    for (std::size_t i = 0; i < tp.series.size(); ++i) {
      tp.series[i].ops.push_back(totals[i] - last_role_ops_[i]);
      last_role_ops_[i] = totals[i];
    }
    next_sample_ns_ += interval;
  }
}

void Supervisor::sample_live(std::uint64_t now) {
  if (!options_.on_sample || now < next_live_ns_) return;
  next_live_ns_ = now + static_cast<std::uint64_t>(options_.sample_every.count());
  LiveSample sample;
  sample.elapsed_s = static_cast<double>(now - report_.started_ns) / 1e9;
  if (options_.duration) {
    sample.planned_s = std::chrono::duration<double>(*options_.duration).count();
    sample.progress_ratio = std::min(1.0, sample.elapsed_s / std::max(sample.planned_s, 1e-9));
  }
  std::uint64_t done = 0;
  for (std::size_t w = 0; w < configs_.size(); ++w) {
    const auto& role = configs_[w].role;
    auto it = std::find_if(sample.roles.begin(), sample.roles.end(),
                           [&](const probes::RoleStats& r) { return r.role == role; });
    if (it == sample.roles.end())
      it = sample.roles.insert(sample.roles.end(), probes::RoleStats{role, {}});
    it->stats.merge(control_.view().stats(static_cast<std::uint32_t>(w)).snapshot());
    const auto& live = live_[w];
    const char* state = live.finished  ? "exited"
                        : live.stopped ? "paused"
                        : live.pid > 0 ? "running"
                                       : "restarting";
    ++sample.workers[state];
    done += live.finished ? 1 : 0;
  }
  if (!options_.duration && !configs_.empty()) {
    sample.progress_ratio = static_cast<double>(done) / static_cast<double>(configs_.size());
  }
  sample.faults = injected_;
  if (options_.ring_counters) sample.rings = options_.ring_counters();
  for (const auto& r : sample.roles) {
    sample.crash_effects += r.stats.abandoned + r.stats.owner_died;
  }
  options_.on_sample(sample);
}

// A harness stopped (SIGSTOP, a debugger) or not run by an overloaded host watches
// nothing meanwhile: its workers went on, or waited for it (a consumer done with its
// work waits for the stop only the harness sends). Counted against them, that time made
// a stall of a correct run ("run overran duration + drain + timeout", a waiting
// consumer "killed by the watchdog"). The clocks stand still while the watchdog does.
void Supervisor::excuse_held_up(std::uint64_t now) {
  const std::uint64_t gap = now - last_tick_ns_;
  last_tick_ns_ = now;
  if (gap < kHeldUpNs) return;
  held_up_ns_ += gap;
  for (auto& t : last_object_progress_ns_) t = std::min(now, t + gap);
}

void Supervisor::check_watchdog(std::uint64_t now) {
  // Progress is watched per object: its workers' operations summed. An object whose
  // workers are busy elsewhere no longer hides one whose workers hang (two lockers blocked
  // behind a stopped holder of m0 passed while m1's lockers went on).
  const std::size_t objects = last_object_progress_.size();
  std::vector<std::uint64_t> progress(objects, 0);
  // A worker the schedule has paused (SIGSTOP until its resume is due) stops its own
  // progress on purpose, and peers that wait for its messages wait on purpose: its
  // object's no-progress clock does not run while it is paused. Unless it is paused
  // holding the object (a lock, a semaphore unit, a claimed MPMC slot that no consumer
  // can pass) and a worker still running uses it: peers blocked behind a stopped holder
  // are the hang the watchdog is for, and the stall names the holder
  // (mutex-stall-detected). An object no running worker uses cannot stall (a lone
  // locker paused mid-update holds up nobody).
  const auto paused = [&](const Live& l) { return l.pid != 0 && l.stopped && l.resume_at_ns != 0; };
  std::vector<char> running(objects, 0);  // a live worker not paused uses it
  for (std::uint32_t w = 0; w < configs_.size(); ++w) {
    const std::size_t object = configs_[w].object.index;
    progress[object] += control_.view().worker(w).snapshot().progress;
    const Live& l = live_[w];
    if ((l.pid != 0 || l.restart_pending) && !paused(l)) running[object] = 1;
  }
  std::vector<char> excused(objects, 0);  // paused by a fault, blocking nobody
  std::vector<char> blocked(objects, 0);  // a paused holder blocks running peers
  for (std::uint32_t w = 0; w < configs_.size(); ++w) {
    Live& l = live_[w];
    if (!paused(l)) continue;
    const std::size_t object = configs_[w].object.index;
    if (progress[object] == last_object_progress_[object] && !l.stopped_claims &&
        options_.claims_of) {
      l.stopped_claims = options_.claims_of(l.pid);
    }
    const bool holds = control_.view().worker(w).snapshot().holding == object + 1 ||
                       (l.stopped_claims &&
                        std::ranges::find(*l.stopped_claims, object) != l.stopped_claims->end());
    if (holds && running[object] != 0) {
      blocked[object] = 1;
    } else {
      excused[object] = 1;
    }
  }
  std::size_t stalled_object = objects;
  for (std::size_t o = 0; o < objects; ++o) {
    if (progress[o] != last_object_progress_[o] || running[o] == 0 ||
        (excused[o] != 0 && blocked[o] == 0)) {
      last_object_progress_[o] = progress[o];
      last_object_progress_ns_[o] = now;
    }
    if (stalled_object == objects ||
        last_object_progress_ns_[o] < last_object_progress_ns_[stalled_object]) {
      stalled_object = o;
    }
  }
  const auto timeout = static_cast<std::uint64_t>(options_.timeout.count());
  std::string reason;
  if (stalled_object < objects && now - last_object_progress_ns_[stalled_object] > timeout) {
    reason = "no progress for " + format_ns(now - last_object_progress_ns_[stalled_object]) +
             " on " + object_name(stalled_object);
  } else if (options_.duration) {
    const std::uint64_t limit =
        sum_saturating({static_cast<std::uint64_t>(options_.duration->count()),
                        static_cast<std::uint64_t>(options_.drain_grace.count()), timeout});
    // Held up, the harness gets that time again, up to the limit once more: a harness
    // slowed without end (its own output blocked) still ends an overrun.
    if (now - report_.started_ns > sum_saturating({limit, std::min(held_up_ns_, limit)})) {
      reason = "run overran duration + drain + timeout";
    }
  }
  if (reason.empty()) return;
  auto& stall = report_.stall;
  stall.stalled = true;
  stall.after_ns = now - report_.started_ns;
  stall.reason = reason;
  for (std::size_t w = 0; w < configs_.size(); ++w) {
    if (live_[w].pid == 0) continue;
    stall.workers.push_back(describe_worker(w));
    const auto snap = control_.view().worker(static_cast<std::uint32_t>(w)).snapshot();
    const std::string by = configs_[w].role + "[" + std::to_string(configs_[w].role_index) + "]" +
                           " (pid " + std::to_string(live_[w].pid) + ")";
    if (snap.holding != 0)
      stall.holders.push_back(object_name(snap.holding - 1) + " held by " + by);
    if (const auto& claims = live_[w].stopped_claims) {
      for (const std::size_t obj : *claims) {
        stall.holders.push_back(object_name(obj) + ": a slot claimed by " + by +
                                ", stopped before its commit or release");
      }
    }
  }
  for (std::size_t w = 0; w < configs_.size(); ++w) {
    if (live_[w].pid != 0) event(now, w, live_[w].pid, "stall", reason);
  }
  if (!options_.quiet) {
    std::fprintf(stderr, "  watchdog: stalled: %s\n", reason.c_str());
    for (const auto& line : stall.workers) std::fprintf(stderr, "    %s\n", line.c_str());
  }
  kill_all();
}

// A producer's incarnation `next` needs the journal slot of incarnation next -
// kLedgerSlots, which ended long ago (incarnations of a worker run one at a time):
// its final ledger moves into the report, and the message check learns its last acked.
void Supervisor::retire_ledger(std::size_t w, std::uint32_t next) {
  if (configs_[w].role != "producer" || next < probes::kLedgerSlots) return;
  const std::uint32_t producer = configs_[w].role_index;
  const auto retired = control_.view().producer(producer).retire(next - probes::kLedgerSlots);
  if (!retired) return;
  report_.deliveries.settle(probes::ProducerSnapshot{producer, {*retired}, 0});
  report_.retired_ledgers[producer].push_back(*retired);
}

// Moves sealed delivery records out of the consumers' logs (drain_log) so that their
// slots are reused, into the message check (DeliveryTally), then settles the producers
// there: their ledgers, read after the records, say which seqs are final. A
// duration-bound run ends now, as if its duration had (producers stop at their next
// message, consumers drain the rings), once what the check holds reaches
// options_.held_records.
void Supervisor::drain_logs(std::uint64_t now) {
  const auto& view = control_.view();
  const std::uint64_t threshold =
      std::min(view.consumer_log_capacity() / kLogDrainDivisor, kLogDrainChunk);
  bool moved = false;
  for (std::uint32_t i = 0; i < view.consumers(); ++i) {
    probes::ConsumerLog& log = view.consumer(i);
    drained_.clear();
    if (probes::drain_log(log, threshold, drained_) == 0) continue;
    moved = true;
    for (const probes::DeliveryRecord& r : drained_) report_.deliveries.add(log.consumer(), r);
  }
  if (!moved) return;
  for (std::uint32_t p = 0; p < view.producers(); ++p) {
    report_.deliveries.settle(view.producer(p).snapshot());
  }
  const std::uint64_t held = report_.deliveries.held();
  auto& run = control_.run();
  const std::uint64_t end = run.end_ns.load(std::memory_order_relaxed);
  if (end == 0 || now >= end || !report_.ended_early.empty() || held < options_.held_records) {
    return;
  }
  run.end_ns.store(now, std::memory_order_release);
  report_.ended_early =
      "the records the integrity check holds (deliveries it cannot merge yet, gaps, "
      "duplicates) reached " +
      std::to_string(held) + " (limit " + std::to_string(options_.held_records) + ") after " +
      format_ns(now - report_.started_ns);
  if (!options_.quiet) std::fprintf(stderr, "  ended early: %s\n", report_.ended_early.c_str());
}

void Supervisor::kill_all() noexcept {
  for (const pid_t g : groups_) ::killpg(g, SIGKILL);
  for (auto& live : live_) {
    if (live.pid != 0) {
      signal_worker(live.pid, SIGKILL);
      live.harness_kill = true;
    }
  }
  // Reap them all: SIGKILL cannot be ignored, so this is quick; bounded anyway.
  const std::uint64_t deadline = monotonic_ns() + 10'000 * kMs;
  for (;;) {
    bool any = false;
    for (auto& live : live_) {
      if (live.pid == 0) continue;
      any = true;
      int status = 0;
      const pid_t r = ::waitpid(live.pid, &status, WNOHANG);
      if (r == live.pid) {
        if (WIFSTOPPED(status)) continue;
        const auto w = static_cast<std::size_t>(&live - live_.data());
        stop_sent_ = true;
        live.restart_pending = false;
        on_exit(w, status, monotonic_ns());
        live.restart_pending = false;
        live.finished = true;
      } else if (r < 0 && errno == ECHILD) {
        live.pid = 0;
        live.finished = true;
      }
    }
    if (!any || monotonic_ns() > deadline) break;
    sleep_ms(1);
  }
  for (auto& live : live_) {
    live.restart_pending = false;
    live.finished = true;
  }
  // Orphaned grandchildren reparented to us (subreaper): reap whatever is left.
  while (::waitpid(-1, nullptr, WNOHANG) > 0) {
  }
}

void Supervisor::settle_unfired_faults() {
  for (std::size_t f = 0; f < schedule_.faults.size(); ++f) {
    const auto& fault = schedule_.faults[f];
    auto& outcome = report_.faults[f];
    if (outcome.status == probes::FaultStatus::kFired ||
        outcome.status == probes::FaultStatus::kSkipped) {
      continue;
    }
    if (!is_failpoint_fault(fault.type)) {
      outcome.note = "the run ended at " + format_ns(report_.elapsed_ns) + ", before it";
      continue;
    }
    // Failpoint faults are armed in the first incarnation only.
    const auto& history = report_.workers[fault.worker];
    const std::string who = fault.role + "[" + std::to_string(fault.role_index) + "]";
    if (history.incarnations.empty()) {
      outcome.status = probes::FaultStatus::kPreempted;
      outcome.note = who + " never started";
      continue;
    }
    const auto& first = history.incarnations.front();
    if (first.injected || first.unexpected) {
      outcome.status = probes::FaultStatus::kPreempted;
      const bool same_hit = first.injected && first.slot.injected_failpoint == fault.failpoint &&
                            first.slot.injected_occurrence == fault.occurrence;
      outcome.note = who + "'s first incarnation ended " +
                     (same_hit ? "at the same hit, by a fault armed there before this one: "
                               : "before the hit: ") +
                     first.cause;
      continue;
    }
    // It ran to the end (a clean exit, or stopped with the run): the hit never came.
    outcome.status = probes::FaultStatus::kNotReached;
    outcome.note = "the run ended first: " + who + " completed " +
                   std::to_string(first.slot.progress) +
                   " operations (run longer, or lower the fault's `after`)";
  }
}

core::Result<SupervisionReport> Supervisor::run() {
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
    return core::make_error(core::error_code_from_errno(errno), "prctl(PR_SET_CHILD_SUBREAPER)", {},
                            errno);
  }
  oom_kills_at_start_ = cgroup_oom_kills();
  // Spawn everyone, then wait until each has attached (its slot names its pid) or died.
  for (std::size_t w = 0; w < configs_.size(); ++w) {
    auto pid = spawn(w, 0);
    if (!pid) {
      note_spawn_failure(pid.error());
      live_[w].finished = true;
      continue;
    }
    live_[w].pid = *pid;
    event(monotonic_ns(), w, *pid, "spawn", "incarnation 0");
  }
  if (report_.spawn_failures == configs_.size() && !configs_.empty()) {
    return *first_spawn_error_;  // no worker started: the first reason is the run's error
  }
  const std::uint64_t start_deadline =
      monotonic_ns() + static_cast<std::uint64_t>(options_.start_timeout.count());
  for (;;) {
    reap(monotonic_ns());
    bool ready = true;
    for (std::size_t w = 0; w < configs_.size(); ++w) {
      if (live_[w].pid == 0) continue;
      const auto snap = control_.view().worker(static_cast<std::uint32_t>(w)).snapshot();
      if (snap.pid != live_[w].pid) ready = false;
    }
    if (ready || monotonic_ns() > start_deadline) break;
    sleep_ms(1);
  }
  // A worker that died before the run began (no fault acts before it) could not set up:
  // a worker short, like one that could not be spawned. (A producer exiting 71 at its
  // setup left the run to go on for its whole duration and fail on the death.)
  reap(monotonic_ns());
  for (std::size_t w = 0; w < configs_.size(); ++w) {
    const auto& history = report_.workers[w].incarnations;
    if (live_[w].pid != 0 || history.empty()) continue;
    note_spawn_failure(
        core::make_error(core::ErrorCode::kOther, "start worker",
                         configs_[w].role + "[" + std::to_string(configs_[w].role_index) + "]" +
                             " (pid " + std::to_string(history.back().pid) +
                             ") ended before the run began: " + history.back().cause));
  }
  if (report_.spawn_failures > 0) {
    // A run short of workers cannot be judged (it ends as an environment error): end it
    // now, not at its duration. A soak started at a process limit ran its hours first.
    control_.set_phase(RunPhase::kStop);
    stop_sent_ = true;
    kill_all();
    return std::move(report_);
  }
  // Go: publish the instants, then the phase.
  const std::uint64_t start = monotonic_ns();
  report_.started_ns = start;
  auto& run = control_.run();
  run.start_ns.store(start, std::memory_order_relaxed);
  if (options_.duration) {
    run.end_ns.store(start + static_cast<std::uint64_t>(options_.duration->count()),
                     std::memory_order_relaxed);
  }
  control_.set_phase(RunPhase::kGo);
  std::ranges::fill(last_object_progress_ns_, start);
  last_tick_ns_ = start;

  while (!all_done()) {
    const std::uint64_t now = monotonic_ns();
    excuse_held_up(now);
    if (const int sig = interrupt_signal(); sig != 0) {
      report_.interrupted_by = sig;
      control_.set_phase(RunPhase::kStop);
      stop_sent_ = true;
      kill_all();
      break;
    }
    reap(now);
    fire_timed_faults(now);
    for (std::size_t w = 0; w < live_.size(); ++w) {
      auto& live = live_[w];
      if (!live.restart_pending) continue;
      live.restart_pending = false;
      const std::uint32_t next = live.incarnation + 1;
      retire_ledger(w, next);
      auto pid = spawn(w, next);
      if (!pid) {
        note_spawn_failure(pid.error());
        live.finished = true;
        continue;
      }
      live.pid = *pid;
      live.incarnation = next;
      event(now, w, *pid, "restart", "incarnation " + std::to_string(next));
    }
    update_producers_done();
    if (options_.duration && !stop_sent_ &&
        now - start > sum_saturating({static_cast<std::uint64_t>(options_.duration->count()),
                                      static_cast<std::uint64_t>(options_.drain_grace.count())})) {
      control_.set_phase(RunPhase::kStop);
      stop_sent_ = true;
    }
    drain_logs(now);
    sample_throughput(now);
    sample_live(now);
    check_watchdog(now);
    say_held_fault_lines(now, false);
    sleep_ms(1);
  }
  report_.elapsed_ns = monotonic_ns() - start;
  say_held_fault_lines(monotonic_ns(), true);
  settle_unfired_faults();
  // Moved out, not copied: its timeline, fault markers and incarnations grow with every
  // restart. Every worker is reaped by now, so the kill_all() callers make after this
  // finds no live worker and records nothing into the moved-from report.
  assert(std::ranges::all_of(live_, [](const Live& live) { return live.pid == 0; }) &&
         "run() ends when every worker has been reaped");
  return std::move(report_);
}

}  // namespace shmcheck::harness
