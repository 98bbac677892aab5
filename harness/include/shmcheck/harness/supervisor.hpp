// Supervisor: starts a run's worker processes, injects the timed faults, restarts
// killed workers, reaps every child itself, and stops the run — never hangs.
//
// Process model: the harness process is a child subreaper (PR_SET_CHILD_SUBREAPER), so
// anything a worker forks is reaped here too. Workers are `shmcheck-worker worker ...`
// (SupervisorOptions::worker_executable; `shmcheck worker ...` is the same code),
// spawned with Boost.Process and detached at once (Boost.Process 1.74
// conflates signals with exit codes, leaves zombies and blocks in wait_for on dead
// children): the supervisor reaps by pid with waitpid(WNOHANG | WUNTRACED). Each worker
// gets PR_SET_PDEATHSIG(SIGKILL) before exec (a SIGKILLed harness takes its workers
// with it) and joins the run's own process group (killpg at the end).
//
// Fault kinds: failpoint kills/exits/pauses are armed in the worker (argv) and
// recorded by it in its WorkerSlot before they act; timed kills and pauses are sent
// from here (SIGKILL/SIGSTOP/SIGCONT). A death is "injected" when the slot recorded
// the failpoint or this supervisor sent that signal to that incarnation; any other
// signal is unexpected (a SIGKILL nobody sent is checked against the cgroup's
// oom_kill counter: "OOM kill" or "unexpected SIGKILL, possibly OOM").
//
// Watchdog: when the progress of an object's workers (their counters summed, per spec
// object) does not move for the spec's timeout (or the run overruns duration +
// timeout), the run is `stalled`: the
// finding names what each worker was doing and which objects they held, then every
// worker is SIGKILLed and reaped.
//
// Single-threaded; lives in the harness process only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "shmcheck/core/result.hpp"
#include "shmcheck/harness/control_segment.hpp"
#include "shmcheck/harness/fault_schedule.hpp"
#include "shmcheck/harness/line_throttle.hpp"
#include "shmcheck/harness/live_sample.hpp"
#include "shmcheck/harness/worker.hpp"
#include "shmcheck/probes/integrity_checker.hpp"
#include "shmcheck/probes/journal.hpp"
#include "shmcheck/probes/run_result.hpp"

namespace shmcheck::harness {

// How one incarnation of a worker ended.
struct IncarnationOutcome {
  std::uint32_t incarnation = 0;
  pid_t pid = 0;
  bool exited = false;  // WIFEXITED
  int exit_code = 0;
  bool signaled = false;  // WIFSIGNALED
  int signal = 0;
  bool clean = false;                // exit 0 after finish()
  bool injected = false;             // the schedule caused it
  bool unexpected = false;           // neither clean nor injected
  bool restarted = false;            // a new incarnation took over
  std::optional<std::size_t> fault;  // index in the schedule, when injected by one
  std::string cause;  // "clean exit", "failpoint ring.push.before_commit hit 3 (SIGKILL)", ...
  probes::WorkerSlotSnapshot slot;   // the slot as the incarnation left it
  std::uint64_t ended_after_ns = 0;  // since the run's start

  [[nodiscard]] nlohmann::json to_json() const;
};

struct WorkerHistory {
  WorkerConfig config;  // incarnation 0's config
  std::vector<IncarnationOutcome> incarnations;
  [[nodiscard]] std::uint32_t restarts() const noexcept;
  [[nodiscard]] nlohmann::json to_json() const;
};

// What happened to one scheduled fault. Every one is settled when run() returns.
struct FaultOutcome {
  probes::FaultStatus status = probes::FaultStatus::kNotDue;
  // Why it did not fire ("" when it did): "worker paused when it came due", ...
  std::string note;
};

struct StallReport {
  bool stalled = false;
  std::uint64_t after_ns = 0;  // since the run's start
  std::string reason;          // "no progress for 5s on guard", "run overran duration + timeout"
  std::vector<std::string> workers;  // "producer[0] pid 123: in push seq 77, holding nothing"
  std::vector<std::string> holders;  // "guard held by locker[3] (pid 456)"
  [[nodiscard]] nlohmann::json to_json() const;
};

struct SupervisionReport {
  std::vector<WorkerHistory> workers;
  std::vector<FaultOutcome> faults;  // parallel to the schedule
  StallReport stall;
  std::uint64_t started_ns = 0;                 // CLOCK_MONOTONIC of kGo
  std::uint64_t elapsed_ns = 0;                 // kGo to the last worker reaped
  std::vector<probes::TimelineEvent> timeline;  // spawn, kill, pause, resume, restart, exit, stall
  probes::Throughput throughput;                // ops per role per interval, with fault markers
  int interrupted_by = 0;  // SIGINT/SIGTERM/SIGHUP received: the run was torn down early
  std::uint64_t spawn_failures = 0;
  std::string spawn_error;  // the first one
  // Why a duration-bound run ended before its duration ("" when it did not): what the
  // integrity check holds (DeliveryTally::held) reached held_records.
  std::string ended_early;
  // The message check so far: every record drained from the consumers' logs during the
  // run (probes::drain_log), producers settled after each drain. The records still in
  // the logs' slots at the end are the caller's to add.
  probes::DeliveryTally deliveries;
  // Per producer index: the ledgers of incarnations retired from the journal's slots
  // (ProducerJournal::retire) to make room for later ones; snapshot() has the rest.
  std::map<std::uint32_t, std::vector<probes::IncarnationSnapshot>> retired_ledgers;
};

// A log is asked to seal (and then drained) once a quarter of its slots, or 4096
// records, are in use, whichever is fewer. Consumers' logs are drained up to different
// points, and until the other consumers' records up to the same point arrive, the check
// holds each run of a drained one as a gap-separated interval: a small chunk keeps
// that at a few thousand (a quarter of 2^18 slots made it 65 k at every drain).
inline constexpr std::uint64_t kLogDrainDivisor = 4;
inline constexpr std::uint64_t kLogDrainChunk = 4096;
// Slots of the consumers' logs (32 B each), which live in the control segment in
// /dev/shm. The drain keeps them free: two consumers sharing an unpaced MPMC ring append
// some 43 k records/s each, and the supervisor drains every millisecond. A full log
// makes its consumer wait for the drain (kLogRoomWait in roles.cpp), not drop. So the
// logs share one budget, 8 MiB, split between the consumers, each log between 32 KiB
// and 4 MiB: 256 logs of 1,024 slots fill the budget, and consumers that many share
// the CPUs, and so the records, too (a log of 1,024 slots drained every millisecond
// takes 1 M records/s). Each log had 8 MiB before: eight unpaced consumers needed
// 64 MiB, all of a container's default /dev/shm, and were refused; then at least
// 256 KiB each, so 250 consumers still took 62.7 MiB.
inline constexpr std::uint64_t kLogSlotsBudget = std::uint64_t{1} << 18;
inline constexpr std::uint64_t kMinLogSlots = std::uint64_t{1} << 10;
inline constexpr std::uint64_t kMaxLogSlots = std::uint64_t{1} << 17;
// What the message check may hold (DeliveryTally::held: intervals and spans of about
// 64 bytes each) before a duration-bound run ends early: 8 Mi, some 512 MiB. A run
// whose messages all arrive holds a few per producer and consumer however long it is;
// this bounds the memory of a run that loses or duplicates messages by the million.
inline constexpr std::uint64_t kDefaultHeldRecords = std::uint64_t{1} << 23;

// The executable a run's workers start from: `shmcheck-worker` in the directory of the
// running executable when it is there, executable, and of the same build (its
// `--build-stamp` prints this binary's build_stamp()); it loads a fifth of the shared
// libraries `shmcheck` does, so it starts several times faster. Else the running
// executable itself, whose `worker` subcommand is the same code.
struct WorkerExecutable {
  std::string path;
  // Why a shmcheck-worker that is there was not taken ("" when it was, or is absent).
  std::string refused;
};
WorkerExecutable worker_executable_beside_self();

struct SupervisorOptions {
  std::string control_ref;
  // Started as `<worker_executable> worker --control ... --index ...`.
  std::string worker_executable = "/proc/self/exe";
  std::optional<std::chrono::nanoseconds> duration;  // absent: ops-bound
  std::chrono::nanoseconds timeout{std::chrono::seconds(60)};
  std::chrono::nanoseconds drain_grace{std::chrono::seconds(1)};  // after the end: then kStop
  std::chrono::nanoseconds start_timeout{std::chrono::seconds(10)};
  LiveSampleSink on_sample;  // live progress for --metrics-listen and the progress line
  // Reads the rings' own counters for each live sample (the runner maps the rings).
  std::function<std::vector<probes::RingCounters>()> ring_counters;
  // The spec objects (indices into object_names) in which process `pid` holds a claim
  // that blocks its peers: an MPMC ring slot claimed and not committed or released.
  // Asked at most once per stop of a paused worker, once progress has stopped (the
  // runner maps the rings; the answer scans every slot).
  std::function<std::vector<std::size_t>(pid_t)> claims_of;
  std::chrono::nanoseconds sample_every{std::chrono::milliseconds(250)};
  std::vector<std::string> object_names;  // spec objects, for "held by" lines
  Broken broken = Broken::kNone;          // test-only, forwarded to workers
  bool quiet = false;
  std::uint64_t held_records = kDefaultHeldRecords;  // see kDefaultHeldRecords
};

class Supervisor {
 public:
  Supervisor(ControlSegment& control, std::vector<WorkerConfig> workers,
             const FaultSchedule& schedule, SupervisorOptions options);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Spawns every worker, waits until each has attached (or died), starts the clock,
  // supervises to the end and reaps everything. Errors only when the run could not be
  // started at all (spawn failed for every worker, subreaper refused, ...).
  [[nodiscard]] core::Result<SupervisionReport> run();

  // SIGKILLs every live worker and reaps them (used on every exit path).
  void kill_all() noexcept;

 private:
  struct Live;
  core::Result<pid_t> spawn(std::size_t worker, std::uint32_t incarnation);
  // Counts a failed spawn; the first one's message and code are the report's.
  void note_spawn_failure(const core::Error& error);
  void reap(std::uint64_t now);
  // The failpoint fault of `worker` whose hit its slot recorded (failpoint, occurrence
  // and action), if any.
  [[nodiscard]] std::optional<std::size_t> failpoint_fault(
      std::size_t worker, const probes::WorkerSlotSnapshot& slot) const;
  void on_exit(std::size_t worker, int status, std::uint64_t now);
  void fire_timed_faults(std::uint64_t now);
  // Says why each fault that never fired did not (see probes::FaultStatus).
  void settle_unfired_faults();
  void update_producers_done();
  void check_watchdog(std::uint64_t now);
  // A loop tick `gap` after the last: that long, nobody watched. Moves every object's
  // no-progress clock on by it and adds it to the run's overrun limit.
  void excuse_held_up(std::uint64_t now);
  void drain_logs(std::uint64_t now);
  void retire_ledger(std::size_t w, std::uint32_t next);
  void sample_throughput(std::uint64_t now);
  void sample_live(std::uint64_t now);
  // Says how many injected faults' lines fault_lines_ held back, once their window is
  // over (or at once, when `final`).
  void say_held_fault_lines(std::uint64_t now, bool final);
  // One timeline event; a kill, exit, pause or resume is also a fault marker on the
  // throughput chart unless `marked` is false (an exit whose kill is already marked, a
  // clean exit).
  void event(std::uint64_t now, std::size_t worker, pid_t pid, std::string kind, std::string detail,
             bool marked = true);
  // A timed kill sent to `pid` ended nothing (it was already exiting): its fault is
  // skipped, saying `why`, and its "kill" event and marker are taken back.
  void unmark_kill(pid_t pid, std::size_t fault, std::string why);
  [[nodiscard]] bool all_done() const;
  [[nodiscard]] std::string describe_worker(std::size_t worker) const;
  [[nodiscard]] std::string object_name(std::size_t object) const;  // its spec name
  std::optional<std::size_t> worker_of(pid_t pid) const;

  ControlSegment& control_;
  std::vector<WorkerConfig> configs_;
  const FaultSchedule& schedule_;
  SupervisorOptions options_;
  std::vector<Live> live_;
  std::set<pid_t> groups_;
  SupervisionReport report_;
  std::vector<probes::DeliveryRecord> drained_;   // drain_logs' scratch, reused
  std::optional<core::Error> first_spawn_error_;  // report_.spawn_error, as an Error
  // Per spec object (WorkerConfig::object.index): its workers' progress at the last
  // change, and when that was (check_watchdog).
  std::vector<std::uint64_t> last_object_progress_;
  std::vector<std::uint64_t> last_object_progress_ns_;
  // The harness's own hold-ups (SIGSTOP, a host that did not run it): the watchdog's
  // clocks stand still while the watchdog does (excuse_held_up).
  std::uint64_t last_tick_ns_ = 0;
  std::uint64_t held_up_ns_ = 0;
  bool stop_sent_ = false;
  std::uint64_t oom_kills_at_start_ = 0;
  std::uint64_t next_sample_ns_ = 0;
  std::uint64_t next_live_ns_ = 0;
  std::vector<std::uint64_t> last_role_ops_;  // per throughput series
  // The schedule's failpoint faults are [0, timed_begin_), its timed ones the rest, in
  // firing order; next_timed_ is the first timed fault not yet due.
  std::size_t timed_begin_ = 0;
  std::size_t next_timed_ = 0;
  // Injected faults by kind (kill, exit, pause), counted as they happen (a kill or _exit
  // when its victim is reaped, a pause when it stops) for the live metrics; the final
  // ones count the schedule's fired faults, the same faults once the run is over.
  std::map<std::string, std::uint64_t> injected_;
  // The console's lines for injected faults: the first 5 of each second.
  LineThrottle fault_lines_{5, 1'000'000'000};
};

// SIGINT, SIGTERM and SIGHUP stop the run cleanly (workers killed and reaped, objects
// removed, manifest deleted) instead of killing the harness; SIGPIPE is ignored (a
// closed stdout or stderr loses the output, not the run). Idempotent.
void install_interrupt_handlers() noexcept;
// The interrupting signal received so far, 0 when none.
[[nodiscard]] int interrupt_signal() noexcept;

// The cgroup v2 oom_kill counter of this process's cgroup (0 when unavailable).
[[nodiscard]] std::uint64_t cgroup_oom_kills() noexcept;

}  // namespace shmcheck::harness
