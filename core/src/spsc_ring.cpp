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

// Payloads 8-byte aligned and packed: an 8-byte message takes 8 bytes, a 1 KiB one
// 1024 (16 whole cache lines, as the length table keeps the payloads line-aligned).
constexpr std::uint32_t slot_stride(const RingConfig& config) noexcept {
  return static_cast<std::uint32_t>(detail::round_up(config.message_size, 8));
}

constexpr std::uint64_t slots_offset(const RingConfig& config) noexcept {
  return sizeof(SpscRing) +
         detail::round_up(std::uint64_t{config.capacity} * sizeof(std::uint32_t), kCacheLineSize);
}

}  // namespace

SpscRing::SpscRing(const RingConfig& config) noexcept {
  header_.magic.store(0, std::memory_order_relaxed);
  header_.layout_version = detail::kRingLayoutVersion;
  header_.capacity = config.capacity;
  header_.message_size = config.message_size;
  header_.slot_stride = slot_stride(config);
  header_.slots_offset = slots_offset(config);
  header_.total_bytes = bytes_needed(config);
}

std::size_t SpscRing::bytes_needed(const RingConfig& config) noexcept {
  if (!validate_ring_config(config)) return 0;
  return slots_offset(config) + std::size_t{config.capacity} * slot_stride(config);
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
  new (base + sizeof(SpscRing)) std::uint32_t[config.capacity]{};
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
      h.slot_stride != slot_stride(config) || h.slots_offset != slots_offset(config) ||
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

// The failpoints sit where a crash leaves each distinct state: claimed (room checked,
// nothing written), half a payload, all of it but not published, published but the
// producer not told; on the consumer side, nothing copied yet, copied but not released.
bool SpscRing::push_with_failpoints(std::uint64_t tail, std::span<const std::byte> msg) noexcept {
  store_length(length(tail), msg.size());
  detail::write_payload_with_failpoints(payload(tail), msg);
  tail_.store(tail + 1, std::memory_order_release);
  failpoint(FailpointId::kRingPushAfterCommit);
  return true;
}

PopResult SpscRing::pop_with_failpoints(std::uint64_t head, std::span<std::byte> out) noexcept {
  failpoint(FailpointId::kRingPopAfterClaim);
  const auto size = length(head);
  if (size > header_.message_size) detail::ring_invariant_broken("SpscRing slot length");
  detail::copy_bytes(out.data(), payload(head), size);
  failpoint(FailpointId::kRingPopBeforeRelease);
  head_.store(head + 1, std::memory_order_release);
  return {PopStatus::kOk, size, {}};
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
