#include "shmcheck/core/ring.hpp"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>

#include "ring_internal.hpp"
#include "shmcheck/core/posix_call.hpp"

namespace shmcheck::core {

Result<void> validate_ring_config(const RingConfig& config) noexcept {
  const auto cap = config.capacity;
  if (cap < kMinRingCapacity || cap > kMaxRingCapacity || (cap & (cap - 1)) != 0) {
    return make_error(ErrorCode::kInvalidArgument, "ring config",
                      "capacity " + std::to_string(cap) + " is not a power of two in [" +
                          std::to_string(kMinRingCapacity) + ", " +
                          std::to_string(kMaxRingCapacity) + "]");
  }
  if (config.message_size == 0 || config.message_size > kMaxRingMessageSize) {
    return make_error(ErrorCode::kInvalidArgument, "ring config",
                      "message_size " + std::to_string(config.message_size) + " not in [1, " +
                          std::to_string(kMaxRingMessageSize) + "]");
  }
  return {};
}

const char* to_string(PopStatus status) noexcept {
  switch (status) {
    case PopStatus::kOk:
      return "ok";
    case PopStatus::kEmpty:
      return "empty";
    case PopStatus::kAbandoned:
      return "abandoned";
  }
  return "unknown";
}

namespace detail {
namespace {

constexpr std::int64_t kSpinNs = 50'000;    // longer than a cross-CPU wake-up
constexpr std::int64_t kYieldNs = 200'000;  // then give the CPU away, briefly
constexpr std::int64_t kFirstSleepNs = 2'000;
constexpr std::int64_t kMaxSleepNs = 200'000;
constexpr std::uint32_t kSpinsPerClockRead = 16;

std::atomic<std::uint64_t> g_fork_generation{1};

void on_fork_child() noexcept { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

// Registered when the library is loaded, before any ring can be used.
const bool g_atfork_registered = [] {
  return static_cast<bool>(pthread_call(
      "pthread_atfork", [] { return ::pthread_atfork(nullptr, nullptr, &on_fork_child); }));
}();

struct IdentityCache {
  std::uint64_t generation = 0;
  ProcessIdentity identity{};
};
thread_local IdentityCache t_identity;

}  // namespace

Backoff::Backoff(std::chrono::nanoseconds timeout) noexcept
    : start_ns_(monotonic_ns()),
      deadline_ns_(start_ns_ + std::max<std::int64_t>(0, timeout.count())),
      sleep_ns_(kFirstSleepNs) {}

bool Backoff::wait() noexcept {
  ++spins_;
  if (spins_ % kSpinsPerClockRead != 0) {
    cpu_relax();
    return true;
  }
  const auto now = monotonic_ns();
  if (now >= deadline_ns_) return false;
  const auto waited = now - start_ns_;
  if (waited < kSpinNs) {
    cpu_relax();
  } else if (waited < kYieldNs) {
    (void)posix_call("sched_yield", [] { return ::sched_yield(); });
  } else {
    const auto ns = std::min(sleep_ns_, deadline_ns_ - now);
    const timespec ts{0, static_cast<long>(ns)};
    (void)posix_call("nanosleep", [&] { return ::nanosleep(&ts, nullptr); });
    sleep_ns_ = std::min(sleep_ns_ * 2, kMaxSleepNs);
  }
  return true;
}

ProcessIdentity cached_self_identity() noexcept {
  const auto generation = g_fork_generation.load(std::memory_order_relaxed);
  if (t_identity.generation != generation || !g_atfork_registered) [[unlikely]] {
    t_identity.identity = self_identity();
    t_identity.generation = g_atfork_registered ? generation : 0;
    if (t_identity.identity.pid <= 0) ring_invariant_broken("own pid is not positive");
  }
  return t_identity.identity;
}

void ring_invariant_broken(const char* what) noexcept {
  // Raw write(2): about to abort, nothing to report an error to.
  static constexpr char kPrefix[] = "shmcheck: ring invariant broken: ";
  (void)!::write(STDERR_FILENO, kPrefix, sizeof(kPrefix) - 1);
  (void)!::write(STDERR_FILENO, what, std::strlen(what));
  (void)!::write(STDERR_FILENO, "\n", 1);
  std::abort();
}

}  // namespace detail
}  // namespace shmcheck::core
