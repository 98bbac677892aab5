// SpscRing across processes under crashes: a producer or consumer SIGKILLed at each
// ring failpoint, then restarted in a new process.
#include "shmcheck/core/spsc_ring.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <string>

#include "ring_test_support.hpp"
#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/testing/process.hpp"

namespace shmcheck::core {
namespace {

using namespace std::chrono_literals;
using ring_test::Ledger;
using ring_test::SharedArea;

constexpr RingConfig kConfig{64, 48};
constexpr std::uint64_t kKillAt = 300;  // the victim dies in its 300th operation

std::string failpoint_test_name(const ::testing::TestParamInfo<FailpointId>& info) {
  std::string name(to_string(info.param));
  for (auto& c : name) {
    if (c == '.') c = '_';
  }
  return name;
}

struct SpscFixture {
  SharedArea ring_area{SpscRing::bytes_needed(kConfig)};
  SharedArea ledger_area{sizeof(Ledger)};
  SpscRing* ring = nullptr;
  Ledger* ledger = nullptr;

  SpscFixture() {
    auto r = SpscRing::create_at(ring_area.data(), ring_area.size(), kConfig);
    if (!r) std::abort();
    ring = *r;
    ledger = ring_test::make_ledger(ledger_area);
  }
};

class SpscProducerCrash : public ::testing::TestWithParam<FailpointId> {};

// The victim producer (id 0) dies inside push number kKillAt; a restarted producer
// (id 1, a new process) attaches and pushes its own messages. Everything the victim
// committed arrives once, its in-flight message arrives whole iff it was committed
// (after_commit), nothing is torn, and the restarted producer's messages all arrive.
TEST_P(SpscProducerCrash, VictimLosesOnlyItsUncommittedMessageAndRestartContinues) {
  testing::Watchdog dog(60s, "SpscProducerCrash");
  const FailpointId fp = GetParam();
  constexpr std::uint64_t kRestartedMessages = 5'000;
  const bool committed = fp == FailpointId::kRingPushAfterCommit;
  const std::uint64_t expected = (kKillAt - 1) + (committed ? 1 : 0) + kRestartedMessages;
  SpscFixture f;

  const pid_t consumer = testing::fork_child([&] {
    auto ring = SpscRing::attach(f.ring_area.data(), f.ring_area.size());
    return ring ? ring_test::consume(**ring, *f.ledger, expected) : 10;
  });
  const pid_t victim = testing::fork_child([&] {
    auto ring = SpscRing::attach(f.ring_area.data(), f.ring_area.size());
    if (!ring) return 10;
    arm_failpoint(fp, {FailpointAction::kKill, kKillAt});
    return ring_test::produce(**ring, 0, 0, ring_test::kMaxSeq) == 0 ? 11 : 12;
  });
  const auto v = testing::wait_child(victim, 30s);
  ASSERT_TRUE(v.killed_by(SIGKILL)) << "victim " << v.describe();
  const pid_t restarted = testing::fork_child([&] {
    auto ring = SpscRing::attach(f.ring_area.data(), f.ring_area.size());
    return ring ? ring_test::produce(**ring, 1, 0, kRestartedMessages) : 10;
  });
  const auto p = testing::wait_child(restarted, 30s);
  const auto c = testing::wait_child(consumer, 30s);
  EXPECT_TRUE(p.ok()) << "restarted producer " << p.describe();
  ASSERT_TRUE(c.ok()) << "consumer " << c.describe() << " (ring wedged?)";

  const auto& ledger = *f.ledger;
  EXPECT_EQ(ledger.torn.load(), 0U);
  EXPECT_EQ(ledger.reordered.load(), 0U);
  EXPECT_EQ(ledger.abandoned.load(), 0U);  // SPSC never abandons: uncommitted is absent
  for (std::uint64_t seq = 0; seq + 1 < kKillAt; ++seq) {
    ASSERT_EQ(ledger.count(0, seq), 1) << "victim seq " << seq;
  }
  EXPECT_EQ(ledger.count(0, kKillAt - 1), committed ? 1 : 0) << "in-flight message";
  EXPECT_EQ(ledger.count(0, kKillAt), 0);
  for (std::uint64_t seq = 0; seq < kRestartedMessages; ++seq) {
    ASSERT_EQ(ledger.count(1, seq), 1) << "restarted producer seq " << seq;
  }
  EXPECT_EQ(ledger.delivered.load(), expected);
}

INSTANTIATE_TEST_SUITE_P(EveryPushFailpoint, SpscProducerCrash,
                         ::testing::Values(FailpointId::kRingPushAfterClaim,
                                           FailpointId::kRingPushMidPayload,
                                           FailpointId::kRingPushBeforeCommit,
                                           FailpointId::kRingPushAfterCommit),
                         failpoint_test_name);

class SpscConsumerCrash : public ::testing::TestWithParam<FailpointId> {};

// The victim consumer dies inside pop number kKillAt, before recording it. A restarted
// consumer reads that message again (at-least-once: the victim may have copied it),
// so the ledger ends with every message exactly once and the producer is not wedged.
TEST_P(SpscConsumerCrash, RestartedConsumerRereadsTheInFlightMessage) {
  testing::Watchdog dog(60s, "SpscConsumerCrash");
  const FailpointId fp = GetParam();
  constexpr std::uint64_t kMessages = 5'000;
  SpscFixture f;

  const pid_t producer = testing::fork_child([&] {
    auto ring = SpscRing::attach(f.ring_area.data(), f.ring_area.size());
    return ring ? ring_test::produce(**ring, 0, 0, kMessages) : 10;
  });
  const pid_t victim = testing::fork_child([&] {
    auto ring = SpscRing::attach(f.ring_area.data(), f.ring_area.size());
    if (!ring) return 10;
    arm_failpoint(fp, {FailpointAction::kKill, kKillAt});
    return ring_test::consume(**ring, *f.ledger, kMessages) == 0 ? 11 : 12;
  });
  const auto v = testing::wait_child(victim, 30s);
  ASSERT_TRUE(v.killed_by(SIGKILL)) << "victim " << v.describe();
  EXPECT_EQ(f.ledger->delivered.load(), kKillAt - 1);
  const pid_t restarted = testing::fork_child([&] {
    auto ring = SpscRing::attach(f.ring_area.data(), f.ring_area.size());
    return ring ? ring_test::consume(**ring, *f.ledger, kMessages) : 10;
  });
  const auto c = testing::wait_child(restarted, 30s);
  const auto p = testing::wait_child(producer, 30s);
  EXPECT_TRUE(c.ok()) << "restarted consumer " << c.describe();
  EXPECT_TRUE(p.ok()) << "producer " << p.describe() << " (ring wedged?)";

  const auto& ledger = *f.ledger;
  EXPECT_EQ(ledger.torn.load(), 0U);
  EXPECT_EQ(ledger.delivered.load(), kMessages);
  for (std::uint64_t seq = 0; seq < kMessages; ++seq) {
    ASSERT_EQ(ledger.count(0, seq), 1) << "seq " << seq;
  }
  EXPECT_EQ(f.ring->stats().pops, kMessages);
}

INSTANTIATE_TEST_SUITE_P(EveryPopFailpoint, SpscConsumerCrash,
                         ::testing::Values(FailpointId::kRingPopAfterClaim,
                                           FailpointId::kRingPopBeforeRelease),
                         failpoint_test_name);

TEST(SpscRing, StatsCountPushesPopsAndNeverAbandoned) {
  SpscFixture f;
  std::vector<std::byte> buf(kConfig.message_size);
  for (std::uint64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(f.ring->try_push(ring_test::encode(buf, 0, i, 16)));
  }
  for (int i = 0; i < 4; ++i) ASSERT_EQ(f.ring->try_pop(buf).status, PopStatus::kOk);
  const auto s = f.ring->stats();
  EXPECT_EQ(s.pushes, 10U);
  EXPECT_EQ(s.pops, 4U);
  EXPECT_EQ(s.abandoned, 0U);
}

// Lengths live in a table of their own, so a payload takes its message size rounded to
// 8 bytes (an 8-byte message 8 bytes, as in a minimal ring) and the payload area starts
// on a cache line (a 1 KiB message spans exactly 16 lines).
TEST(SpscRing, PayloadsArePackedAndLineAligned) {
  constexpr std::size_t kRingObject = 3 * kCacheLineSize;  // header, producer, consumer lines
  EXPECT_EQ(SpscRing::bytes_needed({64, 8}), kRingObject + 64 * 4 + 64 * 8);
  EXPECT_EQ(SpscRing::bytes_needed({64, 5}), kRingObject + 64 * 4 + 64 * 8);
  EXPECT_EQ(SpscRing::bytes_needed({4, 1024}), kRingObject + kCacheLineSize + 4 * 1024);
  EXPECT_EQ(SpscRing::bytes_needed({2, 1U << 20}), kRingObject + kCacheLineSize + (2U << 20));
}

}  // namespace
}  // namespace shmcheck::core
