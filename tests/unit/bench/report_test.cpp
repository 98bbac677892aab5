// Ratios between benchmark figures: paired per repetition when the two were measured
// side by side, of the medians otherwise.
#include "report.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace shmcheck::bench {
namespace {

Figure measured(std::string id, std::vector<double> values, std::string batch) {
  Figure f = make_figure(std::move(id), "group", "label", "unit", Better::kHigher, "note");
  f.summary = summarize(std::move(values));
  f.batch = std::move(batch);
  return f;
}

// The machine changes speed between repetitions: both figures are fast in
// repetitions 1-2 and slow in 3-5. Per repetition the figure is 0.9x its reference;
// the medians (one from the slow phase, one from the fast) would say 0.4x.
TEST(BenchRatio, SideBySideFiguresArePairedPerRepetition) {
  const Figure ref = measured("ref", {200, 240, 60, 70, 80}, "b");
  const Figure fig = measured("fig", {180, 216, 54, 63, 72}, "b");
  const auto r = ratio_of(fig, ref);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->paired);
  EXPECT_NEAR(r->value, 0.9, 1e-12);
  EXPECT_NEAR(fig.summary.median / ref.summary.median, 72.0 / 80.0, 1e-12);
}

TEST(BenchRatio, FiguresFromDifferentBatchesOrCountsUseTheMedians) {
  const Figure ref = measured("ref", {10, 20, 30}, "a");
  const Figure other_batch = measured("fig", {5, 50, 60}, "b");
  const Figure no_batch = measured("fig", {5, 50, 60}, "");
  const Figure other_count = measured("fig", {5, 50, 60, 70}, "a");
  for (const Figure* f : {&other_batch, &no_batch}) {
    const auto r = ratio_of(*f, ref);
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->paired);
    EXPECT_DOUBLE_EQ(r->value, 50.0 / 20.0);
  }
  const auto r = ratio_of(other_count, ref);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->paired);
  EXPECT_DOUBLE_EQ(r->value, 55.0 / 20.0);
}

TEST(BenchRatio, UnmeasuredFiguresOrAZeroReferenceHaveNoRatio) {
  Figure failed = measured("fig", {1, 2, 3}, "a");
  failed.failure = "trial failed";
  const Figure ref = measured("ref", {1, 2, 3}, "a");
  EXPECT_FALSE(ratio_of(failed, ref).has_value());
  EXPECT_FALSE(ratio_of(ref, failed).has_value());
  EXPECT_FALSE(ratio_of(ref, measured("zero", {0, 0, 0}, "a")).has_value());
  // A zero in one repetition of the reference: no paired ratio, the medians instead.
  const auto r = ratio_of(ref, measured("ref2", {0, 4, 8}, "a"));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->paired);
  EXPECT_DOUBLE_EQ(r->value, 2.0 / 4.0);
}

}  // namespace
}  // namespace shmcheck::bench
