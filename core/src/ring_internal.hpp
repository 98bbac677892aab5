// Private helpers shared by the ring implementations: the checks of create_at and
// attach, CPU relax, the spin-then-sleep backoff of push_for/pop_for.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>

#include "shmcheck/core/cpu_relax.hpp"
#include "shmcheck/core/detail/ring_layout.hpp"
#include "shmcheck/core/result.hpp"
#include "sync_clock.hpp"

namespace shmcheck::core::detail {

// Where a ring's slots sit and how many bytes it takes, for a valid config: what
// create_at writes into the RingHeader and what attach expects to find there.
struct RingGeometry {
  std::uint32_t slot_stride = 0;
  std::uint64_t slots_offset = 0;
  std::uint64_t total_bytes = 0;
};
using GeometryOf = RingGeometry (*)(const RingConfig&) noexcept;

// The header a new ring starts with; its magic stays 0 until create_at has built the
// rest and publishes it.
void init_ring_header(RingHeader& header, const RingConfig& config,
                      GeometryOf geometry_of) noexcept;

// create_at's checks: a valid config, memory 64-byte aligned and large enough for it.
// Returns the ring's total size.
[[nodiscard]] Result<std::size_t> check_ring_create(const char* where, const void* mem,
                                                    std::size_t bytes, const RingConfig& config,
                                                    GeometryOf geometry_of) noexcept;

// attach's checks, in order: 64-byte aligned memory holding the ring object
// (kInvalidArgument), the ring kind's magic (kForeign), a header consistent with the
// geometry of the config it states, and a mapping that holds the whole ring (kCorrupt).
[[nodiscard]] Result<void> check_ring_attach(const char* where, const void* mem, std::size_t bytes,
                                             std::size_t object_bytes, std::uint64_t magic,
                                             GeometryOf geometry_of) noexcept;

// Waits between attempts until a deadline: spins first (waking a sleeping process on
// the other CPU costs 35-40 us, so a short wait must never sleep), then sched_yield,
// then futex sleeps on the ring's WaitWord for this side, which the other side cuts
// short (wake()) and which time out after a few microseconds growing to 200 us (a
// wake-up lost to a race, or a peer using try_push/try_pop, is seen by then). wait()
// returns false once the deadline has passed.
class Backoff {
 public:
  Backoff(std::chrono::nanoseconds timeout, WaitWord& sleep_on) noexcept;
  [[nodiscard]] bool wait() noexcept;

 private:
  std::uint64_t start_ns_;  // CLOCK_MONOTONIC, as every deadline in core
  std::uint64_t deadline_ns_;
  std::uint64_t sleep_ns_;
  WaitWord* word_;  // never null
  std::uint32_t spins_ = 0;
  // Set when the sleepers flag is up and the caller is taking its last look at the
  // ring: the next sleep waits for a bump of this epoch.
  bool armed_ = false;
  std::uint32_t armed_epoch_ = 0;
};

// The wait of push_for / pop_for once a first try failed: tries `again` between Backoff
// waits, sleeping on `sleep_on`, until it succeeds (true) or the timeout passes (false).
// A zero timeout waits not at all (no clock read, no spin): `_for(..., 0ns)` is the
// try, plus the wake-up of the other side when it moved something.
template <class Again>
bool retry_until(WaitWord& sleep_on, std::chrono::nanoseconds timeout, Again&& again) noexcept {
  if (timeout <= std::chrono::nanoseconds::zero()) return false;
  Backoff backoff(timeout, sleep_on);
  while (backoff.wait()) {
    if (again()) return true;
  }
  return false;
}

// Adds a ring's sleep and wake-up counts, both directions, to its stats.
inline void add_wait_stats(RingStats& stats, const RingWaitLine& line) noexcept {
  for (const WaitWord* w : {&line.readable, &line.writable}) {
    stats.sleeps += w->sleeps.load(std::memory_order_relaxed);
    stats.wakeups += w->wakeups.load(std::memory_order_relaxed);
  }
}

}  // namespace shmcheck::core::detail
