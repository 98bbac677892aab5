// SpscRing: a bounded single-producer single-consumer queue of fixed-size
// messages that lives in shared memory and works across processes.
//
// Who: one process calls create_at() on zeroed or fresh memory it owns (a Segment
// payload, a MAP_SHARED mapping); others attach() to the same bytes, which
// validates the layout header. Nobody destroys the ring: it is trivially
// destructible and dies with its memory. At most one producer and one consumer
// use it at a time (one thread each); which process plays which role is the
// caller's business, and either role may be restarted in another process.
//
// Memory ordering (the cached-index design of the fastest SPSC rings): the producer
// writes a message's length and payload with plain stores, then publishes it with
// one release store of tail; the consumer learns what is available from its own
// cached copy of tail and loads the real tail (acquire) only when that copy says
// the ring is empty. Symmetrically the consumer frees slots with a release store of
// head, which the producer reads (acquire) only when its cached copy says full. So
// per message each side touches only its own cache line, the payload and the length
// table, and the lines holding them cross between CPUs once per batch, not once per
// message. The length table is written only when a slot's length changes, so with
// messages of one size it stays shared in both caches. The header line is read-only
// after creation.
//
// Crashes: the tail store is the commit. A producer killed anywhere before it
// published nothing: the message is simply not there, and a restarted producer
// attaches and overwrites that slot from the shared tail. A producer killed after it
// published a whole message, which is delivered once. A consumer killed after
// copying a message but before releasing the slot did not advance head: the
// restarted consumer reads that message again (at-least-once). A consumer that
// records each delivery in BeforeRelease (ring.hpp) therefore never loses one: what it
// recorded and did not release comes again, a duplicate its crash explains. The cached copies are
// stale-safe (the real indices only grow), so a role restarted in another process needs no repair.
// SpscRing never reports PopStatus::kAbandoned.
#pragma once

#include <atomic>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <span>
#include <type_traits>

#include "shmcheck/core/detail/ring_layout.hpp"
#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/core/ring.hpp"

namespace shmcheck::core {

class SpscRing {
 public:
  // Bytes of shared memory a ring with this config needs (0 if config is invalid).
  [[nodiscard]] static std::size_t bytes_needed(const RingConfig& config) noexcept;
  // Builds an empty ring at mem (64-byte aligned, at least bytes_needed bytes); with
  // RingMemory::kZeroed, mem must read all zero (a segment just created).
  [[nodiscard]] static Result<SpscRing*> create_at(void* mem, std::size_t bytes,
                                                   const RingConfig& config,
                                                   RingMemory memory = RingMemory::kAny) noexcept;
  // Validates the header (kForeign: not a SpscRing; kCorrupt: inconsistent layout).
  [[nodiscard]] static Result<SpscRing*> attach(void* mem, std::size_t bytes) noexcept;

  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;
  SpscRing(SpscRing&&) = delete;
  SpscRing& operator=(SpscRing&&) = delete;
  ~SpscRing() = default;

  // Producer. False when the ring is full (or, a precondition violation that asserts
  // in debug builds, when msg is longer than message_size).
  [[nodiscard]] bool try_push(std::span<const std::byte> msg) noexcept;
  // Consumer. out must hold message_size bytes (else kEmpty, nothing consumed). Every
  // pop calls before_release (ring.hpp) between its copy and its release.
  [[nodiscard]] PopResult try_pop(std::span<std::byte> out,
                                  BeforeRelease before_release = {}) noexcept;

  // Bursts: many messages per index store (as Boost.Lockfree's spsc_queue pushes and
  // pops ranges), for callers that have several messages at hand; across processes
  // at 8 B they move about 1.7x the messages of one-at-a-time calls. The messages of
  // a burst are published by one tail store: a producer killed during a burst
  // published all of it or none. Bursts and single calls mix freely.
  //
  // Producer: msgs holds messages of msg_size bytes each (1 <= msg_size <=
  // message_size; otherwise 0 and an assert in debug builds), back to back. Pushes as
  // many as fit, in order, and returns how many (0: full).
  [[nodiscard]] std::size_t try_push_burst(std::span<const std::byte> msgs,
                                           std::size_t msg_size) noexcept;
  // Consumer: pops up to min(out.size() / message_size, sizes.size()) messages, in
  // order; message i lands at out[i * message_size] and its length in sizes[i] (no
  // byte past it is written). Returns how many (0: empty, or no room for one).
  [[nodiscard]] std::size_t try_pop_burst(std::span<std::byte> out, std::span<std::uint32_t> sizes,
                                          BeforeRelease before_release = {}) noexcept;
  // Like try_*_burst, but wait up to timeout (as push_for / pop_for do) for room for at
  // least one message / at least one message; then move as many as fit / are there.
  [[nodiscard]] std::size_t push_burst_for(std::span<const std::byte> msgs, std::size_t msg_size,
                                           std::chrono::nanoseconds timeout) noexcept;
  [[nodiscard]] std::size_t pop_burst_for(std::span<std::byte> out, std::span<std::uint32_t> sizes,
                                          std::chrono::nanoseconds timeout,
                                          BeforeRelease before_release = {}) noexcept;

  // Like try_*, but wait up to timeout: spin first, then sched_yield, then sleep until
  // the other side moves a message (or a short timeout, at most 200 us, passes). A
  // sleeper is woken by push_for/pop_for and every burst call on the other side;
  // try_push and try_pop stay a few instructions and wake nobody, so a sleeper facing
  // them sees their messages at its next timed look. A zero timeout is one try that
  // wakes the other side's sleepers if it moved a message (a non-blocking call for a
  // caller that waits elsewhere).
  [[nodiscard]] bool push_for(std::span<const std::byte> msg,
                              std::chrono::nanoseconds timeout) noexcept;
  [[nodiscard]] PopResult pop_for(std::span<std::byte> out, std::chrono::nanoseconds timeout,
                                  BeforeRelease before_release = {}) noexcept;

  [[nodiscard]] RingConfig config() const noexcept;
  // pushes = tail, pops = head; abandoned is always 0.
  [[nodiscard]] RingStats stats() const noexcept;
  // For a reader that cannot trust the ring's memory (the harness draining what its
  // workers left): the first invariant the operations rely on that the shared state
  // breaks, or nullptr. The operations abort on a broken one (a worker's crash says
  // so), or, past a cached index, would read the same slots for ever. Call it only
  // while no producer or consumer runs.
  [[nodiscard]] const char* inconsistency() const noexcept;

 private:
  explicit SpscRing(const RingConfig& config) noexcept;

  // The hot path is inline (below) so a caller's push/pop compiles to a few loads,
  // moves and stores, like a minimal ring's. While any failpoint is armed in this
  // process, push and pop take the out-of-line *_with_failpoints path instead.
  bool push_once(std::span<const std::byte> msg) noexcept;
  PopResult pop_once(std::span<std::byte> out, BeforeRelease before_release) noexcept;
  bool push_with_failpoints(std::uint64_t tail, std::span<const std::byte> msg) noexcept;
  PopResult pop_with_failpoints(std::uint64_t head, std::span<std::byte> out,
                                BeforeRelease before_release) noexcept;
  // Every burst call: one try (one full / empty event if it moves nothing), then, given a
  // timeout, tries between waits; the other side's sleepers are woken if anything moved.
  std::size_t push_burst(std::span<const std::byte> msgs, std::size_t msg_size,
                         std::optional<std::chrono::nanoseconds> timeout) noexcept;
  std::size_t pop_burst(std::span<std::byte> out, std::span<std::uint32_t> sizes,
                        std::optional<std::chrono::nanoseconds> timeout,
                        BeforeRelease before_release) noexcept;
  // Bursts: how many messages a call asks for (0 for a bad msg_size, which asserts in
  // debug builds); one try that moves up to `wanted` (no counter, no wake-up).
  [[nodiscard]] std::uint64_t burst_wanted(std::span<const std::byte> msgs,
                                           std::size_t msg_size) const noexcept;
  [[nodiscard]] std::uint64_t burst_wanted(std::span<std::byte> out,
                                           std::span<std::uint32_t> sizes) const noexcept;
  std::size_t push_burst_once(const std::byte* msgs, std::uint64_t wanted,
                              std::size_t msg_size) noexcept;
  std::size_t pop_burst_once(std::uint64_t wanted, std::byte* out, std::uint32_t* sizes,
                             BeforeRelease before_release) noexcept;
  // Bursts: writes / reads n slots from index `first` (no index store).
  void write_burst(std::uint64_t first, const std::byte* msgs, std::uint64_t n,
                   std::size_t msg_size) noexcept;
  void read_burst(std::uint64_t first, std::uint64_t n, std::byte* out,
                  std::uint32_t* sizes) noexcept;
  void push_burst_with_failpoints(std::uint64_t tail, const std::byte* msgs, std::uint64_t n,
                                  std::size_t msg_size) noexcept;
  void pop_burst_with_failpoints(std::uint64_t head, std::uint64_t n, std::byte* out,
                                 std::uint32_t* sizes, BeforeRelease before_release) noexcept;
  [[nodiscard]] std::byte* payload(std::uint64_t index) noexcept;
  [[nodiscard]] std::uint32_t& length(std::uint64_t index) noexcept;
  [[nodiscard]] std::uint32_t length(std::uint64_t index) const noexcept;
  static void store_length(std::uint32_t& entry, std::size_t size) noexcept;

  detail::RingHeader header_;
  // Producer's line: written by the producer only; the consumer reads tail_ when its
  // cache runs dry.
  alignas(kCacheLineSize) std::atomic<std::uint64_t> tail_{0};  // next index to write
  std::atomic<std::uint64_t> head_cache_{0};  // last head seen: stale is safe (head grows)
  std::atomic<std::uint64_t> full_events_{0};
  // Consumer's line: written by the consumer only; the producer reads head_ when full.
  alignas(kCacheLineSize) std::atomic<std::uint64_t> head_{0};  // next index to read
  std::atomic<std::uint64_t> tail_cache_{0};  // last tail seen: stale is safe (tail grows)
  std::atomic<std::uint64_t> empty_events_{0};
  // Where push_for and pop_for sleep (written only when one does).
  detail::RingWaitLine wait_{};
  // Then the length table (one uint32_t per slot, from sizeof(SpscRing), padded to a
  // cache line) and the payloads at header_.slots_offset, header_.slot_stride apart: a
  // length of its own keeps an 8-byte message in 8 bytes and a 1 KiB one line-aligned.
};

static_assert(std::is_standard_layout_v<SpscRing>);
static_assert(alignof(SpscRing) == kCacheLineSize);
static_assert(sizeof(SpscRing) == 4 * kCacheLineSize);

inline std::byte* SpscRing::payload(std::uint64_t index) noexcept {
  return reinterpret_cast<std::byte*>(this) + header_.slots_offset +
         (index & (header_.capacity - 1)) * header_.slot_stride;
}

inline std::uint32_t& SpscRing::length(std::uint64_t index) noexcept {
  return *std::launder(reinterpret_cast<std::uint32_t*>(reinterpret_cast<std::byte*>(this + 1)) +
                       (index & (header_.capacity - 1)));
}

inline std::uint32_t SpscRing::length(std::uint64_t index) const noexcept {
  return *std::launder(
      reinterpret_cast<const std::uint32_t*>(reinterpret_cast<const std::byte*>(this + 1)) +
      (index & (header_.capacity - 1)));
}

// A length is stored only when it differs from the one the slot's entry holds from
// the lap before: with messages of one size (the common case) the table is never
// written after the first lap, so its lines stay shared in both CPUs' caches instead
// of crossing once per 16 messages (across processes at 8 B: 57 -> 76 M msg/s in a
// slow phase of this VM, as fast as with no lengths at all). The consumer still reads
// the right value: the entry was written before an earlier tail store it acquired.
inline void SpscRing::store_length(std::uint32_t& entry, std::size_t size) noexcept {
  const auto n = static_cast<std::uint32_t>(size);
  if (entry != n) entry = n;
}

// Every read of the header comes before the first store: a store through a byte or
// uint32_t pointer could alias the header as far as the compiler knows, and would make
// it load the layout again.
inline bool SpscRing::push_once(std::span<const std::byte> msg) noexcept {
  const auto t = tail_.load(std::memory_order_relaxed);  // only the producer writes it
  const std::uint64_t capacity = header_.capacity;
  if (t - head_cache_.load(std::memory_order_relaxed) >= capacity) {
    // Cache says full: look at the real head (the only read of the consumer's line).
    const auto head = head_.load(std::memory_order_acquire);
    head_cache_.store(head, std::memory_order_relaxed);
    if (t - head >= capacity) return false;
  }
  std::byte* const slot = payload(t);
  std::uint32_t& slot_length = length(t);
  if (failpoints_armed()) [[unlikely]] {
    return push_with_failpoints(t, msg);
  }
  store_length(slot_length, msg.size());
  detail::copy_bytes(slot, msg.data(), msg.size());
  tail_.store(t + 1, std::memory_order_release);  // the commit
  return true;
}

inline PopResult SpscRing::pop_once(std::span<std::byte> out,
                                    BeforeRelease before_release) noexcept {
  const auto h = head_.load(std::memory_order_relaxed);  // only the consumer writes it
  if (h >= tail_cache_.load(std::memory_order_relaxed)) {
    // Cache says empty: look at the real tail (the only read of the producer's line).
    const auto tail = tail_.load(std::memory_order_acquire);
    tail_cache_.store(tail, std::memory_order_relaxed);
    if (tail == h) return {};
    if (tail - h > header_.capacity) [[unlikely]] {
      detail::ring_invariant_broken("SpscRing tail and head more than a lap apart");
    }
  }
  const std::byte* const slot = payload(h);
  const std::uint32_t message_size = header_.message_size;
  if (failpoints_armed()) [[unlikely]] {
    return pop_with_failpoints(h, out, before_release);
  }
  const auto size = length(h);
  if (size > message_size) [[unlikely]] {
    detail::ring_invariant_broken("SpscRing slot length");
  }
  detail::copy_message(out, slot, size);
  before_release(Taken{std::span(&size, 1)});
  // Release: the producer may overwrite the slot only after our copy.
  head_.store(h + 1, std::memory_order_release);
  return {PopStatus::kOk, size, {}};
}

inline bool SpscRing::try_push(std::span<const std::byte> msg) noexcept {
  if (msg.size() > header_.message_size) [[unlikely]] {
    assert(false && "SpscRing::try_push: message longer than message_size");
    return false;
  }
  if (push_once(msg)) [[likely]]
    return true;
  full_events_.store(full_events_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return false;
}

// One PopResult, one return: with an early `return {}` for the short buffer GCC 12
// built the 24-byte result on the stack in pieces and reloaded it whole (a failed
// store-to-load forward on every pop), which made the consumer the slower side and
// cost 8 B throughput 2.5x (73 vs 183 M msg/s across processes).
inline PopResult SpscRing::try_pop(std::span<std::byte> out,
                                   BeforeRelease before_release) noexcept {
  PopResult r;
  if (out.size() >= header_.message_size) [[likely]] {
    r = pop_once(out, before_release);
    if (r.status == PopStatus::kEmpty) {
      empty_events_.store(empty_events_.load(std::memory_order_relaxed) + 1,
                          std::memory_order_relaxed);
    }
  } else {
    assert(false && "SpscRing::try_pop: out shorter than message_size");
  }
  return r;
}

}  // namespace shmcheck::core
