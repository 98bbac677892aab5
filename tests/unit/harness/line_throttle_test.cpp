#include "shmcheck/harness/line_throttle.hpp"

#include <gtest/gtest.h>

namespace shmcheck::harness {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

TEST(LineThrottle, PrintsTheFirstLinesOfEachWindowAndCountsTheRest) {
  LineThrottle throttle(3, 1000 * kMs);
  int printed = 0;
  for (std::uint64_t t = 0; t < 100; ++t) printed += throttle.admit(t * kMs) ? 1 : 0;
  EXPECT_EQ(printed, 3);
  // Not over yet: nothing to say.
  EXPECT_EQ(throttle.take_held(500 * kMs).lines, 0U);
  // Over: the 97 held back, once.
  const auto held = throttle.take_held(1000 * kMs);
  EXPECT_EQ(held.lines, 97U);
  EXPECT_EQ(held.window_ns, 1000 * kMs);
  EXPECT_EQ(throttle.take_held(1001 * kMs).lines, 0U);
  // The next window prints its first lines again.
  EXPECT_TRUE(throttle.admit(1500 * kMs));
  EXPECT_TRUE(throttle.admit(1501 * kMs));
  EXPECT_TRUE(throttle.admit(1502 * kMs));
  EXPECT_FALSE(throttle.admit(1503 * kMs));
  // At the end, whatever is held is said, window over or not.
  EXPECT_EQ(throttle.take_held(1600 * kMs).lines, 0U);
  const auto last = throttle.take_held(1600 * kMs, /*final=*/true);
  EXPECT_EQ(last.lines, 1U);
  EXPECT_EQ(last.window_ns, 100 * kMs);
}

TEST(LineThrottle, LinesSlowerThanTheLimitAreAllPrinted) {
  LineThrottle throttle(3, 1000 * kMs);  // 2.5 lines a second
  for (std::uint64_t t = 0; t < 20; ++t) EXPECT_TRUE(throttle.admit(t * 400 * kMs)) << t;
  EXPECT_EQ(throttle.take_held(100'000 * kMs, /*final=*/true).lines, 0U);
}

}  // namespace
}  // namespace shmcheck::harness
