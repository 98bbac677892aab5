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
// Memory ordering: a message is published by one release store of its slot's
// commit word (sequence number + length) after the payload; the consumer loads
// that word with acquire before copying out. The consumer frees slots with a
// release store of its head index, which the producer reads (acquire) only when
// its cached copy says the ring is full. Each side writes only its own cache line
// and the slots; the header line is read-only after creation.
//
// Crashes: a producer killed anywhere before its commit store published nothing:
// the message is simply not there. A restarted producer attaches and continues
// from the shared tail (if its predecessor died between the commit store and the
// tail store, the next push sees the committed slot and skips past it, so the
// message is delivered once). A consumer killed after copying a message but before
// releasing the slot did not advance head: the restarted consumer reads that
// message again (at-least-once; the integrity checker reports it as a recovered
// duplicate). SpscRing never reports PopStatus::kAbandoned.
#pragma once

#include <atomic>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
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
  // Builds an empty ring at mem (64-byte aligned, at least bytes_needed bytes).
  [[nodiscard]] static Result<SpscRing*> create_at(void* mem, std::size_t bytes,
                                                   const RingConfig& config) noexcept;
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
  // Consumer. out must hold message_size bytes (else kEmpty, nothing consumed).
  [[nodiscard]] PopResult try_pop(std::span<std::byte> out) noexcept;

  // Like try_*, but wait up to timeout: spin first, then sched_yield, then short sleeps.
  [[nodiscard]] bool push_for(std::span<const std::byte> msg,
                              std::chrono::nanoseconds timeout) noexcept;
  [[nodiscard]] PopResult pop_for(std::span<std::byte> out,
                                  std::chrono::nanoseconds timeout) noexcept;

  [[nodiscard]] RingConfig config() const noexcept;
  // pushes = tail, pops = head; abandoned is always 0.
  [[nodiscard]] RingStats stats() const noexcept;

 private:
  explicit SpscRing(const RingConfig& config) noexcept;

  // The hot path is inline (below) so a caller's push/pop compiles to a few loads,
  // moves and stores, like a minimal ring's.
  static constexpr std::size_t kCommitWordSize = sizeof(std::uint64_t);
  static constexpr std::uint64_t commit_word(std::uint64_t index, std::uint32_t length) noexcept {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(index + 1)) << 32) | length;
  }
  static constexpr bool is_committed(std::uint64_t word, std::uint64_t index) noexcept {
    return static_cast<std::uint32_t>(word >> 32) == static_cast<std::uint32_t>(index + 1);
  }
  static std::atomic<std::uint64_t>& word_of(std::byte* slot) noexcept {
    return *std::launder(reinterpret_cast<std::atomic<std::uint64_t>*>(slot));
  }
  bool push_once(std::span<const std::byte> msg) noexcept;
  PopResult pop_once(std::span<std::byte> out) noexcept;
  [[nodiscard]] std::byte* slot(std::uint64_t index) noexcept;

  detail::RingHeader header_;
  // Producer's line: written by the producer only.
  alignas(kCacheLineSize) std::atomic<std::uint64_t> tail_{0};  // next index to write
  std::atomic<std::uint64_t> head_cache_{0};  // last head seen: stale is safe (head grows)
  std::atomic<std::uint64_t> full_events_{0};
  // Consumer's line: written by the consumer only; the producer reads head_ when full.
  alignas(kCacheLineSize) std::atomic<std::uint64_t> head_{0};  // next index to read
  std::atomic<std::uint64_t> empty_events_{0};
  // Slots follow at header_.slots_offset: [commit word: seq32 << 32 | length][payload].
};

static_assert(std::is_standard_layout_v<SpscRing>);
static_assert(alignof(SpscRing) == kCacheLineSize);
static_assert(sizeof(SpscRing) == 3 * kCacheLineSize);

inline std::byte* SpscRing::slot(std::uint64_t index) noexcept {
  return reinterpret_cast<std::byte*>(this) + header_.slots_offset +
         (index & (header_.capacity - 1)) * header_.slot_stride;
}

// Slot layout: [commit word][payload]. The commit word holds the low 32 bits of
// index + 1 (the sequence) in its upper half and the message length in its lower
// half, so the consumer learns "published" and "how long" from one acquire load in
// the slot's own cache line. A slot is rewritten every lap, so its word is at most
// one lap old and 32 bits of sequence never alias (capacity <= 2^20).
inline bool SpscRing::push_once(std::span<const std::byte> msg) noexcept {
  const std::uint64_t capacity = header_.capacity;
  auto t = tail_.load(std::memory_order_acquire);
  std::byte* s = slot(t);
  // A predecessor producer that died between its commit store and its tail store
  // left slot t published: take the tail past it (it is delivered, once).
  while (is_committed(word_of(s).load(std::memory_order_acquire), t)) [[unlikely]] {
      ++t;
      tail_.store(t, std::memory_order_release);
      s = slot(t);
    }
  if (t - head_cache_.load(std::memory_order_relaxed) >= capacity) {
    // Cache says full: look at the real head (the only read of the consumer's line).
    const auto head = head_.load(std::memory_order_acquire);
    head_cache_.store(head, std::memory_order_relaxed);
    if (t - head >= capacity) return false;
  }
  std::byte* payload = s + kCommitWordSize;
  if (detail::g_failpoints_armed.load(std::memory_order_relaxed)) [[unlikely]] {
    detail::write_payload_with_failpoints(payload, msg);
  } else {
    detail::copy_bytes(payload, msg.data(), msg.size());
  }
  word_of(s).store(commit_word(t, static_cast<std::uint32_t>(msg.size())),
                   std::memory_order_release);
  // Between the commit and the tail store on purpose: a producer killed here leaves
  // the one state the restart path above has to repair.
  failpoint(FailpointId::kRingPushAfterCommit);
  tail_.store(t + 1, std::memory_order_release);
  return true;
}

inline PopResult SpscRing::pop_once(std::span<std::byte> out) noexcept {
  const auto h = head_.load(std::memory_order_relaxed);  // only the consumer writes it
  std::byte* s = slot(h);
  const auto word = word_of(s).load(std::memory_order_acquire);
  if (!is_committed(word, h)) return {};
  failpoint(FailpointId::kRingPopAfterClaim);
  const auto size = static_cast<std::uint32_t>(word);
  if (size > header_.message_size) [[unlikely]] {
    detail::ring_invariant_broken("SpscRing slot length");
  }
  detail::copy_bytes(out.data(), s + kCommitWordSize, size);
  failpoint(FailpointId::kRingPopBeforeRelease);
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

inline PopResult SpscRing::try_pop(std::span<std::byte> out) noexcept {
  if (out.size() < header_.message_size) [[unlikely]] {
    assert(false && "SpscRing::try_pop: out shorter than message_size");
    return {};
  }
  const auto r = pop_once(out);
  if (r.status == PopStatus::kEmpty) {
    empty_events_.store(empty_events_.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
  }
  return r;
}

}  // namespace shmcheck::core
