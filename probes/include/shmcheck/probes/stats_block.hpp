// StatsBlock: one worker's counters and histograms, living in the control segment.
//
// Across processes: the worker writes its own block (single writer), the harness
// reads every block at any time (snapshot()) and aggregates (StatsSnapshot::merge)
// for reports and Prometheus. Lock-free, no syscalls, no allocation: every update
// is a relaxed load + relaxed store of a 64-bit atomic (one writer per block, so no
// read-modify-write is needed). Readers see each counter atomically, but not the
// block as one consistent cut: counts may be a few operations apart. Never copied
// or moved; the harness placement-constructs it (ControlLayout) and nobody destroys it.
//
// Histograms use fixed Prometheus-style `le` bounds, log-scale 1-2-5 steps from
// 100 ns to 1 s (kHistogramBoundsNs), plus +Inf. Bucket i counts observations
// with bound[i-1] < value <= bound[i] (not cumulative; HistogramSnapshot::cumulative()
// gives the Prometheus form).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shmcheck/probes/worker_op.hpp"

namespace shmcheck::probes {

// Upper bounds (inclusive, nanoseconds): 100ns 200ns 500ns 1us ... 200ms 500ms 1s.
inline constexpr std::array<std::uint64_t, 22> kHistogramBoundsNs = {
    100,         200,         500,         1'000,        2'000,      5'000,
    10'000,      20'000,      50'000,      100'000,      200'000,    500'000,
    1'000'000,   2'000'000,   5'000'000,   10'000'000,   20'000'000, 50'000'000,
    100'000'000, 200'000'000, 500'000'000, 1'000'000'000};
// Finite buckets plus the +Inf bucket.
inline constexpr std::size_t kHistogramBuckets = kHistogramBoundsNs.size() + 1;

// Index of the bucket a value falls in (kHistogramBuckets - 1 for +Inf).
[[nodiscard]] std::size_t histogram_bucket(std::uint64_t value_ns) noexcept;
// Upper bound of bucket i in seconds (+infinity for the last).
[[nodiscard]] double histogram_bound_seconds(std::size_t bucket) noexcept;

// A histogram copied out of shared memory, or merged from several: a plain value.
struct HistogramSnapshot {
  std::array<std::uint64_t, kHistogramBuckets> buckets{};  // per bucket, not cumulative
  std::uint64_t count = 0;
  std::uint64_t sum_ns = 0;
  std::uint64_t max_ns = 0;

  void observe(std::uint64_t value_ns) noexcept;  // for tests and harness-side data
  void merge(const HistogramSnapshot& other) noexcept;
  // Prometheus form: cumulative counts per `le` bound, the last one is +Inf (== count).
  [[nodiscard]] std::array<std::uint64_t, kHistogramBuckets> cumulative() const noexcept;
  // q in [0, 1], in seconds. Linear interpolation inside the bucket that holds the
  // q-th observation (as Prometheus histogram_quantile does), clamped to max_ns;
  // 0 when empty. Exact only to the bucket: a report says "<= bound".
  [[nodiscard]] double quantile_seconds(double q) const noexcept;
  [[nodiscard]] double max_seconds() const noexcept;
  [[nodiscard]] double sum_seconds() const noexcept;

  friend bool operator==(const HistogramSnapshot&, const HistogramSnapshot&) = default;
};

namespace detail {
// Counters in shared memory have one writer each: load + store, no locked
// read-modify-write on the hot path (readers may see a count a few ns late).
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) noexcept {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}
}  // namespace detail

// The shared-memory histogram (single writer).
class Histogram {
 public:
  Histogram() noexcept = default;
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // A 0 ns sample (an acquisition that did not wait: the common case of a lock-wait
  // histogram) costs two counter bumps inline; anything else takes the bucket search.
  void observe(std::uint64_t value_ns) noexcept {
    if (value_ns == 0) [[likely]] {
      detail::bump(buckets_[0]);
      detail::bump(count_);
      return;
    }
    observe_nonzero(value_ns);
  }
  [[nodiscard]] HistogramSnapshot snapshot() const noexcept;

 private:
  void observe_nonzero(std::uint64_t value_ns) noexcept;

  std::array<std::atomic<std::uint64_t>, kHistogramBuckets> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_ns_{0};
  std::atomic<std::uint64_t> max_ns_{0};
};

// Counters of one worker (or of many, merged): a plain value.
struct StatsSnapshot {
  std::array<std::uint64_t, kWorkerOpCount> ops{};  // completed operations, by WorkerOp
  // Pushes (a message or a burst) that found the ring full, pops that found it empty:
  // one each however long it then waited.
  std::uint64_t full_events = 0;
  std::uint64_t empty_events = 0;
  std::uint64_t abandoned = 0;  // pop returned kAbandoned
  std::uint64_t lock_acquisitions = 0;
  std::uint64_t lock_waits = 0;  // acquisitions that had to wait (try_lock failed first)
  std::uint64_t contended = 0;   // contended acquisitions as the mutex counts them
  std::uint64_t owner_died = 0;  // lock() returned kOwnerDied
  std::uint64_t repairs = 0;     // protected records repaired after owner-died
  std::uint64_t bytes = 0;       // payload bytes moved (pushed, popped, written, read)
  HistogramSnapshot latency;     // message latency / op latency, seconds
  HistogramSnapshot lock_wait;   // time from lock() call to acquisition, seconds
  // Each full / empty event's wait, from the push or pop that found the ring so to the
  // one that moved (or the end of the run), seconds: back-pressure on a producer, idle
  // time of a consumer.
  HistogramSnapshot ring_wait;

  [[nodiscard]] std::uint64_t total_ops() const noexcept;
  void merge(const StatsSnapshot& other) noexcept;
  friend bool operator==(const StatsSnapshot&, const StatsSnapshot&) = default;
};

class alignas(64) StatsBlock {
 public:
  StatsBlock() noexcept = default;
  StatsBlock(const StatsBlock&) = delete;
  StatsBlock& operator=(const StatsBlock&) = delete;

  void count_op(WorkerOp op, std::uint64_t bytes = 0) noexcept { count_ops(op, 1, bytes); }
  // `n` operations of one kind at once (a burst push or pop), `bytes` in all.
  void count_ops(WorkerOp op, std::uint64_t n, std::uint64_t bytes) noexcept;
  void count_full() noexcept { detail::bump(full_events_); }
  void count_empty() noexcept { detail::bump(empty_events_); }
  void count_abandoned() noexcept { detail::bump(abandoned_); }
  // One lock acquisition: how long it waited, whether it had to wait, whether the
  // owner had died (the caller then counts its repair with count_repair()).
  // Inline: a locker calls it once per acquisition.
  void count_lock(std::uint64_t wait_ns, bool waited, bool owner_died) noexcept {
    count_lock_untimed(waited, owner_died);
    lock_wait_.observe(wait_ns);
  }
  // The same without a wait time (timing probes off): lock_wait stays empty.
  void count_lock_untimed(bool waited, bool owner_died) noexcept {
    detail::bump(lock_acquisitions_);
    if (waited) detail::bump(lock_waits_);
    if (owner_died) detail::bump(owner_died_);
  }
  void count_contended(std::uint64_t n = 1) noexcept { detail::bump(contended_, n); }
  void count_repair() noexcept { detail::bump(repairs_); }
  void observe_latency(std::uint64_t ns) noexcept { latency_.observe(ns); }
  void observe_ring_wait(std::uint64_t ns) noexcept { ring_wait_.observe(ns); }

  [[nodiscard]] StatsSnapshot snapshot() const noexcept;

 private:
  std::array<std::atomic<std::uint64_t>, kWorkerOpCount> ops_{};
  std::atomic<std::uint64_t> full_events_{0};
  std::atomic<std::uint64_t> empty_events_{0};
  std::atomic<std::uint64_t> abandoned_{0};
  std::atomic<std::uint64_t> lock_acquisitions_{0};
  std::atomic<std::uint64_t> lock_waits_{0};
  std::atomic<std::uint64_t> contended_{0};
  std::atomic<std::uint64_t> owner_died_{0};
  std::atomic<std::uint64_t> repairs_{0};
  std::atomic<std::uint64_t> bytes_{0};
  Histogram latency_;
  Histogram lock_wait_;
  Histogram ring_wait_;
};
static_assert(std::is_standard_layout_v<StatsBlock>);
static_assert(alignof(StatsBlock) == 64);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

}  // namespace shmcheck::probes
