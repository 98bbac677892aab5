// ControlLayout / ControlView: where every journal and stats block lives inside the
// payload of the run's control segment.
//
// The harness creates the control segment (core::Segment, ObjectKind::kControl) with
// payload_size = ControlLayout::total_bytes(), then ControlLayout::initialize() lays
// out and constructs everything in the payload and writes the ControlDirectory
// (offsets + counts) at offset 0, its magic last with a release store. Workers open
// the same segment and ControlView::attach() it: they find everything through the
// directory (offsets, never pointers), so the layout needs no agreement beyond this
// header. Nothing is ever destroyed: the segment is unmapped and unlinked whole.
//
// Order in the payload (each region aligned to 64 bytes):
//   ControlDirectory | WorkerSlot[workers] | StatsBlock[workers] |
//   ProducerJournal[producers] | (ConsumerLog + records)[consumers] |
//   MutexRecordJournal[mutexes] | SemaphoreJournal[semaphores] |
//   SegmentPageJournal[page_objects] | extra bytes (harness-defined, zeroed)
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "shmcheck/core/result.hpp"
#include "shmcheck/probes/journal.hpp"
#include "shmcheck/probes/stats_block.hpp"

namespace shmcheck::probes {

inline constexpr std::uint64_t kControlMagic = 0x314C'5254'4E43'4853ULL;  // "SHCNTRL1"
inline constexpr std::uint32_t kControlLayoutVersion =
    3;  // 2: StatsBlock ring_wait; 3: ledger slots
inline constexpr std::uint32_t kMaxWorkers = 4096;
inline constexpr std::uint64_t kMaxConsumerLogCapacity = 1ULL << 28;  // records per consumer

struct SemaphoreJournalInit {
  std::uint32_t initial = 0;
  bool undo = false;  // SysV with SEM_UNDO
};

// What the control segment must hold. Indexes used with ControlView are 0-based
// within each kind (worker i is the run's i-th worker; producer i the i-th producer).
struct ControlShape {
  std::uint32_t workers = 0;
  std::uint32_t producers = 0;
  std::uint32_t consumers = 0;
  std::uint32_t mutexes = 0;
  std::vector<SemaphoreJournalInit> semaphores;
  std::uint32_t page_objects = 0;
  std::uint64_t consumer_log_capacity = 0;  // DeliveryRecords per consumer
  std::uint64_t extra_bytes = 0;            // harness-defined region (fault schedule, ...)
};

// The header at payload offset 0 (read by attach()).
struct alignas(64) ControlDirectory {
  std::atomic<std::uint64_t> magic;  // kControlMagic once everything below is constructed
  std::uint32_t version;
  std::uint32_t workers;
  std::uint32_t producers;
  std::uint32_t consumers;
  std::uint32_t mutexes;
  std::uint32_t semaphores;
  std::uint32_t page_objects;
  std::uint32_t reserved;
  std::uint64_t consumer_log_capacity;
  std::uint64_t consumer_log_stride;  // ConsumerLog::bytes_needed(capacity)
  std::uint64_t extra_bytes;
  std::uint64_t total_bytes;
  std::uint64_t worker_slots_offset;
  std::uint64_t stats_offset;
  std::uint64_t producers_offset;
  std::uint64_t consumers_offset;
  std::uint64_t mutexes_offset;
  std::uint64_t semaphores_offset;
  std::uint64_t pages_offset;
  std::uint64_t extra_offset;
};
static_assert(sizeof(ControlDirectory) == 192);

class ControlView;

class ControlLayout {
 public:
  // kInvalidArgument when a count exceeds its limit (kMaxWorkers, kMaxConsumerLogCapacity)
  // or producers/consumers are used without a log capacity.
  [[nodiscard]] static core::Result<ControlLayout> compute(ControlShape shape) noexcept;

  [[nodiscard]] std::size_t total_bytes() const noexcept { return total_bytes_; }
  [[nodiscard]] const ControlShape& shape() const noexcept { return shape_; }

  // Constructs every journal in mem (64-byte aligned, at least total_bytes()), then
  // publishes the directory. kInvalidArgument when mem is too small or misaligned.
  [[nodiscard]] core::Result<ControlView> initialize(void* mem, std::size_t bytes) const noexcept;

 private:
  friend class ControlView;  // attach() recomputes and compares the layout

  ControlShape shape_;
  std::size_t total_bytes_ = 0;
  std::size_t consumer_stride_ = 0;
  // workers, stats, producers, consumers, mutexes, semaphores, pages, extra
  std::size_t offsets_[8] = {};
};

// A non-owning view of an initialized control payload (valid while it stays mapped).
class ControlView {
 public:
  // kForeign when the magic is missing, kCorrupt when the directory disagrees with
  // itself or with `bytes`.
  [[nodiscard]] static core::Result<ControlView> attach(void* mem, std::size_t bytes) noexcept;

  [[nodiscard]] std::uint32_t workers() const noexcept { return dir_->workers; }
  [[nodiscard]] std::uint32_t producers() const noexcept { return dir_->producers; }
  [[nodiscard]] std::uint32_t consumers() const noexcept { return dir_->consumers; }
  [[nodiscard]] std::uint32_t mutexes() const noexcept { return dir_->mutexes; }
  [[nodiscard]] std::uint32_t semaphores() const noexcept { return dir_->semaphores; }
  [[nodiscard]] std::uint32_t page_objects() const noexcept { return dir_->page_objects; }
  [[nodiscard]] std::uint64_t consumer_log_capacity() const noexcept {
    return dir_->consumer_log_capacity;
  }

  // Index preconditions are asserted (i < the count).
  [[nodiscard]] WorkerSlot& worker(std::uint32_t i) const noexcept;
  [[nodiscard]] StatsBlock& stats(std::uint32_t i) const noexcept;
  [[nodiscard]] ProducerJournal& producer(std::uint32_t i) const noexcept;
  [[nodiscard]] ConsumerLog& consumer(std::uint32_t i) const noexcept;
  [[nodiscard]] MutexRecordJournal& mutex(std::uint32_t i) const noexcept;
  [[nodiscard]] SemaphoreJournal& semaphore(std::uint32_t i) const noexcept;
  [[nodiscard]] SegmentPageJournal& pages(std::uint32_t i) const noexcept;
  [[nodiscard]] std::span<std::byte> extra() const noexcept;

 private:
  ControlView(std::byte* base, const ControlDirectory* dir) noexcept : base_(base), dir_(dir) {}
  template <class T>
  T& at(std::uint64_t offset, std::uint64_t stride, std::uint32_t i) const noexcept;

  std::byte* base_ = nullptr;
  const ControlDirectory* dir_ = nullptr;
  friend class ControlLayout;
};

}  // namespace shmcheck::probes
