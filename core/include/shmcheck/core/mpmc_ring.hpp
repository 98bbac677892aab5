// MpmcRing: a bounded multi-producer multi-consumer queue of fixed-size messages
// in shared memory, across processes, that a crashed participant cannot wedge.
//
// Who: one process calls create_at() on memory it owns (a Segment payload, a
// MAP_SHARED mapping); any number of processes attach() (header validated) and
// push/pop from any number of threads. Nobody destroys the ring: it is trivially
// destructible and dies with its memory.
//
// Algorithm: Vyukov's bounded queue with the per-slot sequence word turned into
// a state word {lap sequence:40, claimer pid:22, state:2} (free, writing, full,
// reading). The sequence is the first position of the lap (pos with its slot bits
// clear, Vyukov's per-slot sequence minus the slot's index), so an all-zero slot is
// free for its first producer and a ring in fresh, zeroed memory needs no slot written
// (RingMemory::kZeroed). A producer claims slot `pos` with one CAS free(pos) ->
// writing(pos, pid) and then helps enqueue_pos past it; a consumer claims with
// full(pos) -> reading(pos, pid). Because the claimer's pid is part of the claiming CAS there is
// no instant at which a slot is claimed by nobody. Right after the claim the
// claimer stores its start time into the slot (a plain store of a cached value,
// no syscall), so its identity is pid + start time.
//
// Memory ordering: payload and length are written before the release store of
// full(pos); the consumer's claiming CAS is acquire. The consumer's release store
// of free(pos + capacity) orders its payload reads before the next producer's
// acquire claim. Index counters are helped forward with CAS (relaxed: the slot
// words carry all synchronization).
//
// Crashes: a slot stuck in writing(pos, pid) is not skipped lightly. Only after a
// consumer has waited on it for a while (kStuckCheckAfter, then at most once per
// kStuckCheckAfter) it asks core::liveness() -- /proc proof, never kill(pid, 0) --
// and only Liveness::kDead lets it take the slot over: it releases the slot without
// reading it and returns PopStatus::kAbandoned with the claimer, so the lost message
// is reported and never half-delivered. kUnknown and kAlive (e.g. a SIGSTOPped
// producer) keep it waiting. A producer that finds a slot stuck in reading(pos, pid)
// by a consumer proved dead (a lap later, at pos + capacity) publishes the message
// again, in place: the payload is whole, as a consumer only reads it. It claims the
// slot for its own position, names the dead consumer in the slot, commits, and goes
// on with its own message at the next position; the consumer that takes the message
// gets the dead one's pid in PopResult::claimer (RingStats::redelivered counts them).
// So a consumer crash is at-least-once, as in SpscRing: a message its dead consumer
// had not recorded arrives late (after its producer's next ones); one it had recorded
// (in BeforeRelease, ring.hpp) arrives twice, and the claimer says why. What a dead
// consumer holds when no producer comes round again stays in its slot until a drain
// takes it (take_from_dead_reader). A producer killed after its commit store delivered
// its message: it was in the ring. Each producer's messages reach any one consumer in
// the order they were pushed, but for such a message published again.
// Limits: the claimer is a process (pid in the caller's pid namespace), so a thread
// that dies alone is not detected; if a claimer died between its claim and its
// start-time store and its pid was reused meanwhile, the slot waits for the pid's
// new owner to exit (the pid-only check is the best proof available then).
#pragma once

#include <atomic>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <span>
#include <type_traits>

#include "shmcheck/core/detail/mpmc_slot.hpp"
#include "shmcheck/core/detail/ring_layout.hpp"
#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/core/ring.hpp"

namespace shmcheck::core {

class MpmcRing {
 public:
  // A claimer that has blocked a slot this long gets its liveness checked.
  static constexpr std::chrono::microseconds kStuckCheckAfter{500};

  // Bytes of shared memory a ring with this config needs (0 if config is invalid).
  [[nodiscard]] static std::size_t bytes_needed(const RingConfig& config) noexcept;
  // Builds an empty ring at mem (64-byte aligned, at least bytes_needed bytes); with
  // RingMemory::kZeroed, mem must read all zero (a segment just created).
  [[nodiscard]] static Result<MpmcRing*> create_at(void* mem, std::size_t bytes,
                                                   const RingConfig& config,
                                                   RingMemory memory = RingMemory::kAny) noexcept;
  // Validates the header (kForeign: not an MpmcRing; kCorrupt: inconsistent layout).
  [[nodiscard]] static Result<MpmcRing*> attach(void* mem, std::size_t bytes) noexcept;

  MpmcRing(const MpmcRing&) = delete;
  MpmcRing& operator=(const MpmcRing&) = delete;
  MpmcRing(MpmcRing&&) = delete;
  MpmcRing& operator=(MpmcRing&&) = delete;
  ~MpmcRing() = default;

  // False when the ring is full (or, a precondition violation that asserts in debug
  // builds, when msg is longer than message_size).
  [[nodiscard]] bool try_push(std::span<const std::byte> msg) noexcept;
  // out must hold message_size bytes (else kEmpty, nothing consumed). A pop that takes a
  // message calls before_release (ring.hpp) between its copy and its release.
  [[nodiscard]] PopResult try_pop(std::span<std::byte> out,
                                  BeforeRelease before_release = {}) noexcept;

  // Like try_*, but wait up to timeout: spin first, then sched_yield, then sleep until
  // the other side moves a message (or a short timeout, at most 200 us, passes). A
  // sleeper is woken by push_for/pop_for on the other side (an abandoned slot's release
  // too); try_push and try_pop wake nobody, so a sleeper facing them sees their
  // messages at its next timed look. A zero timeout is one try that wakes the other
  // side's sleepers if it moved a message (a non-blocking call for a caller that waits
  // elsewhere).
  [[nodiscard]] bool push_for(std::span<const std::byte> msg,
                              std::chrono::nanoseconds timeout) noexcept;
  [[nodiscard]] PopResult pop_for(std::span<std::byte> out, std::chrono::nanoseconds timeout,
                                  BeforeRelease before_release = {}) noexcept;

  // For whoever drains the ring once its consumers have ended: takes the message of a
  // slot a consumer proved dead (core::liveness) claimed and never released, which no
  // producer has come round to publish again, as a pop would (kOk, claimer = the dead
  // consumer, counted in RingStats::redelivered). kEmpty when there is none. Looks at
  // every slot: not for the hot path.
  [[nodiscard]] PopResult take_from_dead_reader(std::span<std::byte> out) noexcept;

  [[nodiscard]] RingConfig config() const noexcept;
  // pushes = claims by producers (abandoned and in-flight included), pops = claims by
  // consumers (abandoned slots included).
  [[nodiscard]] RingStats stats() const noexcept;
  // Slots that process `pid` has claimed and not yet committed (a producer) or
  // released (a consumer). While it holds one, consumers cannot pass it: a claimer
  // stopped there (SIGSTOP, a debugger) holds the whole ring still until it goes on.
  // Reads every slot's state (relaxed): for a supervisor looking at a stopped
  // process, not for the hot path.
  [[nodiscard]] std::uint64_t claimed_by(std::int32_t pid) const noexcept;
  // For a reader that cannot trust the ring's memory (the harness draining what its
  // workers left): the first invariant the operations rely on that the shared state
  // breaks (a committed or claimed slot's length past message_size, on which they
  // abort), or nullptr. Reads every slot. Call it only while no producer or consumer runs.
  [[nodiscard]] const char* inconsistency() const noexcept;

 private:
  explicit MpmcRing(const RingConfig& config) noexcept;

  using Slot = detail::MpmcSlot;
  enum class TryOutcome { kDone, kWouldBlock };
  // Inline fast paths (below): one uncontended claim, no loop, no clock, no syscall.
  // Everything else -- contention, helping the counters, stuck claimers -- is in the
  // out-of-line *_contended functions.
  TryOutcome push_once(std::span<const std::byte> msg) noexcept;
  TryOutcome push_contended(std::span<const std::byte> msg) noexcept;
  PopResult pop_once(std::span<std::byte> out, BeforeRelease before_release) noexcept;
  PopResult pop_contended(std::span<std::byte> out, BeforeRelease before_release) noexcept;
  // After a successful producer claim of pos: record the claimer, write, commit.
  void fill_claimed(Slot* s, std::uint64_t pos, std::uint64_t lap, const ProcessIdentity& self,
                    std::span<const std::byte> msg) noexcept;
  // After a successful consumer claim of a full pos: record, copy out, release.
  PopResult take_claimed(Slot* s, std::uint64_t pos, std::uint64_t lap, const ProcessIdentity& self,
                         std::span<std::byte> out, BeforeRelease before_release) noexcept;
  // The rest of fill_claimed / take_claimed while a failpoint is armed in this process
  // (the fast paths check once per operation and branch here): the same steps with
  // every ring failpoint between them.
  void fill_with_failpoints(Slot* s, std::uint64_t pos, std::span<const std::byte> msg) noexcept;
  PopResult take_with_failpoints(Slot* s, std::uint64_t pos, std::span<std::byte> out,
                                 BeforeRelease before_release) noexcept;
  // Moves a shared position counter from pos to pos + 1 unless someone already did;
  // either way pos ends up at a position worth looking at.
  static void advance(std::atomic<std::uint64_t>& counter, std::uint64_t& pos) noexcept {
    if (counter.compare_exchange_strong(pos, pos + 1, std::memory_order_relaxed)) ++pos;
  }
  [[nodiscard]] Slot* slot(std::uint64_t pos) noexcept;
  [[nodiscard]] Slot* slot_at_index(std::uint64_t index) noexcept;
  // The first position of pos's lap (pos with its slot bits clear): what a state word
  // holds as its sequence.
  [[nodiscard]] std::uint64_t lap_of(std::uint64_t pos) const noexcept;

  detail::RingHeader header_;
  // Producers' line.
  alignas(kCacheLineSize) std::atomic<std::uint64_t> enqueue_pos_{0};
  // Consumers' line.
  alignas(kCacheLineSize) std::atomic<std::uint64_t> dequeue_pos_{0};
  // Event counters, off the hot lines: touched only when full, empty or abandoned.
  alignas(kCacheLineSize) std::atomic<std::uint64_t> full_events_{0};
  std::atomic<std::uint64_t> empty_events_{0};
  std::atomic<std::uint64_t> abandoned_{0};
  std::atomic<std::uint64_t> redelivered_{0};
  // Where push_for and pop_for sleep (written only when one does).
  detail::RingWaitLine wait_{};
  // Slots follow at header_.slots_offset: [state][claimer start time + pos tag][length][payload].
};

static_assert(std::is_standard_layout_v<MpmcRing>);
static_assert(alignof(MpmcRing) == kCacheLineSize);
static_assert(sizeof(MpmcRing) == 5 * kCacheLineSize);

inline std::uint64_t MpmcRing::lap_of(std::uint64_t pos) const noexcept {
  return pos & ~std::uint64_t{header_.capacity - 1};
}

inline MpmcRing::Slot* MpmcRing::slot_at_index(std::uint64_t index) noexcept {
  return std::launder(reinterpret_cast<Slot*>(reinterpret_cast<std::byte*>(this) +
                                              header_.slots_offset + index * header_.slot_stride));
}

inline MpmcRing::Slot* MpmcRing::slot(std::uint64_t pos) noexcept {
  return slot_at_index(pos & (header_.capacity - 1));
}

inline void MpmcRing::fill_claimed(Slot* s, std::uint64_t pos, std::uint64_t lap,
                                   const ProcessIdentity& self,
                                   std::span<const std::byte> msg) noexcept {
  using namespace detail::mpmc;
  auto seen = pos;
  advance(enqueue_pos_, seen);
  s->claim.store(make_claim(self.start_time, pos, Role::kProducer), std::memory_order_relaxed);
  if (failpoints_armed()) [[unlikely]] {
    fill_with_failpoints(s, pos, msg);
    return;
  }
  detail::copy_bytes(s->payload(), msg.data(), msg.size());
  s->length = static_cast<std::uint32_t>(msg.size());
  s->redelivered_from = 0;
  // Release: payload and length are visible to whoever acquires full(pos).
  s->state.store(make_state(lap, 0, kFull), std::memory_order_release);
}

inline PopResult MpmcRing::take_claimed(Slot* s, std::uint64_t pos, std::uint64_t lap,
                                        const ProcessIdentity& self, std::span<std::byte> out,
                                        BeforeRelease before_release) noexcept {
  using namespace detail::mpmc;
  auto seen = pos;
  advance(dequeue_pos_, seen);
  s->claim.store(make_claim(self.start_time, pos, Role::kConsumer), std::memory_order_relaxed);
  if (failpoints_armed()) [[unlikely]]
    return take_with_failpoints(s, pos, out, before_release);
  const auto size = s->length;
  if (size > header_.message_size) [[unlikely]] {
    detail::ring_invariant_broken("MpmcRing slot length");
  }
  PopResult r{PopStatus::kOk, size, {}};
  if (const std::uint32_t from = s->redelivered_from; from != 0) [[unlikely]] {
    r.claimer.pid = static_cast<std::int32_t>(from);
  }
  detail::copy_message(out, s->payload(), size);
  before_release(Taken{std::span(&size, 1), r.claimer});
  // Release: the next producer of this slot writes only after our copy.
  s->state.store(make_state(lap + header_.capacity, 0, kFree), std::memory_order_release);
  return r;
}

inline MpmcRing::TryOutcome MpmcRing::push_once(std::span<const std::byte> msg) noexcept {
  using namespace detail::mpmc;
  const auto self = detail::cached_self_identity();
  const auto pos = enqueue_pos_.load(std::memory_order_relaxed);
  const auto index = pos & (header_.capacity - 1);
  Slot* s = slot_at_index(index);
  const auto lap = pos - index;  // lap_of(pos)
  auto state = s->state.load(std::memory_order_acquire);
  // Acquire: the previous consumer's reads of this slot happen before our writes.
  if (state == make_state(lap, 0, kFree) &&
      s->state.compare_exchange_strong(
          state, make_state(lap, static_cast<std::uint32_t>(self.pid), kWriting),
          std::memory_order_acquire, std::memory_order_relaxed)) [[likely]] {
    fill_claimed(s, pos, lap, self, msg);
    return TryOutcome::kDone;
  }
  return push_contended(msg);
}

inline PopResult MpmcRing::pop_once(std::span<std::byte> out,
                                    BeforeRelease before_release) noexcept {
  using namespace detail::mpmc;
  const auto pos = dequeue_pos_.load(std::memory_order_relaxed);
  const auto index = pos & (header_.capacity - 1);
  Slot* s = slot_at_index(index);
  const auto lap = pos - index;  // lap_of(pos)
  auto state = s->state.load(std::memory_order_acquire);
  if (state == make_state(lap, 0, kFull)) [[likely]] {
    const auto self = detail::cached_self_identity();
    if (s->state.compare_exchange_strong(
            state, make_state(lap, static_cast<std::uint32_t>(self.pid), kReading),
            std::memory_order_acquire, std::memory_order_relaxed)) [[likely]] {
      return take_claimed(s, pos, lap, self, out, before_release);
    }
  } else if (state == make_state(lap, 0, kFree) || lap_distance(state, lap) < 0) {
    return {};  // empty: the producer of pos has not committed (or not even claimed)
  }
  return pop_contended(out, before_release);
}

inline bool MpmcRing::try_push(std::span<const std::byte> msg) noexcept {
  if (msg.size() > header_.message_size) [[unlikely]] {
    assert(false && "MpmcRing::try_push: message longer than message_size");
    return false;
  }
  if (push_once(msg) == TryOutcome::kDone) [[likely]]
    return true;
  full_events_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

// One PopResult, one return (see SpscRing::try_pop: an early `return {}` made GCC 12
// build the result on the stack and reload it, a failed store forward per pop).
inline PopResult MpmcRing::try_pop(std::span<std::byte> out,
                                   BeforeRelease before_release) noexcept {
  PopResult r;
  if (out.size() >= header_.message_size) [[likely]] {
    r = pop_once(out, before_release);
    if (r.status == PopStatus::kEmpty) empty_events_.fetch_add(1, std::memory_order_relaxed);
  } else {
    assert(false && "MpmcRing::try_pop: out shorter than message_size");
  }
  return r;
}

}  // namespace shmcheck::core
