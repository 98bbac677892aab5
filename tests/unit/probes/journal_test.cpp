#include "shmcheck/probes/journal.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <thread>

#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/probes/control_layout.hpp"
#include "shmcheck/probes/integrity_checker.hpp"
#include "shmcheck/probes/segment_page.hpp"
#include "shmcheck/testing/process.hpp"

namespace shmcheck::probes {
namespace {

using namespace std::chrono_literals;

// Anonymous shared memory: survives fork, needs no name, vanishes with the last mapping.
class SharedMemory {
 public:
  explicit SharedMemory(std::size_t bytes) : bytes_(bytes) {
    mem_ = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem_ == MAP_FAILED) mem_ = nullptr;
  }
  ~SharedMemory() {
    if (mem_ != nullptr) ::munmap(mem_, bytes_);
  }
  SharedMemory(const SharedMemory&) = delete;
  SharedMemory& operator=(const SharedMemory&) = delete;
  [[nodiscard]] void* get() const { return mem_; }
  [[nodiscard]] std::size_t size() const { return bytes_; }

 private:
  void* mem_ = nullptr;
  std::size_t bytes_;
};

ControlShape small_shape() {
  ControlShape shape;
  shape.workers = 3;
  shape.producers = 1;
  shape.consumers = 1;
  shape.mutexes = 1;
  shape.semaphores = {SemaphoreJournalInit{4, true}};
  shape.page_objects = 1;
  shape.consumer_log_capacity = 100'000;
  shape.extra_bytes = 100;
  return shape;
}

TEST(ControlLayout, InitializedViewAttachesFromAnotherMappingOfTheSameBytes) {
  auto layout = ControlLayout::compute(small_shape());
  ASSERT_TRUE(layout) << layout.error().message();
  SharedMemory shm(layout->total_bytes());
  ASSERT_NE(shm.get(), nullptr);
  auto view = layout->initialize(shm.get(), shm.size());
  ASSERT_TRUE(view) << view.error().message();
  view->producer(0).begin_incarnation(0);
  view->producer(0).before_push(0, 1);

  auto attached = ControlView::attach(shm.get(), shm.size());
  ASSERT_TRUE(attached) << attached.error().message();
  EXPECT_EQ(attached->workers(), 3U);
  EXPECT_EQ(attached->semaphores(), 1U);
  EXPECT_EQ(attached->consumer_log_capacity(), 100'000U);
  EXPECT_EQ(&attached->producer(0), &view->producer(0));
  EXPECT_EQ(attached->producer(0).snapshot().incarnations.at(0).attempted, 1U);
  EXPECT_EQ(attached->extra().size(), 100U);
  EXPECT_EQ(attached->semaphore(0).snapshot().initial, 4U);
  EXPECT_TRUE(attached->semaphore(0).snapshot().undo);
  // Regions do not overlap and stay inside the payload.
  const auto* base = static_cast<const std::byte*>(shm.get());
  const auto off = [&](const void* p) { return static_cast<const std::byte*>(p) - base; };
  EXPECT_LT(off(&attached->worker(2)) + 64, off(&attached->stats(0)) + 1);
  EXPECT_LE(off(attached->extra().data()) + 100, static_cast<std::ptrdiff_t>(shm.size()));
}

TEST(ControlLayout, AttachRejectsMemoryWithoutADirectory) {
  SharedMemory shm(4096);
  ASSERT_NE(shm.get(), nullptr);
  auto view = ControlView::attach(shm.get(), shm.size());
  ASSERT_FALSE(view);
  EXPECT_EQ(view.error().code, core::ErrorCode::kForeign);
}

TEST(ControlLayout, AttachRejectsAMappingSmallerThanTheDirectorySays) {
  auto layout = ControlLayout::compute(small_shape());
  ASSERT_TRUE(layout);
  SharedMemory shm(layout->total_bytes());
  ASSERT_TRUE(layout->initialize(shm.get(), shm.size()));
  auto view = ControlView::attach(shm.get(), 4096);
  ASSERT_FALSE(view);
  EXPECT_EQ(view.error().code, core::ErrorCode::kCorrupt);
}

TEST(ControlLayout, RejectsConsumersWithoutLogCapacityAndTooSmallMemory) {
  ControlShape shape = small_shape();
  shape.consumer_log_capacity = 0;
  EXPECT_FALSE(ControlLayout::compute(shape));
  shape.consumer_log_capacity = 10;
  shape.workers = kMaxWorkers + 1;
  EXPECT_FALSE(ControlLayout::compute(shape));
  auto layout = ControlLayout::compute(small_shape());
  ASSERT_TRUE(layout);
  SharedMemory shm(layout->total_bytes());
  EXPECT_FALSE(layout->initialize(shm.get(), layout->total_bytes() - 1));
}

TEST(ProducerJournal, LedgerFollowsAttemptAckWithdrawAndFinish) {
  auto* journal = new ProducerJournal(2);
  journal->begin_incarnation(0);
  journal->before_push(0, 1);
  journal->after_push(0, 1);
  journal->before_push(0, 2);
  ProducerSnapshot s = journal->snapshot();
  ASSERT_EQ(s.incarnations.size(), 1U);
  EXPECT_EQ(s.producer, 2U);
  EXPECT_EQ(s.incarnations[0].attempted, 2U);
  EXPECT_EQ(s.incarnations[0].acked, 1U);
  EXPECT_EQ(s.incarnations[0].state, IncarnationState::kActive);
  journal->withdraw(0);
  journal->finish(0);
  journal->begin_incarnation(1);
  s = journal->snapshot();
  ASSERT_EQ(s.incarnations.size(), 2U);
  EXPECT_EQ(s.incarnations[0].attempted, 1U);
  EXPECT_EQ(s.incarnations[0].state, IncarnationState::kFinished);
  EXPECT_EQ(s.incarnations[1].incarnation, 1U);
  EXPECT_EQ(s.incarnations[1].attempted, 0U);
  journal->begin_incarnation(kLedgerSlots);
  EXPECT_EQ(journal->snapshot().untracked_incarnations, 1U);
  delete journal;
}

// Incarnation i uses slot i % kLedgerSlots: once the harness retired the slot's
// previous holder, a producer restarted any number of times keeps being journaled.
TEST(ProducerJournal, ARetiredSlotIsReusedByTheIncarnationThatNeedsIt) {
  auto journal = std::make_unique<ProducerJournal>(1);
  for (std::uint32_t inc = 0; inc < kLedgerSlots; ++inc) {
    journal->begin_incarnation(inc);
    journal->before_push(inc, 2);
    journal->after_push(inc, 1);  // died with seq 2 in flight
  }
  // Not retired: incarnation kLedgerSlots finds slot 0 taken.
  journal->begin_incarnation(kLedgerSlots);
  journal->after_push(kLedgerSlots, 5);  // ignored: untracked
  EXPECT_EQ(journal->snapshot().untracked_incarnations, 1U);
  EXPECT_EQ(journal->snapshot().incarnations.front().acked, 1U);

  const auto retired = journal->retire(0);
  ASSERT_TRUE(retired.has_value());
  EXPECT_EQ(*retired, (IncarnationSnapshot{0, 2, 1, IncarnationState::kActive}));
  EXPECT_FALSE(journal->retire(0).has_value()) << "retired once";
  EXPECT_FALSE(journal->retire(1 + kLedgerSlots).has_value()) << "slot 1 holds 1";

  const std::uint32_t next = kLedgerSlots + 1;  // the restart after the untracked one
  ASSERT_TRUE(journal->retire(1).has_value());
  journal->begin_incarnation(next);
  journal->before_push(next, 7);
  journal->after_push(next, 7);
  journal->finish(next);
  const ProducerSnapshot s = journal->snapshot();
  ASSERT_EQ(s.incarnations.size(), kLedgerSlots - 1);  // 0 gone, 1 replaced
  EXPECT_EQ(s.incarnations.front().incarnation, 2U);   // ascending
  EXPECT_EQ(s.incarnations.back(), (IncarnationSnapshot{next, 7, 7, IncarnationState::kFinished}));
  EXPECT_EQ(s.untracked_incarnations, 1U);
}

TEST(ConsumerLog, AppendBeyondCapacityIsCountedNotWritten) {
  SharedMemory shm(ConsumerLog::bytes_needed(2));
  auto* log = new (shm.get()) ConsumerLog(5, 2);
  EXPECT_TRUE(log->append(DeliveryRecord{0, 0, 1, DeliveryStatus::kOk, 0, 0, 1}));
  EXPECT_TRUE(log->append(DeliveryRecord{0, 0, 2, DeliveryStatus::kTorn, 0, 0, 1}));
  EXPECT_FALSE(log->append(DeliveryRecord{0, 0, 3, DeliveryStatus::kOk, 0, 0, 1}));
  const ConsumerSnapshot s = log->snapshot();
  EXPECT_EQ(s.consumer, 5U);
  ASSERT_EQ(s.records.size(), 2U);
  EXPECT_EQ(s.records[1].seq, 2U);
  EXPECT_EQ(s.records[1].status, DeliveryStatus::kTorn);
  EXPECT_EQ(s.overflow, 1U);
}

DecodedMessage decoded(std::uint32_t producer, std::uint32_t incarnation, std::uint64_t seq,
                       MessageStatus status = MessageStatus::kOk) {
  DecodedMessage m;
  m.status = status;
  m.header.producer = producer;
  m.header.incarnation = incarnation;
  m.header.seq = seq;
  return m;
}

TEST(DeliveryLog, OneProducersMessagesInOrderAreOneRecord) {
  SharedMemory shm(ConsumerLog::bytes_needed(4));
  auto* log = new (shm.get()) ConsumerLog(0, 4);
  DeliveryLog writer(*log, 3);
  for (std::uint64_t seq = 1; seq <= 10'000; ++seq) ASSERT_TRUE(writer.record(decoded(2, 1, seq)));
  const ConsumerSnapshot s = log->snapshot();
  ASSERT_EQ(s.records.size(), 1U);
  EXPECT_EQ(s.records[0], (DeliveryRecord{2, 1, 1, DeliveryStatus::kOk, 0, 3, 10'000}));
  EXPECT_EQ(s.overflow, 0U);
}

TEST(DeliveryLog, InterleavedProducersKeepARunEach) {
  SharedMemory shm(ConsumerLog::bytes_needed(4));
  auto* log = new (shm.get()) ConsumerLog(0, 4);
  DeliveryLog writer(*log, 0);
  for (std::uint64_t seq = 1; seq <= 100; ++seq) {
    ASSERT_TRUE(writer.record(decoded(0, 0, seq)));
    ASSERT_TRUE(writer.record(decoded(7, 0, seq + 50)));
  }
  const ConsumerSnapshot s = log->snapshot();
  ASSERT_EQ(s.records.size(), 2U);
  EXPECT_EQ(s.records[0], (DeliveryRecord{0, 0, 1, DeliveryStatus::kOk, 0, 0, 100}));
  EXPECT_EQ(s.records[1], (DeliveryRecord{7, 0, 51, DeliveryStatus::kOk, 0, 0, 100}));
}

TEST(DeliveryLog, AnythingButTheNextSeqOfTheRunStartsARecord) {
  SharedMemory shm(ConsumerLog::bytes_needed(16));
  auto* log = new (shm.get()) ConsumerLog(0, 16);
  DeliveryLog writer(*log, 4);
  for (const std::uint64_t seq : {1, 2, 4, 5, 5, 3, 6}) {  // a gap, a repeat, an older seq
    ASSERT_TRUE(writer.record(decoded(0, 0, seq)));
  }
  ASSERT_TRUE(writer.record(decoded(0, 1, 7)));  // a new producer incarnation
  ASSERT_TRUE(writer.record(decoded(0, 1, 8, MessageStatus::kTorn)));
  ASSERT_TRUE(writer.record_abandoned(4242));
  ASSERT_TRUE(writer.record(decoded(0, 1, 8)));  // continues the run past the torn one
  ASSERT_TRUE(writer.record(decoded(0, 1, 9, MessageStatus::kForeign)));
  ASSERT_TRUE(writer.record(decoded(0, 1, 10)));  // a foreign message is not a gap
  const std::vector<DeliveryRecord> expected = {{0, 0, 1, DeliveryStatus::kOk, 0, 4, 2},
                                                {0, 0, 4, DeliveryStatus::kOk, 0, 4, 2},
                                                {0, 0, 5, DeliveryStatus::kOk, 0, 4, 1},
                                                {0, 0, 3, DeliveryStatus::kOk, 0, 4, 1},
                                                {0, 0, 6, DeliveryStatus::kOk, 0, 4, 1},
                                                {0, 1, 7, DeliveryStatus::kOk, 0, 4, 2},
                                                {0, 1, 8, DeliveryStatus::kTorn, 0, 4, 1},
                                                {0, 0, 0, DeliveryStatus::kAbandoned, 4242, 4, 1},
                                                {0, 1, 9, DeliveryStatus::kForeign, 0, 4, 1},
                                                {0, 1, 10, DeliveryStatus::kOk, 0, 4, 1}};
  EXPECT_EQ(log->snapshot().records, expected);
}

TEST(DeliveryLog, ARunGrowsInAFullLogAndABreakOverflowsIt) {
  SharedMemory shm(ConsumerLog::bytes_needed(1));
  auto* log = new (shm.get()) ConsumerLog(0, 1);
  DeliveryLog writer(*log, 0);
  for (std::uint64_t seq = 1; seq <= 100; ++seq) ASSERT_TRUE(writer.record(decoded(0, 0, seq)));
  EXPECT_FALSE(writer.record(decoded(0, 0, 102)));  // a gap needs a record: none left
  EXPECT_FALSE(writer.record(decoded(0, 0, 103)));  // and its run was never opened
  const ConsumerSnapshot s = log->snapshot();
  ASSERT_EQ(s.records.size(), 1U);
  EXPECT_EQ(s.records[0].count, 100U);
  EXPECT_EQ(s.overflow, 2U);
}

TEST(DeliveryLog, ARestartedConsumerStartsItsOwnRecords) {
  SharedMemory shm(ConsumerLog::bytes_needed(4));
  auto* log = new (shm.get()) ConsumerLog(0, 4);
  {
    DeliveryLog first(*log, 0);
    for (std::uint64_t seq = 1; seq <= 5; ++seq) ASSERT_TRUE(first.record(decoded(0, 0, seq)));
  }
  DeliveryLog second(*log, 1);
  for (std::uint64_t seq = 6; seq <= 9; ++seq) ASSERT_TRUE(second.record(decoded(0, 0, seq)));
  const std::vector<DeliveryRecord> expected = {{0, 0, 1, DeliveryStatus::kOk, 0, 0, 5},
                                                {0, 0, 6, DeliveryStatus::kOk, 0, 1, 4}};
  EXPECT_EQ(log->snapshot().records, expected);
}

// ---- draining a log while its consumer writes (drain_log) ----

// drain_log steps into one vector, as the harness does; everything(): those records, then
// what is still in the slots (all the consumer recorded, once it has stopped).
struct Drained {
  std::vector<DeliveryRecord> records;
  std::uint64_t step(ConsumerLog& log, std::uint64_t threshold) {
    return drain_log(log, threshold, records);
  }
  [[nodiscard]] ConsumerSnapshot everything(const ConsumerLog& log) const {
    ConsumerSnapshot s = log.snapshot();
    s.records.insert(s.records.begin(), records.begin(), records.end());
    return s;
  }
};

// A consumer's deliveries that break runs often: producers 0..2 interleaved, with a
// gap now and then (each break is a record).
std::vector<DecodedMessage> choppy_deliveries(std::uint64_t n) {
  std::vector<DecodedMessage> out;
  std::array<std::uint64_t, 3> next{1, 1, 1};
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto producer = static_cast<std::uint32_t>((i * 7 / 5) % 3);
    next[producer] += (i % 3 == 0) ? 2 : 1;
    out.push_back(decoded(producer, 0, next[producer]));
  }
  return out;
}

// The records a log big enough never to fill gets for the same deliveries.
std::vector<DeliveryRecord> undrained_records(const std::vector<DecodedMessage>& deliveries) {
  SharedMemory shm(ConsumerLog::bytes_needed(deliveries.size()));
  auto* log = new (shm.get()) ConsumerLog(0, deliveries.size());
  DeliveryLog writer(*log, 0);
  for (const auto& m : deliveries) EXPECT_TRUE(writer.record(m));
  return log->snapshot().records;
}

// Σ count over records: the messages they stand for.
std::uint64_t messages_in(const std::vector<DeliveryRecord>& records) {
  std::uint64_t n = 0;
  for (const auto& r : records) n += r.count;
  return n;
}

// The seqs the records stand for, per producer, in delivery order.
std::map<std::uint32_t, std::vector<std::uint64_t>> seqs_per_producer(
    const std::vector<DeliveryRecord>& records) {
  std::map<std::uint32_t, std::vector<std::uint64_t>> out;
  for (const auto& r : records)
    for (std::uint32_t k = 0; k < r.count; ++k) out[r.producer].push_back(r.seq + k);
  return out;
}

TEST(DrainLog, ADrainedLogReusesItsSlotsAndLosesNoDelivery) {
  const auto deliveries = choppy_deliveries(5'000);
  const auto reference = undrained_records(deliveries);
  ASSERT_GT(reference.size(), 1'000U);  // else draining a log of 64 proves little

  SharedMemory shm(ConsumerLog::bytes_needed(64));
  auto* log = new (shm.get()) ConsumerLog(0, 64);
  DeliveryLog writer(*log, 0);
  Drained drain;
  std::uint64_t moved = 0;
  for (const auto& m : deliveries) {
    ASSERT_TRUE(writer.record(m));
    moved += drain.step(*log, 16);
  }
  EXPECT_GT(moved, reference.size() - 64);  // most went through the drain
  EXPECT_EQ(log->snapshot().overflow, 0U);
  const ConsumerSnapshot s = drain.everything(*log);
  // Seals break runs, so there are more records; they stand for the same messages in
  // the same order.
  EXPECT_GE(s.records.size(), reference.size());
  EXPECT_EQ(messages_in(s.records), deliveries.size());
  EXPECT_EQ(seqs_per_producer(s.records), seqs_per_producer(reference));
}

TEST(DrainLog, ARunOpenAtASealIsClosedAndItsRecordStaysAsDrained) {
  SharedMemory shm(ConsumerLog::bytes_needed(8));
  auto* log = new (shm.get()) ConsumerLog(0, 8);
  DeliveryLog writer(*log, 2);
  Drained drain;
  for (std::uint64_t seq = 1; seq <= 5; ++seq) ASSERT_TRUE(writer.record(decoded(0, 0, seq)));
  EXPECT_EQ(drain.step(*log, 1), 0U);  // asks for a seal at record 1
  EXPECT_EQ(drain.step(*log, 1), 0U);  // not answered: the consumer has recorded nothing since
  ASSERT_TRUE(writer.record(decoded(0, 0, 6)));  // answers, then opens a new run
  EXPECT_EQ(drain.step(*log, 1), 1U);            // moves record 0, asks again at 2
  ASSERT_TRUE(writer.record(decoded(0, 0, 7)));  // answers: its run closes too
  ASSERT_TRUE(writer.record(decoded(0, 0, 8)));
  EXPECT_EQ(drain.step(*log, 1), 1U);
  EXPECT_EQ(log->drained(), 2U);
  EXPECT_EQ(log->size(), 3U);
  const std::vector<DeliveryRecord> expected = {{0, 0, 1, DeliveryStatus::kOk, 0, 2, 5},
                                                {0, 0, 6, DeliveryStatus::kOk, 0, 2, 1},
                                                {0, 0, 7, DeliveryStatus::kOk, 0, 2, 2}};
  EXPECT_EQ(drain.everything(*log).records, expected);
}

TEST(DrainLog, ADeadConsumersRequestIsAnsweredByItsSuccessor) {
  SharedMemory shm(ConsumerLog::bytes_needed(4));
  auto* log = new (shm.get()) ConsumerLog(0, 4);
  Drained drain;
  {
    DeliveryLog first(*log, 0);
    for (std::uint64_t seq = 1; seq <= 3; ++seq) ASSERT_TRUE(first.record(decoded(0, 0, seq * 2)));
    EXPECT_EQ(drain.step(*log, 2), 0U);  // seal requested at 3; `first` dies unanswered
  }
  EXPECT_EQ(drain.step(*log, 2), 0U);
  DeliveryLog second(*log, 1);
  ASSERT_TRUE(second.record(decoded(0, 0, 7)));  // a successor answers at its first record
  EXPECT_EQ(drain.step(*log, 2), 3U);
  ASSERT_TRUE(second.record(decoded(0, 0, 8)));
  const ConsumerSnapshot s = drain.everything(*log);
  ASSERT_EQ(s.records.size(), 4U);
  EXPECT_EQ(s.records[3], (DeliveryRecord{0, 0, 7, DeliveryStatus::kOk, 0, 1, 2}));
}

TEST(DrainLog, AFullLogWaitsForTheDrainInsteadOfDroppingRecords) {
  const auto deliveries = choppy_deliveries(20'000);
  SharedMemory shm(ConsumerLog::bytes_needed(8));
  auto* log = new (shm.get()) ConsumerLog(0, 8);
  Drained drain;
  std::atomic<bool> done{false};
  std::thread drainer([&] {
    while (!done.load()) {
      drain.step(*log, 2);
      std::this_thread::sleep_for(50us);
    }
  });
  DeliveryLog writer(*log, 0, 10s);
  bool all = true;
  for (const auto& m : deliveries) all = writer.record(m) && all;
  done = true;
  drainer.join();
  EXPECT_TRUE(all);
  const ConsumerSnapshot s = drain.everything(*log);
  EXPECT_EQ(s.overflow, 0U);
  EXPECT_EQ(messages_in(s.records), deliveries.size());
}

TEST(DrainLog, AFullLogNobodyDrainsOverflowsAfterTheWait) {
  SharedMemory shm(ConsumerLog::bytes_needed(1));
  auto* log = new (shm.get()) ConsumerLog(0, 1);
  DeliveryLog writer(*log, 0, 20ms);
  ASSERT_TRUE(writer.record(decoded(0, 0, 1)));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(writer.record(decoded(0, 0, 3)));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
  EXPECT_EQ(log->snapshot().overflow, 1U);
}

// Across processes: the consumer writes through a log of 16 slots while the parent
// drains it, then is SIGKILLed at an arbitrary instruction. Every record is whole and
// the deliveries they stand for are exactly the ones the child made, in order, up to
// the last one it published.
TEST(DrainLog, AConsumerKilledWhileItsLogIsDrainedLeavesAnExactPrefix) {
  SharedMemory shm(ConsumerLog::bytes_needed(16));
  auto* log = new (shm.get()) ConsumerLog(0, 16);
  const pid_t pid = testing::fork_child([&]() {
    DeliveryLog writer(*log, 0, 10s);
    for (std::uint64_t i = 1;; ++i) {
      // Seqs 1, 2, 4, 5, 7, 8, ...: a record every two deliveries.
      if (!writer.record(decoded(0, 0, i + (i - 1) / 2))) return 3;
    }
  });
  ASSERT_GT(pid, 0);
  Drained drain;
  const auto until = std::chrono::steady_clock::now() + 300ms;
  while (std::chrono::steady_clock::now() < until) drain.step(*log, 4);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  const testing::ChildExit exit = testing::wait_child(pid, 10s);
  ASSERT_TRUE(exit.killed_by(SIGKILL)) << exit.describe();
  drain.step(*log, 4);
  const ConsumerSnapshot s = drain.everything(*log);
  EXPECT_EQ(s.overflow, 0U);
  ASSERT_GT(s.records.size(), 1'000U);  // the log went round many times
  std::uint64_t i = 1;
  for (const auto& r : s.records) {
    ASSERT_EQ(r.status, DeliveryStatus::kOk);
    for (std::uint32_t k = 0; k < r.count; ++k, ++i) ASSERT_EQ(r.seq + k, i + (i - 1) / 2) << i;
  }
}

TEST(MutexRecordJournal, OwnerDiedOnAnIntactRecordCountsARepairButNoTear) {
  MutexRecordJournal j;
  EXPECT_FALSE(j.enter(false).torn);
  j.update();
  // The owner "dies" inside the section: it never calls leave().
  const MutexEnterResult r = j.enter(/*owner_died=*/true);
  EXPECT_TRUE(r.repaired);
  EXPECT_FALSE(r.torn);
  EXPECT_FALSE(r.exclusion_violation);  // the dead owner's entry is forgotten
  j.update();
  j.leave();
  const MutexSnapshot s = j.snapshot();
  EXPECT_EQ(s.a, 2U);
  EXPECT_EQ(s.b, 2U);
  EXPECT_EQ(s.generation, 2U);
  EXPECT_EQ(s.updates, 2U);
  EXPECT_EQ(s.owner_died, 1U);
  EXPECT_EQ(s.repairs, 1U);
  EXPECT_EQ(s.torn_repaired, 0U);
  EXPECT_EQ(s.in_section, 0U);
  EXPECT_TRUE(check_mutex(s, 1, MutexLeft::kFree).ok());
  EXPECT_FALSE(check_mutex(s, 0, MutexLeft::kFree).ok())
      << "owner-died without any dead locker is a finding";
}

TEST(MutexRecordJournal, SecondLockerInsideTheSectionIsAnExclusionViolation) {
  MutexRecordJournal j;
  j.enter(false);
  EXPECT_TRUE(j.enter(false).exclusion_violation);
  j.leave();
  j.leave();
  const MutexSnapshot s = j.snapshot();
  EXPECT_EQ(s.exclusion_violations, 1U);
  EXPECT_FALSE(check_mutex(s, 0, MutexLeft::kFree).ok());
}

TEST(SemaphoreJournal, LedgerFoldsEndedIncarnations) {
  auto* j = new SemaphoreJournal(4, false);
  SemaphoreUserLedger* u = j->user(0);
  ASSERT_NE(u, nullptr);
  EXPECT_EQ(j->user(kMaxSemaphoreUsers), nullptr);
  u->begin_incarnation(0);
  u->before_wait();
  u->after_wait();
  u->before_wait();
  u->after_wait();
  u->before_post();
  u->after_post();
  u->before_wait();  // dies here: pending wait
  u->begin_incarnation(1);
  u->before_wait();
  u->cancel_wait();
  const SemaphoreSnapshot s = j->snapshot();
  ASSERT_EQ(s.users.size(), 1U);
  EXPECT_EQ(s.users[0].waits, 2U);
  EXPECT_EQ(s.users[0].posts, 1U);
  EXPECT_EQ(s.users[0].held_at_exit, 1);
  EXPECT_EQ(s.users[0].pending_waits, 1U);
  EXPECT_EQ(s.users[0].pending_posts, 0U);
  EXPECT_EQ(s.users[0].incarnations, 2U);
  delete j;
}

TEST(WorkerSlot, FailpointObserverRecordsTheInjection) {
  WorkerSlot slot;
  slot.begin(1234, 2);
  slot.enter_op(WorkerOp::kPush, 9);
  install_failpoint_observer(&slot);
  core::arm_failpoint(core::FailpointId::kRingPushBeforeCommit,
                      core::FailpointArm{core::FailpointAction::kDelay, 2, 1, 0});
  core::failpoint(core::FailpointId::kRingPushBeforeCommit);
  core::failpoint(core::FailpointId::kRingPushBeforeCommit);
  core::disarm_all_failpoints();
  install_failpoint_observer(nullptr);
  const WorkerSlotSnapshot s = slot.snapshot();
  EXPECT_EQ(s.pid, 1234);
  EXPECT_EQ(s.incarnation, 2U);
  EXPECT_EQ(s.state, WorkerState::kInOp);
  EXPECT_EQ(s.current_op, WorkerOp::kPush);
  EXPECT_EQ(s.op_seq, 9U);
  ASSERT_TRUE(s.injected);
  EXPECT_EQ(s.injected_failpoint, core::FailpointId::kRingPushBeforeCommit);
  EXPECT_EQ(s.injected_action, core::FailpointAction::kDelay);
  EXPECT_EQ(s.injected_occurrence, 2U);
  slot.leave_op();
  EXPECT_EQ(slot.snapshot().progress, 1U);
  EXPECT_EQ(slot.snapshot().state, WorkerState::kRunning);
}

// The child journals like a producer+consumer pair until the parent SIGKILLs it at
// an arbitrary instruction; every published record must still be readable and
// the ledgers consistent with one another.
TEST(Journals, ChildSigkilledMidWayLeavesConsistentReadableJournals) {
  auto layout = ControlLayout::compute(small_shape());
  ASSERT_TRUE(layout);
  SharedMemory shm(layout->total_bytes());
  ASSERT_NE(shm.get(), nullptr);
  auto view = layout->initialize(shm.get(), shm.size());
  ASSERT_TRUE(view);

  const pid_t pid = testing::fork_child([&]() {
    auto child = ControlView::attach(shm.get(), shm.size());
    if (!child) return 3;
    WorkerSlot& slot = child->worker(0);
    ProducerJournal& producer = child->producer(0);
    ConsumerLog& log = child->consumer(0);
    StatsBlock& stats = child->stats(0);
    slot.begin(static_cast<std::int32_t>(::getpid()), 0);
    slot.set_running();
    producer.begin_incarnation(0);
    for (std::uint64_t seq = 1;; ++seq) {
      slot.enter_op(WorkerOp::kPush, seq);
      producer.before_push(0, seq);
      if (!log.append(DeliveryRecord{0, 0, seq, DeliveryStatus::kOk, 0, 0, 1})) {
        for (;;) ::pause();  // log full: wait to be killed
      }
      producer.after_push(0, seq);
      stats.count_op(WorkerOp::kPush, 64);
      slot.leave_op();
    }
  });
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(testing::eventually([&] { return view->consumer(0).size() > 5'000; }));
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  const testing::ChildExit exit = testing::wait_child(pid, 10s);
  ASSERT_TRUE(exit.killed_by(SIGKILL)) << exit.describe();

  auto after = ControlView::attach(shm.get(), shm.size());
  ASSERT_TRUE(after);
  const ProducerSnapshot p = after->producer(0).snapshot();
  const ConsumerSnapshot c = after->consumer(0).snapshot();
  const WorkerSlotSnapshot w = after->worker(0).snapshot();
  ASSERT_EQ(p.incarnations.size(), 1U);
  const IncarnationSnapshot& inc = p.incarnations[0];
  // Protocol order: attempted = n, append n, acked = n.
  EXPECT_GE(inc.attempted, inc.acked);
  EXPECT_LE(inc.attempted, inc.acked + 1);
  EXPECT_GE(c.records.size(), inc.acked);
  EXPECT_LE(c.records.size(), inc.attempted);
  for (std::size_t i = 0; i < c.records.size(); ++i) {
    ASSERT_EQ(c.records[i].seq, i + 1) << "record " << i;
  }
  EXPECT_EQ(w.pid, pid);
  EXPECT_GE(w.progress + 1, inc.acked);
  EXPECT_LE(w.progress, inc.acked);

  // The checker reads the same state as a producer crash with at most one message in flight.
  MessageCheckInput input;
  input.producers = {p};
  input.consumers = {c};
  input.crashes = {CrashRecord{"producer", 0, 0, pid, w.current_op, w.op_seq, ""}};
  const MessageVerdict v = check_messages(input);
  EXPECT_EQ(v.counts.lost, 0U);
  EXPECT_EQ(v.counts.unexpected, 0U);
  EXPECT_EQ(v.counts.duplicated, 0U);
  EXPECT_EQ(v.counts.recovered + v.counts.in_flight_dropped, inc.attempted - inc.acked);
}

// A failpoint fires inside MutexRecordJournal::update(): the child dies holding a
// half-updated record, and the injection is on record in its WorkerSlot.
TEST(Journals, ChildKilledAtMidUpdateFailpointLeavesRepairableRecord) {
  auto layout = ControlLayout::compute(small_shape());
  ASSERT_TRUE(layout);
  SharedMemory shm(layout->total_bytes());
  auto view = layout->initialize(shm.get(), shm.size());
  ASSERT_TRUE(view);

  const pid_t pid = testing::fork_child([&]() {
    WorkerSlot& slot = view->worker(1);
    MutexRecordJournal& record = view->mutex(0);
    slot.begin(static_cast<std::int32_t>(::getpid()), 0);
    install_failpoint_observer(&slot);
    core::arm_failpoint(core::FailpointId::kMutexLockedMidUpdate,
                        core::FailpointArm{core::FailpointAction::kKill, 5, 0, 0});
    for (std::uint64_t i = 1; i <= 10; ++i) {
      slot.enter_op(WorkerOp::kUpdate, i);
      record.enter(false);
      record.update();
      record.leave();
      slot.leave_op();
    }
    return 0;  // not reached: killed on the 5th update
  });
  const testing::ChildExit exit = testing::wait_child(pid, 10s);
  ASSERT_TRUE(exit.killed_by(SIGKILL)) << exit.describe();

  const WorkerSlotSnapshot w = view->worker(1).snapshot();
  ASSERT_TRUE(w.injected);
  EXPECT_EQ(w.injected_failpoint, core::FailpointId::kMutexLockedMidUpdate);
  EXPECT_EQ(w.injected_occurrence, 5U);
  EXPECT_EQ(w.current_op, WorkerOp::kUpdate);
  EXPECT_EQ(w.op_seq, 5U);

  MutexSnapshot s = view->mutex(0).snapshot();
  EXPECT_EQ(s.updates, 4U);
  EXPECT_EQ(s.a, 5U);
  EXPECT_EQ(s.b, 4U);
  EXPECT_EQ(s.in_section, 1U);
  const MutexFindings before = check_mutex(s, /*locker_crashes=*/1, MutexLeft::kHeldByDead);
  EXPECT_FALSE(before.record_consistent);
  EXPECT_TRUE(before.ok()) << "an undiscovered dead owner explains the torn record";

  EXPECT_TRUE(view->mutex(0).enter(/*owner_died=*/true).torn);
  view->mutex(0).leave();
  s = view->mutex(0).snapshot();
  const MutexFindings after = check_mutex(s, 1, MutexLeft::kFree);
  EXPECT_TRUE(after.record_consistent);
  EXPECT_TRUE(after.ok());
  EXPECT_EQ(s.torn_repaired, 1U);
}

TEST(SegmentPage, WrittenPageReadsBackOkAndAFlippedByteIsTorn) {
  SharedMemory shm(4096);
  auto page = std::span(static_cast<std::byte*>(shm.get()), 256);
  std::vector<std::byte> scratch(256);
  EXPECT_EQ(read_page(page, 9, scratch).status, PageReadStatus::kEmpty);
  const PageWriteResult w = write_page(page, 9, 3);
  EXPECT_EQ(w.generation, 2U);
  EXPECT_FALSE(w.repaired);
  PageReadResult r = read_page(page, 9, scratch);
  EXPECT_EQ(r.status, PageReadStatus::kOk);
  EXPECT_EQ(r.writer, 3U);
  EXPECT_EQ(r.generation, 2U);
  EXPECT_EQ(read_page(page, 10, scratch).status, PageReadStatus::kTorn);  // other seed
  page[100] ^= std::byte{0x10};
  EXPECT_EQ(read_page(page, 9, scratch).status, PageReadStatus::kTorn);
}

TEST(SegmentPage, PageLeftOddByADeadWriterReadsBusyAndIsRepairedByTheNextWrite) {
  SharedMemory shm(4096);
  auto page = std::span(static_cast<std::byte*>(shm.get()), 256);
  std::vector<std::byte> scratch(256);
  const pid_t pid = testing::fork_child([&]() {
    core::arm_failpoint(core::FailpointId::kSegmentWriteMidPage,
                        core::FailpointArm{core::FailpointAction::kKill, 2, 0, 0});
    write_page(page, 1, 0);
    write_page(page, 1, 0);  // killed halfway through
    return 0;
  });
  ASSERT_TRUE(testing::wait_child(pid, 10s).killed_by(SIGKILL));
  EXPECT_EQ(read_page(page, 1, scratch).status, PageReadStatus::kBusy);
  const PageWriteResult w = write_page(page, 1, 1);
  EXPECT_TRUE(w.repaired);
  EXPECT_EQ(w.generation, 6U);
  EXPECT_EQ(read_page(page, 1, scratch).status, PageReadStatus::kOk);
}

TEST(ConsumerLog, SnapshotWhileAppendingSeesAConsistentPrefix) {
  constexpr std::uint64_t kRecords = 50'000;
  SharedMemory shm(ConsumerLog::bytes_needed(kRecords));
  auto* log = new (shm.get()) ConsumerLog(0, kRecords);
  std::thread writer([log] {
    for (std::uint64_t seq = 1; seq <= kRecords; ++seq) {
      log->append(DeliveryRecord{1, 2, seq, DeliveryStatus::kOk, 0, 0, 1});
    }
  });
  std::uint64_t last_size = 0;
  bool consistent = true;
  while (last_size < kRecords && consistent) {
    const ConsumerSnapshot s = log->snapshot();
    consistent = s.records.size() >= last_size;
    for (std::size_t i = 0; consistent && i < s.records.size(); ++i) {
      consistent = s.records[i].seq == i + 1 && s.records[i].producer == 1;
    }
    last_size = s.records.size();
  }
  writer.join();
  EXPECT_TRUE(consistent);
  EXPECT_EQ(log->snapshot().records.size(), kRecords);
}

TEST(ConsumerLog, SnapshotWhileARunGrowsSeesItsCountOnlyGrow) {
  constexpr std::uint64_t kMessages = 200'000;
  SharedMemory shm(ConsumerLog::bytes_needed(1));
  auto* log = new (shm.get()) ConsumerLog(0, 1);
  std::thread consumer([log] {
    DeliveryLog writer(*log, 0);
    for (std::uint64_t seq = 1; seq <= kMessages; ++seq) writer.record(decoded(1, 0, seq));
  });
  std::uint64_t last_count = 0;
  bool grows = true;
  while (last_count < kMessages && grows) {
    const ConsumerSnapshot s = log->snapshot();
    if (s.records.empty()) continue;
    grows = s.records.size() == 1 && s.records[0].seq == 1 && s.records[0].count >= last_count;
    last_count = s.records[0].count;
  }
  consumer.join();
  EXPECT_TRUE(grows);
  EXPECT_EQ(log->snapshot().records[0].count, kMessages);
}

TEST(SegmentPage, ConcurrentReaderNeverSeesATornPage) {
  SharedMemory shm(4096);
  auto page = std::span(static_cast<std::byte*>(shm.get()), 1024);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 20'000; ++i) write_page(page, 5, static_cast<std::uint32_t>(i % 3));
    done.store(true, std::memory_order_release);
  });
  std::vector<std::byte> scratch(1024);
  std::uint64_t torn = 0;
  std::uint64_t ok = 0;
  while (!done.load(std::memory_order_acquire)) {
    const PageReadResult r = read_page(page, 5, scratch);
    if (r.status == PageReadStatus::kTorn) ++torn;
    if (r.status == PageReadStatus::kOk) ++ok;
  }
  writer.join();
  EXPECT_EQ(torn, 0U) << ok << " reads were ok";
  const PageReadResult last = read_page(page, 5, scratch);
  EXPECT_EQ(last.status, PageReadStatus::kOk);
  EXPECT_EQ(last.generation, 40'000U);
}

}  // namespace
}  // namespace shmcheck::probes
