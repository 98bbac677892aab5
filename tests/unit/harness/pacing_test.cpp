#include "shmcheck/harness/pacing.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

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

// Runs `body` with this thread and a busy thread pinned to one CPU, then restores this
// thread's affinity.
template <typename Body>
void beside_a_busy_thread(Body body) {
  cpu_set_t before;
  ASSERT_EQ(::pthread_getaffinity_np(::pthread_self(), sizeof before, &before), 0);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(::sched_getcpu(), &one);
  ASSERT_EQ(::pthread_setaffinity_np(::pthread_self(), sizeof one, &one), 0);
  std::atomic<bool> stop{false};
  std::atomic<bool> spinning{false};
  std::thread busy([&] {
    ::pthread_setaffinity_np(::pthread_self(), sizeof one, &one);
    spinning = true;
    while (!stop.load(std::memory_order_relaxed)) {
    }
  });
  while (!spinning) ::sched_yield();
  body();
  stop = true;
  busy.join();
  ::pthread_setaffinity_np(::pthread_self(), sizeof before, &before);
}

// A worker holding a lock waits out its hold on its CPU: yielding there handed the CPU
// to the busy thread for its slice, milliseconds, with the lock still held.
TEST(Pacing, ASpinTailKeepsTheCpuBesideABusyThread) {
  std::vector<std::uint64_t> took;
  beside_a_busy_thread([&] {
    for (int i = 0; i < 200; ++i) {
      const std::uint64_t start = monotonic_ns();
      wait_for(5'000, WaitTail::spin);
      took.push_back(monotonic_ns() - start);
    }
  });
  std::sort(took.begin(), took.end());
  EXPECT_GE(took.front(), 5'000U);
  // The odd wait loses the CPU at the end of a slice; the median keeps it throughout.
  EXPECT_LT(took[took.size() / 2], 100'000U) << "slowest " << took.back() << " ns";
}

}  // namespace
}  // namespace shmcheck::harness
