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
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

#include "shmcheck/core/detail/ring_layout.hpp"
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

}  // namespace shmcheck::core
