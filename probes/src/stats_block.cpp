#include "shmcheck/probes/stats_block.hpp"

#include <algorithm>
#include <limits>

namespace shmcheck::probes {
namespace {

constexpr double kNsPerSecond = 1e9;

using detail::bump;

double ns_to_seconds(std::uint64_t ns) noexcept { return static_cast<double>(ns) / kNsPerSecond; }

}  // namespace

std::size_t histogram_bucket(std::uint64_t value_ns) noexcept {
  const auto* it = std::lower_bound(kHistogramBoundsNs.begin(), kHistogramBoundsNs.end(), value_ns);
  return static_cast<std::size_t>(it - kHistogramBoundsNs.begin());
}

double histogram_bound_seconds(std::size_t bucket) noexcept {
  if (bucket >= kHistogramBoundsNs.size()) return std::numeric_limits<double>::infinity();
  return ns_to_seconds(kHistogramBoundsNs[bucket]);
}

void HistogramSnapshot::observe(std::uint64_t value_ns) noexcept {
  ++buckets[histogram_bucket(value_ns)];
  ++count;
  sum_ns += value_ns;
  max_ns = std::max(max_ns, value_ns);
}

void HistogramSnapshot::merge(const HistogramSnapshot& other) noexcept {
  for (std::size_t i = 0; i < kHistogramBuckets; ++i) buckets[i] += other.buckets[i];
  count += other.count;
  sum_ns += other.sum_ns;
  max_ns = std::max(max_ns, other.max_ns);
}

std::array<std::uint64_t, kHistogramBuckets> HistogramSnapshot::cumulative() const noexcept {
  std::array<std::uint64_t, kHistogramBuckets> out{};
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < kHistogramBuckets; ++i) {
    running += buckets[i];
    out[i] = running;
  }
  return out;
}

double HistogramSnapshot::quantile_seconds(double q) const noexcept {
  std::uint64_t total = 0;
  for (const std::uint64_t b : buckets) total += b;
  if (total == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * static_cast<double>(total);
  const double max_s = ns_to_seconds(max_ns);
  std::uint64_t before = 0;
  for (std::size_t i = 0; i < kHistogramBuckets; ++i) {
    const std::uint64_t in_bucket = buckets[i];
    if (in_bucket != 0 && static_cast<double>(before + in_bucket) >= rank) {
      if (i + 1 == kHistogramBuckets) return max_s;  // +Inf bucket: only max is known
      const double lower = i == 0 ? 0.0 : histogram_bound_seconds(i - 1);
      const double upper = histogram_bound_seconds(i);
      const double fraction = std::clamp(
          (rank - static_cast<double>(before)) / static_cast<double>(in_bucket), 0.0, 1.0);
      const double value = lower + (upper - lower) * fraction;
      return max_ns != 0 ? std::min(value, max_s) : value;
    }
    before += in_bucket;
  }
  return max_s;
}

double HistogramSnapshot::max_seconds() const noexcept { return ns_to_seconds(max_ns); }
double HistogramSnapshot::sum_seconds() const noexcept { return ns_to_seconds(sum_ns); }

void Histogram::observe_nonzero(std::uint64_t value_ns) noexcept {
  bump(buckets_[histogram_bucket(value_ns)]);
  bump(count_);
  bump(sum_ns_, value_ns);
  if (value_ns > max_ns_.load(std::memory_order_relaxed)) {
    max_ns_.store(value_ns, std::memory_order_relaxed);
  }
}

HistogramSnapshot Histogram::snapshot() const noexcept {
  HistogramSnapshot s;
  for (std::size_t i = 0; i < kHistogramBuckets; ++i) {
    s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
  }
  s.count = count_.load(std::memory_order_relaxed);
  s.sum_ns = sum_ns_.load(std::memory_order_relaxed);
  s.max_ns = max_ns_.load(std::memory_order_relaxed);
  return s;
}

std::uint64_t StatsSnapshot::total_ops() const noexcept {
  std::uint64_t total = 0;
  for (const std::uint64_t n : ops) total += n;
  return total;
}

void StatsSnapshot::merge(const StatsSnapshot& other) noexcept {
  for (std::size_t i = 0; i < kWorkerOpCount; ++i) ops[i] += other.ops[i];
  full_events += other.full_events;
  empty_events += other.empty_events;
  abandoned += other.abandoned;
  lock_acquisitions += other.lock_acquisitions;
  lock_waits += other.lock_waits;
  contended += other.contended;
  owner_died += other.owner_died;
  repairs += other.repairs;
  bytes += other.bytes;
  latency.merge(other.latency);
  lock_wait.merge(other.lock_wait);
  ring_wait.merge(other.ring_wait);
}

void StatsBlock::count_ops(WorkerOp op, std::uint64_t n, std::uint64_t bytes) noexcept {
  const auto i = static_cast<std::size_t>(op);
  if (i < kWorkerOpCount) bump(ops_[i], n);
  if (bytes != 0) bump(bytes_, bytes);
}

StatsSnapshot StatsBlock::snapshot() const noexcept {
  StatsSnapshot s;
  for (std::size_t i = 0; i < kWorkerOpCount; ++i)
    s.ops[i] = ops_[i].load(std::memory_order_relaxed);
  s.full_events = full_events_.load(std::memory_order_relaxed);
  s.empty_events = empty_events_.load(std::memory_order_relaxed);
  s.abandoned = abandoned_.load(std::memory_order_relaxed);
  s.lock_acquisitions = lock_acquisitions_.load(std::memory_order_relaxed);
  s.lock_waits = lock_waits_.load(std::memory_order_relaxed);
  s.contended = contended_.load(std::memory_order_relaxed);
  s.owner_died = owner_died_.load(std::memory_order_relaxed);
  s.repairs = repairs_.load(std::memory_order_relaxed);
  s.bytes = bytes_.load(std::memory_order_relaxed);
  s.latency = latency_.snapshot();
  s.lock_wait = lock_wait_.snapshot();
  s.ring_wait = ring_wait_.snapshot();
  return s;
}

}  // namespace shmcheck::probes
