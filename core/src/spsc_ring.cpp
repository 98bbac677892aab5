#include "shmcheck/core/spsc_ring.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <new>
#include <optional>
#include <string>

#include "ring_internal.hpp"
#include "shmcheck/core/failpoint.hpp"

namespace shmcheck::core {
namespace {

// Payloads 8-byte aligned and packed: an 8-byte message takes 8 bytes, a 1 KiB one
// 1024 (16 whole cache lines, as the length table keeps the payloads line-aligned).
// The slots follow the ring object and its length table.
detail::RingGeometry geometry(const RingConfig& config) noexcept {
  detail::RingGeometry g;
  g.slot_stride = static_cast<std::uint32_t>(detail::round_up(config.message_size, 8));
  g.slots_offset =
      sizeof(SpscRing) +
      detail::round_up(std::uint64_t{config.capacity} * sizeof(std::uint32_t), kCacheLineSize);
  g.total_bytes = g.slots_offset + std::uint64_t{config.capacity} * g.slot_stride;
  return g;
}

}  // namespace

SpscRing::SpscRing(const RingConfig& config) noexcept {
  detail::init_ring_header(header_, config, geometry);
}

std::size_t SpscRing::bytes_needed(const RingConfig& config) noexcept {
  if (!validate_ring_config(config)) return 0;
  return geometry(config).total_bytes;
}

Result<SpscRing*> SpscRing::create_at(void* mem, std::size_t bytes, const RingConfig& config,
                                      RingMemory memory) noexcept {
  const auto needed =
      detail::check_ring_create("SpscRing::create_at", mem, bytes, config, geometry);
  if (!needed) return needed.error();
  auto* ring = new (mem) SpscRing(config);
  auto* base = static_cast<std::byte*>(mem);
  // Lengths and payloads start zero, for tidiness only: a slot is read only after its
  // producer wrote it and published the tail. Zeroed memory needs nothing written.
  if (memory == RingMemory::kAny) {
    std::memset(base + sizeof(SpscRing), 0, *needed - sizeof(SpscRing));
  }
  // Everything above becomes visible to attach() before the magic does.
  ring->header_.magic.store(detail::kSpscRingMagic, std::memory_order_release);
  return ring;
}

Result<SpscRing*> SpscRing::attach(void* mem, std::size_t bytes) noexcept {
  SHMCHECK_TRY(detail::check_ring_attach("SpscRing::attach", mem, bytes, sizeof(SpscRing),
                                         detail::kSpscRingMagic, geometry));
  return std::launder(static_cast<SpscRing*>(mem));
}

bool SpscRing::push_for(std::span<const std::byte> msg, std::chrono::nanoseconds timeout) noexcept {
  const bool pushed = try_push(msg) || (msg.size() <= header_.message_size &&
                                        detail::retry_until(wait_.writable, timeout,
                                                            [&] { return push_once(msg); }));
  if (pushed) detail::wake(wait_.readable);
  return pushed;
}

PopResult SpscRing::pop_for(std::span<std::byte> out, std::chrono::nanoseconds timeout,
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

std::uint64_t SpscRing::burst_wanted(std::span<const std::byte> msgs,
                                     std::size_t msg_size) const noexcept {
  if (msg_size == 0 || msg_size > header_.message_size) [[unlikely]] {
    assert(false && "SpscRing push burst: msg_size must be 1..message_size");
    return 0;
  }
  return msgs.size() / msg_size;
}

std::uint64_t SpscRing::burst_wanted(std::span<std::byte> out,
                                     std::span<std::uint32_t> sizes) const noexcept {
  return std::min<std::uint64_t>(out.size() / header_.message_size, sizes.size());
}

std::size_t SpscRing::try_push_burst(std::span<const std::byte> msgs,
                                     std::size_t msg_size) noexcept {
  return push_burst(msgs, msg_size, std::nullopt);
}

std::size_t SpscRing::push_burst_for(std::span<const std::byte> msgs, std::size_t msg_size,
                                     std::chrono::nanoseconds timeout) noexcept {
  return push_burst(msgs, msg_size, timeout);
}

std::size_t SpscRing::try_pop_burst(std::span<std::byte> out, std::span<std::uint32_t> sizes,
                                    BeforeRelease before_release) noexcept {
  return pop_burst(out, sizes, std::nullopt, before_release);
}

std::size_t SpscRing::pop_burst_for(std::span<std::byte> out, std::span<std::uint32_t> sizes,
                                    std::chrono::nanoseconds timeout,
                                    BeforeRelease before_release) noexcept {
  return pop_burst(out, sizes, timeout, before_release);
}

std::size_t SpscRing::push_burst(std::span<const std::byte> msgs, std::size_t msg_size,
                                 std::optional<std::chrono::nanoseconds> timeout) noexcept {
  const std::uint64_t wanted = burst_wanted(msgs, msg_size);
  if (wanted == 0) return 0;
  const auto once = [&] { return push_burst_once(msgs.data(), wanted, msg_size); };
  std::size_t n = once();
  if (n == 0) {
    full_events_.store(full_events_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (!timeout ||
        !detail::retry_until(wait_.writable, *timeout, [&] { return (n = once()) != 0; })) {
      return 0;
    }
  }
  detail::wake(wait_.readable);
  return n;
}

std::size_t SpscRing::pop_burst(std::span<std::byte> out, std::span<std::uint32_t> sizes,
                                std::optional<std::chrono::nanoseconds> timeout,
                                BeforeRelease before_release) noexcept {
  const std::uint64_t wanted = burst_wanted(out, sizes);
  if (wanted == 0) return 0;
  const auto once = [&] {
    return pop_burst_once(wanted, out.data(), sizes.data(), before_release);
  };
  std::size_t n = once();
  if (n == 0) {
    empty_events_.store(empty_events_.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
    if (!timeout ||
        !detail::retry_until(wait_.readable, *timeout, [&] { return (n = once()) != 0; })) {
      return 0;
    }
  }
  detail::wake(wait_.writable);
  return n;
}

std::size_t SpscRing::push_burst_once(const std::byte* msgs, std::uint64_t wanted,
                                      std::size_t msg_size) noexcept {
  const auto t = tail_.load(std::memory_order_relaxed);
  const std::uint64_t capacity = header_.capacity;
  // Room by the cached head; the real head only when that is not enough for all.
  const auto room_after = [&](std::uint64_t head) {
    const std::uint64_t used = t - head;
    return used >= capacity ? 0 : capacity - used;
  };
  std::uint64_t room = room_after(head_cache_.load(std::memory_order_relaxed));
  if (room < wanted) {
    const auto head = head_.load(std::memory_order_acquire);
    head_cache_.store(head, std::memory_order_relaxed);
    room = room_after(head);
  }
  if (room == 0) return 0;
  const std::uint64_t n = std::min(wanted, room);
  if (failpoints_armed()) [[unlikely]] {
    push_burst_with_failpoints(t, msgs, n, msg_size);
  } else {
    write_burst(t, msgs, n, msg_size);
    tail_.store(t + n, std::memory_order_release);  // the commit of all n
  }
  return n;
}

std::size_t SpscRing::pop_burst_once(std::uint64_t wanted, std::byte* out, std::uint32_t* sizes,
                                     BeforeRelease before_release) noexcept {
  const auto h = head_.load(std::memory_order_relaxed);
  const auto cached = tail_cache_.load(std::memory_order_relaxed);
  std::uint64_t available = cached > h ? cached - h : 0;
  if (available == 0) {
    const auto tail = tail_.load(std::memory_order_acquire);
    tail_cache_.store(tail, std::memory_order_relaxed);
    if (tail - h > header_.capacity) [[unlikely]] {
      detail::ring_invariant_broken("SpscRing tail and head more than a lap apart");
    }
    available = tail - h;
    if (available == 0) return 0;
  }
  const std::uint64_t n = std::min(wanted, available);
  if (failpoints_armed()) [[unlikely]] {
    pop_burst_with_failpoints(h, n, out, sizes, before_release);
  } else {
    read_burst(h, n, out, sizes);
    before_release(Taken{std::span<const std::uint32_t>(sizes, n)});
    // Release: the producer may overwrite these slots only after our copies.
    head_.store(h + n, std::memory_order_release);
  }
  return n;
}

// Slots first .. first + n - 1 are back to back in memory up to the end of the ring,
// then from its start again: when messages fill their slots exactly, at most two
// copies move the whole burst.
void SpscRing::write_burst(std::uint64_t first, const std::byte* msgs, std::uint64_t n,
                           std::size_t msg_size) noexcept {
  for (std::uint64_t i = 0; i < n; ++i) store_length(length(first + i), msg_size);
  const std::uint32_t stride = header_.slot_stride;
  if (msg_size == stride) {
    const std::uint64_t before_wrap =
        std::min<std::uint64_t>(n, header_.capacity - (first & (header_.capacity - 1)));
    std::memcpy(payload(first), msgs, before_wrap * stride);
    if (before_wrap < n) {
      std::memcpy(payload(first + before_wrap), msgs + before_wrap * stride,
                  (n - before_wrap) * stride);
    }
    return;
  }
  for (std::uint64_t i = 0; i < n; ++i) {
    detail::copy_bytes(payload(first + i), msgs + i * msg_size, msg_size);
  }
}

void SpscRing::read_burst(std::uint64_t first, std::uint64_t n, std::byte* out,
                          std::uint32_t* sizes) noexcept {
  const std::uint32_t message_size = header_.message_size;
  bool all_whole = true;
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto size = length(first + i);
    if (size > message_size) [[unlikely]] {
      detail::ring_invariant_broken("SpscRing slot length");
    }
    sizes[i] = size;
    all_whole = all_whole && size == message_size;
  }
  if (all_whole && message_size == header_.slot_stride) {
    const std::uint64_t before_wrap =
        std::min<std::uint64_t>(n, header_.capacity - (first & (header_.capacity - 1)));
    std::memcpy(out, payload(first), before_wrap * message_size);
    if (before_wrap < n) {
      std::memcpy(out + before_wrap * message_size, payload(first + before_wrap),
                  (n - before_wrap) * message_size);
    }
    return;
  }
  for (std::uint64_t i = 0; i < n; ++i) {
    detail::copy_bytes(out + i * message_size, payload(first + i), sizes[i]);
  }
}

// A burst passes each failpoint once, in the single push's order: claimed (room
// checked, nothing written), the first half of its messages written, all written but
// not published, published.
void SpscRing::push_burst_with_failpoints(std::uint64_t tail, const std::byte* msgs,
                                          std::uint64_t n, std::size_t msg_size) noexcept {
  failpoint(FailpointId::kRingPushAfterClaim);
  const std::uint64_t half = n / 2;
  write_burst(tail, msgs, half, msg_size);
  failpoint(FailpointId::kRingPushMidPayload);
  write_burst(tail + half, msgs + half * msg_size, n - half, msg_size);
  failpoint(FailpointId::kRingPushBeforeCommit);
  tail_.store(tail + n, std::memory_order_release);
  failpoint(FailpointId::kRingPushAfterCommit);
}

void SpscRing::pop_burst_with_failpoints(std::uint64_t head, std::uint64_t n, std::byte* out,
                                         std::uint32_t* sizes,
                                         BeforeRelease before_release) noexcept {
  failpoint(FailpointId::kRingPopAfterClaim);
  read_burst(head, n, out, sizes);
  before_release(Taken{std::span<const std::uint32_t>(sizes, n)});
  failpoint(FailpointId::kRingPopBeforeRelease);
  head_.store(head + n, std::memory_order_release);
}

// The failpoints sit where a crash leaves each distinct state: claimed (room checked,
// nothing written), half a payload, all of it but not published, published but the
// producer not told; on the consumer side, nothing copied yet, copied (and handed to
// before_release) but not released.
bool SpscRing::push_with_failpoints(std::uint64_t tail, std::span<const std::byte> msg) noexcept {
  store_length(length(tail), msg.size());
  detail::write_payload_with_failpoints(payload(tail), msg);
  tail_.store(tail + 1, std::memory_order_release);
  failpoint(FailpointId::kRingPushAfterCommit);
  return true;
}

PopResult SpscRing::pop_with_failpoints(std::uint64_t head, std::span<std::byte> out,
                                        BeforeRelease before_release) noexcept {
  failpoint(FailpointId::kRingPopAfterClaim);
  const auto size = length(head);
  if (size > header_.message_size) detail::ring_invariant_broken("SpscRing slot length");
  detail::copy_bytes(out.data(), payload(head), size);
  before_release(Taken{std::span(&size, 1)});
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
  detail::add_wait_stats(s, wait_);
  return s;
}

const char* SpscRing::inconsistency() const noexcept {
  const std::uint64_t head = head_.load(std::memory_order_acquire);
  const std::uint64_t tail = tail_.load(std::memory_order_acquire);
  if (head > tail) return "SpscRing head past tail";
  if (tail - head > header_.capacity) return "SpscRing tail and head more than a lap apart";
  if (tail_cache_.load(std::memory_order_relaxed) > tail) return "SpscRing cached tail past tail";
  if (head_cache_.load(std::memory_order_relaxed) > head) return "SpscRing cached head past head";
  for (std::uint64_t i = head; i != tail; ++i) {
    if (length(i) > header_.message_size) return "SpscRing slot length past message_size";
  }
  return nullptr;
}

}  // namespace shmcheck::core
