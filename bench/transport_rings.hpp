// The shmcheck rings as benchmark subjects: placed in anonymous shared memory
// before the roles fork. When the core's ring headers are not in this build,
// SHMCHECK_BENCH_HAVE_RINGS is 0 and the benchmarks say the rows are left out.
#pragma once

#include <optional>
#include <string>

#include "bench_support.hpp"

#if __has_include("shmcheck/core/spsc_ring.hpp") && __has_include("shmcheck/core/mpmc_ring.hpp")
#define SHMCHECK_BENCH_HAVE_RINGS 1
#include "shmcheck/core/mpmc_ring.hpp"
#include "shmcheck/core/ring.hpp"
#include "shmcheck/core/spsc_ring.hpp"
#else
#define SHMCHECK_BENCH_HAVE_RINGS 0
#endif

namespace shmcheck::bench {

inline constexpr bool kHaveShmcheckRings = SHMCHECK_BENCH_HAVE_RINGS != 0;

#if SHMCHECK_BENCH_HAVE_RINGS
// A ring created in its own shared region; the region lives as long as this.
template <class Ring>
struct RingInRegion {
  std::optional<SharedRegion> region;
  Ring* ring = nullptr;
  bool ok = false;
  std::string error;

  static RingInRegion create(std::uint32_t capacity, std::uint32_t message_size) {
    RingInRegion r;
    const core::RingConfig config{capacity, message_size};
    const std::size_t bytes = Ring::bytes_needed(config);
    r.region.emplace(bytes);
    auto made = Ring::create_at(r.region->data(), bytes, config);
    if (!made) {
      r.error = made.error().message();
      return r;
    }
    r.ring = *made;
    r.ok = true;
    return r;
  }
};
#endif

}  // namespace shmcheck::bench
