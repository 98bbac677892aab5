// Private helpers shared by the ring implementations: CPU relax, the spin-then-sleep
// backoff of push_for/pop_for.
#pragma once

#include <chrono>
#include <cstdint>

namespace shmcheck::core::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#else
  asm volatile("" ::: "memory");
#endif
}

inline std::int64_t monotonic_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Waits between attempts until a deadline: spins first (waking a sleeping process on
// the other CPU costs 35-40 us, so a short wait must never sleep), then sched_yield,
// then nanosleeps that grow from a few microseconds. wait() returns false once the
// deadline has passed.
class Backoff {
 public:
  explicit Backoff(std::chrono::nanoseconds timeout) noexcept;
  [[nodiscard]] bool wait() noexcept;

 private:
  std::int64_t start_ns_;
  std::int64_t deadline_ns_;
  std::int64_t sleep_ns_;
  std::uint32_t spins_ = 0;
};

}  // namespace shmcheck::core::detail
