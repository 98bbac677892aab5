#include "shmcheck/probes/stats_block.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace shmcheck::probes {
namespace {

TEST(HistogramBuckets, BoundsAreOneTwoFiveStepsFrom100nsTo1s) {
  EXPECT_EQ(kHistogramBoundsNs.front(), 100U);
  EXPECT_EQ(kHistogramBoundsNs.back(), 1'000'000'000U);
  for (std::size_t i = 0; i < kHistogramBoundsNs.size(); ++i) {
    const std::uint64_t step[] = {1, 2, 5};
    std::uint64_t decade = 100;
    for (std::size_t d = 0; d < i / 3; ++d) decade *= 10;
    EXPECT_EQ(kHistogramBoundsNs[i], step[i % 3] * decade) << "bound " << i;
  }
  EXPECT_EQ(kHistogramBuckets, kHistogramBoundsNs.size() + 1);
}

TEST(HistogramBuckets, ValueOnABoundFallsInThatBucketAndAboveInTheNext) {
  EXPECT_EQ(histogram_bucket(0), 0U);
  EXPECT_EQ(histogram_bucket(100), 0U);
  EXPECT_EQ(histogram_bucket(101), 1U);
  EXPECT_EQ(histogram_bucket(200), 1U);
  EXPECT_EQ(histogram_bucket(201), 2U);
  EXPECT_EQ(histogram_bucket(1'000'000'000), kHistogramBuckets - 2);
  EXPECT_EQ(histogram_bucket(1'000'000'001), kHistogramBuckets - 1);
  EXPECT_EQ(histogram_bucket(std::numeric_limits<std::uint64_t>::max()), kHistogramBuckets - 1);
}

TEST(HistogramBuckets, BoundSecondsMatchNanosecondsAndLastIsInfinite) {
  EXPECT_DOUBLE_EQ(histogram_bound_seconds(0), 100e-9);
  EXPECT_DOUBLE_EQ(histogram_bound_seconds(kHistogramBuckets - 2), 1.0);
  EXPECT_TRUE(std::isinf(histogram_bound_seconds(kHistogramBuckets - 1)));
}

TEST(Histogram, SnapshotCountsSumAndMax) {
  Histogram h;
  h.observe(50);
  h.observe(150);
  h.observe(2'000'000'000);
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s.count, 3U);
  EXPECT_EQ(s.sum_ns, 2'000'000'200U);
  EXPECT_EQ(s.max_ns, 2'000'000'000U);
  EXPECT_EQ(s.buckets[0], 1U);
  EXPECT_EQ(s.buckets[1], 1U);
  EXPECT_EQ(s.buckets[kHistogramBuckets - 1], 1U);
  const auto cumulative = s.cumulative();
  EXPECT_EQ(cumulative[0], 1U);
  EXPECT_EQ(cumulative[1], 2U);
  EXPECT_EQ(cumulative[kHistogramBuckets - 2], 2U);
  EXPECT_EQ(cumulative[kHistogramBuckets - 1], 3U);
}

// The inline zero-sample path and the bucket search must agree with the plain
// snapshot's observe(), whatever order the samples come in.
TEST(Histogram, ZeroSamplesTakeTheFastPathAndMatchTheSnapshotsObserve) {
  Histogram h;
  HistogramSnapshot expected;
  for (const std::uint64_t v : {0ULL, 0ULL, 70ULL, 0ULL, 100ULL, 101ULL, 0ULL, 5'000ULL}) {
    h.observe(v);
    expected.observe(v);
  }
  const HistogramSnapshot s = h.snapshot();
  EXPECT_EQ(s, expected);
  EXPECT_EQ(s.buckets[0], 6U);  // four zeros, 70 and 100 (bounds are inclusive)
  EXPECT_EQ(s.count, 8U);
  EXPECT_EQ(s.sum_ns, 5'271U);
  EXPECT_EQ(s.max_ns, 5'000U);

  Histogram only_zeros;
  only_zeros.observe(0);
  EXPECT_EQ(only_zeros.snapshot().count, 1U);
  EXPECT_EQ(only_zeros.snapshot().buckets[0], 1U);
  EXPECT_EQ(only_zeros.snapshot().max_ns, 0U);
}

TEST(Histogram, MergeAddsBucketsAndKeepsLargestMax) {
  HistogramSnapshot a;
  HistogramSnapshot b;
  a.observe(100);
  a.observe(300);
  b.observe(300);
  b.observe(7'000);
  a.merge(b);
  EXPECT_EQ(a.count, 4U);
  EXPECT_EQ(a.sum_ns, 7'700U);
  EXPECT_EQ(a.max_ns, 7'000U);
  EXPECT_EQ(a.buckets[histogram_bucket(300)], 2U);
  EXPECT_EQ(a.buckets[histogram_bucket(7'000)], 1U);
}

TEST(Histogram, QuantileInterpolatesInsideTheBucketAndNeverExceedsMax) {
  HistogramSnapshot s;
  EXPECT_EQ(s.quantile_seconds(0.5), 0.0);       // empty
  for (int i = 0; i < 100; ++i) s.observe(150);  // all in (100ns, 200ns]
  const double p50 = s.quantile_seconds(0.5);
  EXPECT_GT(p50, 100e-9);
  EXPECT_LE(p50, 150e-9);  // clamped to the max observed
  EXPECT_DOUBLE_EQ(s.quantile_seconds(1.0), 150e-9);

  HistogramSnapshot spread;
  for (int i = 0; i < 90; ++i) spread.observe(1'000);        // <= 1us
  for (int i = 0; i < 10; ++i) spread.observe(400'000'000);  // <= 500ms
  EXPECT_LE(spread.quantile_seconds(0.5), 1e-6);
  EXPECT_GT(spread.quantile_seconds(0.99), 200e-3);
  EXPECT_LE(spread.quantile_seconds(0.99), 400e-3);
}

TEST(Histogram, QuantileInInfBucketIsTheMax) {
  HistogramSnapshot s;
  s.observe(3'000'000'000);
  EXPECT_DOUBLE_EQ(s.quantile_seconds(0.99), 3.0);
}

TEST(StatsBlock, CountersLandInTheSnapshot) {
  StatsBlock block;
  block.count_op(WorkerOp::kPush, 64);
  block.count_op(WorkerOp::kPush, 64);
  block.count_op(WorkerOp::kPop);
  block.count_ops(WorkerOp::kPop, 16, 16 * 8);  // a burst pop
  block.count_full();
  block.count_empty();
  block.count_empty();
  block.count_abandoned();
  block.count_lock(5'000, /*waited=*/true, /*owner_died=*/true);
  block.count_lock(50, false, false);
  block.count_contended();
  block.count_repair();
  block.observe_latency(1'500);
  block.observe_ring_wait(40'000);
  const StatsSnapshot s = block.snapshot();
  EXPECT_EQ(s.ops[static_cast<std::size_t>(WorkerOp::kPush)], 2U);
  EXPECT_EQ(s.ops[static_cast<std::size_t>(WorkerOp::kPop)], 17U);
  EXPECT_EQ(s.total_ops(), 19U);
  EXPECT_EQ(s.bytes, 256U);
  EXPECT_EQ(s.full_events, 1U);
  EXPECT_EQ(s.empty_events, 2U);
  EXPECT_EQ(s.abandoned, 1U);
  EXPECT_EQ(s.lock_acquisitions, 2U);
  EXPECT_EQ(s.lock_waits, 1U);
  EXPECT_EQ(s.owner_died, 1U);
  EXPECT_EQ(s.contended, 1U);
  EXPECT_EQ(s.repairs, 1U);
  EXPECT_EQ(s.lock_wait.count, 2U);
  EXPECT_EQ(s.lock_wait.max_ns, 5'000U);
  EXPECT_EQ(s.latency.count, 1U);
  EXPECT_EQ(s.ring_wait.count, 1U);
  EXPECT_EQ(s.ring_wait.sum_ns, 40'000U);
}

TEST(StatsSnapshot, MergeSumsEveryCounterAndHistogram) {
  StatsBlock a;
  StatsBlock b;
  a.count_op(WorkerOp::kLock);
  a.count_lock(100, false, false);
  b.count_op(WorkerOp::kLock);
  b.count_op(WorkerOp::kWait);
  b.count_lock(900, true, false);
  b.count_full();
  a.observe_ring_wait(300);
  b.observe_ring_wait(700);
  StatsSnapshot total = a.snapshot();
  total.merge(b.snapshot());
  EXPECT_EQ(total.ops[static_cast<std::size_t>(WorkerOp::kLock)], 2U);
  EXPECT_EQ(total.ops[static_cast<std::size_t>(WorkerOp::kWait)], 1U);
  EXPECT_EQ(total.lock_acquisitions, 2U);
  EXPECT_EQ(total.lock_waits, 1U);
  EXPECT_EQ(total.full_events, 1U);
  EXPECT_EQ(total.lock_wait.count, 2U);
  EXPECT_EQ(total.lock_wait.sum_ns, 1'000U);
  EXPECT_EQ(total.lock_wait.max_ns, 900U);
  EXPECT_EQ(total.ring_wait.count, 2U);
  EXPECT_EQ(total.ring_wait.sum_ns, 1'000U);
}

TEST(WorkerOp, NamesRoundTrip) {
  for (std::size_t i = 0; i < kWorkerOpCount; ++i) {
    const auto op = static_cast<WorkerOp>(i);
    EXPECT_EQ(worker_op_from_string(to_string(op)), op);
  }
  EXPECT_FALSE(worker_op_from_string("jump").has_value());
}

}  // namespace
}  // namespace shmcheck::probes
