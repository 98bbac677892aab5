#include "shmcheck/core/ring.hpp"

#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <new>
#include <string>

#include "ring_internal.hpp"
#include "shmcheck/core/detail/mpmc_slot.hpp"
#include "shmcheck/core/detail/ring_layout.hpp"
#include "shmcheck/core/failpoint.hpp"
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

namespace detail {

void init_ring_header(RingHeader& header, const RingConfig& config,
                      GeometryOf geometry_of) noexcept {
  const RingGeometry g = geometry_of(config);
  header.magic.store(0, std::memory_order_relaxed);
  header.layout_version = kRingLayoutVersion;
  header.capacity = config.capacity;
  header.message_size = config.message_size;
  header.slot_stride = g.slot_stride;
  header.slots_offset = g.slots_offset;
  header.total_bytes = g.total_bytes;
}

namespace {
bool aligned(const void* mem) noexcept {
  return mem != nullptr && reinterpret_cast<std::uintptr_t>(mem) % kCacheLineSize == 0;
}
}  // namespace

Result<std::size_t> check_ring_create(const char* where, const void* mem, std::size_t bytes,
                                      const RingConfig& config, GeometryOf geometry_of) noexcept {
  SHMCHECK_TRY(validate_ring_config(config));
  if (!aligned(mem)) {
    return make_error(ErrorCode::kInvalidArgument, where, "memory must be 64-byte aligned");
  }
  const std::size_t needed = geometry_of(config).total_bytes;
  if (bytes < needed) {
    return make_error(
        ErrorCode::kInvalidArgument, where,
        std::to_string(bytes) + " bytes given, " + std::to_string(needed) + " needed");
  }
  return needed;
}

Result<void> check_ring_attach(const char* where, const void* mem, std::size_t bytes,
                               std::size_t object_bytes, std::uint64_t magic,
                               GeometryOf geometry_of) noexcept {
  if (!aligned(mem) || bytes < object_bytes) {
    return make_error(ErrorCode::kInvalidArgument, where,
                      "memory must be 64-byte aligned and hold the ring header");
  }
  // Every ring object starts with its RingHeader (standard layout, first member).
  const auto& h = *std::launder(static_cast<const RingHeader*>(mem));
  if (h.magic.load(std::memory_order_acquire) != magic) {
    return make_error(ErrorCode::kForeign, where, "no magic of this ring kind");
  }
  const RingConfig config{h.capacity, h.message_size};
  bool consistent = h.layout_version == kRingLayoutVersion && validate_ring_config(config);
  if (consistent) {
    const RingGeometry g = geometry_of(config);
    consistent = h.slot_stride == g.slot_stride && h.slots_offset == g.slots_offset &&
                 h.total_bytes == g.total_bytes;
  }
  if (!consistent) return make_error(ErrorCode::kCorrupt, where, "inconsistent ring header");
  if (bytes < h.total_bytes) {
    return make_error(
        ErrorCode::kCorrupt, where,
        std::to_string(bytes) + " bytes mapped, ring needs " + std::to_string(h.total_bytes));
  }
  return {};
}

}  // namespace detail

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

constexpr std::uint64_t kSpinNs = 50'000;    // longer than a cross-CPU wake-up
constexpr std::uint64_t kYieldNs = 200'000;  // then give the CPU away, briefly
constexpr std::uint64_t kFirstSleepNs = 2'000;
constexpr std::uint64_t kMaxSleepNs = 200'000;
constexpr std::uint32_t kSpinsPerClockRead = 16;

void on_fork_child() noexcept { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

// Registered when the library is loaded, before any ring can be used.
const bool g_atfork_registered = [] {
  return static_cast<bool>(pthread_call(
      "pthread_atfork", [] { return ::pthread_atfork(nullptr, nullptr, &on_fork_child); }));
}();

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value,
           const timespec* timeout) noexcept {
  // A shared futex (no FUTEX_PRIVATE_FLAG): the word lives in memory other processes map.
  static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, timeout, nullptr,
                   0);
}

}  // namespace

Backoff::Backoff(std::chrono::nanoseconds timeout, WaitWord& sleep_on) noexcept
    : start_ns_(monotonic_ns()),
      deadline_ns_(deadline_after(start_ns_, timeout)),
      sleep_ns_(kFirstSleepNs),
      word_(&sleep_on) {}

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
    return true;
  }
  if (waited < kYieldNs) {
    (void)posix_call("sched_yield", [] { return ::sched_yield(); });
    return true;
  }
  if (!armed_) {
    armed_epoch_ = arm_sleep(*word_);
    armed_ = true;
    return true;  // the caller's last look before the sleep
  }
  armed_ = false;
  sleep_armed(*word_, armed_epoch_, std::min(sleep_ns_, deadline_ns_ - now));
  sleep_ns_ = std::min(sleep_ns_ * 2, kMaxSleepNs);
  return true;
}

std::uint32_t arm_sleep(WaitWord& word) noexcept {
  const auto epoch = word.epoch.load(std::memory_order_acquire);
  // A full barrier: a mover that commits after the caller's last look sees the flag.
  word.sleepers.exchange(1, std::memory_order_seq_cst);
  return epoch;
}

void sleep_armed(WaitWord& word, std::uint32_t epoch, std::uint64_t ns) noexcept {
  word.sleeps.fetch_add(1, std::memory_order_relaxed);
  const timespec ts = to_timespec(ns);
  // EAGAIN (woken before we slept), ETIMEDOUT and EINTR all mean: look again.
  (void)futex(word.epoch, FUTEX_WAIT, epoch, &ts);
}

void wake_sleepers(WaitWord& word) noexcept {
  // Lower the flag first: a sleeper that raises it again after this is woken by the
  // next mover, and one that read the epoch before the bump below does not sleep.
  word.sleepers.store(0, std::memory_order_relaxed);
  word.epoch.fetch_add(1, std::memory_order_release);
  word.wakeups.fetch_add(1, std::memory_order_relaxed);
  (void)posix_call("futex(FUTEX_WAKE)",
                   [&] { return futex(word.epoch, FUTEX_WAKE, INT_MAX, nullptr); });
}

ProcessIdentity refresh_self_identity() noexcept {
  t_identity_cache.identity = self_identity();
  // Without the fork handler a cached value could outlive a fork: never cache then.
  t_identity_cache.generation =
      g_atfork_registered ? g_fork_generation.load(std::memory_order_relaxed) : 0;
  if (t_identity_cache.identity.pid <= 0 ||
      static_cast<std::uint64_t>(t_identity_cache.identity.pid) > mpmc::kPidMask) {
    ring_invariant_broken("own pid does not fit the slot state word");
  }
  return t_identity_cache.identity;
}

void write_payload_with_failpoints(std::byte* payload, std::span<const std::byte> msg) noexcept {
  failpoint(FailpointId::kRingPushAfterClaim);
  const auto half = msg.size() / 2;
  copy_bytes(payload, msg.data(), half);
  failpoint(FailpointId::kRingPushMidPayload);
  copy_bytes(payload + half, msg.data() + half, msg.size() - half);
  failpoint(FailpointId::kRingPushBeforeCommit);
}

void ring_invariant_broken(const char* what) noexcept {
  // Raw write(2), not posix_call: about to abort, nobody to hand an error to.
  const auto put = [](const char* text, std::size_t n) noexcept {
    [[maybe_unused]] const auto written = ::write(STDERR_FILENO, text, n);
  };
  static constexpr char kPrefix[] = "shmcheck: ring invariant broken: ";
  put(kPrefix, sizeof(kPrefix) - 1);
  put(what, std::strlen(what));
  put("\n", 1);
  std::abort();
}

}  // namespace detail
}  // namespace shmcheck::core
