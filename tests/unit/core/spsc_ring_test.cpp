// SpscRing across processes under crashes: a producer or consumer SIGKILLed at each
// ring failpoint, then restarted in a new process.
#include "shmcheck/core/spsc_ring.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "ring_test_support.hpp"
#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/testing/process.hpp"

namespace shmcheck::core {
namespace {

using namespace std::chrono_literals;
using ring_test::consume_bursts;
using ring_test::kBurst;
using ring_test::produce_bursts;
using ring_test::SharedArea;

constexpr RingConfig kConfig{64, 48};
constexpr std::uint64_t kKillAt = 300;  // the victim dies in its 300th operation

std::string failpoint_test_name(const ::testing::TestParamInfo<FailpointId>& info) {
  return ring_test::failpoint_test_name(info.param);
}

struct SpscFixture : ring_test::SharedRing<SpscRing> {
  SpscFixture() : SharedRing(kConfig) {}

  // A producer process pushing producer 0's messages [0, messages), in bursts or one by
  // one.
  [[nodiscard]] pid_t spawn_producer(bool bursts, std::uint64_t messages) const {
    return testing::fork_child([this, bursts, messages] {
      auto attached = SpscRing::attach(ring_area.data(), ring_area.size());
      if (!attached) return 10;
      return bursts ? ring_test::produce_bursts(**attached, 0, 0, messages)
                    : ring_test::produce(**attached, 0, 0, messages);
    });
  }
};

// What a crash-and-restart run left: how the restarted role and the role that kept
// running (the survivor) ended.
struct AfterRestart {
  testing::ChildExit restarted;
  testing::ChildExit survivor;
};

// The shape every crash test here shares: the victim runs role(ring) in a process of its
// own with fp armed to SIGKILL it at its kKillAt-th hit; once it is dead, restart(ring)
// runs in a new process; then both that and the survivor are reaped. A victim that was
// not SIGKILLed fails the test (nullopt).
template <class Role, class Restart>
std::optional<AfterRestart> crash_and_restart(SpscFixture& f, FailpointId fp, pid_t survivor,
                                              Role&& role, Restart&& restart) {
  const auto attached = [&] { return SpscRing::attach(f.ring_area.data(), f.ring_area.size()); };
  const pid_t victim = testing::fork_child([&] {
    auto ring = attached();
    if (!ring) return 10;
    arm_failpoint(fp, {FailpointAction::kKill, kKillAt});
    return role(**ring) == 0 ? 11 : 12;
  });
  const auto v = testing::wait_child(victim, 30s);
  EXPECT_TRUE(v.killed_by(SIGKILL)) << "victim " << v.describe();
  if (!v.killed_by(SIGKILL)) {
    (void)testing::wait_child(survivor, 1s);
    return std::nullopt;
  }
  const pid_t restarted = testing::fork_child([&] {
    auto ring = attached();
    return ring ? restart(**ring) : 10;
  });
  AfterRestart after{testing::wait_child(restarted, 30s), {}};
  after.survivor = testing::wait_child(survivor, 30s);
  return after;
}

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
  const auto after = crash_and_restart(
      f, fp, consumer,
      [](SpscRing& ring) { return ring_test::produce(ring, 0, 0, ring_test::kMaxSeq); },
      [](SpscRing& ring) { return ring_test::produce(ring, 1, 0, kRestartedMessages); });
  ASSERT_TRUE(after);
  const auto& [p, c] = *after;
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

// (failpoint, whether producer and consumers move bursts or one message per call)
using ConsumerCrashParam = std::tuple<FailpointId, bool>;
std::string consumer_crash_test_name(const ::testing::TestParamInfo<ConsumerCrashParam>& info) {
  return ring_test::failpoint_test_name(std::get<0>(info.param)) +
         (std::get<1>(info.param) ? "_bursts" : "_single");
}
class SpscConsumerCrash : public ::testing::TestWithParam<ConsumerCrashParam> {};

// The victim consumer dies inside pop (or burst pop) number kKillAt, before recording
// it. A restarted consumer reads what it took again (at-least-once: the victim may have
// copied it), so the ledger ends with every message exactly once and the producer is
// not wedged.
TEST_P(SpscConsumerCrash, RestartedConsumerRereadsWhatTheVictimTook) {
  testing::Watchdog dog(60s, "SpscConsumerCrash");
  const auto [fp, bursts] = GetParam();
  constexpr std::uint64_t kMessages = 5'000;
  SpscFixture f;
  const auto consume_all = [&, bursts = bursts](SpscRing& ring) {
    return bursts ? consume_bursts(ring, *f.ledger,
                                   [&] { return f.ledger->delivered.load() >= kMessages; })
                  : ring_test::consume(ring, *f.ledger, kMessages);
  };

  const pid_t producer = f.spawn_producer(bursts, kMessages);
  // One message per pop: the victim recorded exactly the kKillAt - 1 messages before the
  // one it died in; the restarted consumer checks that first (exit 20 if not).
  constexpr int kVictimDeliveredWrongCount = 20;
  const auto after =
      crash_and_restart(f, fp, producer, consume_all, [&, bursts = bursts](SpscRing& ring) {
        if (!bursts && f.ledger->delivered.load() != kKillAt - 1) {
          return kVictimDeliveredWrongCount;
        }
        return consume_all(ring);
      });
  ASSERT_TRUE(after);
  const auto& [c, p] = *after;
  EXPECT_TRUE(c.ok()) << "restarted consumer " << c.describe() << " (exit "
                      << kVictimDeliveredWrongCount
                      << ": the victim had not delivered exactly the messages before it died)";
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
                         ::testing::Combine(::testing::Values(FailpointId::kRingPopAfterClaim,
                                                              FailpointId::kRingPopBeforeRelease),
                                            ::testing::Bool()),
                         consumer_crash_test_name);

class SpscConsumerRecordingBeforeRelease : public ::testing::TestWithParam<ConsumerCrashParam> {};

// The victim records each message in its pops' BeforeRelease, and dies inside pop (or
// burst pop) number kKillAt. Whatever it recorded it had not released, so the restarted
// consumer reads it again: nothing is missing, and the only messages counted twice are
// those the victim recorded in the pop it died in (none when it died before copying:
// ring.pop.after_claim).
TEST_P(SpscConsumerRecordingBeforeRelease, NothingIsLostAndOnlyTheLastPopComesTwice) {
  testing::Watchdog dog(60s, "SpscConsumerRecordingBeforeRelease");
  const auto [fp, bursts] = GetParam();
  constexpr std::uint64_t kMessages = 5'000;
  SpscFixture f;
  // Done when every seq was seen (the ledger's delivered count includes the copies).
  const auto all_seen = [&] {
    for (std::uint64_t seq = 0; seq < kMessages; ++seq) {
      if (f.ledger->count(0, seq) == 0) return false;
    }
    return true;
  };
  const auto consume_all = [&, bursts = bursts](SpscRing& ring) {
    if (bursts) {
      return consume_bursts(
          ring, *f.ledger, [&] { return f.ledger->delivered.load() >= kMessages && all_seen(); },
          ring_test::Recording::kBeforeRelease);
    }
    return ring_test::consume(ring, *f.ledger, kMessages, 20s,
                              ring_test::Recording::kBeforeRelease);
  };
  const pid_t producer = f.spawn_producer(bursts, kMessages);
  const auto after = crash_and_restart(f, fp, producer, consume_all, [&](SpscRing& ring) {
    // What the victim recorded and did not release comes again: one more each.
    const std::uint64_t unreleased = f.ledger->delivered.load() - ring.stats().pops;
    const int rc = ring_test::consume(ring, *f.ledger, kMessages + unreleased, 20s,
                                      ring_test::Recording::kBeforeRelease);
    return rc == 0 && all_seen() ? 0 : 21;
  });
  ASSERT_TRUE(after);
  const auto& [c, p] = *after;
  EXPECT_TRUE(c.ok()) << "restarted consumer " << c.describe() << " (exit 21: messages missing)";
  EXPECT_TRUE(p.ok()) << "producer " << p.describe() << " (ring wedged?)";

  const auto& ledger = *f.ledger;
  EXPECT_EQ(ledger.torn.load(), 0U);
  std::uint64_t missing = 0;
  std::uint64_t twice = 0;
  std::uint64_t first_twice = kMessages;
  std::uint64_t last_twice = 0;
  for (std::uint64_t seq = 0; seq < kMessages; ++seq) {
    const auto n = ledger.count(0, seq);
    ASSERT_LE(n, 2) << "seq " << seq;
    missing += n == 0 ? 1 : 0;
    if (n == 2) {
      first_twice = std::min(first_twice, seq);
      last_twice = seq;
      ++twice;
    }
  }
  EXPECT_EQ(missing, 0U);
  EXPECT_EQ(f.ring->stats().pops, kMessages);
  if (fp == FailpointId::kRingPopAfterClaim) {
    EXPECT_EQ(twice, 0U) << "the victim died before copying: it recorded nothing it held";
  } else if (!bursts) {
    // The kKillAt-th pop took seq kKillAt - 1.
    EXPECT_EQ(twice, 1U);
    EXPECT_EQ(first_twice, kKillAt - 1);
  } else {
    // One burst pop: 1..kBurst messages in a row.
    EXPECT_GE(twice, 1U);
    EXPECT_LE(twice, kBurst);
    EXPECT_EQ(last_twice + 1 - first_twice, twice) << "not one pop's messages";
  }
}

INSTANTIATE_TEST_SUITE_P(EveryPopFailpoint, SpscConsumerRecordingBeforeRelease,
                         ::testing::Combine(::testing::Values(FailpointId::kRingPopAfterClaim,
                                                              FailpointId::kRingPopBeforeRelease),
                                            ::testing::Bool()),
                         consumer_crash_test_name);

// ---- bursts ----------------------------------------------------------------------

TEST(SpscRingBurst, RoundTripsInOrderAcrossWrapsAndStopsAtFullAndEmpty) {
  SharedArea area(SpscRing::bytes_needed({8, 8}));
  SpscRing& ring = **SpscRing::create_at(area.data(), area.size(), {8, 8});
  std::uint64_t next_in = 0;
  std::uint64_t next_out = 0;
  std::vector<std::uint64_t> in(5);
  std::vector<std::uint64_t> out(3);
  std::vector<std::uint32_t> sizes(3);
  for (int round = 0; round < 50; ++round) {
    for (auto& v : in) v = next_in++;
    const auto pushed = ring.try_push_burst(std::as_bytes(std::span(in)), 8);
    ASSERT_LE(pushed, in.size());
    next_in -= in.size() - pushed;  // what did not fit is offered again next round
    for (int k = 0; k < 2; ++k) {
      const auto popped = ring.try_pop_burst(std::as_writable_bytes(std::span(out)), sizes);
      for (std::size_t i = 0; i < popped; ++i) {
        ASSERT_EQ(out[i], next_out++) << "round " << round;
        ASSERT_EQ(sizes[i], 8U);
      }
    }
  }
  // Fill it: exactly capacity messages fit, then a burst pushes nothing.
  while (ring.try_pop_burst(std::as_writable_bytes(std::span(out)), sizes) != 0) {
  }
  std::vector<std::uint64_t> many(20, 7);
  EXPECT_EQ(ring.try_push_burst(std::as_bytes(std::span(many)), 8), 8U);
  EXPECT_EQ(ring.try_push_burst(std::as_bytes(std::span(many)), 8), 0U);
  EXPECT_FALSE(ring.try_push(std::as_bytes(std::span(many)).first(8)));
  const auto stats = ring.stats();
  EXPECT_EQ(stats.pushes - stats.pops, 8U);
  EXPECT_EQ(stats.full_events, 2U);
}

// Short messages (not the slot's size) take the per-message path: each length is
// reported, and nothing past a message is written into the caller's buffer.
TEST(SpscRingBurst, ShortMessagesKeepTheirLengthsAndNothingPastThemIsWritten) {
  constexpr RingConfig kOdd{16, 67};
  SharedArea area(SpscRing::bytes_needed(kOdd));
  SpscRing& ring = **SpscRing::create_at(area.data(), area.size(), kOdd);
  for (const std::uint32_t len : {67U, 20U, 1U, 67U, 64U}) {
    std::vector<std::byte> msgs(3 * len);
    for (std::size_t i = 0; i < msgs.size(); ++i) msgs[i] = static_cast<std::byte>(i * 5 + len);
    ASSERT_EQ(ring.try_push_burst(msgs, len), 3U) << len;
    std::vector<std::byte> out(4 * 67, std::byte{0xEE});
    std::vector<std::uint32_t> sizes(4);
    ASSERT_EQ(ring.try_pop_burst(out, sizes), 3U) << len;
    for (std::size_t m = 0; m < 3; ++m) {
      EXPECT_EQ(sizes[m], len);
      EXPECT_EQ(std::memcmp(out.data() + m * 67, msgs.data() + m * len, len), 0) << len;
      if (len < 67) {
        EXPECT_EQ(out[m * 67 + len], std::byte{0xEE}) << "wrote past message";
      }
    }
  }
  // A trailing partial message is not pushed; an empty span pushes nothing.
  std::vector<std::byte> partial(2 * 10 + 3);
  EXPECT_EQ(ring.try_push_burst(partial, 10), 2U);
  EXPECT_EQ(ring.try_push_burst({}, 10), 0U);
  // No room for one message in out: nothing popped, nothing consumed.
  std::vector<std::byte> small(66);
  std::vector<std::uint32_t> sizes(4);
  EXPECT_EQ(ring.try_pop_burst(small, sizes), 0U);
  std::vector<std::byte> whole(67);
  EXPECT_EQ(ring.try_pop(whole).size, 10U);
}

TEST(SpscRingBurst, BurstsAndSingleCallsMix) {
  SharedArea area(SpscRing::bytes_needed({16, 8}));
  SpscRing& ring = **SpscRing::create_at(area.data(), area.size(), {16, 8});
  std::uint64_t v = 1;
  ASSERT_TRUE(ring.try_push(std::as_bytes(std::span(&v, 1))));
  const std::vector<std::uint64_t> three = {2, 3, 4};
  ASSERT_EQ(ring.try_push_burst(std::as_bytes(std::span(three)), 8), 3U);
  v = 5;
  ASSERT_TRUE(ring.try_push(std::as_bytes(std::span(&v, 1))));
  std::vector<std::uint64_t> out(2);
  std::vector<std::uint32_t> sizes(2);
  std::uint64_t single = 0;
  ASSERT_EQ(ring.try_pop(std::as_writable_bytes(std::span(&single, 1))).status, PopStatus::kOk);
  EXPECT_EQ(single, 1U);
  ASSERT_EQ(ring.try_pop_burst(std::as_writable_bytes(std::span(out)), sizes), 2U);
  EXPECT_EQ(out, (std::vector<std::uint64_t>{2, 3}));
  ASSERT_EQ(ring.try_pop_burst(std::as_writable_bytes(std::span(out)), sizes), 2U);
  EXPECT_EQ(out, (std::vector<std::uint64_t>{4, 5}));
  EXPECT_EQ(ring.try_pop_burst(std::as_writable_bytes(std::span(out)), sizes), 0U);
}

// A burst pop calls BeforeRelease once, with every message it took copied out and none
// of their slots given back yet.
TEST(SpscRingBurst, BeforeReleaseSeesTheWholeBurstBeforeAnySlotIsReleased) {
  SharedArea area(SpscRing::bytes_needed({4, 8}));
  SpscRing& ring = **SpscRing::create_at(area.data(), area.size(), {4, 8});
  const std::vector<std::uint64_t> four = {1, 2, 3, 4};
  ASSERT_EQ(ring.try_push_burst(std::as_bytes(std::span(four)), 8), 4U);
  std::vector<std::uint64_t> out(3);
  std::vector<std::uint32_t> sizes(3);
  int calls = 0;
  std::uint64_t released_before = 0;
  std::vector<std::uint64_t> expected = {1, 2, 3};
  auto check = [&](const Taken& taken) {
    ++calls;
    ASSERT_EQ(taken.sizes.size(), expected.size());
    for (std::size_t i = 0; i < taken.sizes.size(); ++i) {
      EXPECT_EQ(taken.sizes[i], 8U);
      EXPECT_EQ(out[i], expected[i]);
    }
    EXPECT_EQ(ring.stats().pops, released_before);
    const std::uint64_t v = 9;
    EXPECT_FALSE(ring.try_push(std::as_bytes(std::span(&v, 1))));
  };
  ASSERT_EQ(ring.pop_burst_for(std::as_writable_bytes(std::span(out)), sizes, 1s, check), 3U);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ring.stats().pops, 3U);
  // Full again (4, 5, 6, 7): a second burst, by the untimed call.
  const std::vector<std::uint64_t> more = {5, 6, 7};
  ASSERT_EQ(ring.try_push_burst(std::as_bytes(std::span(more)), 8), 3U);
  released_before = 3;
  expected = {4};  // what the consumer's cached tail shows: it looks again when that is empty
  ASSERT_EQ(ring.try_pop_burst(std::as_writable_bytes(std::span(out)), sizes, check), 1U);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(ring.stats().pops, 4U);
}

TEST(SpscRingBurst, MessageSizeOutsideOneToMessageSizeIsRefused) {
  SharedArea area(SpscRing::bytes_needed({16, 8}));
  SpscRing& ring = **SpscRing::create_at(area.data(), area.size(), {16, 8});
  std::vector<std::byte> msgs(64);
#ifdef NDEBUG
  EXPECT_EQ(ring.try_push_burst(msgs, 0), 0U);
  EXPECT_EQ(ring.try_push_burst(msgs, 9), 0U);
  EXPECT_EQ(ring.stats().pushes, 0U);
#else
  EXPECT_DEATH((void)ring.try_push_burst(msgs, 0), "msg_size must be");
  EXPECT_DEATH((void)ring.try_push_burst(msgs, 9), "msg_size must be");
#endif
}

class SpscBurstProducerCrash : public ::testing::TestWithParam<FailpointId> {};

// The victim producer pushes bursts and dies at its kKillAt-th burst's failpoint. Every
// burst before that one arrives once; of the burst it died in, nothing arrives unless it
// died after publishing it, and then what it published arrives whole and once; the
// restarted producer's bursts all arrive.
TEST_P(SpscBurstProducerCrash, ABurstIsPublishedWholeOrNotAtAll) {
  testing::Watchdog dog(60s, "SpscBurstProducerCrash");
  const FailpointId fp = GetParam();
  constexpr std::uint64_t kRestartedMessages = 5'000;
  SpscFixture f;
  SharedArea attempt_area(sizeof(std::atomic<std::uint64_t>));
  auto* attempt = new (attempt_area.data()) std::atomic<std::uint64_t>(0);

  const pid_t consumer = testing::fork_child([&] {
    auto ring = SpscRing::attach(f.ring_area.data(), f.ring_area.size());
    if (!ring) return 10;
    return consume_bursts(**ring, *f.ledger,
                          [&] { return f.ledger->count(1, kRestartedMessages - 1) != 0; });
  });
  const auto after = crash_and_restart(
      f, fp, consumer,
      [&](SpscRing& ring) { return produce_bursts(ring, 0, 0, ring_test::kMaxSeq, attempt); },
      [](SpscRing& ring) { return produce_bursts(ring, 1, 0, kRestartedMessages); });
  ASSERT_TRUE(after);
  const auto& [p, c] = *after;
  EXPECT_TRUE(p.ok()) << "restarted producer " << p.describe();
  ASSERT_TRUE(c.ok()) << "consumer " << c.describe() << " (ring wedged?)";

  const auto& ledger = *f.ledger;
  EXPECT_EQ(ledger.torn.load(), 0U);
  EXPECT_EQ(ledger.reordered.load(), 0U);
  const std::uint64_t in_flight = attempt->load();
  ASSERT_GE(in_flight, kKillAt - 1) << "the victim pushed at least one message per burst";
  for (std::uint64_t seq = 0; seq < in_flight; ++seq) {
    ASSERT_EQ(ledger.count(0, seq), 1) << "victim seq " << seq;
  }
  std::uint64_t published = 0;
  while (in_flight + published < ring_test::kMaxSeq && ledger.count(0, in_flight + published) == 1)
    ++published;
  if (fp == FailpointId::kRingPushAfterCommit) {
    EXPECT_GE(published, 1U) << "the burst it died after was published";
    EXPECT_LE(published, kBurst);
  } else {
    EXPECT_EQ(published, 0U) << "an unpublished burst leaked " << published << " messages";
  }
  for (std::uint64_t seq = in_flight + published; seq < in_flight + published + kBurst; ++seq) {
    ASSERT_EQ(ledger.count(0, seq), 0) << "victim seq " << seq;
  }
  for (std::uint64_t seq = 0; seq < kRestartedMessages; ++seq) {
    ASSERT_EQ(ledger.count(1, seq), 1) << "restarted producer seq " << seq;
  }
  EXPECT_EQ(ledger.delivered.load(), in_flight + published + kRestartedMessages);
}

INSTANTIATE_TEST_SUITE_P(EveryPushFailpoint, SpscBurstProducerCrash,
                         ::testing::Values(FailpointId::kRingPushAfterClaim,
                                           FailpointId::kRingPushMidPayload,
                                           FailpointId::kRingPushBeforeCommit,
                                           FailpointId::kRingPushAfterCommit),
                         failpoint_test_name);

// Bursts wake sleepers as push_for and pop_for do: a pop_for asleep on an empty ring
// is woken by a burst push, a push_for asleep on a full ring by a burst pop.
TEST(SpscRingBurst, BurstsWakeTheOtherSidesSleeper) {
  testing::Watchdog dog(60s, "SpscRingBurst.BurstsWakeTheOtherSidesSleeper");
  SharedArea area(SpscRing::bytes_needed({4, 8}));
  auto& ring = **SpscRing::create_at(area.data(), area.size(), {4, 8});
  const std::vector<std::byte> four(4 * 8, std::byte{7});
  const pid_t pusher = testing::fork_child([&] {
    if (!testing::eventually([&] { return ring.stats().sleeps > 0; })) return 2;
    return ring.try_push_burst(four, 8) == 4 ? 0 : 1;
  });
  std::vector<std::byte> out(8);
  ASSERT_EQ(ring.pop_for(out, 20s).status, PopStatus::kOk);
  EXPECT_TRUE(testing::wait_child(pusher).ok());
  EXPECT_EQ(ring.stats().wakeups, 1U);

  // Three left and one free: fill it, then push_for sleeps until the burst pop.
  ASSERT_TRUE(ring.try_push(out));
  const auto sleeps = ring.stats().sleeps;
  const pid_t popper = testing::fork_child([&] {
    if (!testing::eventually([&] { return ring.stats().sleeps > sleeps; })) return 2;
    std::vector<std::byte> all(4 * 8);
    std::vector<std::uint32_t> sizes(4);
    return ring.try_pop_burst(all, sizes) > 0 ? 0 : 1;  // as many as its cached tail says
  });
  EXPECT_TRUE(ring.push_for(out, 20s));
  EXPECT_TRUE(testing::wait_child(popper).ok());
  EXPECT_EQ(ring.stats().wakeups, 2U);
}

// push_burst_for / pop_burst_for give up at the deadline with 0 (one full / empty event
// per call), and wait, asleep if need be, for the other side: pop_burst_for returns
// what a push_for from another process put in, push_burst_for as much as a pop_for
// made room for.
TEST(SpscRingBurst, TimedBurstsWaitForTheOtherSideOrGiveUpAtTheDeadline) {
  testing::Watchdog dog(60s, "SpscRingBurst.TimedBurstsWaitForTheOtherSideOrGiveUpAtTheDeadline");
  SharedArea area(SpscRing::bytes_needed({4, 8}));
  auto& ring = **SpscRing::create_at(area.data(), area.size(), {4, 8});
  std::vector<std::byte> all(4 * 8);
  std::vector<std::uint32_t> sizes(4);
  EXPECT_EQ(ring.pop_burst_for(all, sizes, 2ms), 0U);
  EXPECT_EQ(ring.stats().empty_events, 1U);

  const pid_t pusher = testing::fork_child([&] {
    if (!testing::eventually([&] { return ring.stats().sleeps > 0; })) return 2;
    const std::vector<std::byte> one(5, std::byte{9});
    return ring.push_for(one, 0ns) ? 0 : 1;
  });
  ASSERT_EQ(ring.pop_burst_for(all, sizes, 20s), 1U);
  EXPECT_EQ(sizes[0], 5U);
  EXPECT_EQ(all[0], std::byte{9});
  EXPECT_TRUE(testing::wait_child(pusher).ok());

  const std::vector<std::byte> six(6 * 8, std::byte{1});
  ASSERT_EQ(ring.push_burst_for(six, 8, 0ns), 4U);  // full
  EXPECT_EQ(ring.push_burst_for(six, 8, 2ms), 0U);
  EXPECT_EQ(ring.stats().full_events, 1U);
  const auto sleeps = ring.stats().sleeps;
  const pid_t popper = testing::fork_child([&] {
    if (!testing::eventually([&] { return ring.stats().sleeps > sleeps; })) return 2;
    std::vector<std::byte> out(8);
    return ring.pop_for(out, 0ns).status == PopStatus::kOk ? 0 : 1;
  });
  EXPECT_EQ(ring.push_burst_for(six, 8, 20s), 1U);  // the room for one
  EXPECT_TRUE(testing::wait_child(popper).ok());
  EXPECT_EQ(ring.stats().wakeups, 2U);
  EXPECT_EQ(ring.stats().pushes, 6U);
}

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
  constexpr std::size_t kRingObject = 4 * kCacheLineSize;  // header, producer, consumer, wait
  EXPECT_EQ(SpscRing::bytes_needed({64, 8}), kRingObject + 64 * 4 + 64 * 8);
  EXPECT_EQ(SpscRing::bytes_needed({64, 5}), kRingObject + 64 * 4 + 64 * 8);
  EXPECT_EQ(SpscRing::bytes_needed({4, 1024}), kRingObject + kCacheLineSize + 4 * 1024);
  EXPECT_EQ(SpscRing::bytes_needed({2, 1U << 20}), kRingObject + kCacheLineSize + (2U << 20));
}

}  // namespace
}  // namespace shmcheck::core
