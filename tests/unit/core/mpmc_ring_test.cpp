// MpmcRing across processes: exactly-once with several producers and consumers,
// and crash tolerance -- a producer or consumer SIGKILLed at each ring failpoint
// must not wedge the ring, and a producer's in-flight message is delivered whole
// or reported PopStatus::kAbandoned with the dead claimer, never torn.
#include "shmcheck/core/mpmc_ring.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <tuple>
#include <vector>

#include "ring_test_support.hpp"
#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/testing/process.hpp"

namespace shmcheck::core {
namespace {

using namespace std::chrono_literals;

constexpr RingConfig kConfig{64, 48};
constexpr std::uint64_t kKillAt = 300;  // the victim dies in its 300th operation

std::string failpoint_test_name(const ::testing::TestParamInfo<FailpointId>& info) {
  return ring_test::failpoint_test_name(info.param);
}

struct MpmcFixture : ring_test::SharedRing<MpmcRing> {
  MpmcFixture() : SharedRing(kConfig) {
    // Use the ring in this process first: forked children must still claim slots
    // under their own identity, not a cached copy of ours.
    std::vector<std::byte> buf(kConfig.message_size);
    if (!ring->try_push(ring_test::encode(buf, 3, 0, 16))) std::abort();
    if (ring->try_pop(buf).status != PopStatus::kOk) std::abort();
  }

  [[nodiscard]] pid_t spawn_producer(std::uint32_t id, std::uint64_t count) const {
    return testing::fork_child([this, id, count] {
      auto r = MpmcRing::attach(ring_area.data(), ring_area.size());
      return r ? ring_test::produce(**r, id, 0, count) : 10;
    });
  }
  [[nodiscard]] pid_t spawn_consumer(std::uint64_t events) const {
    return testing::fork_child([this, events] {
      auto r = MpmcRing::attach(ring_area.data(), ring_area.size());
      return r ? ring_test::consume(**r, *ledger, events) : 10;
    });
  }
};

// /proc/<pid>/stat state letter ('T' once a SIGSTOP has taken effect).
char process_state(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return '?';
  char buf[512] = {};
  const auto n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return '?';
  const std::string text(buf, static_cast<std::size_t>(n));
  const auto paren = text.rfind(')');
  return paren == std::string::npos || paren + 2 >= text.size() ? '?' : text[paren + 2];
}

TEST(MpmcRing, TwoProducersTwoConsumersDeliverEveryMessageOnceInProducerOrder) {
  testing::Watchdog dog(60s, "MpmcRing 2x2");
  constexpr std::uint64_t kPerProducer = 50'000;
  MpmcFixture f;
  const pid_t p1 = f.spawn_producer(1, kPerProducer);
  const pid_t p2 = f.spawn_producer(2, kPerProducer);
  const pid_t c1 = f.spawn_consumer(2 * kPerProducer);
  const pid_t c2 = f.spawn_consumer(2 * kPerProducer);
  for (const pid_t pid : {p1, p2, c1, c2}) {
    const auto e = testing::wait_child(pid, 40s);
    EXPECT_TRUE(e.ok()) << "child " << pid << " " << e.describe();
  }
  const auto& ledger = *f.ledger;
  EXPECT_EQ(ledger.delivered.load(), 2 * kPerProducer);
  EXPECT_EQ(ledger.torn.load(), 0U);
  EXPECT_EQ(ledger.reordered.load(), 0U) << "a consumer saw a producer's messages out of order";
  EXPECT_EQ(ledger.abandoned.load(), 0U);
  for (std::uint32_t p : {1U, 2U}) {
    for (std::uint64_t seq = 0; seq < kPerProducer; ++seq) {
      ASSERT_EQ(ledger.count(p, seq), 1) << "producer " << p << " seq " << seq;
    }
  }
  const auto stats = f.ring->stats();
  EXPECT_EQ(stats.pushes, 2 * kPerProducer + 1);
  EXPECT_EQ(stats.pops, 2 * kPerProducer + 1);
  EXPECT_EQ(stats.abandoned, 0U);
}

class MpmcProducerCrash : public ::testing::TestWithParam<FailpointId> {};

// A victim producer (id 0) dies inside push number kKillAt while two survivors push
// and two consumers pop. The survivors' messages all arrive exactly once, the
// victim's committed ones too; its in-flight message arrives whole (after_commit) or
// is reported abandoned with the victim as claimer -- never torn, and never both.
TEST_P(MpmcProducerCrash, RingKeepsMovingAndTheInFlightMessageIsWholeOrAbandoned) {
  testing::Watchdog dog(60s, "MpmcProducerCrash");
  const FailpointId fp = GetParam();
  constexpr std::uint64_t kPerSurvivor = 5'000;
  const bool committed = fp == FailpointId::kRingPushAfterCommit;
  // Every survivor message, the victim's kKillAt - 1 committed ones, and one event
  // (delivery or abandonment) for the message in flight.
  const std::uint64_t events = 2 * kPerSurvivor + kKillAt;
  MpmcFixture f;

  const pid_t c1 = f.spawn_consumer(events);
  const pid_t c2 = f.spawn_consumer(events);
  const pid_t victim = testing::fork_child([&] {
    auto ring = MpmcRing::attach(f.ring_area.data(), f.ring_area.size());
    if (!ring) return 10;
    arm_failpoint(fp, {FailpointAction::kKill, kKillAt});
    return ring_test::produce(**ring, 0, 0, ring_test::kMaxSeq) == 0 ? 11 : 12;
  });
  const pid_t s1 = f.spawn_producer(1, kPerSurvivor);
  const pid_t s2 = f.spawn_producer(2, kPerSurvivor);
  const auto v = testing::wait_child(victim, 30s);
  EXPECT_TRUE(v.killed_by(SIGKILL)) << "victim " << v.describe();
  for (const pid_t pid : {s1, s2, c1, c2}) {
    const auto e = testing::wait_child(pid, 30s);
    EXPECT_TRUE(e.ok()) << "child " << pid << " " << e.describe() << " (ring wedged?)";
  }

  const auto& ledger = *f.ledger;
  EXPECT_EQ(ledger.torn.load(), 0U);
  EXPECT_EQ(ledger.reordered.load(), 0U);
  for (std::uint32_t p : {1U, 2U}) {
    for (std::uint64_t seq = 0; seq < kPerSurvivor; ++seq) {
      ASSERT_EQ(ledger.count(p, seq), 1) << "survivor " << p << " seq " << seq;
    }
  }
  for (std::uint64_t seq = 0; seq + 1 < kKillAt; ++seq) {
    ASSERT_EQ(ledger.count(0, seq), 1) << "victim seq " << seq;
  }
  EXPECT_EQ(ledger.count(0, kKillAt), 0);
  if (committed) {
    EXPECT_EQ(ledger.count(0, kKillAt - 1), 1) << "a committed message must be delivered";
    EXPECT_EQ(ledger.abandoned.load(), 0U);
  } else {
    EXPECT_EQ(ledger.count(0, kKillAt - 1), 0) << "an uncommitted message was delivered";
    ASSERT_EQ(ledger.abandoned.load(), 1U);
    EXPECT_EQ(ledger.abandoned_pid[0].load(), victim) << "abandoned slot names its claimer";
    EXPECT_NE(ledger.abandoned_start_time[0].load(), 0U);
  }
  EXPECT_EQ(f.ring->stats().abandoned, committed ? 0U : 1U);
}

INSTANTIATE_TEST_SUITE_P(EveryPushFailpoint, MpmcProducerCrash,
                         ::testing::Values(FailpointId::kRingPushAfterClaim,
                                           FailpointId::kRingPushMidPayload,
                                           FailpointId::kRingPushBeforeCommit,
                                           FailpointId::kRingPushAfterCommit),
                         failpoint_test_name);

// (failpoint, when the consumers record what they take)
using ConsumerCrashParam = std::tuple<FailpointId, ring_test::Recording>;
std::string consumer_crash_test_name(const ::testing::TestParamInfo<ConsumerCrashParam>& info) {
  return ring_test::failpoint_test_name(std::get<0>(info.param)) +
         (std::get<1>(info.param) == ring_test::Recording::kAfterPop ? "_recorded_after_pop"
                                                                     : "_recorded_before_release");
}
class MpmcConsumerCrash : public ::testing::TestWithParam<ConsumerCrashParam> {};

// A victim consumer dies inside pop number kKillAt holding its slot. The producer,
// a lap later, finds the slot still claimed, proves the consumer dead and publishes
// its message again (the payload is whole) for the survivor, naming the victim: the
// ring does not wedge and nothing is lost (RingStats::redelivered 1, abandoned 0).
// The message arrives late, after its producer's next ones; if the victim had recorded
// it in the pop's BeforeRelease before it died (ring.pop.before_release), it arrives
// twice, the second time naming the victim.
TEST_P(MpmcConsumerCrash, ProducersPublishTheDeadConsumersMessageAgain) {
  testing::Watchdog dog(60s, "MpmcConsumerCrash");
  const auto [fp, recording] = GetParam();
  constexpr std::uint64_t kMessages = 5'000;
  const bool recorded =
      fp == FailpointId::kRingPopBeforeRelease && recording == ring_test::Recording::kBeforeRelease;
  MpmcFixture f;

  const pid_t producer = f.spawn_producer(1, kMessages);
  const auto consume = [&, recording = recording](std::uint64_t events) {
    auto ring = MpmcRing::attach(f.ring_area.data(), f.ring_area.size());
    return ring ? ring_test::consume(**ring, *f.ledger, events, 20s, recording) : 10;
  };
  const pid_t victim = testing::fork_child([&, fp = fp] {
    arm_failpoint(fp, {FailpointAction::kKill, kKillAt});
    return consume(kMessages) == 0 ? 11 : 12;
  });
  const auto v = testing::wait_child(victim, 30s);
  ASSERT_TRUE(v.killed_by(SIGKILL)) << "victim " << v.describe();
  EXPECT_EQ(f.ledger->delivered.load(), recorded ? kKillAt : kKillAt - 1);
  const pid_t survivor =
      testing::fork_child([&] { return consume(recorded ? kMessages + 1 : kMessages); });
  const auto p = testing::wait_child(producer, 30s);
  const auto c = testing::wait_child(survivor, 30s);
  EXPECT_TRUE(p.ok()) << "producer " << p.describe() << " (wedged by the dead consumer?)";
  EXPECT_TRUE(c.ok()) << "survivor consumer " << c.describe();

  const auto& ledger = *f.ledger;
  EXPECT_EQ(ledger.torn.load(), 0U);
  EXPECT_EQ(ledger.reordered.load(), 0U);
  for (std::uint64_t seq = 0; seq < kMessages; ++seq) {
    const auto n = ledger.count(1, seq);
    ASSERT_EQ(n, recorded && seq == kKillAt - 1 ? 2 : 1) << "seq " << seq;
  }
  EXPECT_EQ(ledger.redelivered.load(), 1U);
  EXPECT_EQ(ledger.redelivered_from.load(), victim);
  EXPECT_EQ(f.ring->stats().redelivered, 1U);
  EXPECT_EQ(f.ring->stats().abandoned, 0U);
}

INSTANTIATE_TEST_SUITE_P(
    EveryPopFailpoint, MpmcConsumerCrash,
    ::testing::Combine(
        ::testing::Values(FailpointId::kRingPopAfterClaim, FailpointId::kRingPopBeforeRelease),
        ::testing::Values(ring_test::Recording::kAfterPop, ring_test::Recording::kBeforeRelease)),
    consumer_crash_test_name);

// A stopped (SIGSTOP) producer is alive: consumers wait for it however long it
// blocks its slot, and its message arrives whole once it continues.
TEST(MpmcRing, StoppedProducerIsWaitedForNotAbandoned) {
  testing::Watchdog dog(60s, "StoppedProducerIsWaitedForNotAbandoned");
  constexpr std::uint64_t kPauseAt = 50;
  MpmcFixture f;
  const pid_t consumer = f.spawn_consumer(kPauseAt);
  const pid_t producer = testing::fork_child([&] {
    auto ring = MpmcRing::attach(f.ring_area.data(), f.ring_area.size());
    if (!ring) return 10;
    arm_failpoint(FailpointId::kRingPushBeforeCommit, {FailpointAction::kPause, kPauseAt});
    return ring_test::produce(**ring, 0, 0, kPauseAt);
  });
  ASSERT_TRUE(testing::eventually([&] { return process_state(producer) == 'T'; }, 20s));
  // Many stuck-slot liveness checks happen while it stays stopped.
  ::usleep(static_cast<useconds_t>(40 * MpmcRing::kStuckCheckAfter.count()));
  EXPECT_EQ(f.ledger->delivered.load(), kPauseAt - 1);
  EXPECT_EQ(f.ledger->abandoned.load(), 0U) << "a live (stopped) producer was abandoned";
  EXPECT_EQ(f.ring->claimed_by(producer), 1U) << "the stopped producer's claim is not seen";
  EXPECT_EQ(f.ring->claimed_by(consumer), 0U) << "a consumer waiting for a message holds no slot";
  ::kill(producer, SIGCONT);
  const auto p = testing::wait_child(producer, 30s);
  const auto c = testing::wait_child(consumer, 30s);
  EXPECT_TRUE(p.ok()) << "producer " << p.describe();
  EXPECT_TRUE(c.ok()) << "consumer " << c.describe();
  EXPECT_EQ(f.ledger->delivered.load(), kPauseAt);
  EXPECT_EQ(f.ledger->count(0, kPauseAt - 1), 1);
  EXPECT_EQ(f.ledger->abandoned.load(), 0U);
  EXPECT_EQ(f.ring->claimed_by(producer), 0U);
}

// A consumer stopped between its claim and its release holds that slot (producers
// wrap around to it and wait); claimed_by names it, and only it.
TEST(MpmcRing, ClaimedByCountsTheSlotAStoppedConsumerHolds) {
  testing::Watchdog dog(60s, "ClaimedByCountsTheSlotAStoppedConsumerHolds");
  constexpr std::uint64_t kPauseAt = 20;
  MpmcFixture f;
  const pid_t producer = f.spawn_producer(0, kPauseAt);
  const pid_t consumer = testing::fork_child([&] {
    auto ring = MpmcRing::attach(f.ring_area.data(), f.ring_area.size());
    if (!ring) return 10;
    arm_failpoint(FailpointId::kRingPopBeforeRelease, {FailpointAction::kPause, kPauseAt});
    return ring_test::consume(**ring, *f.ledger, kPauseAt);
  });
  ASSERT_TRUE(testing::eventually([&] { return process_state(consumer) == 'T'; }, 20s));
  EXPECT_EQ(f.ring->claimed_by(consumer), 1U);
  EXPECT_EQ(f.ring->claimed_by(::getpid()), 0U);
  std::vector<std::byte> buf(kConfig.message_size);
  EXPECT_EQ(f.ring->take_from_dead_reader(buf).status, PopStatus::kEmpty)
      << "a drain took the slot of a live (stopped) consumer";
  ::kill(consumer, SIGCONT);
  const auto p = testing::wait_child(producer, 30s);
  const auto c = testing::wait_child(consumer, 30s);
  EXPECT_TRUE(p.ok()) << "producer " << p.describe();
  EXPECT_TRUE(c.ok()) << "consumer " << c.describe();
  EXPECT_EQ(f.ring->claimed_by(consumer), 0U);
  EXPECT_EQ(f.ledger->delivered.load(), kPauseAt);
}

// A consumer that died holding a slot, with no producer left to come round to it: a
// drain takes its message (take_from_dead_reader), naming it, once; the ring then
// holds nothing more.
TEST(MpmcRing, ADrainTakesWhatADeadConsumerHeldWhenNoProducerCameRound) {
  testing::Watchdog dog(60s, "ADrainTakesWhatADeadConsumerHeldWhenNoProducerCameRound");
  constexpr std::uint64_t kMessages = 10;  // fewer than the capacity: no lap
  MpmcFixture f;
  const pid_t producer = f.spawn_producer(2, kMessages);
  ASSERT_TRUE(testing::wait_child(producer, 30s).ok());
  const pid_t victim = testing::fork_child([&] {
    auto ring = MpmcRing::attach(f.ring_area.data(), f.ring_area.size());
    if (!ring) return 10;
    arm_failpoint(FailpointId::kRingPopAfterClaim, {FailpointAction::kKill, 4});
    return ring_test::consume(**ring, *f.ledger, kMessages) == 0 ? 11 : 12;
  });
  const auto v = testing::wait_child(victim, 30s);
  ASSERT_TRUE(v.killed_by(SIGKILL)) << v.describe();
  ASSERT_EQ(f.ledger->delivered.load(), 3U);
  std::vector<std::byte> buf(kConfig.message_size);
  const PopResult r = f.ring->take_from_dead_reader(buf);
  ASSERT_EQ(r.status, PopStatus::kOk);
  EXPECT_EQ(r.claimer.pid, victim);
  const auto d = ring_test::decode(buf, r.size);
  ASSERT_TRUE(d.ok);
  EXPECT_EQ(d.producer, 2U);
  EXPECT_EQ(d.seq, 3U);
  EXPECT_EQ(f.ring->take_from_dead_reader(buf).status, PopStatus::kEmpty);
  EXPECT_EQ(f.ring->stats().redelivered, 1U);
  // The rest is still there, in order, for a consumer.
  for (std::uint64_t seq = 4; seq < kMessages; ++seq) {
    const PopResult next = f.ring->try_pop(buf);
    ASSERT_EQ(next.status, PopStatus::kOk);
    EXPECT_EQ(ring_test::decode(buf, next.size).seq, seq);
  }
  EXPECT_EQ(f.ring->try_pop(buf).status, PopStatus::kEmpty);
}

}  // namespace
}  // namespace shmcheck::core
