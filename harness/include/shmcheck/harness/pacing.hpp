// Waiting in the workers: paced sends, lock holds and think times, which must end on
// time, or the harness's own oversleeping would show up as the workload's latency.
#pragma once

#include <cstdint>

namespace shmcheck::harness {

// Sets this process's timer slack to 1 ns (the default, 50 us, is added to every
// sleep). False, with errno set, if the kernel refused.
bool use_precise_timer_slack() noexcept;

// Returns at CLOCK_MONOTONIC `instant` (ns), never before it: sleeps until kWakeMarginNs
// before it, then yields the CPU until it. On time to a few microseconds unless the
// kernel woke the sleep later than the margin. An instant in the past returns at once.
void wait_until(std::uint64_t instant) noexcept;
// wait_until(now + ns); nothing for ns <= 0.
void wait_for(std::int64_t ns) noexcept;

// With a timer slack of 1 ns a sleep here wakes 34 us late at the median and 120-150 us
// late at the 99th percentile (the default slack adds 50 us; measured on the 2-CPU VMs
// this was built on): the margin covers most wake-ups for 60 us of yielding per wait.
inline constexpr std::uint64_t kWakeMarginNs = 60'000;

}  // namespace shmcheck::harness
