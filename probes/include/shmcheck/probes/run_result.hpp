// RunResult: everything one `shmcheck run` of one spec found, as a plain value that
// every reporter renders (JSON here; JUnit, HTML, Markdown, Prometheus elsewhere).
// Built by the harness after the run; no shared memory, no I/O.
//
// JSON (to_json / run_result_from_json; keys are stable, snake_case, times in
// seconds as doubles relative to the run start unless named *_unix / *_at):
// {
//   "format": "shmcheck-run-result", "format_version": 1,
//   "spec": {"name", "file"}, "seed", "run_id", "repro", "shmcheck_version",
//   "started_at", "finished_at"          (ISO-8601 UTC strings),
//   "durations": {"setup_s", "run_s", "check_s", "total_s"},
//   "verdict": "pass"|"fail"|"error", "exit_code", "error" (message; "" unless error),
//   "fault_schedule": [{"role", "index", "kind", "failpoint", "at_s", "occurrence",
//                       "signal", "pause_s", "restart", "status", "note"}],
//   "workers": [{"role", "index", "restarts", "ops", "processes": [{"incarnation",
//                "pid", "exit_code" (null when signaled), "signal" (null when exited),
//                "cause", "failpoint", "occurrence", "op", "op_seq", "start_s",
//                "end_s"}]}],
//   "timeline": [{"t_s", "role", "index", "pid", "kind", "detail"}],
//   "throughput": {"interval_s", "series": [{"role", "ops": [n, ...]}],
//                  "fault_markers": [{"t_s", "kind", "role", "index"}]},
//   "integrity": null | {"lost", "lost_at_crash", ... every IntegrityCounts field,
//                "complete", "violations", "examples": [{"kind", "producer",
//                "incarnation", "seq", "consumer", "detail"}], "crashes": [{"role",
//                "index", "incarnation", "pid", "op", "op_seq", "failpoint", "effect",
//                "producer", "incarnation_in_flight", "seq", "description"}]},
//   "mutexes": [{"object", "ok", "record_consistent", "locker_crashes", "left", "a", "b",
//                "generation", "in_section", "updates",
//                "owner_died", "repairs", "torn_repaired", "torn_unexpected",
//                "exclusion_violations", "problems": [..]}],
//   "semaphores": [{"object", "flavor", "ok", "initial", "undo", "value", "posts",
//                   "waits", "held_at_exit", "drift", "expected_drift", "stranded",
//                   "pending_waits", "pending_posts", "problems": [..]}],
//   "pages": [{"object", "ok", "pages_written", "reads_ok", "read_retries",
//              "reads_torn", "pages_repaired", "problems": [..]}],
//   "rings": [{"object", "kind", "capacity", "pushes", "pops", "full_events",
//              "empty_events", "abandoned", "sleeps", "wakeups", "redelivered"}],
//   "stalls": [{"t_s", "description", "workers": [".."]}],
//   "leaks": {"leaked_objects", "findings": [{"kind", "name", "bytes", "verdict"}]},
//   "roles": [{"role", "ops", "full_events", "empty_events", "abandoned",
//              "lock_acquisitions", "lock_waits", "contended", "owner_died", "repairs",
//              "bytes", "ops_by_op": {"push": n, ...},
//              "latency": <histogram>, "lock_wait": <histogram>,
//              "ring_wait": <histogram>}],
//     <histogram> = {"count", "sum_s", "max_s", "p50_s", "p90_s", "p99_s", "p999_s",
//                    "buckets": [{"le": bound_s | "+Inf", "count": cumulative}]}
//   "expectations": [{"name", "expected", "actual", "pass"}]
// }
#pragma once

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shmcheck/core/result.hpp"
#include "shmcheck/probes/integrity_checker.hpp"
#include "shmcheck/probes/stats_block.hpp"

namespace shmcheck::probes {

inline constexpr int kRunResultFormatVersion = 1;

enum class RunVerdict : std::uint8_t { kPass, kFail, kError };
[[nodiscard]] std::string_view to_string(RunVerdict verdict) noexcept;  // "pass" "fail" "error"
[[nodiscard]] std::optional<RunVerdict> run_verdict_from_string(std::string_view s) noexcept;

// What became of one planned fault.
enum class FaultStatus : std::uint8_t {
  kFired,       // it acted: its failpoint hit came, or its signal was sent
  kNotReached,  // a failpoint fault whose worker ran to the end of the run without the
                // hit: the run did not test what the spec asked (a finding)
  kPreempted,   // a failpoint fault whose armed incarnation ended first (another fault,
                // an unexpected death) or never started
  kSkipped,     // a timed fault that came due while its worker was not running, paused or
                // already being killed by an earlier one
  kNotDue,      // a timed fault planned after the run had ended
};
// "fired", "not_reached", "preempted", "skipped", "not_due"
[[nodiscard]] std::string_view to_string(FaultStatus status) noexcept;
[[nodiscard]] std::optional<FaultStatus> fault_status_from_string(std::string_view s) noexcept;

// One entry of the expanded, seeded fault schedule, and what became of it.
struct ScheduledFault {
  std::string role;              // the targeted worker's role
  std::uint32_t index = 0;       // role-local index
  std::string kind;              // "kill", "exit", "pause", "delay"
  std::string failpoint;         // "" when time-triggered
  std::optional<double> at_s;    // time-triggered: seconds after start
  std::uint64_t occurrence = 0;  // failpoint-triggered: fires on this hit
  int signal = 0;                // kill: the signal (9); 0 otherwise
  double pause_s = 0;            // pause: SIGSTOP..SIGCONT length
  bool restart = false;
  FaultStatus status = FaultStatus::kNotDue;
  std::string note;  // why it did not fire ("" when it fired)
  friend bool operator==(const ScheduledFault&, const ScheduledFault&) = default;
};

// How one worker process ended.
enum class ExitCause : std::uint8_t {
  kClean,              // exited 0 after finish()
  kInjectedFailpoint,  // died at the scheduled failpoint (kill or _exit action)
  kInjectedTimer,      // killed by the harness's time-triggered fault
  kStoppedByHarness,   // killed by the harness at the end (timeout, stall, shutdown)
  kUnexpectedSignal,   // any other signal
  kUnexpectedExit,     // non-zero exit that was not injected
  kOomKilled,          // SIGKILL from the OOM killer (memory.events oom_kill grew)
  kRunning,            // still running when the result was built (should not happen)
};
[[nodiscard]] std::string_view to_string(ExitCause cause) noexcept;
[[nodiscard]] std::optional<ExitCause> exit_cause_from_string(std::string_view s) noexcept;
// True for the causes that are a finding (unexpected signal/exit, OOM, running).
[[nodiscard]] bool is_unexpected(ExitCause cause) noexcept;

struct ProcessOutcome {
  std::uint32_t incarnation = 0;
  std::int32_t pid = 0;
  std::optional<int> exit_code;  // set when the process exited
  std::optional<int> signal;     // set when a signal ended it
  ExitCause cause = ExitCause::kClean;
  std::string failpoint;  // the failpoint that fired in it, "" when none
  std::uint64_t occurrence = 0;
  std::string op;  // WorkerOp in flight at death ("none" when clean)
  std::uint64_t op_seq = 0;
  double start_s = 0;
  double end_s = 0;
  friend bool operator==(const ProcessOutcome&, const ProcessOutcome&) = default;
};

struct WorkerOutcome {
  std::string role;
  std::uint32_t index = 0;
  std::uint32_t restarts = 0;
  std::uint64_t ops = 0;                  // WorkerSlot progress
  std::vector<ProcessOutcome> processes;  // one per incarnation, in order
  friend bool operator==(const WorkerOutcome&, const WorkerOutcome&) = default;
};

struct TimelineEvent {
  double t_s = 0;
  std::string role;
  std::uint32_t index = 0;
  std::int32_t pid = 0;
  std::string kind;    // "spawn", "kill", "pause", "resume", "restart", "exit", "stall"
  std::string detail;  // e.g. "SIGKILL at ring.push.before_commit #3", "exit 0"
  friend bool operator==(const TimelineEvent&, const TimelineEvent&) = default;
};

struct ThroughputSeries {
  std::string role;
  std::vector<std::uint64_t> ops;  // completed ops per interval, interval i = [i*dt, (i+1)*dt)
  friend bool operator==(const ThroughputSeries&, const ThroughputSeries&) = default;
};

struct FaultMarker {
  double t_s = 0;
  std::string kind;  // "kill", "exit", "pause", "resume"
  std::string role;
  std::uint32_t index = 0;
  friend bool operator==(const FaultMarker&, const FaultMarker&) = default;
};

struct Throughput {
  double interval_s = 0.1;
  std::vector<ThroughputSeries> series;
  std::vector<FaultMarker> fault_markers;
  friend bool operator==(const Throughput&, const Throughput&) = default;
};

struct StallFinding {
  double t_s = 0;
  std::string description;           // "no progress for 10s; locker[2] holds guard"
  std::vector<std::string> workers;  // "consumer[0]: pop seq 812 (in_op)"
  friend bool operator==(const StallFinding&, const StallFinding&) = default;
};

struct LeakFinding {
  std::string kind;  // "posix_shm", "sysv_shm", "posix_sem", "sysv_sem", "memfd", ...
  std::string name;
  std::uint64_t bytes = 0;
  std::string verdict;  // "orphaned", "in_use", "pending_destroy", "unknown", "removed"
  friend bool operator==(const LeakFinding&, const LeakFinding&) = default;
};

struct LeakReport {
  std::uint64_t leaked_objects = 0;  // objects of this run left behind after cleanup
  std::vector<LeakFinding> findings;
  friend bool operator==(const LeakReport&, const LeakReport&) = default;
};

// A ring's own counters (core::RingStats), read from its segment after the run. Beside
// the roles' full and empty events they say what the waits cost: how often a waiting
// call went to sleep on the futex, and how often a mover had to wake a sleeper (each a
// system call, and a cross-CPU wake-up of 35-40 us on the machines this was built on).
// Of every incarnation of every worker, crashed ones included.
struct RingCounters {
  std::string object;
  std::string kind;  // "spsc_ring", "mpmc_ring"
  std::uint64_t capacity = 0;
  // Positions claimed by producers (SPSC: committed; MPMC: abandoned ones and messages
  // published again included).
  std::uint64_t pushes = 0;
  std::uint64_t pops = 0;          // slots taken by consumers, abandoned ones included
  std::uint64_t full_events = 0;   // push calls that found the ring full
  std::uint64_t empty_events = 0;  // pop calls that found the ring empty
  std::uint64_t abandoned = 0;     // slots released because their claimer was proved dead
  std::uint64_t sleeps = 0;        // futex sleeps of waiting calls, both sides
  std::uint64_t wakeups = 0;       // futex wake-ups sent to sleepers
  // Messages a consumer proved dead had claimed, published again (MPMC).
  std::uint64_t redelivered = 0;
  friend bool operator==(const RingCounters&, const RingCounters&) = default;
};

// Counters and histograms of all workers of one role, merged.
struct RoleStats {
  std::string role;
  StatsSnapshot stats;
  friend bool operator==(const RoleStats&, const RoleStats&) = default;
};

struct ExpectationResult {
  std::string name;      // the spec key: "lost", "p99_latency", "delivery", ...
  std::string expected;  // as the spec says it: "0", "< 500us", "exactly_once"
  std::string actual;    // as measured: "3", "212us", "at_least_once (2 duplicated)"
  bool pass = false;
  friend bool operator==(const ExpectationResult&, const ExpectationResult&) = default;
};

struct Durations {
  double setup_s = 0;
  double run_s = 0;
  double check_s = 0;
  double total_s = 0;
  friend bool operator==(const Durations&, const Durations&) = default;
};

struct RunResult {
  std::string spec_name;
  std::string spec_file;
  std::uint64_t seed = 0;
  std::string run_id;
  std::string repro;  // "shmcheck run specs/x.yaml --seed 42"
  std::string shmcheck_version;
  std::string started_at;  // ISO-8601 UTC, e.g. "2026-11-29T17:05:00Z"
  std::string finished_at;
  Durations durations;

  RunVerdict verdict = RunVerdict::kError;
  int exit_code = 4;
  std::string error;  // why, when verdict == kError
  // Why a duration-bound run ended before its duration, "" when it did not (a
  // consumer's delivery log filled up: every delivery is still checked).
  std::string ended_early;

  std::vector<ScheduledFault> fault_schedule;
  std::vector<WorkerOutcome> workers;
  std::vector<TimelineEvent> timeline;
  Throughput throughput;

  std::optional<MessageVerdict> integrity;  // message workloads only
  std::vector<MutexFindings> mutexes;
  std::vector<SemaphoreFindings> semaphores;
  std::vector<PageFindings> pages;
  std::vector<RingCounters> rings;
  std::vector<StallFinding> stalls;
  LeakReport leaks;
  std::vector<RoleStats> roles;
  std::vector<ExpectationResult> expectations;

  // False for a spec that never started (refused under --keep-going, or kept from
  // running by a signal): it has no seed, run or figures, and reports show none rather
  // than zeros.
  [[nodiscard]] bool started() const noexcept { return !run_id.empty(); }
};

// Latency summary of a histogram, seconds (what reports print per role).
struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
  std::uint64_t count = 0;
};
[[nodiscard]] Percentiles percentiles(const HistogramSnapshot& h) noexcept;

// Generic comparison for expectations ("< 500us", ">= 1M/s"): the harness parses the
// spec's operator and value, these compare and print.
enum class CompareOp : std::uint8_t {
  kLess,
  kLessEqual,
  kGreater,
  kGreaterEqual,
  kEqual,
  kNotEqual
};
[[nodiscard]] bool compare(double actual, CompareOp op, double expected) noexcept;
[[nodiscard]] std::string_view to_string(
    CompareOp op) noexcept;  // "<", "<=", ">", ">=", "==", "!="
[[nodiscard]] std::optional<CompareOp> compare_op_from_string(std::string_view s) noexcept;

// What a run's throughput counts (the `throughput` expectation, the summaries): its
// messages delivered where the run checks messages (once: a duplicate or a copy read
// again after a crash is not counted), else the operations of every role
// but the consumer's. Push and pop of one message are one message.
[[nodiscard]] std::uint64_t throughput_ops(const RunResult& result) noexcept;

[[nodiscard]] nlohmann::json to_json(const RunResult& result);
[[nodiscard]] nlohmann::json to_json(const HistogramSnapshot& histogram);
// Writes to_json(result).dump(2) to `out`, byte for byte, as if nested `depth` levels
// deep in a larger document (the first line unindented, the rest indented 2 * depth
// spaces more), without building it: one record at a time, so writing a run with
// thousands of restarts costs kilobytes, not the tens of megabytes of its document.
// Invalid UTF-8 (worker output) is replaced, not thrown on.
void write_json(std::ostream& out, const RunResult& result, int depth = 0);
// A JSON array of them, the same way.
void write_json(std::ostream& out, const std::vector<RunResult>& results, int depth = 0);
// value.dump(2) written the same way at `depth`, for the small parts of a document.
void write_pretty_json(std::ostream& out, const nlohmann::json& value, int depth = 0);
// Inverse of to_json (derived fields such as percentiles and "violations" are
// recomputed, not read). kInvalidArgument with the JSON path on a malformed document.
[[nodiscard]] core::Result<RunResult> run_result_from_json(const nlohmann::json& json);

}  // namespace shmcheck::probes
