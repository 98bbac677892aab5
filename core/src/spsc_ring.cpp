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

constexpr std::uint32_t slot_stride(const RingConfig& config) noexcept {
  return static_cast<std::uint32_t>(
      detail::round_up(sizeof(std::uint64_t) + config.message_size, 8));
}

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
