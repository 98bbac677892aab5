// MinimalSpscRing: the reference single-producer single-consumer ring the
// benchmarks compare shmcheck's rings against — the machine's practical limit
// for handing fixed-size messages between two processes.
//
// Cross-process: lives in shared memory, created once by create_at() before the
// processes fork; no pointers inside, so any mapping address works. It has none
// of shmcheck's crash tolerance (no claimer records, no abandoned slots, no
// failpoints, no stats): it is what the fastest correct ring looks like
// (rigtorp/SPSCQueue's layout). Memory ordering: the producer writes the slot,
// then stores head with release; the consumer loads head with acquire before
// reading the slot, and stores tail with release after copying it out. Each
// side keeps a cached copy of the other's index on its own cache line and
// reloads it only when the ring looks full (producer) or empty (consumer).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>

namespace shmcheck::bench {

class MinimalSpscRing {
 public:
  static constexpr std::size_t kLine = 64;

  [[nodiscard]] static std::size_t bytes_needed(std::uint32_t capacity,
                                                std::uint32_t slot_size) noexcept {
    return sizeof(MinimalSpscRing) + static_cast<std::size_t>(capacity) * slot_size;
  }
  // capacity must be a power of two.
  [[nodiscard]] static MinimalSpscRing* create_at(void* mem, std::uint32_t capacity,
                                                  std::uint32_t slot_size) noexcept {
    return new (mem) MinimalSpscRing(capacity, slot_size);
  }

  MinimalSpscRing(const MinimalSpscRing&) = delete;
  MinimalSpscRing& operator=(const MinimalSpscRing&) = delete;

  // n <= slot_size. Inline so a constant n becomes an inlined copy.
  [[nodiscard]] bool try_push(const void* msg, std::size_t n) noexcept {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_cache_ >= capacity_) {
      tail_cache_ = tail_.load(std::memory_order_acquire);
      if (head - tail_cache_ >= capacity_) return false;
    }
    std::memcpy(slot(head), msg, n);
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  [[nodiscard]] bool try_pop(void* out, std::size_t n) noexcept {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    if (tail == head_cache_) {
      head_cache_ = head_.load(std::memory_order_acquire);
      if (tail == head_cache_) return false;
    }
    std::memcpy(out, slot(tail), n);
    tail_.store(tail + 1, std::memory_order_release);
    return true;
  }

 private:
  MinimalSpscRing(std::uint32_t capacity, std::uint32_t slot_size) noexcept
      : capacity_(capacity), mask_(capacity - 1), slot_size_(slot_size) {}

  [[nodiscard]] std::byte* slot(std::uint64_t index) noexcept {
    return reinterpret_cast<std::byte*>(this + 1) + (index & mask_) * slot_size_;
  }

  // Producer's line: its index and its cache of the consumer's.
  alignas(kLine) std::atomic<std::uint64_t> head_{0};
  std::uint64_t tail_cache_ = 0;
  // Consumer's line.
  alignas(kLine) std::atomic<std::uint64_t> tail_{0};
  std::uint64_t head_cache_ = 0;
  // Read-only after creation: its own line so index traffic never evicts it.
  alignas(kLine) std::uint64_t capacity_;
  std::uint64_t mask_;
  std::uint64_t slot_size_;
};
static_assert(sizeof(MinimalSpscRing) % MinimalSpscRing::kLine == 0);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

}  // namespace shmcheck::bench
