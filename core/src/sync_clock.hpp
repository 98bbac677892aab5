// Private to core/src: CLOCK_MONOTONIC helpers for the blocking paths of
// RobustMutex and Semaphore (deadlines as nanoseconds, conversion to timespec).
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>

namespace shmcheck::core::detail {

inline std::uint64_t to_ns(const timespec& ts) noexcept {
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

inline timespec to_timespec(std::uint64_t ns) noexcept {
  return timespec{static_cast<time_t>(ns / 1'000'000'000ULL),
                  static_cast<long>(ns % 1'000'000'000ULL)};
}

// CLOCK_MONOTONIC in ns. Through the vDSO: no syscall, cannot fail with a valid pointer.
inline std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return to_ns(ts);
}

// now + timeout (negative counts as 0), saturating instead of overflowing.
inline std::uint64_t deadline_after(std::uint64_t now, std::chrono::nanoseconds timeout) noexcept {
  const auto rel = static_cast<std::uint64_t>(std::max<std::int64_t>(timeout.count(), 0));
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  return rel > kMax - now ? kMax : now + rel;
}

// The CLOCK_REALTIME deadline that is as far away as a CLOCK_MONOTONIC one, for the
// calls that only take wall-clock deadlines (see the TSan notes where it is used).
inline timespec realtime_deadline_from_monotonic(const timespec& deadline) noexcept {
  const std::uint64_t target = to_ns(deadline);
  const std::uint64_t now = monotonic_ns();
  timespec real{};
  ::clock_gettime(CLOCK_REALTIME, &real);
  return to_timespec(to_ns(real) + (target > now ? target - now : 0));
}

}  // namespace shmcheck::core::detail
