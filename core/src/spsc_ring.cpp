#include "shmcheck/core/spsc_ring.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>
#include <string>

#include "ring_internal.hpp"
#include "shmcheck/core/failpoint.hpp"

namespace shmcheck::core {
namespace {

// A slot is [commit word][payload]. The commit word holds the low 32 bits of
// index + 1 (the "sequence") in its upper half and the message length in its lower
// half, so the consumer learns "published" and "how long" from one acquire load in
// the slot's own cache line. A slot is rewritten every lap, so its word is at most
// one lap old and 32 bits of sequence never alias.
constexpr std::size_t kCommitWordSize = sizeof(std::uint64_t);

constexpr std::uint32_t slot_stride(const RingConfig& config) noexcept {
  return static_cast<std::uint32_t>(detail::round_up(kCommitWordSize + config.message_size, 8));
}

constexpr std::uint64_t commit_word(std::uint64_t index, std::uint32_t length) noexcept {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(index + 1)) << 32) | length;
}

constexpr bool is_committed(std::uint64_t word, std::uint64_t index) noexcept {
  return static_cast<std::uint32_t>(word >> 32) == static_cast<std::uint32_t>(index + 1);
}

std::atomic<std::uint64_t>& word_of(std::byte* slot) noexcept {
  return *std::launder(reinterpret_cast<std::atomic<std::uint64_t>*>(slot));
}

std::byte* payload_of(std::byte* slot) noexcept { return slot + kCommitWordSize; }

}  // namespace

SpscRing::SpscRing(const RingConfig& config) noexcept {
  header_.magic.store(0, std::memory_order_relaxed);
  header_.layout_version = detail::kRingLayoutVersion;
  header_.capacity = config.capacity;
  header_.message_size = config.message_size;
  header_.slot_stride = slot_stride(config);
  header_.slots_offset = sizeof(SpscRing);
  header_.total_bytes = bytes_needed(config);
}

std::size_t SpscRing::bytes_needed(const RingConfig& config) noexcept {
  if (!validate_ring_config(config)) return 0;
  return sizeof(SpscRing) + std::size_t{config.capacity} * slot_stride(config);
}

Result<SpscRing*> SpscRing::create_at(void* mem, std::size_t bytes,
                                      const RingConfig& config) noexcept {
  SHMCHECK_TRY(validate_ring_config(config));
  if (mem == nullptr || reinterpret_cast<std::uintptr_t>(mem) % kCacheLineSize != 0) {
    return make_error(ErrorCode::kInvalidArgument, "SpscRing::create_at",
                      "memory must be 64-byte aligned");
  }
  const auto needed = bytes_needed(config);
  if (bytes < needed) {
    return make_error(
        ErrorCode::kInvalidArgument, "SpscRing::create_at",
        std::to_string(bytes) + " bytes given, " + std::to_string(needed) + " needed");
  }
  auto* ring = new (mem) SpscRing(config);
  auto* base = static_cast<std::byte*>(mem);
  std::memset(base + sizeof(SpscRing), 0, needed - sizeof(SpscRing));
  for (std::uint64_t i = 0; i < config.capacity; ++i) {
    // "Published one lap ago": never mistaken for index i of lap 0.
    new (ring->slot(i)) std::atomic<std::uint64_t>(commit_word(i - config.capacity, 0));
  }
  // Everything above becomes visible to attach() before the magic does.
  ring->header_.magic.store(detail::kSpscRingMagic, std::memory_order_release);
  return ring;
}

Result<SpscRing*> SpscRing::attach(void* mem, std::size_t bytes) noexcept {
  if (mem == nullptr || reinterpret_cast<std::uintptr_t>(mem) % kCacheLineSize != 0 ||
      bytes < sizeof(SpscRing)) {
    return make_error(ErrorCode::kInvalidArgument, "SpscRing::attach",
                      "memory must be 64-byte aligned and hold the ring header");
  }
  auto* ring = std::launder(static_cast<SpscRing*>(mem));
  if (ring->header_.magic.load(std::memory_order_acquire) != detail::kSpscRingMagic) {
    return make_error(ErrorCode::kForeign, "SpscRing::attach", "no SpscRing magic");
  }
  const auto& h = ring->header_;
  const RingConfig config{h.capacity, h.message_size};
  if (h.layout_version != detail::kRingLayoutVersion || !validate_ring_config(config) ||
      h.slot_stride != slot_stride(config) || h.slots_offset != sizeof(SpscRing) ||
      h.total_bytes != bytes_needed(config)) {
    return make_error(ErrorCode::kCorrupt, "SpscRing::attach", "inconsistent ring header");
  }
  if (bytes < h.total_bytes) {
    return make_error(
        ErrorCode::kCorrupt, "SpscRing::attach",
        std::to_string(bytes) + " bytes mapped, ring needs " + std::to_string(h.total_bytes));
  }
  return ring;
}

std::byte* SpscRing::slot(std::uint64_t index) noexcept {
  return reinterpret_cast<std::byte*>(this) + header_.slots_offset +
         (index & (header_.capacity - 1)) * header_.slot_stride;
}

bool SpscRing::push_once(std::span<const std::byte> msg) noexcept {
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
  auto head = head_cache_.load(std::memory_order_relaxed);
  if (t - head >= capacity) {
    // Cache says full: look at the real head (the only read of the consumer's line).
    head = head_.load(std::memory_order_acquire);
    head_cache_.store(head, std::memory_order_relaxed);
    if (t - head >= capacity) return false;
  }
  failpoint(FailpointId::kRingPushAfterClaim);
  const auto size = msg.size();
  const auto half = size / 2;
  std::byte* payload = payload_of(s);
  if (half != 0) std::memcpy(payload, msg.data(), half);
  failpoint(FailpointId::kRingPushMidPayload);
  if (size != half) std::memcpy(payload + half, msg.data() + half, size - half);
  failpoint(FailpointId::kRingPushBeforeCommit);
  word_of(s).store(commit_word(t, static_cast<std::uint32_t>(size)), std::memory_order_release);
  tail_.store(t + 1, std::memory_order_release);
  failpoint(FailpointId::kRingPushAfterCommit);
  return true;
}

PopResult SpscRing::pop_once(std::span<std::byte> out) noexcept {
  const auto h = head_.load(std::memory_order_relaxed);  // only the consumer writes it
  std::byte* s = slot(h);
  const auto word = word_of(s).load(std::memory_order_acquire);
  if (!is_committed(word, h)) return {};
  failpoint(FailpointId::kRingPopAfterClaim);
  const auto size = static_cast<std::uint32_t>(word);
  if (size > header_.message_size) detail::ring_invariant_broken("SpscRing slot length");
  if (size != 0) std::memcpy(out.data(), payload_of(s), size);
  failpoint(FailpointId::kRingPopBeforeRelease);
  // Release: the producer may overwrite the slot only after our copy.
  head_.store(h + 1, std::memory_order_release);
  return {PopStatus::kOk, size, {}};
}

bool SpscRing::try_push(std::span<const std::byte> msg) noexcept {
  if (msg.size() > header_.message_size) {
    assert(false && "SpscRing::try_push: message longer than message_size");
    return false;
  }
  if (push_once(msg)) return true;
  full_events_.store(full_events_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return false;
}

PopResult SpscRing::try_pop(std::span<std::byte> out) noexcept {
  if (out.size() < header_.message_size) {
    assert(false && "SpscRing::try_pop: out shorter than message_size");
    return {};
  }
  auto r = pop_once(out);
  if (r.status == PopStatus::kEmpty) {
    empty_events_.store(empty_events_.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
  }
  return r;
}

bool SpscRing::push_for(std::span<const std::byte> msg, std::chrono::nanoseconds timeout) noexcept {
  if (try_push(msg)) return true;
  if (msg.size() > header_.message_size) return false;
  detail::Backoff backoff(timeout);
  while (backoff.wait()) {
    if (push_once(msg)) return true;
  }
  return false;
}

PopResult SpscRing::pop_for(std::span<std::byte> out, std::chrono::nanoseconds timeout) noexcept {
  auto r = try_pop(out);
  if (r.status != PopStatus::kEmpty || out.size() < header_.message_size) return r;
  detail::Backoff backoff(timeout);
  while (backoff.wait()) {
    r = pop_once(out);
    if (r.status != PopStatus::kEmpty) return r;
  }
  return r;
}

RingConfig SpscRing::config() const noexcept { return {header_.capacity, header_.message_size}; }

RingStats SpscRing::stats() const noexcept {
  RingStats s;
  s.pops = head_.load(std::memory_order_relaxed);
  s.pushes = tail_.load(std::memory_order_relaxed);
  s.full_events = full_events_.load(std::memory_order_relaxed);
  s.empty_events = empty_events_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace shmcheck::core
