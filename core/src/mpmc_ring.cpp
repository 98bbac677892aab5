#include "shmcheck/core/mpmc_ring.hpp"

#include <cassert>
#include <new>
#include <string>

#include "ring_internal.hpp"

namespace shmcheck::core {

namespace {

using namespace detail::mpmc;

// Each slot is its state and claim words, then the payload; the slots follow the ring.
detail::RingGeometry geometry(const RingConfig& config) noexcept {
  detail::RingGeometry g;
  g.slot_stride = static_cast<std::uint32_t>(
      detail::round_up(sizeof(detail::MpmcSlot) + config.message_size, 8));
  g.slots_offset = sizeof(MpmcRing);
  g.total_bytes = g.slots_offset + std::uint64_t{config.capacity} * g.slot_stride;
  return g;
}

// Per thread: the stuck slot this thread is waiting on, so liveness is checked only
// after it has blocked us for kStuckCheckAfter, and then at most that often.
struct StuckWait {
  const void* ring = nullptr;
  std::uint64_t state = 0;
  std::uint64_t last_check_ns = 0;
};
thread_local StuckWait t_stuck;

constexpr auto kStuckCheckNs = static_cast<std::uint64_t>(
    std::chrono::duration_cast<std::chrono::nanoseconds>(MpmcRing::kStuckCheckAfter).count());

}  // namespace

MpmcRing::MpmcRing(const RingConfig& config) noexcept {
  detail::init_ring_header(header_, config, geometry);
}

std::size_t MpmcRing::bytes_needed(const RingConfig& config) noexcept {
  if (!validate_ring_config(config)) return 0;
  return geometry(config).total_bytes;
}

Result<MpmcRing*> MpmcRing::create_at(void* mem, std::size_t bytes, const RingConfig& config,
                                      RingMemory memory) noexcept {
  const auto needed =
      detail::check_ring_create("MpmcRing::create_at", mem, bytes, config, geometry);
  if (!needed) return needed.error();
  auto* ring = new (mem) MpmcRing(config);
  auto* base = static_cast<std::byte*>(mem);
  // A slot state of zero is "free for position lap 0" (make_state(0, 0, kFree)): every
  // slot of a zeroed ring is ready for its first producer as it is.
  static_assert(make_state(0, 0, kFree) == 0);
  if (memory == RingMemory::kAny) {
    std::memset(base + sizeof(MpmcRing), 0, *needed - sizeof(MpmcRing));
  }
  ring->header_.magic.store(detail::kMpmcRingMagic, std::memory_order_release);
  return ring;
}

Result<MpmcRing*> MpmcRing::attach(void* mem, std::size_t bytes) noexcept {
  SHMCHECK_TRY(detail::check_ring_attach("MpmcRing::attach", mem, bytes, sizeof(MpmcRing),
                                         detail::kMpmcRingMagic, geometry));
  return std::launder(static_cast<MpmcRing*>(mem));
}

namespace {

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

// The failpoints sit where a crash leaves each distinct state (as in SpscRing): claimed
// (the claimer recorded, nothing written), half a payload, all of it but not committed,
// committed; on the consumer side, claimed and nothing copied, copied (and handed to
// before_release) but not released.
void MpmcRing::fill_with_failpoints(Slot* s, std::uint64_t pos,
                                    std::span<const std::byte> msg) noexcept {
  using namespace detail::mpmc;
  detail::write_payload_with_failpoints(s->payload(), msg);
  s->length = static_cast<std::uint32_t>(msg.size());
  s->redelivered_from = 0;
  s->state.store(make_state(lap_of(pos), 0, kFull), std::memory_order_release);
  failpoint(FailpointId::kRingPushAfterCommit);
}

PopResult MpmcRing::take_with_failpoints(Slot* s, std::uint64_t pos, std::span<std::byte> out,
                                         BeforeRelease before_release) noexcept {
  using namespace detail::mpmc;
  failpoint(FailpointId::kRingPopAfterClaim);
  const auto size = s->length;
  if (size > header_.message_size) detail::ring_invariant_broken("MpmcRing slot length");
  PopResult r{PopStatus::kOk, size, {}};
  if (const std::uint32_t from = s->redelivered_from; from != 0) {
    r.claimer.pid = static_cast<std::int32_t>(from);
  }
  detail::copy_message(out, s->payload(), size);
  before_release(Taken{std::span(&size, 1), r.claimer});
  failpoint(FailpointId::kRingPopBeforeRelease);
  s->state.store(make_state(lap_of(pos) + header_.capacity, 0, kFree), std::memory_order_release);
  return r;
}

MpmcRing::TryOutcome MpmcRing::push_contended(std::span<const std::byte> msg) noexcept {
  const std::uint64_t capacity = header_.capacity;
  const auto self = detail::cached_self_identity();
  const auto me = static_cast<std::uint32_t>(self.pid);
  auto pos = enqueue_pos_.load(std::memory_order_relaxed);
  for (;;) {
    Slot* s = slot(pos);
    auto state = s->state.load(std::memory_order_acquire);
    const auto lap = lap_distance(state, lap_of(pos));
    if (lap == 0 && kind_of(state) == kFree) {
      if (s->state.compare_exchange_weak(state, make_state(lap_of(pos), me, kWriting),
                                         std::memory_order_acquire, std::memory_order_relaxed)) {
        fill_claimed(s, pos, lap_of(pos), self, msg);
        return TryOutcome::kDone;
      }
      continue;
    }
    if (lap >= 0) {
      // Position pos is taken (or long done): help the counter past it.
      advance(enqueue_pos_, pos);
      continue;
    }
    // The slot still belongs to the previous lap: the ring is full here. A consumer
    // that died holding it would block producers forever. Once it is proved dead, its
    // message (whole: a consumer only reads) is published again as this position's,
    // naming the dead consumer; our own message goes to the next position.
    // A producer killed between its claim below and the commit leaves the slot
    // writing, by a dead producer: a consumer takes it over unread (pop_contended), as
    // an abandoned message of ours, and the dead consumer's message, which it still
    // holds whole, is lost with it. The window is these few stores, the loss is real
    // and the check counts it so (lost, not excused by either crash); recovering it
    // would need the republish to be one atomic step, which the claim and
    // redelivered_from fields, written before the commit, do not allow.
    if (kind_of(state) == kReading && lap == -static_cast<std::int64_t>(capacity)) {
      const auto prev = pos - capacity;
      const auto who =
          claimer_of(state, s->claim.load(std::memory_order_relaxed), prev, Role::kConsumer);
      if (!stuck_claimer_dead(this, state, who)) return TryOutcome::kWouldBlock;
      if (s->state.compare_exchange_strong(state, make_state(lap_of(pos), me, kWriting),
                                           std::memory_order_acquire, std::memory_order_relaxed)) {
        auto seen = pos;
        advance(enqueue_pos_, seen);
        s->claim.store(make_claim(self.start_time, pos, Role::kProducer),
                       std::memory_order_relaxed);
        s->redelivered_from = static_cast<std::uint32_t>(who.pid);
        s->state.store(make_state(lap_of(pos), 0, kFull), std::memory_order_release);
        redelivered_.fetch_add(1, std::memory_order_relaxed);
      }
      continue;  // pos is taken now (by us or by whoever beat us to it): move past it
    }
    return TryOutcome::kWouldBlock;
  }
}

PopResult MpmcRing::pop_contended(std::span<std::byte> out, BeforeRelease before_release) noexcept {
  const std::uint64_t capacity = header_.capacity;
  auto pos = dequeue_pos_.load(std::memory_order_relaxed);
  for (;;) {
    Slot* s = slot(pos);
    auto state = s->state.load(std::memory_order_acquire);
    const auto lap = lap_distance(state, lap_of(pos));
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
      if (s->state.compare_exchange_weak(state, make_state(lap_of(pos), me, kReading),
                                         std::memory_order_acquire, std::memory_order_relaxed)) {
        return take_claimed(s, pos, lap_of(pos), self, out, before_release);
      }
      continue;
    }
    // kWriting: a producer claimed pos and has not committed. Wait, unless it has
    // blocked us for a while and is proved dead: then take the slot over unread.
    const auto who =
        claimer_of(state, s->claim.load(std::memory_order_relaxed), pos, Role::kProducer);
    if (!stuck_claimer_dead(this, state, who)) return {};
    // Straight to free for the next lap: never through reading(pos, me), which a
    // producer a lap later would take for a dead consumer's whole message if we died
    // in between, and publish again.
    if (!s->state.compare_exchange_strong(state, make_state(lap_of(pos) + capacity, 0, kFree),
                                          std::memory_order_acq_rel, std::memory_order_relaxed)) {
      continue;
    }
    auto seen = pos;
    advance(dequeue_pos_, seen);
    abandoned_.fetch_add(1, std::memory_order_relaxed);
    return {PopStatus::kAbandoned, 0, who};
  }
}

bool MpmcRing::push_for(std::span<const std::byte> msg, std::chrono::nanoseconds timeout) noexcept {
  const bool pushed = try_push(msg) || (msg.size() <= header_.message_size &&
                                        detail::retry_until(wait_.writable, timeout, [&] {
                                          return push_once(msg) == TryOutcome::kDone;
                                        }));
  if (pushed) detail::wake(wait_.readable);
  return pushed;
}

// An abandoned slot is released too: either way a producer may have room now.
PopResult MpmcRing::pop_for(std::span<std::byte> out, std::chrono::nanoseconds timeout,
                            BeforeRelease before_release) noexcept {
  auto r = try_pop(out, before_release);
  if (r.status == PopStatus::kEmpty && out.size() >= header_.message_size) {
    (void)detail::retry_until(wait_.readable, timeout, [&] {
      r = pop_once(out, before_release);
      return r.status != PopStatus::kEmpty;
    });
  }
  if (r.status != PopStatus::kEmpty) detail::wake(wait_.writable);
  return r;
}

PopResult MpmcRing::take_from_dead_reader(std::span<std::byte> out) noexcept {
  if (out.size() < header_.message_size) return {};
  const auto self = detail::cached_self_identity();
  const std::uint64_t capacity = header_.capacity;
  for (std::uint64_t index = 0; index < capacity; ++index) {
    Slot* s = slot_at_index(index);
    auto state = s->state.load(std::memory_order_acquire);
    if (kind_of(state) != kReading) continue;
    const std::uint64_t lap = state >> (kPidBits + kKindBits);  // (its low kSeqBits)
    const std::uint64_t pos = lap + index;
    const auto who =
        claimer_of(state, s->claim.load(std::memory_order_relaxed), pos, Role::kConsumer);
    if (who.pid == self.pid || liveness(who) != Liveness::kDead) continue;
    // Take the claim over, as a producer publishing it again would (one of us wins).
    if (!s->state.compare_exchange_strong(
            state, make_state(lap, static_cast<std::uint32_t>(self.pid), kReading),
            std::memory_order_acquire, std::memory_order_relaxed)) {
      continue;
    }
    s->claim.store(make_claim(self.start_time, pos, Role::kConsumer), std::memory_order_relaxed);
    const auto size = s->length;
    if (size > header_.message_size) detail::ring_invariant_broken("MpmcRing slot length");
    detail::copy_message(out, s->payload(), size);
    s->state.store(make_state(lap + capacity, 0, kFree), std::memory_order_release);
    redelivered_.fetch_add(1, std::memory_order_relaxed);
    return {PopStatus::kOk, size, who};
  }
  return {};
}

RingConfig MpmcRing::config() const noexcept { return {header_.capacity, header_.message_size}; }

RingStats MpmcRing::stats() const noexcept {
  RingStats s;
  s.pushes = enqueue_pos_.load(std::memory_order_relaxed);
  s.pops = dequeue_pos_.load(std::memory_order_relaxed);
  s.full_events = full_events_.load(std::memory_order_relaxed);
  s.empty_events = empty_events_.load(std::memory_order_relaxed);
  s.abandoned = abandoned_.load(std::memory_order_relaxed);
  s.redelivered = redelivered_.load(std::memory_order_relaxed);
  detail::add_wait_stats(s, wait_);
  return s;
}

std::uint64_t MpmcRing::claimed_by(std::int32_t pid) const noexcept {
  const auto* slots = reinterpret_cast<const std::byte*>(this) + header_.slots_offset;
  std::uint64_t claimed = 0;
  for (std::uint64_t i = 0; i < header_.capacity; ++i) {
    const auto* s = std::launder(reinterpret_cast<const Slot*>(slots + i * header_.slot_stride));
    const std::uint64_t state = s->state.load(std::memory_order_relaxed);
    const Kind kind = kind_of(state);
    if ((kind == kWriting || kind == kReading) && pid_of(state) == pid) ++claimed;
  }
  return claimed;
}

const char* MpmcRing::inconsistency() const noexcept {
  const auto* slots = reinterpret_cast<const std::byte*>(this) + header_.slots_offset;
  for (std::uint64_t i = 0; i < header_.capacity; ++i) {
    const auto* s = std::launder(reinterpret_cast<const Slot*>(slots + i * header_.slot_stride));
    const Kind kind = kind_of(s->state.load(std::memory_order_acquire));
    if ((kind == kFull || kind == kReading) && s->length > header_.message_size) {
      return "MpmcRing slot length past message_size";
    }
  }
  return nullptr;
}

}  // namespace shmcheck::core
