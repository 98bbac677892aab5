#include "shmcheck/harness/pacing.hpp"

#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <time.h>

#include <cstdint>

#include "shmcheck/harness/control_segment.hpp"

namespace shmcheck::harness {
namespace {

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

TEST(Pacing, PreciseTimerSlackIsOneNanosecond) {
  const int before = ::prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
  ASSERT_TRUE(use_precise_timer_slack());
  EXPECT_EQ(::prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), 1);
  ::prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(before), 0, 0, 0);
}

// Never early, whether the instant is within the yield margin or far beyond it.
TEST(Pacing, WaitUntilNeverReturnsBeforeTheInstant) {
  const std::uint64_t aheads[] = {0, 5'000, kWakeMarginNs, 3 * kWakeMarginNs, 2'000'000};
  for (const std::uint64_t ahead : aheads) {
    for (int i = 0; i < 20; ++i) {
      const std::uint64_t instant = monotonic_ns() + ahead;
      wait_until(instant);
      ASSERT_GE(monotonic_ns(), instant) << "ahead " << ahead;
    }
  }
}

TEST(Pacing, AnInstantInThePastOrNoTimeReturnsAtOnce) {
  const std::uint64_t start = monotonic_ns();
  for (int i = 0; i < 1000; ++i) {
    wait_until(start - 1'000'000);
    wait_for(0);
    wait_for(-5);
  }
  EXPECT_LT(monotonic_ns() - start, 500'000'000U);  // 3000 calls, not one of them a sleep
}

// A long wait sleeps through all but its last stretch: it does not spin for 50 ms.
TEST(Pacing, ALongWaitSleepsRatherThanSpins) {
  const std::uint64_t cpu = thread_cpu_ns();
  const std::uint64_t start = monotonic_ns();
  wait_for(50'000'000);
  EXPECT_GE(monotonic_ns() - start, 50'000'000U);
  EXPECT_LT(thread_cpu_ns() - cpu, 25'000'000U);
}

}  // namespace
}  // namespace shmcheck::harness
