// ring_ops: one process doing N operations on one subject, for counting
// instructions with callgrind where timing on a shared, loaded machine is too
// noisy. scripts/bench --callgrind runs it twice per subject (N and 2N) under
// valgrind and reports (Ir(2N) - Ir(N)) / N: instructions per operation, with
// start-up cost cancelled out. With --time it also prints the operations' wall
// time per op; with --pair (spsc, mpmc) it instead moves n messages from a producer
// process on one CPU to a consumer process on the other and prints the rate.
// ring_bench's failpoint group runs this program and ring_ops_nofp (the same code,
// built against a core with the failpoints compiled out) side by side to measure
// what disarmed failpoints cost.
//
//   ring_ops <subject> <message size> <n> [--time | --pair]
//   subjects: minimal spsc mpmc (one push + one pop of one message per op, in
//             batches of 32 so the ring never runs full or empty),
//             mutex-plain mutex-robust mutex-shmcheck (one lock + unlock per op)
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>

#include "bench_support.hpp"
#include "minimal_spsc_ring.hpp"
#include "ring_roles.hpp"
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
  alignas(64) std::byte out[kSize] = {};
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < n; i += kBatch) {
    for (std::uint64_t k = 0; k < kBatch; ++k) {
      const std::uint64_t seq = i + k;
      std::memcpy(msg, &seq, sizeof(seq));
      shmcheck::bench::touch_memory(msg);
      if (!push(msg)) die("push failed");
    }
    for (std::uint64_t k = 0; k < kBatch; ++k) {
      if (!pop(out)) die("pop failed");
      shmcheck::bench::touch_memory(out);
      std::uint64_t seq = 0;
      std::memcpy(&seq, out, sizeof(seq));
      sum += seq;
    }
  }
  return sum;
}

// Producer and consumer in two processes, one per CPU: messages per second.
template <std::size_t kSize, class Ring>
double pair_rate(Ring& ring, std::uint64_t n) {
  auto cpus = shmcheck::bench::allowed_cpus();
  if (cpus.size() > 2) cpus.resize(2);
  const auto outcome =
      shmcheck::bench::run_roles(shmcheck::bench::shmcheck_ring_roles<kSize>(ring, n), cpus,
                                 std::chrono::milliseconds(60'000));
  if (!outcome.ok) die(outcome.error);
  return static_cast<double>(n) / outcome.elapsed_seconds();
}

template <std::size_t kSize>
std::uint64_t run_ring(const std::string& subject, std::uint64_t n, bool pair) {
  if (subject == "minimal") {
    if (pair) die("--pair measures the shmcheck rings (spsc, mpmc)");
    SharedRegion region(MinimalSpscRing::bytes_needed(kCapacity, kSize));
    auto* ring = MinimalSpscRing::create_at(region.data(), kCapacity, kSize);
    return push_pop<kSize>(
        n, [&](const std::byte* m) { return ring->try_push(m, kSize); },
        [&](std::byte* m) { return ring->try_pop(m, kSize); });
  }
  // --pair: the capacity ring_bench's throughput group gives this size (32 KiB of
  // payload); one process: a small ring the batches of 32 never fill.
  const std::uint32_t capacity =
      pair ? std::clamp<std::uint32_t>(std::bit_floor(32U * 1024U / kSize), 64U, 4096U) : kCapacity;
  const core::RingConfig config{capacity, static_cast<std::uint32_t>(kSize)};
  const auto run = [&](auto* tag) -> std::uint64_t {
    using Ring = std::remove_pointer_t<decltype(tag)>;
    const std::size_t bytes = Ring::bytes_needed(config);
    SharedRegion region(bytes);
    auto made = Ring::create_at(region.data(), bytes, config);
    if (!made) die(made.error().message());
    Ring* ring = *made;
    if (pair) {
      std::printf("msg_per_s %.1f\n", pair_rate<kSize>(*ring, n));
      return n;
    }
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
  const std::string mode = argc == 5 ? argv[4] : "";
  const bool timed = mode == "--time";
  const bool pair = mode == "--pair";
  if (argc != 4 && !timed && !pair) {
    die("usage: ring_ops <subject> <message size: 8|64|1024> <n> [--time | --pair]");
  }
  const std::string subject = argv[1];
  const std::string size = argv[2];
  const std::uint64_t n = std::strtoull(argv[3], nullptr, 10);
  if (n == 0) die("n must be a positive number");
  const std::uint64_t start = shmcheck::bench::now_ns();
  std::uint64_t result = 0;
  if (subject.rfind("mutex", 0) == 0) {
    result = run_mutex(subject, n);
  } else if (size == "8") {
    result = run_ring<8>(subject, n, pair);
  } else if (size == "64") {
    result = run_ring<64>(subject, n, pair);
  } else if (size == "1024") {
    result = run_ring<1024>(subject, n, pair);
  } else {
    die("message size must be 8, 64 or 1024");
  }
  const std::uint64_t elapsed = shmcheck::bench::now_ns() - start;
  std::printf("%s %s %llu -> %llu\n", subject.c_str(), size.c_str(),
              static_cast<unsigned long long>(n), static_cast<unsigned long long>(result));
  if (timed) std::printf("ns_per_op %.4f\n", static_cast<double>(elapsed) / static_cast<double>(n));
  return 0;
}
