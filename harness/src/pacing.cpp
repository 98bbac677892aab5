#include "shmcheck/harness/pacing.hpp"

#include <sched.h>
#include <sys/prctl.h>
#include <time.h>

#include <cerrno>

#include "shmcheck/core/cpu_relax.hpp"
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

void wait_until(std::uint64_t instant, WaitTail tail) noexcept {
  if (instant > monotonic_ns() + kWakeMarginNs) {
    const timespec wake = to_timespec(instant - kWakeMarginNs);
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nullptr) == EINTR) {
    }
  }
  if (tail == WaitTail::spin) {
    while (monotonic_ns() < instant) core::cpu_relax();
  } else {
    while (monotonic_ns() < instant) ::sched_yield();
  }
}

void wait_for(std::int64_t ns, WaitTail tail) noexcept {
  if (ns > 0) wait_until(monotonic_ns() + static_cast<std::uint64_t>(ns), tail);
}

}  // namespace shmcheck::harness
