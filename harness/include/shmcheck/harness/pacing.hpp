// Waiting in the workers: paced sends, lock holds and think times, which must end on
// time, or the harness's own oversleeping would show up as the workload's latency.
#pragma once

#include <cstdint>

namespace shmcheck::harness {

// Sets this process's timer slack to 1 ns (the default, 50 us, is added to every
// sleep). False, with errno set, if the kernel refused.
bool use_precise_timer_slack() noexcept;

// How a wait spends its last kWakeMarginNs, after the sleep.
enum class WaitTail {
  // sched_yield until the instant: the CPU goes to any other runnable process. For a
  // worker that holds nothing (paced sends, think times).
  yield,
  // Spin until the instant, keeping the CPU, as a critical section doing work would.
  // For a worker holding a lock or a semaphore unit: a yield there hands the CPU to a
  // busy process for its whole slice, milliseconds, while the lock stays held (six
  // lockers holding 1 us beside three busy segment readers on two CPUs managed 875
  // acquisitions a second, not the 400 k they manage alone).
  spin,
};

// Returns at CLOCK_MONOTONIC `instant` (ns), never before it: sleeps until kWakeMarginNs
// before it, then yields the CPU (or spins) until it. On time to a few microseconds
// unless the kernel woke the sleep later than the margin, or, yielding, another process
// took the CPU. An instant in the past returns at once.
void wait_until(std::uint64_t instant, WaitTail tail = WaitTail::yield) noexcept;
// wait_until(now + ns); nothing for ns <= 0.
void wait_for(std::int64_t ns, WaitTail tail = WaitTail::yield) noexcept;

// With a timer slack of 1 ns a sleep here wakes 34 us late at the median and 120-150 us
// late at the 99th percentile (the default slack adds 50 us; measured on the 2-CPU VMs
// this was built on): the margin covers most wake-ups for 60 us of yielding per wait.
inline constexpr std::uint64_t kWakeMarginNs = 60'000;

}  // namespace shmcheck::harness
