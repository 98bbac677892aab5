#include "shmcheck/probes/control_layout.hpp"

#include <cassert>
#include <cstring>
#include <new>
#include <string>

namespace shmcheck::probes {
namespace {

enum Region : std::size_t {
  kWorkers = 0,
  kStats,
  kProducers,
  kConsumers,
  kMutexes,
  kSemaphores,
  kPages,
  kExtra,
  kRegionCount
};

constexpr std::size_t align_up(std::size_t n) noexcept {
  return (n + kJournalAlignment - 1) / kJournalAlignment * kJournalAlignment;
}

bool aligned(const void* p) noexcept {
  return reinterpret_cast<std::uintptr_t>(p) % kJournalAlignment == 0;
}

}  // namespace

core::Result<ControlLayout> ControlLayout::compute(ControlShape shape) noexcept {
  const auto too_many = [](std::uint64_t n) { return n > kMaxWorkers; };
  if (too_many(shape.workers) || too_many(shape.producers) || too_many(shape.consumers) ||
      too_many(shape.mutexes) || too_many(shape.semaphores.size()) ||
      too_many(shape.page_objects)) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "ControlLayout::compute",
                            "more than " + std::to_string(kMaxWorkers) + " of one kind");
  }
  if (shape.consumer_log_capacity > kMaxConsumerLogCapacity) {
    return core::make_error(
        core::ErrorCode::kInvalidArgument, "ControlLayout::compute",
        "consumer log capacity above " + std::to_string(kMaxConsumerLogCapacity));
  }
  if (shape.consumers != 0 && shape.consumer_log_capacity == 0) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "ControlLayout::compute",
                            "consumers without a consumer log capacity");
  }
  if (shape.extra_bytes > (1ULL << 40)) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "ControlLayout::compute",
                            "extra region above 1 TiB");
  }
  ControlLayout layout;
  layout.consumer_stride_ = ConsumerLog::bytes_needed(shape.consumer_log_capacity);
  std::size_t at = align_up(sizeof(ControlDirectory));
  const std::size_t sizes[kRegionCount] = {
      sizeof(WorkerSlot) * shape.workers,
      sizeof(StatsBlock) * shape.workers,
      sizeof(ProducerJournal) * shape.producers,
      layout.consumer_stride_ * shape.consumers,
      sizeof(MutexRecordJournal) * shape.mutexes,
      sizeof(SemaphoreJournal) * shape.semaphores.size(),
      sizeof(SegmentPageJournal) * shape.page_objects,
      static_cast<std::size_t>(shape.extra_bytes),
  };
  for (std::size_t r = 0; r < kRegionCount; ++r) {
    layout.offsets_[r] = at;
    at = align_up(at + sizes[r]);
  }
  layout.total_bytes_ = at;
  layout.shape_ = std::move(shape);
  return layout;
}

core::Result<ControlView> ControlLayout::initialize(void* mem, std::size_t bytes) const noexcept {
  if (mem == nullptr || !aligned(mem)) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "ControlLayout::initialize",
                            "memory not 64-byte aligned");
  }
  if (bytes < total_bytes_) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "ControlLayout::initialize",
                            std::to_string(bytes) + " bytes, need " + std::to_string(total_bytes_));
  }
  auto* base = static_cast<std::byte*>(mem);
  std::memset(base, 0, total_bytes_);
  for (std::uint32_t i = 0; i < shape_.workers; ++i) {
    new (base + offsets_[kWorkers] + i * sizeof(WorkerSlot)) WorkerSlot();
    new (base + offsets_[kStats] + i * sizeof(StatsBlock)) StatsBlock();
  }
  for (std::uint32_t i = 0; i < shape_.producers; ++i) {
    new (base + offsets_[kProducers] + i * sizeof(ProducerJournal)) ProducerJournal(i);
  }
  for (std::uint32_t i = 0; i < shape_.consumers; ++i) {
    new (base + offsets_[kConsumers] + i * consumer_stride_)
        ConsumerLog(i, shape_.consumer_log_capacity);
  }
  for (std::uint32_t i = 0; i < shape_.mutexes; ++i) {
    new (base + offsets_[kMutexes] + i * sizeof(MutexRecordJournal)) MutexRecordJournal();
  }
  for (std::size_t i = 0; i < shape_.semaphores.size(); ++i) {
    new (base + offsets_[kSemaphores] + i * sizeof(SemaphoreJournal))
        SemaphoreJournal(shape_.semaphores[i].initial, shape_.semaphores[i].undo);
  }
  for (std::uint32_t i = 0; i < shape_.page_objects; ++i) {
    new (base + offsets_[kPages] + i * sizeof(SegmentPageJournal)) SegmentPageJournal();
  }
  auto* dir = new (base) ControlDirectory();
  dir->version = kControlLayoutVersion;
  dir->workers = shape_.workers;
  dir->producers = shape_.producers;
  dir->consumers = shape_.consumers;
  dir->mutexes = shape_.mutexes;
  dir->semaphores = static_cast<std::uint32_t>(shape_.semaphores.size());
  dir->page_objects = shape_.page_objects;
  dir->consumer_log_capacity = shape_.consumer_log_capacity;
  dir->consumer_log_stride = consumer_stride_;
  dir->extra_bytes = shape_.extra_bytes;
  dir->total_bytes = total_bytes_;
  dir->worker_slots_offset = offsets_[kWorkers];
  dir->stats_offset = offsets_[kStats];
  dir->producers_offset = offsets_[kProducers];
  dir->consumers_offset = offsets_[kConsumers];
  dir->mutexes_offset = offsets_[kMutexes];
  dir->semaphores_offset = offsets_[kSemaphores];
  dir->pages_offset = offsets_[kPages];
  dir->extra_offset = offsets_[kExtra];
  dir->magic.store(kControlMagic, std::memory_order_release);  // last: everything is built
  return ControlView(base, dir);
}

core::Result<ControlView> ControlView::attach(void* mem, std::size_t bytes) noexcept {
  if (mem == nullptr || !aligned(mem) || bytes < sizeof(ControlDirectory)) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "ControlView::attach",
                            "memory too small or not 64-byte aligned");
  }
  auto* base = static_cast<std::byte*>(mem);
  const auto* dir = std::launder(reinterpret_cast<const ControlDirectory*>(base));
  if (dir->magic.load(std::memory_order_acquire) != kControlMagic) {
    return core::make_error(core::ErrorCode::kForeign, "ControlView::attach",
                            "no control directory (magic mismatch)");
  }
  if (dir->version != kControlLayoutVersion) {
    return core::make_error(core::ErrorCode::kCorrupt, "ControlView::attach",
                            "layout version " + std::to_string(dir->version));
  }
  // Recompute the layout from the counts: any disagreement means damage.
  ControlShape shape;
  shape.workers = dir->workers;
  shape.producers = dir->producers;
  shape.consumers = dir->consumers;
  shape.mutexes = dir->mutexes;
  if (dir->semaphores > kMaxWorkers) {
    return core::make_error(core::ErrorCode::kCorrupt, "ControlView::attach", "semaphore count");
  }
  shape.semaphores.resize(dir->semaphores);
  shape.page_objects = dir->page_objects;
  shape.consumer_log_capacity = dir->consumer_log_capacity;
  shape.extra_bytes = dir->extra_bytes;
  auto layout = ControlLayout::compute(std::move(shape));
  if (!layout) {
    return core::make_error(core::ErrorCode::kCorrupt, "ControlView::attach",
                            layout.error().detail);
  }
  const std::uint64_t expected[kRegionCount] = {dir->worker_slots_offset, dir->stats_offset,
                                                dir->producers_offset,    dir->consumers_offset,
                                                dir->mutexes_offset,      dir->semaphores_offset,
                                                dir->pages_offset,        dir->extra_offset};
  bool same = layout->total_bytes() == dir->total_bytes &&
              layout->consumer_stride_ == dir->consumer_log_stride;
  for (std::size_t r = 0; r < kRegionCount; ++r) same = same && layout->offsets_[r] == expected[r];
  if (!same) {
    return core::make_error(core::ErrorCode::kCorrupt, "ControlView::attach",
                            "directory offsets disagree with its counts");
  }
  if (dir->total_bytes > bytes) {
    return core::make_error(core::ErrorCode::kCorrupt, "ControlView::attach",
                            "directory says " + std::to_string(dir->total_bytes) +
                                " bytes, mapping has " + std::to_string(bytes));
  }
  return ControlView(base, dir);
}

template <class T>
T& ControlView::at(std::uint64_t offset, std::uint64_t stride, std::uint32_t i) const noexcept {
  return *std::launder(reinterpret_cast<T*>(base_ + offset + stride * i));
}

WorkerSlot& ControlView::worker(std::uint32_t i) const noexcept {
  assert(i < dir_->workers && "worker index out of range");
  return at<WorkerSlot>(dir_->worker_slots_offset, sizeof(WorkerSlot), i);
}
StatsBlock& ControlView::stats(std::uint32_t i) const noexcept {
  assert(i < dir_->workers && "stats index out of range");
  return at<StatsBlock>(dir_->stats_offset, sizeof(StatsBlock), i);
}
ProducerJournal& ControlView::producer(std::uint32_t i) const noexcept {
  assert(i < dir_->producers && "producer index out of range");
  return at<ProducerJournal>(dir_->producers_offset, sizeof(ProducerJournal), i);
}
ConsumerLog& ControlView::consumer(std::uint32_t i) const noexcept {
  assert(i < dir_->consumers && "consumer index out of range");
  return at<ConsumerLog>(dir_->consumers_offset, dir_->consumer_log_stride, i);
}
MutexRecordJournal& ControlView::mutex(std::uint32_t i) const noexcept {
  assert(i < dir_->mutexes && "mutex index out of range");
  return at<MutexRecordJournal>(dir_->mutexes_offset, sizeof(MutexRecordJournal), i);
}
SemaphoreJournal& ControlView::semaphore(std::uint32_t i) const noexcept {
  assert(i < dir_->semaphores && "semaphore index out of range");
  return at<SemaphoreJournal>(dir_->semaphores_offset, sizeof(SemaphoreJournal), i);
}
SegmentPageJournal& ControlView::pages(std::uint32_t i) const noexcept {
  assert(i < dir_->page_objects && "page object index out of range");
  return at<SegmentPageJournal>(dir_->pages_offset, sizeof(SegmentPageJournal), i);
}
std::span<std::byte> ControlView::extra() const noexcept {
  return {base_ + dir_->extra_offset, static_cast<std::size_t>(dir_->extra_bytes)};
}

}  // namespace shmcheck::probes
