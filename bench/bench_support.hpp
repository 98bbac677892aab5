// Support for cross-process benchmarks: clocks, anonymous shared memory, CPU
// pinning, and a runner that forks pinned processes behind a start barrier.
//
// Not part of shmcheck::core: a benchmark program may throw on set-up failure
// (std::runtime_error) and prints to stdout. Each trial forks fresh processes:
// the parent creates the objects under test (in MAP_SHARED|MAP_ANONYMOUS memory,
// pipes, named objects), the children inherit them, run one role each on their
// own CPU and write what they measured into a RoleReport in shared memory. The
// parent reaps them with a deadline and SIGKILLs whatever outlives it, so a
// wedged implementation costs one failed figure, never a hung benchmark.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace shmcheck::bench {

// CLOCK_MONOTONIC in ns: used outside hot loops only (about 17 ns a call here).
[[nodiscard]] std::uint64_t now_ns() noexcept;

// A cheap per-sample clock: the TSC when it is invariant (constant_tsc and
// nonstop_tsc in /proc/cpuinfo), calibrated against CLOCK_MONOTONIC once in the
// parent before forking; otherwise CLOCK_MONOTONIC. Comparable across CPUs.
class SampleClock {
 public:
  static void calibrate();
  [[nodiscard]] static std::uint64_t ticks() noexcept;
  [[nodiscard]] static double ns_per_tick() noexcept { return ns_per_tick_; }
  [[nodiscard]] static bool uses_tsc() noexcept { return use_tsc_; }
  [[nodiscard]] static std::uint64_t ns_to_ticks(double ns) noexcept;

 private:
  static inline bool use_tsc_ = false;
  static inline double ns_per_tick_ = 1.0;
};

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// A compiler barrier that makes p's bytes memory the compiler must write before
// and read after this point, as any real producer's and consumer's buffers are:
// without it a benchmark loop can keep an 8-byte message in a register for one
// transport and not for another (one whose slow path might read the buffer).
inline void touch_memory(const void* p) noexcept { asm volatile("" : : "r"(p) : "memory"); }

// MAP_SHARED|MAP_ANONYMOUS memory: shared with every process forked after it.
class SharedRegion {
 public:
  explicit SharedRegion(std::size_t bytes);
  ~SharedRegion();
  SharedRegion(const SharedRegion&) = delete;
  SharedRegion& operator=(const SharedRegion&) = delete;
  SharedRegion(SharedRegion&& other) noexcept;
  SharedRegion& operator=(SharedRegion&&) = delete;

  [[nodiscard]] void* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  template <class T>
  [[nodiscard]] T* as() const noexcept {
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
  std::size_t size_ = 0;
};

// What one role measured in one trial. Lives in shared memory.
struct RoleReport {
  std::uint64_t start_ns = 0;  // CLOCK_MONOTONIC when the role passed the barrier
  std::uint64_t end_ns = 0;    // CLOCK_MONOTONIC when the role's work was done
  std::uint64_t ops = 0;
  double values[8] = {};  // role-specific results (latency percentiles, checks)
  std::uint32_t failed = 0;
  char error[240] = {};
};

// Handed to each role: its report, and the barrier every role passes before
// its timed work starts.
class Role {
 public:
  Role(RoleReport* report, std::atomic<std::uint32_t>* arrived, std::uint32_t parties) noexcept
      : report_(report), arrived_(arrived), parties_(parties) {}
  // Waits for every role, then records start_ns. Call after set-up, right
  // before the timed loop.
  void start() noexcept;
  // Records end_ns. Call right after the timed loop.
  void stop() noexcept;
  void fail(const std::string& why) noexcept;
  [[nodiscard]] RoleReport& report() noexcept { return *report_; }
  [[nodiscard]] bool started() const noexcept { return started_; }

 private:
  RoleReport* report_;
  std::atomic<std::uint32_t>* arrived_;
  std::uint32_t parties_;
  bool started_ = false;
};

using RoleFn = std::function<void(Role&)>;

struct TrialOutcome {
  bool ok = false;
  std::string error;  // why the trial failed: a role's message, a signal, a timeout
  std::vector<RoleReport> roles;

  // Wall time from the first role's start to the last role's end.
  [[nodiscard]] double elapsed_seconds() const noexcept;
};

// The CPUs this process may run on (sched_getaffinity), in order.
[[nodiscard]] std::vector<int> allowed_cpus();

// Forks one process per role, pins role i to cpus[i % cpus.size()] (no pinning
// when cpus is empty), runs them behind a shared start barrier and reaps them,
// SIGKILLing all of them when the deadline passes.
[[nodiscard]] TrialOutcome run_roles(const std::vector<RoleFn>& roles, const std::vector<int>& cpus,
                                     std::chrono::milliseconds deadline);

// What a program run by run_program printed and how it ended.
struct ProgramOutcome {
  bool ok = false;    // exited with status 0 before the deadline
  std::string out;    // everything it wrote to stdout
  std::string error;  // why not ok: "exit status 3", "killed by signal 9", "timed out ..."
};

// Runs argv (argv[0] a path) with stdout captured, stderr inherited, pinned to cpu
// when cpu >= 0; SIGKILLs it (and reaps it) when the deadline passes.
[[nodiscard]] ProgramOutcome run_program(const std::vector<std::string>& argv, int cpu,
                                         std::chrono::milliseconds deadline);

// Median/min/max of repeated measurements.
struct Summary {
  double median = 0;
  double min = 0;
  double max = 0;
  std::vector<double> values;
};
[[nodiscard]] Summary summarize(std::vector<double> values);

// Percentile (0..100) of sorted samples, nearest-rank.
[[nodiscard]] std::uint64_t percentile(const std::vector<std::uint64_t>& sorted,
                                       double pct) noexcept;

// The CPU model from /proc/cpuinfo ("unknown" when absent), for a report's context.
[[nodiscard]] std::string cpu_model();
// /proc/loadavg's 1, 5 and 15 minute load averages, "0.55 1.17 1.72".
[[nodiscard]] std::string load_average();

// Sets this process's nice value. Spinning roles need both CPUs at once, and a loaded
// machine shares CPU time fairly between sessions (autogroups) before nice applies
// inside one, so nice alone buys nothing against other sessions. Below 0, the process
// moves into a session of its own (forking first when it leads a process group, the
// parent waiting for it and exiting with its status) and gives that session's
// autogroup the same nice: it affects only the benchmark's own processes, which
// inherit it. Best effort: returns what was granted, for the report's context.
[[nodiscard]] std::string raise_priority(int nice_value);

// "/shmcheck-bench.<uid>.<random hex>.<what>": unique names for named objects.
[[nodiscard]] std::string unique_name(const std::string& what);

}  // namespace shmcheck::bench
