// Private: the mixer that derives message and page payloads from their keys.
#pragma once

#include <cstddef>
#include <cstdint>

namespace shmcheck::probes::detail {

inline constexpr std::uint64_t kGolden = 0x9E37'79B9'7F4A'7C15ULL;

// splitmix64's finalizer: a cheap bijective mixer, good enough to make payloads of
// different keys differ everywhere.
constexpr std::uint64_t mix(std::uint64_t x) noexcept {
  x += kGolden;
  x = (x ^ (x >> 30)) * 0xBF58'476D'1CE4'E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D0'49BB'1331'11EBULL;
  return x ^ (x >> 31);
}

constexpr std::uint64_t payload_key(std::uint64_t seed, std::uint32_t producer,
                                    std::uint64_t seq) noexcept {
  return mix(mix(mix(seed) ^ producer) ^ seq);
}

constexpr std::uint64_t payload_word(std::uint64_t key, std::size_t i) noexcept {
  return mix(key + kGolden * (static_cast<std::uint64_t>(i) + 1));
}

}  // namespace shmcheck::probes::detail
