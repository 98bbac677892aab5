// ring_ops: one process doing N operations on one subject, for counting
// instructions with callgrind where timing on a shared, loaded machine is too
// noisy. scripts/bench --callgrind runs it twice per subject (N and 2N) under
// valgrind and reports (Ir(2N) - Ir(N)) / N: instructions per operation, with
// start-up cost cancelled out.
//
//   ring_ops <subject> <message size> <n>
//   subjects: minimal spsc mpmc (one push + one pop of one message per op, in
//             batches of 32 so the ring never runs full or empty),
//             mutex-plain mutex-robust mutex-shmcheck (one lock + unlock per op)
#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "bench_support.hpp"
#include "minimal_spsc_ring.hpp"
#include "shmcheck/core/mpmc_ring.hpp"
#include "shmcheck/core/robust_mutex.hpp"
#include "shmcheck/core/spsc_ring.hpp"

namespace {

using shmcheck::bench::MinimalSpscRing;
using shmcheck::bench::SharedRegion;
namespace core = shmcheck::core;

constexpr std::uint64_t kBatch = 32;
constexpr std::uint32_t kCapacity = 64;

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "ring_ops: %s\n", why.c_str());
  std::exit(1);
}

template <std::size_t kSize, class Push, class Pop>
std::uint64_t push_pop(std::uint64_t n, Push&& push, Pop&& pop) {
  alignas(64) std::byte msg[kSize] = {};
  // At least a cache line: GCC 12 -O3 cannot see that a popped length is at most
  // message_size and warns (-Warray-bounds) about the rings' >16-byte copy path.
  alignas(64) std::byte out[std::max<std::size_t>(kSize, 64)] = {};
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < n; i += kBatch) {
    for (std::uint64_t k = 0; k < kBatch; ++k) {
      const std::uint64_t seq = i + k;
      std::memcpy(msg, &seq, sizeof(seq));
      if (!push(msg)) die("push failed");
    }
    for (std::uint64_t k = 0; k < kBatch; ++k) {
      if (!pop(out)) die("pop failed");
      std::uint64_t seq = 0;
      std::memcpy(&seq, out, sizeof(seq));
      sum += seq;
    }
  }
  return sum;
}

template <std::size_t kSize>
std::uint64_t run_ring(const std::string& subject, std::uint64_t n) {
  if (subject == "minimal") {
    SharedRegion region(MinimalSpscRing::bytes_needed(kCapacity, kSize));
    auto* ring = MinimalSpscRing::create_at(region.data(), kCapacity, kSize);
    return push_pop<kSize>(
        n, [&](const std::byte* m) { return ring->try_push(m, kSize); },
        [&](std::byte* m) { return ring->try_pop(m, kSize); });
  }
  const core::RingConfig config{kCapacity, static_cast<std::uint32_t>(kSize)};
  const auto run = [&](auto* tag) -> std::uint64_t {
    using Ring = std::remove_pointer_t<decltype(tag)>;
    const std::size_t bytes = Ring::bytes_needed(config);
    SharedRegion region(bytes);
    auto made = Ring::create_at(region.data(), bytes, config);
    if (!made) die(made.error().message());
    Ring* ring = *made;
    return push_pop<kSize>(
        n, [&](const std::byte* m) { return ring->try_push(std::span<const std::byte>(m, kSize)); },
        [&](std::byte* m) {
          return ring->try_pop(std::span<std::byte>(m, kSize)).status == core::PopStatus::kOk;
        });
  };
  if (subject == "spsc") return run(static_cast<core::SpscRing*>(nullptr));
  if (subject == "mpmc") return run(static_cast<core::MpmcRing*>(nullptr));
  die("unknown subject " + subject);
}

std::uint64_t run_mutex(const std::string& subject, std::uint64_t n) {
  SharedRegion region(4096);
  std::uint64_t held = 0;
  if (subject == "mutex-shmcheck") {
    auto made = core::RobustMutex::create_at(region.data());
    if (!made) die(made.error().message());
    core::RobustMutex* m = *made;
    for (std::uint64_t i = 0; i < n; ++i) {
      if (!m->lock()) die("lock");
      ++held;
      if (!m->unlock()) die("unlock");
    }
    return held;
  }
  auto* m = static_cast<pthread_mutex_t*>(region.data());
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  if (subject == "mutex-robust") {
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  } else if (subject != "mutex-plain") {
    die("unknown subject " + subject);
  }
  if (pthread_mutex_init(m, &attr) != 0) die("pthread_mutex_init");
  for (std::uint64_t i = 0; i < n; ++i) {
    if (pthread_mutex_lock(m) != 0) die("lock");
    ++held;
    if (pthread_mutex_unlock(m) != 0) die("unlock");
  }
  return held;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) die("usage: ring_ops <subject> <message size: 8|64|1024> <n>");
  const std::string subject = argv[1];
  const std::string size = argv[2];
  const std::uint64_t n = std::strtoull(argv[3], nullptr, 10);
  std::uint64_t result = 0;
  if (subject.rfind("mutex", 0) == 0) {
    result = run_mutex(subject, n);
  } else if (size == "8") {
    result = run_ring<8>(subject, n);
  } else if (size == "64") {
    result = run_ring<64>(subject, n);
  } else if (size == "1024") {
    result = run_ring<1024>(subject, n);
  } else {
    die("message size must be 8, 64 or 1024");
  }
  std::printf("%s %s %llu -> %llu\n", subject.c_str(), size.c_str(),
              static_cast<unsigned long long>(n), static_cast<unsigned long long>(result));
  return 0;
}
