// Private layout pieces shared by SpscRing and MpmcRing (not part of the API).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
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

inline constexpr std::uint32_t kRingLayoutVersion = 1;
inline constexpr std::uint64_t kSpscRingMagic = 0x3143'5053'5347'4E52ULL;  // "RNGSSPC1"
inline constexpr std::uint64_t kMpmcRingMagic = 0x3143'4D50'4D47'4E52ULL;  // "RNGMPMC1"

constexpr std::uint64_t round_up(std::uint64_t value, std::uint64_t to) noexcept {
  return (value + to - 1) / to * to;
}

}  // namespace shmcheck::core::detail
