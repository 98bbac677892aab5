// Private layout pieces shared by SpscRing and MpmcRing (not part of the API).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>

#include "shmcheck/core/ring.hpp"
#include "shmcheck/core/segment_header.hpp"

namespace shmcheck::core::detail {

// First cache line of every ring: written once by create_at (magic last, release),
// read by attach (magic first, acquire) and never changed afterwards.
struct alignas(kCacheLineSize) RingHeader {
  std::atomic<std::uint64_t> magic;
  std::uint32_t layout_version;
  std::uint32_t capacity;
  std::uint32_t message_size;
  std::uint32_t slot_stride;   // bytes from one slot to the next (multiple of 8)
  std::uint64_t slots_offset;  // from the ring object's first byte: offsets, never pointers
  std::uint64_t total_bytes;   // bytes_needed() at creation
};
static_assert(sizeof(RingHeader) == kCacheLineSize);
static_assert(std::is_standard_layout_v<RingHeader>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

// Where push_for and pop_for callers sleep once spinning and yielding have not helped:
// a futex word each side bumps to wake the other. A sleeper raises `sleepers` before
// it looks at the ring one last time and sleeps; whoever then moves a message sees the
// flag (a load of a line nobody writes while the ring is busy: an L1 hit), clears it,
// bumps `epoch` and wakes everyone asleep on it. A sleeper killed in its sleep leaves
// the flag up: the next mover clears it and pays one wake-up, not one per message.
struct WaitWord {
  std::atomic<std::uint32_t> epoch;     // the futex word: bumped by every wake-up
  std::atomic<std::uint32_t> sleepers;  // nonzero: someone may be asleep on epoch
  std::atomic<std::uint64_t> sleeps;    // futex waits entered (statistics)
  std::atomic<std::uint64_t> wakeups;   // wake-ups sent (statistics)
};
// One line for both directions: it is written only when someone goes to sleep or is
// woken, so in a busy ring it stays shared in every CPU's cache.
struct alignas(kCacheLineSize) RingWaitLine {
  WaitWord readable;  // consumers waiting for a message
  WaitWord writable;  // producers waiting for room
};
static_assert(sizeof(RingWaitLine) == kCacheLineSize);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// The sleeper's side: raise the flag and read the epoch (arm_sleep) before the last look
// at the ring, then, if that look found nothing, sleep until the epoch moves or ns pass.
[[nodiscard]] std::uint32_t arm_sleep(WaitWord& word) noexcept;
void sleep_armed(WaitWord& word, std::uint32_t epoch, std::uint64_t ns) noexcept;

// The mover's side, right after a message moved: wakes whoever sleeps on word, for one
// relaxed load when nobody does. The load may pass the mover's commit store (no fence:
// it would cost every message), so a sleeper that armed at that instant sleeps until
// its timeout; the rings keep that under 200 us.
void wake_sleepers(WaitWord& word) noexcept;
inline void wake(WaitWord& word) noexcept {
  if (word.sleepers.load(std::memory_order_relaxed) != 0) [[unlikely]] {
    wake_sleepers(word);
  }
}

// 2: SpscRing publishes by its tail index and keeps lengths in a table of their own.
// 3: both rings have a RingWaitLine (sleepers in push_for/pop_for are woken).
// 4: MpmcRing slot states hold the lap's first position, so an all-zero slot is free.
// 5: an MpmcRing slot names the dead consumer whose message it carries again.
inline constexpr std::uint32_t kRingLayoutVersion = 5;
inline constexpr std::uint64_t kSpscRingMagic = 0x3143'5053'5347'4E52ULL;  // "RNGSSPC1"
inline constexpr std::uint64_t kMpmcRingMagic = 0x3143'4D50'4D47'4E52ULL;  // "RNGMPMC1"

constexpr std::uint64_t round_up(std::uint64_t value, std::uint64_t to) noexcept {
  return (value + to - 1) / to * to;
}

// Copies exactly n bytes. Small messages (the common case) take a few overlapping
// fixed-size moves the compiler inlines instead of a call into memcpy.
inline void copy_bytes(std::byte* dst, const std::byte* src, std::size_t n) noexcept {
  if (n > 16) {
    std::memcpy(dst, src, n);
  } else if (n >= 8) {
    std::uint64_t a = 0;
    std::uint64_t b = 0;
    std::memcpy(&a, src, 8);
    std::memcpy(&b, src + n - 8, 8);
    std::memcpy(dst, &a, 8);
    std::memcpy(dst + n - 8, &b, 8);
  } else if (n >= 4) {
    std::uint32_t a = 0;
    std::uint32_t b = 0;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + n - 4, 4);
    std::memcpy(dst, &a, 4);
    std::memcpy(dst + n - 4, &b, 4);
  } else if (n > 0) {
    dst[0] = src[0];
    dst[n / 2] = src[n / 2];
    dst[n - 1] = src[n - 1];
  }
}

// Copies a popped message of `size` bytes out. A caller whose buffer is exactly one
// message long (fixed-size messages, the common case) gets a copy of a length the
// compiler knows once the pop is inlined: one move for 8 bytes, not a size dispatch.
// The rings have checked size <= message_size <= out.size(); the min() on the other
// path tells the compiler too: without it GCC 12 -O3 warned (-Warray-bounds,
// -Wstringop-overflow) in any caller popping into an 8-byte buffer, as if a copy there
// could take the 9-16 byte path.
inline void copy_message(std::span<std::byte> out, const std::byte* src,
                         std::size_t size) noexcept {
  if (size == out.size()) {
    copy_bytes(out.data(), src, out.size());
  } else {
    copy_bytes(out.data(), src, size < out.size() ? size : out.size());
  }
}

// Writes a payload in two halves with the ring.push.after_claim / mid_payload /
// before_commit failpoints around them (only called while failpoints are armed).
void write_payload_with_failpoints(std::byte* payload, std::span<const std::byte> msg) noexcept;

// A shared structure is inconsistent in a way no crash can cause: say so and abort.
[[noreturn]] void ring_invariant_broken(const char* what) noexcept;

}  // namespace shmcheck::core::detail
