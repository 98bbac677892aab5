#include "shmcheck/core/mpmc_ring.hpp"

#include <cassert>
#include <cstring>
#include <new>
#include <string>

#include "ring_internal.hpp"
#include "shmcheck/core/failpoint.hpp"

namespace shmcheck::core {

// One slot: [state][claim][length, reserved][payload]. Only `state` synchronizes.
struct MpmcRing::Slot {
  // {lap sequence:40 | claimer pid:22 | kind:2}: see the encoding below.
  std::atomic<std::uint64_t> state;
  // {claimer start time:40 | tag:24}, tag = {low 23 bits of the claimed position,
  // 1 bit consumer}: stored right after a claim so a stuck slot's claimer can be
  // named by pid + start time. The tag tells whether the word belongs to the claim
  // in `state` or to an older one (then only the pid is known).
  std::atomic<std::uint64_t> claim;
  std::uint32_t length;
  std::uint32_t reserved;
};
static_assert(sizeof(std::atomic<std::uint64_t>) == 8);

namespace {

enum Kind : std::uint64_t {
  kFree = 0,     // waiting for the producer of `seq`
  kWriting = 1,  // claimed by producer `pid`, not committed
  kFull = 2,     // committed message for position `seq`
  kReading = 3,  // claimed by consumer `pid`, not released
};

constexpr unsigned kKindBits = 2;
constexpr unsigned kPidBits = 22;  // Linux PID_MAX_LIMIT is 2^22
constexpr unsigned kSeqBits = 64 - kPidBits - kKindBits;
constexpr std::uint64_t kPidMask = (std::uint64_t{1} << kPidBits) - 1;
constexpr std::uint64_t kSeqMask = (std::uint64_t{1} << kSeqBits) - 1;
constexpr unsigned kTagBits = 24;
constexpr std::uint64_t kTagMask = (std::uint64_t{1} << kTagBits) - 1;
constexpr std::uint64_t kStartTimeMask = (std::uint64_t{1} << (64 - kTagBits)) - 1;
static_assert(kMaxRingCapacity <= (std::uint64_t{1} << (kTagBits - 1 - 3)),
              "a stale claim tag needs 8 laps of claimers dying unrecorded to alias");

enum class Role : std::uint64_t { kProducer = 0, kConsumer = 1 };

constexpr std::uint64_t make_state(std::uint64_t pos, std::uint32_t pid, Kind kind) noexcept {
  return ((pos & kSeqMask) << (kPidBits + kKindBits)) |
         ((std::uint64_t{pid} & kPidMask) << kKindBits) | kind;
}
constexpr Kind kind_of(std::uint64_t state) noexcept { return static_cast<Kind>(state & 3U); }
constexpr std::int32_t pid_of(std::uint64_t state) noexcept {
  return static_cast<std::int32_t>((state >> kKindBits) & kPidMask);
}
// Signed distance, in positions, from pos to the lap the state belongs to.
constexpr std::int64_t lap_distance(std::uint64_t state, std::uint64_t pos) noexcept {
  const std::uint64_t seq = state >> (kPidBits + kKindBits);
  const std::uint64_t diff = (seq - pos) & kSeqMask;
  // Sign-extend the kSeqBits-wide difference.
  return static_cast<std::int64_t>(diff << (kPidBits + kKindBits)) >>
         static_cast<int>(kPidBits + kKindBits);
}

constexpr std::uint64_t claim_tag(std::uint64_t pos, Role role) noexcept {
  return ((pos << 1) | static_cast<std::uint64_t>(role)) & kTagMask;
}
constexpr std::uint64_t make_claim(std::uint64_t start_time, std::uint64_t pos,
                                   Role role) noexcept {
  return ((start_time & kStartTimeMask) << kTagBits) | claim_tag(pos, role);
}

constexpr std::uint32_t slot_stride(const RingConfig& config) noexcept {
  return static_cast<std::uint32_t>(detail::round_up(3 * 8 + config.message_size, 8));
}

// Moves a shared position counter from pos to pos + 1 unless someone already did;
// either way pos ends up at a position worth looking at.
void advance(std::atomic<std::uint64_t>& counter, std::uint64_t& pos) noexcept {
  if (counter.compare_exchange_strong(pos, pos + 1, std::memory_order_relaxed)) ++pos;
}

// Per thread: the stuck slot this thread is waiting on, so liveness is checked only
// after it has blocked us for kStuckCheckAfter, and then at most that often.
struct StuckWait {
  const void* ring = nullptr;
  std::uint64_t state = 0;
  std::int64_t last_check_ns = 0;
};
thread_local StuckWait t_stuck;

constexpr std::int64_t kStuckCheckNs =
    std::chrono::duration_cast<std::chrono::nanoseconds>(MpmcRing::kStuckCheckAfter).count();

}  // namespace

MpmcRing::MpmcRing(const RingConfig& config) noexcept {
  header_.magic.store(0, std::memory_order_relaxed);
  header_.layout_version = detail::kRingLayoutVersion;
  header_.capacity = config.capacity;
  header_.message_size = config.message_size;
  header_.slot_stride = slot_stride(config);
  header_.slots_offset = sizeof(MpmcRing);
  header_.total_bytes = bytes_needed(config);
}

std::size_t MpmcRing::bytes_needed(const RingConfig& config) noexcept {
  if (!validate_ring_config(config)) return 0;
  return sizeof(MpmcRing) + std::size_t{config.capacity} * slot_stride(config);
}

Result<MpmcRing*> MpmcRing::create_at(void* mem, std::size_t bytes,
                                      const RingConfig& config) noexcept {
  SHMCHECK_TRY(validate_ring_config(config));
  if (mem == nullptr || reinterpret_cast<std::uintptr_t>(mem) % kCacheLineSize != 0) {
    return make_error(ErrorCode::kInvalidArgument, "MpmcRing::create_at",
                      "memory must be 64-byte aligned");
  }
  const auto needed = bytes_needed(config);
  if (bytes < needed) {
    return make_error(
        ErrorCode::kInvalidArgument, "MpmcRing::create_at",
        std::to_string(bytes) + " bytes given, " + std::to_string(needed) + " needed");
  }
  auto* ring = new (mem) MpmcRing(config);
  auto* base = static_cast<std::byte*>(mem);
  std::memset(base + sizeof(MpmcRing), 0, needed - sizeof(MpmcRing));
  for (std::uint64_t i = 0; i < config.capacity; ++i) {
    auto* s = new (ring->slot(i)) Slot{};
    s->state.store(make_state(i, 0, kFree), std::memory_order_relaxed);
  }
  ring->header_.magic.store(detail::kMpmcRingMagic, std::memory_order_release);
  return ring;
}

Result<MpmcRing*> MpmcRing::attach(void* mem, std::size_t bytes) noexcept {
  if (mem == nullptr || reinterpret_cast<std::uintptr_t>(mem) % kCacheLineSize != 0 ||
      bytes < sizeof(MpmcRing)) {
    return make_error(ErrorCode::kInvalidArgument, "MpmcRing::attach",
                      "memory must be 64-byte aligned and hold the ring header");
  }
  auto* ring = std::launder(static_cast<MpmcRing*>(mem));
  if (ring->header_.magic.load(std::memory_order_acquire) != detail::kMpmcRingMagic) {
    return make_error(ErrorCode::kForeign, "MpmcRing::attach", "no MpmcRing magic");
  }
  const auto& h = ring->header_;
  const RingConfig config{h.capacity, h.message_size};
  if (h.layout_version != detail::kRingLayoutVersion || !validate_ring_config(config) ||
      h.slot_stride != slot_stride(config) || h.slots_offset != sizeof(MpmcRing) ||
      h.total_bytes != bytes_needed(config)) {
    return make_error(ErrorCode::kCorrupt, "MpmcRing::attach", "inconsistent ring header");
  }
  if (bytes < h.total_bytes) {
    return make_error(
        ErrorCode::kCorrupt, "MpmcRing::attach",
        std::to_string(bytes) + " bytes mapped, ring needs " + std::to_string(h.total_bytes));
  }
  return ring;
}

MpmcRing::Slot* MpmcRing::slot(std::uint64_t pos) noexcept {
  return std::launder(
      reinterpret_cast<Slot*>(reinterpret_cast<std::byte*>(this) + header_.slots_offset +
                              (pos & (header_.capacity - 1)) * header_.slot_stride));
}

namespace {

std::byte* payload_of(void* slot) noexcept {
  return static_cast<std::byte*>(slot) + 3 * sizeof(std::uint64_t);
}

// The claimer of a slot whose state has blocked us: pid from the state word (set by
// the claiming CAS itself), start time from the claim word if it belongs to this claim.
ProcessIdentity claimer_of(std::uint64_t state, std::uint64_t claim, std::uint64_t pos,
                           Role role) noexcept {
  ProcessIdentity who{};
  who.pid = pid_of(state);
  if ((claim & kTagMask) == claim_tag(pos, role)) who.start_time = claim >> kTagBits;
  return who;
}

// True when `state` has blocked this thread for a while and its claimer is proved
// dead. Called only on paths that would otherwise fail or wait.
bool stuck_claimer_dead(const void* ring, std::uint64_t state,
                        const ProcessIdentity& who) noexcept {
  const auto now = detail::monotonic_ns();
  if (t_stuck.ring != ring || t_stuck.state != state) {
    t_stuck = {ring, state, now};
    return false;
  }
  if (now - t_stuck.last_check_ns < kStuckCheckNs) return false;
  t_stuck.last_check_ns = now;
  // kUnknown (no permission to read /proc) is never taken for dead: fail closed.
  return liveness(who) == Liveness::kDead;
}

}  // namespace

MpmcRing::TryOutcome MpmcRing::push_once(std::span<const std::byte> msg) noexcept {
  const std::uint64_t capacity = header_.capacity;
  const auto self = detail::cached_self_identity();
  const auto me = static_cast<std::uint32_t>(self.pid);
  auto pos = enqueue_pos_.load(std::memory_order_relaxed);
  for (;;) {
    Slot* s = slot(pos);
    auto state = s->state.load(std::memory_order_acquire);
    const auto lap = lap_distance(state, pos);
    if (lap == 0 && kind_of(state) == kFree) {
      // Acquire: the previous consumer's reads of this slot happen before our writes.
      if (!s->state.compare_exchange_weak(state, make_state(pos, me, kWriting),
                                          std::memory_order_acquire, std::memory_order_relaxed)) {
        continue;
      }
      auto seen = pos;
      advance(enqueue_pos_, seen);
      s->claim.store(make_claim(self.start_time, pos, Role::kProducer), std::memory_order_relaxed);
      failpoint(FailpointId::kRingPushAfterClaim);
      const auto size = msg.size();
      const auto half = size / 2;
      std::byte* payload = payload_of(s);
      if (half != 0) std::memcpy(payload, msg.data(), half);
      failpoint(FailpointId::kRingPushMidPayload);
      if (size != half) std::memcpy(payload + half, msg.data() + half, size - half);
      s->length = static_cast<std::uint32_t>(size);
      failpoint(FailpointId::kRingPushBeforeCommit);
      s->state.store(make_state(pos, 0, kFull), std::memory_order_release);
      failpoint(FailpointId::kRingPushAfterCommit);
      return TryOutcome::kDone;
    }
    if (lap >= 0) {
      // Position pos is taken (or long done): help the counter past it.
      advance(enqueue_pos_, pos);
      continue;
    }
    // The slot still belongs to the previous lap: the ring is full here. A consumer
    // that died holding it would block producers forever: free it once proved dead.
    if (kind_of(state) == kReading && lap == -static_cast<std::int64_t>(capacity)) {
      const auto prev = pos - capacity;
      const auto who =
          claimer_of(state, s->claim.load(std::memory_order_relaxed), prev, Role::kConsumer);
      if (stuck_claimer_dead(this, state, who) &&
          s->state.compare_exchange_strong(state, make_state(pos, 0, kFree),
                                           std::memory_order_acq_rel, std::memory_order_relaxed)) {
        abandoned_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
    }
    return TryOutcome::kWouldBlock;
  }
}

PopResult MpmcRing::pop_once(std::span<std::byte> out) noexcept {
  const std::uint64_t capacity = header_.capacity;
  auto pos = dequeue_pos_.load(std::memory_order_relaxed);
  for (;;) {
    Slot* s = slot(pos);
    auto state = s->state.load(std::memory_order_acquire);
    const auto lap = lap_distance(state, pos);
    if (lap < 0) return {};  // the producer of pos has not even claimed: empty
    if (lap > 0 || kind_of(state) == kReading) {
      advance(dequeue_pos_, pos);  // taken by another consumer (or long done)
      continue;
    }
    const auto kind = kind_of(state);
    if (kind == kFree) return {};  // empty
    const auto self = detail::cached_self_identity();
    const auto me = static_cast<std::uint32_t>(self.pid);
    if (kind == kFull) {
      if (!s->state.compare_exchange_weak(state, make_state(pos, me, kReading),
                                          std::memory_order_acquire, std::memory_order_relaxed)) {
        continue;
      }
      auto seen = pos;
      advance(dequeue_pos_, seen);
      s->claim.store(make_claim(self.start_time, pos, Role::kConsumer), std::memory_order_relaxed);
      failpoint(FailpointId::kRingPopAfterClaim);
      const auto size = s->length;
      if (size > header_.message_size) detail::ring_invariant_broken("MpmcRing slot length");
      if (size != 0) std::memcpy(out.data(), payload_of(s), size);
      failpoint(FailpointId::kRingPopBeforeRelease);
      // Release: the next producer of this slot writes only after our copy.
      s->state.store(make_state(pos + capacity, 0, kFree), std::memory_order_release);
      return {PopStatus::kOk, size, {}};
    }
    // kWriting: a producer claimed pos and has not committed. Wait, unless it has
    // blocked us for a while and is proved dead: then take the slot over unread.
    const auto who =
        claimer_of(state, s->claim.load(std::memory_order_relaxed), pos, Role::kProducer);
    if (!stuck_claimer_dead(this, state, who)) return {};
    if (!s->state.compare_exchange_strong(state, make_state(pos, me, kReading),
                                          std::memory_order_acquire, std::memory_order_relaxed)) {
      continue;
    }
    auto seen = pos;
    advance(dequeue_pos_, seen);
    s->claim.store(make_claim(self.start_time, pos, Role::kConsumer), std::memory_order_relaxed);
    s->state.store(make_state(pos + capacity, 0, kFree), std::memory_order_release);
    abandoned_.fetch_add(1, std::memory_order_relaxed);
    return {PopStatus::kAbandoned, 0, who};
  }
}

bool MpmcRing::try_push(std::span<const std::byte> msg) noexcept {
  if (msg.size() > header_.message_size) {
    assert(false && "MpmcRing::try_push: message longer than message_size");
    return false;
  }
  if (push_once(msg) == TryOutcome::kDone) return true;
  full_events_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

PopResult MpmcRing::try_pop(std::span<std::byte> out) noexcept {
  if (out.size() < header_.message_size) {
    assert(false && "MpmcRing::try_pop: out shorter than message_size");
    return {};
  }
  auto r = pop_once(out);
  if (r.status == PopStatus::kEmpty) empty_events_.fetch_add(1, std::memory_order_relaxed);
  return r;
}

bool MpmcRing::push_for(std::span<const std::byte> msg, std::chrono::nanoseconds timeout) noexcept {
  if (try_push(msg)) return true;
  if (msg.size() > header_.message_size) return false;
  detail::Backoff backoff(timeout);
  while (backoff.wait()) {
    if (push_once(msg) == TryOutcome::kDone) return true;
  }
  return false;
}

PopResult MpmcRing::pop_for(std::span<std::byte> out, std::chrono::nanoseconds timeout) noexcept {
  auto r = try_pop(out);
  if (r.status != PopStatus::kEmpty || out.size() < header_.message_size) return r;
  detail::Backoff backoff(timeout);
  while (backoff.wait()) {
    r = pop_once(out);
    if (r.status != PopStatus::kEmpty) return r;
  }
  return r;
}

RingConfig MpmcRing::config() const noexcept { return {header_.capacity, header_.message_size}; }

RingStats MpmcRing::stats() const noexcept {
  RingStats s;
  s.pushes = enqueue_pos_.load(std::memory_order_relaxed);
  s.pops = dequeue_pos_.load(std::memory_order_relaxed);
  s.full_events = full_events_.load(std::memory_order_relaxed);
  s.empty_events = empty_events_.load(std::memory_order_relaxed);
  s.abandoned = abandoned_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace shmcheck::core
