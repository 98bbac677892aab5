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

// "model name" of the first CPU in /proc/cpuinfo ("unknown" when absent).
[[nodiscard]] std::string cpu_model();
// The 1/5/15-minute load averages from /proc/loadavg: "a b c".
[[nodiscard]] std::string load_average();

// "/shmcheck-bench.<uid>.<random hex>.<what>": unique names for named objects.
[[nodiscard]] std::string unique_name(const std::string& what);

}  // namespace shmcheck::bench
