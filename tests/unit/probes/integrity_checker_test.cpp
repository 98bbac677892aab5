#include "shmcheck/probes/integrity_checker.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <new>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace shmcheck::probes {
namespace {

IncarnationSnapshot ledger(std::uint32_t incarnation, std::uint64_t attempted, std::uint64_t acked,
                           IncarnationState state = IncarnationState::kFinished) {
  return IncarnationSnapshot{incarnation, attempted, acked, state};
}

ProducerSnapshot producer(std::uint32_t id, std::vector<IncarnationSnapshot> incarnations) {
  return ProducerSnapshot{id, std::move(incarnations), 0};
}

DeliveryRecord ok(std::uint32_t p, std::uint32_t inc, std::uint64_t seq) {
  return DeliveryRecord{p, inc, seq, DeliveryStatus::kOk, 0, 0, 1};
}

DeliveryRecord with_status(DeliveryStatus status, std::uint32_t p = 0, std::uint64_t seq = 0,
                           std::int32_t claimer = 0) {
  return DeliveryRecord{p, 0, seq, status, claimer, 0, 1};
}

// A record standing for `count` messages from `first` (a run, as DeliveryLog writes).
DeliveryRecord run_of(std::uint32_t p, std::uint32_t inc, std::uint64_t first, std::uint32_t count,
                      std::uint32_t consumer_incarnation = 0) {
  return DeliveryRecord{p, inc, first, DeliveryStatus::kOk, 0, consumer_incarnation, count};
}

// seqs first..last of producer p incarnation inc, in order.
std::vector<DeliveryRecord> range(std::uint32_t p, std::uint32_t inc, std::uint64_t first,
                                  std::uint64_t last) {
  std::vector<DeliveryRecord> out;
  for (std::uint64_t s = first; s <= last; ++s) out.push_back(ok(p, inc, s));
  return out;
}

ConsumerSnapshot consumer(std::uint32_t id, std::vector<DeliveryRecord> records) {
  return ConsumerSnapshot{id, std::move(records), 0};
}

std::vector<DeliveryRecord> without(std::vector<DeliveryRecord> v,
                                    std::vector<std::uint64_t> seqs) {
  std::erase_if(v, [&](const DeliveryRecord& r) {
    return std::find(seqs.begin(), seqs.end(), r.seq) != seqs.end();
  });
  return v;
}

// The verdict's only (or first) crash attribution has this effect and says `text`.
void expect_crash(const MessageVerdict& v, const std::string& effect, const std::string& text) {
  ASSERT_FALSE(v.crashes.empty());
  EXPECT_EQ(v.crashes[0].effect, effect);
  EXPECT_NE(v.crashes[0].description.find(text), std::string::npos) << v.crashes[0].description;
}

bool has_example(const MessageVerdict& v, const std::string& kind, std::uint64_t seq) {
  return std::any_of(v.examples.begin(), v.examples.end(),
                     [&](const IntegrityExample& e) { return e.kind == kind && e.key.seq == seq; });
}

TEST(IntegrityChecker, CleanRunWithTwoProducersAndTwoConsumersHasNoViolations) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 100, 100)}), producer(1, {ledger(0, 50, 50)})};
  // Each consumer receives an ascending subsequence of each producer, interleaved.
  std::vector<DeliveryRecord> c0;
  std::vector<DeliveryRecord> c1;
  for (std::uint64_t s = 1; s <= 100; ++s) (s % 3 == 0 ? c1 : c0).push_back(ok(0, 0, s));
  for (std::uint64_t s = 1; s <= 50; ++s) (s % 2 == 0 ? c1 : c0).push_back(ok(1, 0, s));
  in.consumers = {consumer(0, c0), consumer(1, c1)};
  const MessageVerdict v = check_messages(in);
  IntegrityCounts expected;
  expected.attempted = 150;
  expected.acked = 150;
  expected.delivered = 150;
  EXPECT_EQ(v.counts, expected);
  EXPECT_EQ(v.counts.violations(), 0U);
  EXPECT_TRUE(v.counts.complete);
  EXPECT_TRUE(v.examples.empty());
  EXPECT_TRUE(v.crashes.empty());
}

TEST(IntegrityChecker, AckedButNeverDeliveredIsLost) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 10, 10)})};
  in.consumers = {consumer(0, without(range(0, 0, 1, 10), {4, 7}))};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.lost, 2U);
  EXPECT_EQ(v.counts.lost_at_crash, 0U);
  EXPECT_EQ(v.counts.violations(), 2U);
  EXPECT_TRUE(has_example(v, "lost", 4));
  EXPECT_TRUE(has_example(v, "lost", 7));
}

TEST(IntegrityChecker, EveryAckedMessageOfAProducerWithNoDeliveriesIsLost) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 10, 10), ledger(1, 5, 5)})};
  in.consumers = {consumer(0, range(0, 0, 1, 10))};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.lost, 5U);
}

TEST(IntegrityChecker, DeliveredButNeverAttemptedIsUnexpected) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 10, 10)})};
  auto records = range(0, 0, 1, 10);
  records.push_back(ok(0, 0, 11));  // beyond attempted
  records.push_back(ok(0, 3, 1));   // an incarnation that never began
  records.push_back(ok(9, 0, 1));   // a producer that does not exist
  records.push_back(ok(0, 0, 0));   // seq 0 is never sent
  in.consumers = {consumer(0, records)};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.unexpected, 4U);
  EXPECT_EQ(v.counts.lost, 0U);
  EXPECT_TRUE(has_example(v, "unexpected", 11));
}

TEST(IntegrityChecker, ForeignMessagesCountAsUnexpected) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 3, 3)})};
  auto records = range(0, 0, 1, 3);
  records.push_back(with_status(DeliveryStatus::kForeign, 0, 2));
  in.consumers = {consumer(0, records)};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.foreign, 1U);
  EXPECT_EQ(v.counts.unexpected, 1U);
  EXPECT_EQ(v.counts.duplicated, 0U);
}

TEST(IntegrityChecker, SameMessageDeliveredTwiceIsDuplicated) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 10, 10)})};
  in.consumers = {consumer(0, range(0, 0, 1, 10)), consumer(1, {ok(0, 0, 5), ok(0, 0, 5)})};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.duplicated, 2U);
  EXPECT_EQ(v.counts.lost, 0U);
  EXPECT_EQ(v.counts.reordered, 0U);
  EXPECT_TRUE(has_example(v, "duplicated", 5));
}

TEST(IntegrityChecker, InFlightAtProducerCrashAndDeliveredIsRecovered) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 11, 10, IncarnationState::kActive), ledger(1, 3, 3)})};
  auto records = range(0, 0, 1, 11);
  const auto second = range(0, 1, 1, 3);
  records.insert(records.end(), second.begin(), second.end());
  in.consumers = {consumer(0, records)};
  in.crashes = {CrashRecord{"producer", 0, 0, 4242, WorkerOp::kPush, 11, "ring.push.after_commit"}};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.recovered, 1U);
  EXPECT_EQ(v.counts.in_flight_dropped, 0U);
  EXPECT_EQ(v.counts.unexpected, 0U);
  EXPECT_EQ(v.counts.violations(), 0U);
  ASSERT_EQ(v.crashes.size(), 1U);
  EXPECT_EQ(v.crashes[0].effect, "recovered");
  ASSERT_TRUE(v.crashes[0].message.has_value());
  EXPECT_EQ(v.crashes[0].message->seq, 11U);
  EXPECT_NE(v.crashes[0].description.find("ring.push.after_commit"), std::string::npos);
}

TEST(IntegrityChecker, InFlightAtProducerCrashAndNotDeliveredIsDroppedNotLost) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 11, 10, IncarnationState::kActive)})};
  in.consumers = {consumer(0, range(0, 0, 1, 10))};
  in.crashes = {CrashRecord{"producer", 0, 0, 4242, WorkerOp::kPush, 11, ""}};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.in_flight_dropped, 1U);
  EXPECT_EQ(v.counts.lost, 0U);
  EXPECT_EQ(v.counts.violations(), 0U);
  EXPECT_EQ(v.crashes.at(0).effect, "in_flight_dropped");
}

// A producer that died pushing a burst of seqs 11..15 (attempted 15, acked 10).
MessageCheckInput burst_in_flight(std::uint64_t delivered_up_to) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 15, 10, IncarnationState::kActive)})};
  in.consumers = {consumer(0, range(0, 0, 1, delivered_up_to))};
  in.crashes = {CrashRecord{"producer", 0, 0, 4242, WorkerOp::kPush, 11, "ring.push.mid_payload"}};
  return in;
}

TEST(IntegrityChecker, BurstInFlightArrivesWholeAsAPrefixOrNotAtAll) {
  struct Case {
    std::uint64_t delivered_up_to;
    std::uint64_t recovered, dropped;
    const char* effect;
    const char* description;
  };
  for (const Case& c : {
           Case{15, 5, 0, "recovered", "seqs 11..15; delivered"},
           // The ring had room for two: the push published 11..12 and the producer
           // died before it returned (ring.push.after_commit), 13..15 still to push.
           Case{12, 2, 3, "recovered", "2 of them delivered"},
           Case{10, 0, 5, "in_flight_dropped", "seqs 11..15; never delivered"},
       }) {
    const MessageVerdict v = check_messages(burst_in_flight(c.delivered_up_to));
    SCOPED_TRACE(c.delivered_up_to);
    EXPECT_EQ(v.counts.recovered, c.recovered);
    EXPECT_EQ(v.counts.in_flight_dropped, c.dropped);
    EXPECT_EQ(v.counts.violations(), 0U);
    ASSERT_EQ(v.crashes.size(), 1U);
    EXPECT_EQ(v.crashes[0].effect, c.effect);
    EXPECT_NE(v.crashes[0].description.find(c.description), std::string::npos)
        << v.crashes[0].description;
  }
}

TEST(IntegrityChecker, InFlightMessageSkippedWhileALaterOneArrivedIsLost) {
  // 13 arrived, so 11 and 12 (published before it, in the same push) were committed.
  MessageCheckInput in = burst_in_flight(10);
  in.consumers = {consumer(0, [] {
    auto records = range(0, 0, 1, 10);
    records.push_back(ok(0, 0, 13));
    return records;
  }())};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.recovered, 1U);
  EXPECT_EQ(v.counts.lost, 2U);
  EXPECT_EQ(v.counts.in_flight_dropped, 2U);  // 14, 15
  EXPECT_TRUE(has_example(v, "lost", 11));
  EXPECT_TRUE(has_example(v, "lost", 12));
}

TEST(IntegrityChecker, ConsumerDeathInsideABurstPopExplainsUpToTheBurst) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 20, 20)})};
  in.consumers = {consumer(0, without(range(0, 0, 1, 20), {6, 7, 8, 9}))};
  in.crashes = {CrashRecord{"consumer", 0, 0, 5151, WorkerOp::kPop, 0, "ring.pop.before_release"}};
  in.messages_per_pop = 4;
  MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.lost, 0U);
  EXPECT_EQ(v.counts.lost_at_crash, 4U);
  in.messages_per_pop = 3;
  v = check_messages(in);
  EXPECT_EQ(v.counts.lost, 1U);
  EXPECT_EQ(v.counts.lost_at_crash, 3U);
}

// Seqs first..last of producer 0 incarnation 0, recorded by consumer incarnation `by`.
std::vector<DeliveryRecord> recorded_by(std::uint32_t by, std::uint64_t first, std::uint64_t last) {
  auto records = range(0, 0, first, last);
  for (auto& r : records) r.consumer_incarnation = by;
  return records;
}

std::vector<DeliveryRecord> operator+(std::vector<DeliveryRecord> a,
                                      const std::vector<DeliveryRecord>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Consumer 0 incarnation 0 records 1..7 (its pops 1..4 took one message each, its fifth
// took 5..7, a burst of 3) and dies in that pop before releasing it; incarnation 1 reads
// 5..7 again, then 8..20.
MessageCheckInput reread_after_crash(bool successor_rereads) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 20, 20)})};
  in.consumers = {consumer(0, recorded_by(0, 1, 7) + recorded_by(1, 5, 20))};
  CrashRecord crash{"consumer", 0, 0, 5151, WorkerOp::kPop, 5, "ring.pop.before_release"};
  crash.successor_rereads = successor_rereads;
  in.crashes = {crash};
  in.messages_per_pop = 3;
  return in;
}

TEST(IntegrityChecker, WhatAConsumerKilledInPopRecordedAndDidNotReleaseIsRedelivered) {
  const MessageVerdict v = check_messages(reread_after_crash(true));
  EXPECT_EQ(v.counts.redelivered, 3U);
  EXPECT_EQ(v.counts.duplicated, 0U);
  EXPECT_EQ(v.counts.reordered, 0U) << "the successor reads 5 and 6 after the 7 before it";
  EXPECT_FALSE(has_example(v, "reordered", 5));
  EXPECT_EQ(v.counts.delivered, 23U);
  EXPECT_EQ(v.counts.violations(), 0U);
  ASSERT_EQ(v.crashes.size(), 1U);
  expect_crash(v, "reread", "3 it had recorded: delivered twice");
}

TEST(IntegrityChecker, ARedeliveryNeedsADeathInPopOnARingThatRereadsWithinOnePop) {
  // An MPMC consumer's successor never rereads: the copies are duplicates.
  MessageVerdict v = check_messages(reread_after_crash(false));
  EXPECT_EQ(v.counts.redelivered, 0U);
  EXPECT_EQ(v.counts.duplicated, 3U);
  EXPECT_TRUE(has_example(v, "duplicated", 5));
  // Died outside pop: nothing was held.
  MessageCheckInput in = reread_after_crash(true);
  in.crashes[0].op = WorkerOp::kNone;
  v = check_messages(in);
  EXPECT_EQ(v.counts.redelivered, 0U);
  EXPECT_EQ(v.counts.duplicated, 3U);
  // No crash at all (a new incarnation for another reason).
  in.crashes.clear();
  EXPECT_EQ(check_messages(in).counts.duplicated, 3U);
  // A pop takes one message: only the last one recorded (7) comes again legitimately.
  in = reread_after_crash(true);
  in.messages_per_pop = 1;
  v = check_messages(in);
  EXPECT_EQ(v.counts.redelivered, 1U);
  EXPECT_EQ(v.counts.duplicated, 2U);
  EXPECT_TRUE(has_example(v, "duplicated", 5));
  EXPECT_TRUE(has_example(v, "duplicated", 6));
  EXPECT_FALSE(has_example(v, "duplicated", 7));
  // Another consumer's copies of them are duplicates whoever died.
  in = reread_after_crash(true);
  in.consumers = {consumer(0, recorded_by(0, 1, 7) + recorded_by(1, 8, 20)),
                  consumer(1, recorded_by(0, 5, 7))};
  v = check_messages(in);
  EXPECT_EQ(v.counts.redelivered, 0U);
  EXPECT_EQ(v.counts.duplicated, 3U);
  // The successor reading older messages again: a duplicate, whatever its crash.
  in = reread_after_crash(true);
  in.consumers = {consumer(0, recorded_by(0, 1, 7) + recorded_by(1, 2, 20))};
  v = check_messages(in);
  EXPECT_EQ(v.counts.redelivered, 3U);
  EXPECT_EQ(v.counts.duplicated, 3U);  // 2, 3, 4
  EXPECT_EQ(v.counts.reordered, 3U);   // 2, 3, 4 after 7
  EXPECT_TRUE(has_example(v, "reordered", 2));
  // The successor's copies in one run record, as a DeliveryLog writes them.
  in.consumers = {consumer(0, recorded_by(0, 1, 7) + std::vector{run_of(0, 0, 5, 16, 1)})};
  v = check_messages(in);
  EXPECT_EQ(v.counts.redelivered, 3U);
  EXPECT_EQ(v.counts.duplicated, 0U);
  EXPECT_EQ(v.counts.reordered, 0U);
  EXPECT_EQ(v.counts.delivered, 23U);
}

TEST(IntegrityChecker, OnlyWhatADeadConsumerRecordedInThePopInFlightMayComeTwice) {
  // It had released 1..7 (7 pops done) and died waiting in its eighth: a copy of 7 is a
  // duplicate, though 7 is its last record.
  MessageCheckInput in = reread_after_crash(true);
  in.consumers = {consumer(0, recorded_by(0, 1, 7) + recorded_by(1, 7, 20))};
  in.crashes[0].op_seq = 8;
  MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.redelivered, 0U);
  EXPECT_EQ(v.counts.duplicated, 1U);
  EXPECT_TRUE(has_example(v, "duplicated", 7));
  // It had released 1..6 (pop 7 in flight took 7): one copy is explained.
  in.crashes[0].op_seq = 7;
  v = check_messages(in);
  EXPECT_EQ(v.counts.redelivered, 1U);
  EXPECT_EQ(v.counts.duplicated, 0U);
}

TEST(IntegrityChecker, ASuccessorKilledWhileReadingAgainLeavesBothDeathsToExplain) {
  // Incarnation 1 reads 5 and 6 again, records them, and is killed in that pop (its
  // first) too; incarnation 2 reads 5..7 again: 5 and 6 from incarnation 1's records, 7
  // from incarnation 0's.
  MessageCheckInput in = reread_after_crash(true);
  in.consumers = {consumer(0, recorded_by(0, 1, 7) + recorded_by(1, 5, 6) + recorded_by(2, 5, 20))};
  CrashRecord second = in.crashes[0];
  second.incarnation = 1;
  second.pid = 5152;
  second.op_seq = 1;
  in.crashes.push_back(second);
  MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.redelivered, 5U);
  EXPECT_EQ(v.counts.duplicated, 0U);
  EXPECT_EQ(v.counts.violations(), 0U);
  // Nobody restarted after the second death: the harness found 5..7 in the ring.
  DeliveryTally tally;
  for (const auto& r : recorded_by(0, 1, 7) + recorded_by(1, 5, 6)) tally.add(0, r);
  for (const auto& r : range(0, 0, 5, 7)) tally.add_left_in_ring(r);
  in.producers = {producer(0, {ledger(0, 7, 7)})};
  v = std::move(tally).finish(in);
  EXPECT_EQ(v.counts.redelivered, 5U);
  EXPECT_EQ(v.counts.duplicated, 0U);
}

TEST(IntegrityChecker, ASpscConsumerKilledInPopExplainsNoLoss) {
  // Its ring kept what it did not record: a message missing after it is lost.
  MessageCheckInput in = reread_after_crash(true);
  in.consumers = {consumer(0, recorded_by(0, 1, 7) + recorded_by(1, 9, 20))};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.lost, 1U);
  EXPECT_EQ(v.counts.lost_at_crash, 0U);
  EXPECT_TRUE(has_example(v, "lost", 8));
}

// Nobody restarted it (or the watchdog killed it, ending a stalled run): the harness
// found 5..7 in the ring after the run.
TEST(IntegrityChecker, WhatADeadConsumerRecordedAndLeftInTheRingIsRedelivered) {
  for (const bool by_watchdog : {false, true}) {
    SCOPED_TRACE(by_watchdog ? "killed by the watchdog" : "killed by a fault");
    MessageCheckInput in = reread_after_crash(true);
    in.producers = {producer(0, {ledger(0, 7, 7)})};
    in.crashes[0].by_watchdog = by_watchdog;
    in.stalled = by_watchdog ? 1 : 0;
    DeliveryTally tally;
    for (const auto& r : recorded_by(0, 1, 7)) tally.add(0, r);
    for (const auto& r : range(0, 0, 5, 7)) tally.add_left_in_ring(r);
    const MessageVerdict v = std::move(tally).finish(in);
    EXPECT_EQ(v.counts.redelivered, 3U);
    EXPECT_EQ(v.counts.duplicated, 0U);
    EXPECT_EQ(v.counts.left_in_ring, 3U);
    EXPECT_EQ(v.counts.violations(), in.stalled);
  }
}

// An MPMC ring: consumer 0 (pid 5151) records 1..`recorded_to` and dies in pop holding
// 7; a producer publishes 7 again, which consumer 1 takes after 8..10, then 11..20.
MessageCheckInput republished_after_crash(std::uint64_t recorded_to) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 20, 20)})};
  DeliveryRecord again = ok(0, 0, 7);
  again.claimer_pid = 5151;
  in.consumers = {consumer(0, range(0, 0, 1, recorded_to)),
                  consumer(1, range(0, 0, 8, 10) + std::vector{again} + range(0, 0, 11, 20))};
  // Its pops 1..6 took 1..6; the seventh claimed 7 (and may have recorded it).
  in.crashes = {CrashRecord{"consumer", 0, 0, 5151, WorkerOp::kPop, 7, "ring.pop.before_release"}};
  return in;
}

TEST(IntegrityChecker, AMessagePublishedAgainAfterItsConsumerDiedIsLateNotReordered) {
  const MessageVerdict v = check_messages(republished_after_crash(6));
  EXPECT_EQ(v.counts.delivered, 20U);
  EXPECT_EQ(v.counts.reordered, 0U);
  EXPECT_EQ(v.counts.redelivered, 0U);
  EXPECT_EQ(v.counts.lost_at_crash, 0U);
  EXPECT_EQ(v.counts.violations(), 0U);
  ASSERT_EQ(v.crashes.size(), 1U);
  expect_crash(v, "reread", "(1 message, delivered late)");
}

TEST(IntegrityChecker, AMessageItsDeadConsumerRecordedAndTheRingPublishedAgainIsRedelivered) {
  MessageCheckInput in = republished_after_crash(7);
  MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.delivered, 21U);
  EXPECT_EQ(v.counts.redelivered, 1U);
  EXPECT_EQ(v.counts.duplicated, 0U);
  EXPECT_EQ(v.counts.violations(), 0U);
  expect_crash(v, "reread", "1 it had recorded: delivered twice");
  // Whichever log the harness drains first.
  DeliveryTally tally;
  for (const auto& r : in.consumers[1].records) tally.add(1, r);
  for (const auto& r : in.consumers[0].records) tally.add(0, r);
  EXPECT_EQ(std::move(tally).finish(in).counts, v.counts);
  // The ring named a consumer that did not die in pop: a duplicate.
  in.crashes[0].op = WorkerOp::kNone;
  v = check_messages(in);
  EXPECT_EQ(v.counts.redelivered, 0U);
  EXPECT_EQ(v.counts.duplicated, 1U);
  EXPECT_TRUE(has_example(v, "duplicated", 7));
}

TEST(IntegrityChecker, ACrashSaysWhoTookTheDeadConsumersMessageAndWhetherItHeldOne) {
  // The harness took 7 from the ring after the run: no other consumer did.
  MessageCheckInput in = republished_after_crash(7);
  for (auto& r : in.consumers[1].records) r.claimer_pid = 0;
  std::erase_if(in.consumers[1].records, [](const DeliveryRecord& r) { return r.seq == 7; });
  DeliveryTally tally;
  for (const auto& c : in.consumers) {
    for (const auto& r : c.records) tally.add(c.consumer, r);
  }
  DeliveryRecord again = ok(0, 0, 7);
  again.claimer_pid = 5151;
  tally.add_left_in_ring(again);
  MessageVerdict v = std::move(tally).finish(in);
  EXPECT_EQ(v.counts.redelivered, 1U);
  expect_crash(v, "reread",
               "the harness took what it held from the ring after the run (1 message, 1 it "
               "had recorded");
  // An MPMC consumer that died in pop while nothing was lost held no message.
  in = republished_after_crash(6);
  in.consumers[1].records = range(0, 0, 7, 20);
  v = check_messages(in);
  EXPECT_EQ(v.counts.violations(), 0U);
  expect_crash(v, "none", "inside pop holding no message");
}

TEST(IntegrityChecker, AnMpmcConsumerWhoseMessageWasPublishedAgainExplainsNoLoss) {
  MessageCheckInput in = republished_after_crash(7);
  std::erase_if(in.consumers[1].records, [](const DeliveryRecord& r) { return r.seq == 15; });
  MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.lost, 1U);
  EXPECT_EQ(v.counts.lost_at_crash, 0U);
  // One whose message was not (the run ended first) may have taken it with it.
  in.consumers[1].records = range(0, 0, 8, 20);
  std::erase_if(in.consumers[1].records, [](const DeliveryRecord& r) { return r.seq == 15; });
  in.consumers[0].records = range(0, 0, 1, 6);
  v = check_messages(in);
  EXPECT_EQ(v.counts.lost_at_crash, 1U);
  EXPECT_EQ(v.counts.lost, 1U);
  EXPECT_EQ(v.crashes.at(0).effect, "lost_in_pop");
  // Only while the ring still holds a slot it claimed (the harness counts them after
  // its drain): a consumer killed waiting in an empty ring claimed nothing, and its
  // death excused a message really lost (a helper's ring that dropped 20 acked messages
  // passed, "20 taken by a killed consumer", beside random consumer kills).
  in.crashes.at(0).claims_left = 0;
  v = check_messages(in);
  EXPECT_EQ(v.counts.lost_at_crash, 0U);
  EXPECT_EQ(v.counts.lost, 2U);
  EXPECT_EQ(v.crashes.at(0).effect, "none");
  in.crashes.at(0).claims_left = 1;
  v = check_messages(in);
  EXPECT_EQ(v.counts.lost_at_crash, 1U);
  EXPECT_EQ(v.counts.lost, 1U);
}

TEST(IntegrityChecker, UnackedMessageOfACleanlyExitedProducerIsUnexpectedNotRecovered) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 11, 10, IncarnationState::kFinished)})};
  in.consumers = {consumer(0, range(0, 0, 1, 11))};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.recovered, 0U);
  EXPECT_EQ(v.counts.unexpected, 1U);
}

TEST(IntegrityChecker, FailedChecksumRecordsAreTorn) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 5, 5)})};
  auto records = range(0, 0, 1, 5);
  records.push_back(with_status(DeliveryStatus::kTorn, 0, 3));
  in.consumers = {consumer(0, records)};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.torn, 1U);
  EXPECT_EQ(v.counts.duplicated, 0U);  // a torn record is not a delivery
  EXPECT_EQ(v.counts.violations(), 1U);
}

TEST(IntegrityChecker, LowerSeqAfterHigherOneAtTheSameConsumerIsReordered) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 5, 5)})};
  in.consumers = {consumer(0, {ok(0, 0, 1), ok(0, 0, 2), ok(0, 0, 4), ok(0, 0, 3), ok(0, 0, 5)})};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.reordered, 1U);
  EXPECT_EQ(v.counts.lost, 0U);
  EXPECT_TRUE(has_example(v, "reordered", 3));
}

TEST(IntegrityChecker, OrderAcrossConsumersIsNotRequired) {
  // Consumer 1 holds seq 1 but logs after consumer 0 logged seq 2: allowed for MPMC.
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 4, 4)})};
  in.consumers = {consumer(0, {ok(0, 0, 2), ok(0, 0, 3)}), consumer(1, {ok(0, 0, 1), ok(0, 0, 4)})};
  EXPECT_EQ(check_messages(in).counts.reordered, 0U);
}

TEST(IntegrityChecker, OrderIsPerProducerIncarnation) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 5, 5, IncarnationState::kActive), ledger(1, 2, 2)}),
                  producer(1, {ledger(0, 2, 2)})};
  in.consumers = {consumer(0, {ok(0, 0, 5), ok(1, 0, 1), ok(0, 1, 1), ok(1, 0, 2), ok(0, 1, 2)})};
  in.crashes = {CrashRecord{"producer", 0, 0, 77, WorkerOp::kNone, 0, ""}};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.reordered, 0U);
  EXPECT_EQ(v.counts.lost, 4U);  // producer 0 incarnation 0 seqs 1..4
}

TEST(IntegrityChecker, AbandonedSlotOfACrashedProducerIsExplained) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 6, 5, IncarnationState::kActive)})};
  auto records = range(0, 0, 1, 5);
  records.push_back(with_status(DeliveryStatus::kAbandoned, 0, 0, /*claimer=*/4242));
  in.consumers = {consumer(0, records)};
  in.crashes = {CrashRecord{"producer", 0, 0, 4242, WorkerOp::kPush, 6, "ring.push.mid_payload"}};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.abandoned, 1U);
  EXPECT_EQ(v.counts.abandoned_unexplained, 0U);
  EXPECT_EQ(v.counts.in_flight_dropped, 1U);
  EXPECT_EQ(v.counts.violations(), 0U);
  EXPECT_EQ(v.crashes.at(0).effect, "abandoned_slot");
}

TEST(IntegrityChecker, AbandonedSlotWithALiveClaimerIsAViolation) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 5, 5)})};
  auto records = range(0, 0, 1, 5);
  records.push_back(with_status(DeliveryStatus::kAbandoned, 0, 0, /*claimer=*/999));
  in.consumers = {consumer(0, records)};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.abandoned, 1U);
  EXPECT_EQ(v.counts.abandoned_unexplained, 1U);
  EXPECT_EQ(v.counts.violations(), 1U);
}

TEST(IntegrityChecker, ConsumerDeathInsidePopExplainsAtMostOneLostMessage) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 10, 10)})};
  in.consumers = {consumer(0, without(range(0, 0, 1, 10), {6}))};
  in.crashes = {CrashRecord{"consumer", 0, 0, 5151, WorkerOp::kPop, 0, "ring.pop.before_release"}};
  MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.lost, 0U);
  EXPECT_EQ(v.counts.lost_at_crash, 1U);
  EXPECT_EQ(v.counts.violations(), 0U);
  EXPECT_EQ(v.crashes.at(0).effect, "lost_in_pop");
  EXPECT_TRUE(has_example(v, "lost_at_crash", 6));

  in.consumers = {consumer(0, without(range(0, 0, 1, 10), {6, 8}))};
  v = check_messages(in);
  EXPECT_EQ(v.counts.lost, 1U);
  EXPECT_EQ(v.counts.lost_at_crash, 1U);
}

TEST(IntegrityChecker, ConsumerDeathOutsidePopExplainsNothing) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 10, 10)})};
  in.consumers = {consumer(0, without(range(0, 0, 1, 10), {6}))};
  in.crashes = {CrashRecord{"consumer", 0, 0, 5151, WorkerOp::kNone, 0, ""}};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.lost, 1U);
  EXPECT_EQ(v.crashes.at(0).effect, "none");
}

// What the harness drains from a ring after the run covers acked messages (not lost)
// without being counted delivered, and is checked as deliveries are: a copy of a
// delivered message still in the ring is a duplicate, a torn one is torn, and an
// abandoned slot's claimer must be a crashed worker.
TEST(IntegrityChecker, MessagesLeftInARingCoverTheAckedAndAreCheckedLikeDeliveries) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 10, 10)})};
  DeliveryTally tally;
  for (const auto& r : range(0, 0, 1, 6)) tally.add(0, r);
  for (const auto& r : range(0, 0, 7, 10)) tally.add_left_in_ring(r);
  const MessageVerdict v = DeliveryTally(tally).finish(in);
  EXPECT_EQ(v.counts.delivered, 6U);
  EXPECT_EQ(v.counts.left_in_ring, 4U);
  EXPECT_EQ(v.counts.lost, 0U);
  EXPECT_EQ(v.counts.violations(), 0U);
  EXPECT_TRUE(v.counts.complete);

  tally.add_left_in_ring(ok(0, 0, 6));  // delivered, and still in the ring
  tally.add_left_in_ring(with_status(DeliveryStatus::kTorn, 0, 11));
  tally.add_left_in_ring(with_status(DeliveryStatus::kAbandoned, 0, 0, 4242));
  const MessageVerdict bad = DeliveryTally(tally).finish(in);
  EXPECT_EQ(bad.counts.duplicated, 1U);
  EXPECT_EQ(bad.counts.torn, 1U);
  EXPECT_EQ(bad.counts.abandoned_unexplained, 1U);
  EXPECT_TRUE(has_example(bad, "duplicated", 6));
  const auto torn = std::find_if(bad.examples.begin(), bad.examples.end(),
                                 [](const IntegrityExample& e) { return e.kind == "torn"; });
  ASSERT_NE(torn, bad.examples.end());
  EXPECT_EQ(torn->consumer, kLeftInRing);
}

// A full delivery log drops records (a message each): as many acked messages as it
// dropped are not proved lost, only unchecked (`unlogged`, no violation; the check is
// incomplete, which fails the run on its own). Missing beyond that are lost.
TEST(IntegrityChecker, AckedMessagesAFullLogMayHaveDroppedAreUnloggedNotLost) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 10, 10)})};
  in.consumers = {consumer(0, without(range(0, 0, 1, 10), {4, 7}))};
  in.consumers[0].overflow = 2;
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.unlogged, 2U);
  EXPECT_EQ(v.counts.lost, 0U);
  EXPECT_EQ(v.counts.violations(), 0U);
  EXPECT_FALSE(v.counts.complete);
  EXPECT_TRUE(has_example(v, "unlogged", 4));

  in.consumers[0].overflow = 1;  // one dropped record cannot hide two messages
  const MessageVerdict more = check_messages(in);
  EXPECT_EQ(more.counts.unlogged, 1U);
  EXPECT_EQ(more.counts.lost, 1U);
  EXPECT_TRUE(has_example(more, "lost", 4));

  in.consumers[0].overflow = 0;
  const MessageVerdict none = check_messages(in);
  EXPECT_EQ(none.counts.unlogged, 0U);
  EXPECT_EQ(none.counts.lost, 2U);
}

TEST(IntegrityChecker, LogOverflowOrUntrackedIncarnationsMakeTheVerdictIncomplete) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 3, 3)})};
  in.consumers = {consumer(0, range(0, 0, 1, 3))};
  in.consumers[0].overflow = 2;
  EXPECT_FALSE(check_messages(in).counts.complete);
  in.consumers[0].overflow = 0;
  in.producers[0].untracked_incarnations = 1;
  in.consumers[0].records.push_back(ok(0, kLedgerSlots, 1));
  const MessageVerdict v = check_messages(in);
  EXPECT_FALSE(v.counts.complete);
  EXPECT_EQ(v.counts.unexpected, 0U) << "untracked incarnations are not judged";
}

TEST(IntegrityChecker, StallsArePassedThroughAsViolations) {
  MessageCheckInput in;
  in.stalled = 2;
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.stalled, 2U);
  EXPECT_EQ(v.counts.violations(), 2U);
}

// The watchdog ends a stalled run by killing the consumers, with messages still in the
// rings: those acked and not delivered are stranded, not lost. A message skipped while
// a later one of the same push arrived is lost all the same.
TEST(IntegrityChecker, AckedButUndeliveredInAStalledRunIsStrandedNotLost) {
  MessageCheckInput in = burst_in_flight(10);
  in.producers.push_back(producer(1, {ledger(0, 10, 10)}));
  auto records = range(0, 0, 1, 10);
  records.push_back(ok(0, 0, 13));
  for (auto& r : without(range(1, 0, 1, 10), {9, 10})) records.push_back(r);
  in.consumers = {consumer(0, records)};
  in.stalled = 1;
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.stranded, 2U);
  EXPECT_EQ(v.counts.lost, 2U);  // 11 and 12, skipped while 13 arrived
  EXPECT_EQ(v.counts.violations(), 3U);
  EXPECT_TRUE(has_example(v, "stranded", 9));
  EXPECT_TRUE(has_example(v, "lost", 11));

  in.stalled = 0;
  const MessageVerdict unstalled = check_messages(in);
  EXPECT_EQ(unstalled.counts.stranded, 0U);
  EXPECT_EQ(unstalled.counts.lost, 4U);
}

// A consumer the watchdog killed inside pop, as it ended a stalled run, explains no
// loss: what it may have held is stranded like the rest. Killed so by a fault, it does.
TEST(IntegrityChecker, AConsumerTheWatchdogKilledInsidePopLeavesItsMessageStranded) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 10, 10)})};
  in.consumers = {consumer(0, range(0, 0, 1, 7))};
  in.stalled = 1;
  CrashRecord killed{"consumer", 0, 0, 4343, WorkerOp::kPop, 8, ""};
  killed.by_watchdog = true;
  in.crashes = {killed};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.lost_at_crash, 0U);
  EXPECT_EQ(v.counts.stranded, 3U);
  ASSERT_EQ(v.crashes.size(), 1U);
  EXPECT_EQ(v.crashes[0].effect, "stranded");

  in.crashes[0].by_watchdog = false;  // an injected kill, then the stall
  const MessageVerdict faulted = check_messages(in);
  EXPECT_EQ(faulted.counts.lost_at_crash, 1U);
  EXPECT_EQ(faulted.counts.stranded, 2U);
  EXPECT_EQ(faulted.crashes[0].effect, "lost_in_pop");
}

TEST(IntegrityChecker, ExamplesAreCappedPerKind) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 100, 100)})};
  in.consumers = {consumer(0, {})};
  const MessageVerdict v = check_messages(in);
  EXPECT_EQ(v.counts.lost, 100U);
  EXPECT_EQ(v.examples.size(), kMaxExamplesPerKind);
}

TEST(SemaphoreCheck, PosixCrashWhileHoldingStrandsTheUnitAsExpected) {
  SemaphoreSnapshot s{4, false, {SemaphoreUserSnapshot{0, 10, 9, 1, 0, 0, 2}}};
  const SemaphoreFindings f = check_semaphore(s, /*value=*/3);
  EXPECT_EQ(f.drift, 1);
  EXPECT_EQ(f.expected_drift, 1);
  EXPECT_EQ(f.stranded, 1);
  EXPECT_TRUE(f.ok()) << f.problems.front();
}

TEST(SemaphoreCheck, SysvUndoGivesTheUnitBackSoDriftIsZero) {
  SemaphoreSnapshot s{4, true, {SemaphoreUserSnapshot{0, 10, 9, 1, 0, 0, 2}}};
  SemaphoreFindings f = check_semaphore(s, 4);
  EXPECT_EQ(f.drift, 0);
  EXPECT_EQ(f.expected_drift, 0);
  EXPECT_EQ(f.stranded, 0);
  EXPECT_TRUE(f.ok());
  f = check_semaphore(s, 3);  // the kernel did not undo: a finding
  EXPECT_EQ(f.drift, 1);
  EXPECT_FALSE(f.ok());
}

// A poster killed while its lent unit is out (posted, not taken back): SEM_UNDO takes
// the unit back only while the value is above 0, and the kernel clamps at 0, so a unit
// a waiter already took stays, one too many. The checker called that drift (-1) a
// problem while the JSON said ok (a helper's runs, 4 of 4 with a poster killed).
TEST(SemaphoreCheck, SysvUndoCannotTakeBackALentUnitAWaiterTook) {
  SemaphoreSnapshot s{2,
                      true,
                      {SemaphoreUserSnapshot{0, 9, 10, -1, 0, 0, 2},    // the killed poster
                       SemaphoreUserSnapshot{1, 10, 10, 0, 0, 0, 1}}};  // a waiter
  SemaphoreFindings f = check_semaphore(s, 2);                          // undone: no drift
  EXPECT_EQ(f.lent_at_exit, 1);
  EXPECT_TRUE(f.ok());
  f = check_semaphore(s, 3);  // clamped: one unit too many
  EXPECT_EQ(f.drift, -1);
  EXPECT_TRUE(f.ok()) << f.problems.front();
  EXPECT_FALSE(check_semaphore(s, 4).ok());  // two too many: one lent unit explains one
  s.undo = false;  // without SEM_UNDO nothing takes it back: the extra unit is expected
  EXPECT_TRUE(check_semaphore(s, 3).ok());
  EXPECT_FALSE(check_semaphore(s, 2).ok());
}

TEST(SemaphoreCheck, DeathBetweenSyscallAndLedgerIsToleratedByOneUnit) {
  // Died inside a wait: the unit may or may not have been taken.
  SemaphoreSnapshot s{4, false, {SemaphoreUserSnapshot{0, 2, 2, 0, 1, 0, 1}}};
  EXPECT_TRUE(check_semaphore(s, 4).ok());
  EXPECT_TRUE(check_semaphore(s, 3).ok());
  EXPECT_FALSE(check_semaphore(s, 2).ok());
  EXPECT_FALSE(check_semaphore(s, 5).ok());
  // The reports say the range the check accepts, not only its middle: "drift 1
  // (expected 0)" read as a pass that should have failed.
  const SemaphoreFindings f = check_semaphore(s, 3);
  EXPECT_EQ(f.expected_drift, 0);
  EXPECT_EQ(f.expected_text(), "[0, 1]");
  EXPECT_EQ(check_semaphore(s, 2).problems.front().substr(0, 26), "drift 2, expected [0, 1] (");
  s.users[0].pending_waits = 0;
  EXPECT_EQ(check_semaphore(s, 4).expected_text(), "0");
}

// Under SEM_UNDO a waiter killed between its semop and the ledger had its wait undone by
// the kernel: a unit missing then is a real undo failure. The check allowed up to one
// per such death ("expected [-13, 6]"), so a broken undo passed.
TEST(SemaphoreCheck, UnderUndoADeathInsideAWaitLeavesNoUnitMissing) {
  SemaphoreSnapshot s{4, true, {SemaphoreUserSnapshot{0, 2, 2, 0, 1, 0, 1}}};
  EXPECT_TRUE(check_semaphore(s, 4).ok());
  EXPECT_FALSE(check_semaphore(s, 3).ok());
  EXPECT_EQ(check_semaphore(s, 4).expected_text(), "0");
}

TEST(SemaphoreCheck, CleanRunHasNoDrift) {
  SemaphoreSnapshot s{2,
                      false,
                      {SemaphoreUserSnapshot{0, 100, 100, 0, 0, 0, 1},
                       SemaphoreUserSnapshot{1, 50, 50, 0, 0, 0, 1}}};
  const SemaphoreFindings f = check_semaphore(s, 2);
  EXPECT_EQ(f.drift, 0);
  EXPECT_EQ(f.posts, 150U);
  EXPECT_TRUE(f.ok());
  EXPECT_FALSE(check_semaphore(s, 1).ok());
}

TEST(PageCheck, TornReadsAndUnexplainedRepairsAreProblems) {
  EXPECT_TRUE(check_pages(SegmentPageSnapshot{10, 100, 3, 0, 1}, 1).ok());
  EXPECT_FALSE(check_pages(SegmentPageSnapshot{10, 100, 3, 1, 0}, 0).ok());
  EXPECT_FALSE(check_pages(SegmentPageSnapshot{10, 100, 3, 0, 2}, 1).ok());
}

TEST(MutexCheck, TornRecordWithoutOwnerDeathAndLeftoverSectionAreProblems) {
  MutexSnapshot s;
  s.a = s.b = s.generation = s.updates = 10;
  EXPECT_TRUE(check_mutex(s, 0, MutexLeft::kFree).ok());
  s.torn_unexpected = 1;
  EXPECT_FALSE(check_mutex(s, 0, MutexLeft::kFree).ok());
  s.torn_unexpected = 0;
  s.a = 11;
  EXPECT_FALSE(check_mutex(s, 0, MutexLeft::kFree).ok())
      << "inconsistent record and no dead locker";
  EXPECT_TRUE(check_mutex(s, 1, MutexLeft::kHeldByDead).ok())
      << "a dead owner nobody found yet explains it";
  s.a = 10;
  s.owner_died = 1;
  s.repairs = 0;
  EXPECT_FALSE(check_mutex(s, 1, MutexLeft::kFree).ok()) << "owner-died without repair";
}

// A locker that died holding nothing explains nothing: with the lock found free after
// the run, a torn record or a leftover in-section count is a problem however many
// lockers died. Before, any locker death not yet found by an owner-died acquisition
// excused both, though the lock showed no dead owner.
TEST(MutexCheck, ALockerDeathExplainsATornRecordOnlyWhenItLeftTheLockHeld) {
  MutexSnapshot s;
  s.a = 11;
  s.b = s.generation = s.updates = 10;
  s.in_section = 1;
  const MutexFindings free = check_mutex(s, 3, MutexLeft::kFree);
  ASSERT_EQ(free.problems.size(), 2U);
  EXPECT_EQ(free.problems[0],
            "record left inconsistent: a=11 b=10 generation=10, with the lock free");
  EXPECT_EQ(free.problems[1], "in-section counter is 1 after the run");
  const MutexFindings held = check_mutex(s, 3, MutexLeft::kHeldByDead);
  EXPECT_TRUE(held.ok());
  EXPECT_FALSE(held.record_consistent);
  EXPECT_EQ(held.left, MutexLeft::kHeldByDead);
}

TEST(MutexCheck, ALockLeftLockedOrUnrecoverableIsAProblem) {
  MutexSnapshot s;
  s.a = s.b = s.generation = s.updates = 10;
  EXPECT_EQ(check_mutex(s, 0, MutexLeft::kLocked).problems,
            (std::vector<std::string>{"still locked after every locker ended"}));
  EXPECT_EQ(check_mutex(s, 1, MutexLeft::kNotRecoverable).problems,
            (std::vector<std::string>{
                "left unrecoverable: unlocked after an owner death without make_consistent"}));
}

TEST(MutexCheck, HowTheLockWasLeftReadsBackFromItsName) {
  for (const MutexLeft left : {MutexLeft::kFree, MutexLeft::kHeldByDead, MutexLeft::kLocked,
                               MutexLeft::kNotRecoverable, MutexLeft::kUntried}) {
    EXPECT_EQ(mutex_left_from_string(to_string(left)), left);
  }
  EXPECT_EQ(mutex_left_from_string("held"), std::nullopt);
}

TEST(CrashRecord, MadeFromASlotCarriesOpAndFailpointName) {
  WorkerSlotSnapshot slot;
  slot.pid = 31;
  slot.incarnation = 2;
  slot.current_op = WorkerOp::kPush;
  slot.op_seq = 99;
  slot.injected = true;
  slot.injected_failpoint = core::FailpointId::kRingPushMidPayload;
  const CrashRecord c = make_crash_record("producer", 4, slot);
  EXPECT_EQ(c.role, "producer");
  EXPECT_EQ(c.index, 4U);
  EXPECT_EQ(c.incarnation, 2U);
  EXPECT_EQ(c.pid, 31);
  EXPECT_EQ(c.op, WorkerOp::kPush);
  EXPECT_EQ(c.op_seq, 99U);
  EXPECT_EQ(c.failpoint, "ring.push.mid_payload");
  slot.injected = false;
  EXPECT_EQ(make_crash_record("producer", 4, slot).failpoint, "");
}

TEST(IntegrityCounts, NamedCountsCoverEveryCounterAndViolationsSumTheViolationKinds) {
  IntegrityCounts c;
  std::uint64_t next = 1;
  std::uint64_t expected_violations = 0;
  c.attempted = next++;
  c.acked = next++;
  c.delivered = next++;
  c.left_in_ring = next++;
  c.lost = next++;
  c.lost_at_crash = next++;
  c.recovered = next++;
  c.in_flight_dropped = next++;
  c.unexpected = next++;
  c.foreign = next++;
  c.duplicated = next++;
  c.redelivered = next++;
  c.reordered = next++;
  c.torn = next++;
  c.abandoned = next++;
  c.abandoned_unexplained = next++;
  c.stalled = next++;
  c.stranded = next++;
  c.unlogged = next++;
  c.log_overflow = next++;
  c.untracked_incarnations = next++;
  const auto named = named_counts(c);
  ASSERT_EQ(named.size(), next - 1);
  std::set<std::uint64_t> values;
  for (const auto& [name, value] : named) {
    values.insert(value);
    if (is_violation_kind(name)) expected_violations += value;
  }
  EXPECT_EQ(values.size(), named.size()) << "each counter appears exactly once";
  EXPECT_EQ(c.violations(), expected_violations);
}

// ---- records standing for runs of messages (DeliveryLog writes them) ----

TEST(IntegrityCheckerRuns, ARecordCountsAsTheMessagesOfItsRun) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 1'000'000, 1'000'000)})};
  in.consumers = {consumer(0, {run_of(0, 0, 1, 600'000), run_of(0, 0, 600'001, 400'000)})};
  const auto v = check_messages(in);
  EXPECT_EQ(v.counts.delivered, 1'000'000U);
  EXPECT_EQ(v.counts.violations(), 0U);
  EXPECT_TRUE(v.examples.empty());
}

TEST(IntegrityCheckerRuns, OverlappingRunsAreDuplicatesSeqBySeq) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 100, 100)})};
  in.consumers = {consumer(0, {run_of(0, 0, 1, 60)}),
                  consumer(1, {run_of(0, 0, 41, 60), run_of(0, 0, 50, 3, 1)})};
  const auto v = check_messages(in);
  EXPECT_EQ(v.counts.delivered, 123U);
  EXPECT_EQ(v.counts.duplicated, 23U);  // 41..60 twice more, 50..52 once more
  EXPECT_EQ(v.counts.lost, 0U);
  EXPECT_EQ(v.counts.reordered, 3U);  // consumer 1 got 50..52 again after 100
  ASSERT_TRUE(has_example(v, "duplicated", 41));
  const auto first = std::find_if(v.examples.begin(), v.examples.end(),
                                  [](const auto& e) { return e.kind == "duplicated"; });
  EXPECT_EQ(first->consumer, 1);
  EXPECT_EQ(first->detail, "delivered 2 times");
  std::vector<std::uint64_t> shown;  // each seq once, ascending, up to the cap
  for (const auto& e : v.examples) {
    if (e.kind == "duplicated") shown.push_back(e.key.seq);
  }
  EXPECT_EQ(shown, (std::vector<std::uint64_t>{41, 42, 43, 44, 45, 46, 47, 48}));
}

// The example names the consumer of the first extra copy in the order the records were
// checked (consumer 2 delivered seq 50 first, consumer 0 again, then consumer 1).
TEST(IntegrityCheckerRuns, ADuplicateExampleSaysHowManyCopiesAndWhoseLogShowsTheFirstExtraCopy) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 52, 52)})};
  in.consumers = {consumer(2, {run_of(0, 0, 50, 1)}), consumer(0, {run_of(0, 0, 1, 52)}),
                  consumer(1, {run_of(0, 0, 50, 1)})};
  const auto v = check_messages(in);
  EXPECT_EQ(v.counts.duplicated, 2U);
  ASSERT_EQ(v.examples.size(), 1U);
  EXPECT_EQ(v.examples[0].kind, "duplicated");
  EXPECT_EQ(v.examples[0].key.seq, 50U);
  EXPECT_EQ(v.examples[0].consumer, 0);
  EXPECT_EQ(v.examples[0].detail, "delivered 3 times");
}

TEST(IntegrityCheckerRuns, ARunIsSplitAtTheLedgersBounds) {
  MessageCheckInput in;
  // Died with seqs 91..95 in flight (a burst), 90 acked.
  in.producers = {producer(0, {ledger(0, 95, 90, IncarnationState::kActive)})};
  in.consumers = {consumer(0, {run_of(0, 0, 0, 100)})};  // seq 0, 1..90, 91..95, 96..99
  const auto v = check_messages(in);
  EXPECT_EQ(v.counts.delivered, 100U);
  EXPECT_EQ(v.counts.recovered, 5U);
  EXPECT_EQ(v.counts.unexpected, 5U);  // seq 0 and 96..99
  EXPECT_EQ(v.counts.lost, 0U);
  EXPECT_EQ(v.counts.in_flight_dropped, 0U);
  EXPECT_TRUE(has_example(v, "unexpected", 0));
  EXPECT_TRUE(has_example(v, "unexpected", 96));
  EXPECT_TRUE(has_example(v, "recovered", 91));
}

TEST(IntegrityCheckerRuns, GapsBetweenRunsAreLostAndShownFirstToLast) {
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, 50, 50)})};
  in.consumers = {consumer(0, {run_of(0, 0, 1, 10), run_of(0, 0, 13, 30), run_of(0, 0, 44, 7)})};
  const auto v = check_messages(in);
  EXPECT_EQ(v.counts.lost, 2U + 1U);  // 11, 12 and 43
  std::vector<std::uint64_t> shown;
  for (const auto& e : v.examples) {
    if (e.kind == "lost") shown.push_back(e.key.seq);
  }
  EXPECT_EQ(shown, (std::vector<std::uint64_t>{11, 12, 43}));
}

// The checker's verdict must not depend on how deliveries are grouped into records:
// random runs (gaps, repeats, swaps, torn/foreign/abandoned slots, crashes), checked once
// as one record per message and once as written by DeliveryLog, give the same counts,
// crash lines and examples (reordered examples aside: one per message vs one per run).
class AlignedLog {
 public:
  explicit AlignedLog(std::uint64_t capacity)
      : bytes_(ConsumerLog::bytes_needed(capacity)),
        mem_(static_cast<std::byte*>(::operator new (bytes_, std::align_val_t{64}))) {
    log_ = new (mem_) ConsumerLog(0, capacity);
  }
  ~AlignedLog() { ::operator delete (mem_, std::align_val_t{64}); }
  AlignedLog(const AlignedLog&) = delete;
  AlignedLog& operator=(const AlignedLog&) = delete;
  ConsumerLog& log() { return *log_; }

 private:
  std::size_t bytes_;
  std::byte* mem_;
  ConsumerLog* log_;
};

// A random run: 1-3 producers of 1-2 incarnations (some died with messages in flight),
// 1-3 consumers; messages lost, duplicated, torn, foreign, swapped, slots abandoned.
// The same deliveries as one record each (singles) and as DeliveryLog wrote them (runs).
struct RandomRun {
  MessageCheckInput singles;
  MessageCheckInput runs;
};

RandomRun random_run(std::mt19937_64& rng) {
  const auto chance = [&rng](double p) { return std::uniform_real_distribution<>(0, 1)(rng) < p; };
  const auto pick = [&rng](std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
  };
  MessageCheckInput in;
  const auto consumers = static_cast<std::uint32_t>(pick(1, 3));
  std::vector<std::vector<DecodedMessage>> streams(consumers);
  const auto producers = static_cast<std::uint32_t>(pick(1, 3));
  for (std::uint32_t p = 0; p < producers; ++p) {
    ProducerSnapshot ps{p, {}, 0};
    const auto incarnations = static_cast<std::uint32_t>(pick(1, 2));
    for (std::uint32_t inc = 0; inc < incarnations; ++inc) {
      const std::uint64_t attempted = pick(0, 60);
      const std::uint64_t acked = attempted - std::min(attempted, pick(0, 1) * pick(1, 4));
      const bool died = acked < attempted || chance(0.3);
      ps.incarnations.push_back(ledger(
          inc, attempted, acked, died ? IncarnationState::kActive : IncarnationState::kFinished));
      if (died) in.crashes.push_back({"producer", p, inc, 0, WorkerOp::kPush, attempted, ""});
      // Chunks of consecutive seqs, each to one consumer.
      std::uint64_t seq = 1;
      const std::uint64_t last = attempted + (chance(0.1) ? 2 : 0);
      while (seq <= last) {
        const std::uint64_t end = std::min(last, seq + pick(0, 12));
        auto& stream = streams[pick(0, consumers - 1)];
        for (; seq <= end; ++seq) {
          DecodedMessage m;
          m.status = MessageStatus::kOk;
          m.header.producer = p;
          m.header.incarnation = inc;
          m.header.seq = seq;
          if (chance(0.04)) continue;  // lost
          stream.push_back(m);
          if (chance(0.03)) stream.push_back(m);  // delivered twice
          if (chance(0.02)) {
            DecodedMessage bad = m;
            bad.status = chance(0.5) ? MessageStatus::kTorn : MessageStatus::kForeign;
            stream.push_back(bad);
          }
        }
      }
    }
    in.producers.push_back(std::move(ps));
  }
  for (auto& stream : streams) {
    for (std::size_t i = 0; i + 1 < stream.size(); ++i) {
      if (chance(0.03)) std::swap(stream[i], stream[i + 1]);  // reordered
    }
  }
  if (chance(0.3)) in.crashes.push_back({"consumer", 0, 0, 0, WorkerOp::kPop, 1, ""});
  in.messages_per_pop = pick(1, 4);

  MessageCheckInput singles = in;
  MessageCheckInput runs = in;
  for (std::uint32_t c = 0; c < consumers; ++c) {
    ConsumerSnapshot one{c, {}, 0};
    AlignedLog buffer(streams[c].size() + 1);
    DeliveryLog writer(buffer.log(), 0);
    for (const DecodedMessage& m : streams[c]) {
      one.records.push_back(make_delivery_record(m, 0));
      EXPECT_TRUE(writer.record(m));
      if (chance(0.01)) {
        one.records.push_back(make_abandoned_record(4242, 0));
        EXPECT_TRUE(writer.record_abandoned(4242));
      }
    }
    singles.consumers.push_back(std::move(one));
    ConsumerSnapshot grouped = buffer.log().snapshot();
    grouped.consumer = c;
    runs.consumers.push_back(std::move(grouped));
  }
  return RandomRun{std::move(singles), std::move(runs)};
}

std::size_t records_in(const MessageCheckInput& in) {
  std::size_t n = 0;
  for (const auto& c : in.consumers) n += c.records.size();
  return n;
}

TEST(IntegrityCheckerRuns, VerdictIsTheSameWhetherDeliveriesAreRunsOrSingleRecords) {
  std::mt19937_64 rng(20261130);
  std::size_t single_records = 0;  // over all scenarios: one per delivery
  std::size_t run_records = 0;     // as DeliveryLog wrote them
  for (int scenario = 0; scenario < 400; ++scenario) {
    SCOPED_TRACE("scenario " + std::to_string(scenario));
    const RandomRun r = random_run(rng);
    single_records += records_in(r.singles);
    run_records += records_in(r.runs);
    const auto a = check_messages(r.singles);
    const auto b = check_messages(r.runs);
    EXPECT_EQ(a.counts, b.counts);
    ASSERT_EQ(a.crashes.size(), b.crashes.size());
    for (std::size_t i = 0; i < a.crashes.size(); ++i) {
      EXPECT_EQ(a.crashes[i].description, b.crashes[i].description);
    }
    const auto except_reordered = [](std::vector<IntegrityExample> v) {
      std::erase_if(v, [](const IntegrityExample& e) { return e.kind == "reordered"; });
      return v;
    };
    EXPECT_EQ(except_reordered(a.examples), except_reordered(b.examples));
  }
  // The comparison means something only if runs did form: far fewer records.
  EXPECT_LT(run_records * 3, single_records);
}

// The harness's way: records added as they are drained, consumers interleaved in
// random chunks, every producer settled after each chunk at an acked somewhere between
// the last one and its final value.
MessageVerdict fed_as_drained(const MessageCheckInput& in, std::mt19937_64& rng) {
  const auto pick = [&rng](std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
  };
  DeliveryTally tally;
  std::vector<std::size_t> next(in.consumers.size(), 0);
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint64_t> acked;
  for (;;) {
    std::vector<std::size_t> open;
    for (std::size_t c = 0; c < next.size(); ++c) {
      if (next[c] < in.consumers[c].records.size()) open.push_back(c);
    }
    if (open.empty()) break;
    const std::size_t c = open[pick(0, open.size() - 1)];
    const ConsumerSnapshot& consumer = in.consumers[c];
    for (std::uint64_t k = pick(1, 5); k != 0 && next[c] < consumer.records.size(); --k) {
      tally.add(consumer.consumer, consumer.records[next[c]++]);
    }
    for (ProducerSnapshot now : in.producers) {
      for (IncarnationSnapshot& inc : now.incarnations) {
        std::uint64_t& a = acked[{now.producer, inc.incarnation}];
        a = pick(a, inc.acked);
        inc.acked = a;
      }
      tally.settle(now);
    }
  }
  for (const ConsumerSnapshot& consumer : in.consumers) tally.add_overflow(consumer.overflow);
  return std::move(tally).finish(in);
}

// What the order of adding may change: which consumer a duplicate example names (the
// first extra copy's), and which of more than kMaxExamplesPerKind examples found while
// adding (reordered, torn, foreign) are shown.
std::vector<IntegrityExample> order_independent(std::vector<IntegrityExample> v,
                                                const IntegrityCounts& counts) {
  std::erase_if(v, [&](const IntegrityExample& e) {
    return e.kind == "reordered" || e.kind == "torn" ||
           (e.kind == "unexpected" && counts.foreign != 0);
  });
  for (IntegrityExample& e : v) {
    if (e.kind == "duplicated") e.consumer = -1;
  }
  std::sort(v.begin(), v.end(), [](const IntegrityExample& l, const IntegrityExample& r) {
    return std::tie(l.kind, l.key, l.consumer, l.detail) <
           std::tie(r.kind, r.key, r.consumer, r.detail);
  });
  return v;
}

TEST(DeliveryTally, FedAsDrainedAndSettledItReachesCheckMessagesVerdict) {
  std::mt19937_64 rng(20261201);
  for (int scenario = 0; scenario < 400; ++scenario) {
    SCOPED_TRACE("scenario " + std::to_string(scenario));
    const RandomRun r = random_run(rng);
    const auto whole = check_messages(r.runs);
    const auto fed = fed_as_drained(r.runs, rng);
    EXPECT_EQ(whole.counts, fed.counts);
    ASSERT_EQ(whole.crashes.size(), fed.crashes.size());
    for (std::size_t i = 0; i < whole.crashes.size(); ++i) {
      EXPECT_EQ(whole.crashes[i].description, fed.crashes[i].description);
    }
    EXPECT_EQ(order_independent(whole.examples, whole.counts),
              order_independent(fed.examples, fed.counts));
  }
}

// Two producers, two consumers sharing their messages in runs of 1-8, the second
// consumer drained ~400 records behind the first (seal handshakes come at different
// points): 180 k records, and what the tally holds stays at the gaps between the two.
// One message lost and one delivered twice stay to the end, as they must.
TEST(DeliveryTally, WhatItHoldsIsBoundedByTheGapsNotByTheRecords) {
  std::mt19937_64 rng(42);
  constexpr std::uint64_t kMessages = 400'000;                     // per producer
  std::vector<std::pair<std::uint32_t, DeliveryRecord>> arrivals;  // (consumer, record)
  std::uint64_t next[2] = {1, 1};
  while (next[0] <= kMessages || next[1] <= kMessages) {
    std::uint32_t p = static_cast<std::uint32_t>(rng() % 2);
    if (next[p] > kMessages) p ^= 1;
    std::uint64_t n = std::min<std::uint64_t>(1 + rng() % 8, kMessages + 1 - next[p]);
    if (p == 1 && next[p] <= 5'000 && 5'000 < next[p] + n) n = 5'000 - next[p];  // 5000 lost
    if (n != 0) {
      arrivals.emplace_back(
          static_cast<std::uint32_t>(rng() % 2),
          DeliveryRecord{p, 0, next[p], DeliveryStatus::kOk, 0, 0, static_cast<std::uint32_t>(n)});
    }
    next[p] += (n == 0) ? 1 : n;
  }
  // Seq 1000 of producer 0 again, to the consumer that did not get it first.
  const auto first = std::find_if(arrivals.begin(), arrivals.end(), [](const auto& a) {
    return a.second.producer == 0 && a.second.seq <= 1'000 && 1'000 < a.second.seq + a.second.count;
  });
  arrivals.insert(arrivals.begin() + 20'000,
                  {first->first ^ 1U, DeliveryRecord{0, 0, 1'000, DeliveryStatus::kOk, 0, 0, 1}});

  std::vector<DeliveryRecord> logs[2];
  for (const auto& [c, r] : arrivals) logs[c].push_back(r);
  MessageCheckInput in;
  in.producers = {producer(0, {ledger(0, kMessages, kMessages)}),
                  producer(1, {ledger(0, kMessages, kMessages)})};
  in.consumers = {consumer(0, logs[0]), consumer(1, logs[1])};

  DeliveryTally tally;
  std::size_t drained[2] = {0, 0};
  std::uint64_t most_held = 0;
  for (std::size_t step = 0; drained[0] < logs[0].size() || drained[1] < logs[1].size(); ++step) {
    const std::size_t c = step % 2;
    const std::size_t upto = std::min(logs[c].size(), drained[c] + (c == 0 ? 100 : 99));
    for (; drained[c] < upto; ++drained[c])
      tally.add(static_cast<std::uint32_t>(c), logs[c][drained[c]]);
    // Acked as far as every seq added so far (the producers acked them before the
    // consumers logged them).
    for (std::uint32_t p = 0; p < 2; ++p) {
      std::uint64_t seen = 0;
      for (std::size_t k = 0; k < 2; ++k) {
        for (std::size_t i = drained[k] > 50 ? drained[k] - 50 : 0; i < drained[k]; ++i) {
          if (logs[k][i].producer == p)
            seen = std::max(seen, logs[k][i].seq + logs[k][i].count - 1);
        }
      }
      tally.settle(producer(p, {ledger(0, kMessages, std::min(seen, kMessages))}));
    }
    most_held = std::max(most_held, tally.held());
  }
  const auto fed = std::move(tally).finish(in);
  const auto whole = check_messages(in);
  EXPECT_EQ(fed.counts, whole.counts);
  EXPECT_EQ(fed.counts.lost, 1U);
  EXPECT_EQ(fed.counts.duplicated, 1U);
  EXPECT_EQ(fed.counts.delivered, 2 * kMessages);  // 5000 lost, seq 1000 twice
  EXPECT_GT(records_in(in), 150'000U);
  EXPECT_LT(most_held, 2'000U) << "of " << records_in(in) << " records";
}

}  // namespace
}  // namespace shmcheck::probes
