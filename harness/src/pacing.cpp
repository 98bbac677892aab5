#include "shmcheck/harness/pacing.hpp"

#include <sched.h>
#include <sys/prctl.h>
#include <time.h>

#include <cerrno>

#include "shmcheck/harness/control_segment.hpp"

namespace shmcheck::harness {
namespace {

timespec to_timespec(std::uint64_t ns) noexcept {
  return {static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
}

}  // namespace

bool use_precise_timer_slack() noexcept {
  return ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) == 0;
}

void wait_until(std::uint64_t instant) noexcept {
  if (instant > monotonic_ns() + kWakeMarginNs) {
    const timespec wake = to_timespec(instant - kWakeMarginNs);
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nullptr) == EINTR) {
    }
  }
  while (monotonic_ns() < instant) ::sched_yield();
}

void wait_for(std::int64_t ns) noexcept {
  if (ns > 0) wait_until(monotonic_ns() + static_cast<std::uint64_t>(ns));
}

}  // namespace shmcheck::harness
