// The ring logic with threads in one process, so ThreadSanitizer can check it (TSan
// cannot see races between processes). Built as shmcheck_core_ring_tsan_tests with
// the ctest labels core and tsan; `scripts/test --no-bootstrap --tsan` runs it under
// -fsanitize=thread.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <thread>
#include <vector>

#include "ring_test_support.hpp"
#include "shmcheck/core/mpmc_ring.hpp"
#include "shmcheck/core/spsc_ring.hpp"
#include "shmcheck/testing/process.hpp"

namespace shmcheck::core {
namespace {

using namespace std::chrono_literals;
using ring_test::Ledger;
using ring_test::SharedArea;

// One producer thread and one consumer thread over a small SpscRing (it wraps, fills and
// empties constantly); produce(ring) and consume(ring, ledger) return 0 on success.
template <class Produce, class Consume>
void spsc_threads_move_every_message_once(std::uint64_t messages, Produce&& produce,
                                          Consume&& consume) {
  constexpr RingConfig kConfig{32, 40};
  SharedArea ring_area(SpscRing::bytes_needed(kConfig));
  SharedArea ledger_area(sizeof(Ledger));
  auto ring = SpscRing::create_at(ring_area.data(), ring_area.size(), kConfig);
  ASSERT_TRUE(ring) << ring.error().message();
  auto* ledger = ring_test::make_ledger(ledger_area);
  int produced = -1;
  int consumed = -1;
  std::thread producer([&] { produced = produce(**ring); });
  std::thread consumer([&] { consumed = consume(**ring, *ledger); });
  producer.join();
  consumer.join();
  EXPECT_EQ(produced, 0);
  EXPECT_EQ(consumed, 0);
  EXPECT_EQ(ledger->delivered.load(), messages);
  EXPECT_EQ(ledger->torn.load(), 0U);
  EXPECT_EQ(ledger->reordered.load(), 0U);
  for (std::uint64_t seq = 0; seq < messages; ++seq) ASSERT_EQ(ledger->count(0, seq), 1) << seq;
}

TEST(RingThreads, SpscProducerAndConsumerThreadsMoveEveryMessageOnceInOrder) {
  testing::Watchdog dog(120s, "SpscRing threads");
  constexpr std::uint64_t kMessages = 30'000;
  spsc_threads_move_every_message_once(
      kMessages, [](SpscRing& ring) { return ring_test::produce(ring, 0, 0, kMessages); },
      [](SpscRing& ring, Ledger& ledger) {
        return ring_test::consume(ring, ledger, kMessages, 100s);
      });
}

TEST(RingThreads, SpscBurstsMoveEveryMessageOnceInOrder) {
  testing::Watchdog dog(120s, "SpscRing burst threads");
  constexpr std::uint64_t kMessages = 30'000;
  spsc_threads_move_every_message_once(
      kMessages, [](SpscRing& ring) { return ring_test::produce_bursts(ring, 0, 0, kMessages); },
      [](SpscRing& ring, Ledger& ledger) {
        return ring_test::consume_bursts(ring, ledger,
                                         [&] { return ledger.delivered.load() >= kMessages; });
      });
}

TEST(RingThreads, MpmcThreeProducersTwoConsumersDeliverEachMessageOnce) {
  testing::Watchdog dog(120s, "MpmcRing threads");
  constexpr std::uint64_t kPerProducer = 10'000;
  constexpr std::uint32_t kProducers = 3;
  constexpr RingConfig kConfig{16, 40};  // small: wraps constantly, full and empty often
  SharedArea ring_area(MpmcRing::bytes_needed(kConfig));
  SharedArea ledger_area(sizeof(Ledger));
  auto ring = MpmcRing::create_at(ring_area.data(), ring_area.size(), kConfig);
  ASSERT_TRUE(ring) << ring.error().message();
  auto* ledger = ring_test::make_ledger(ledger_area);
  std::vector<int> results(kProducers + 2, -1);
  std::vector<std::thread> threads;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] { results[p] = ring_test::produce(**ring, p, 0, kPerProducer); });
  }
  for (std::size_t c = 0; c < 2; ++c) {
    threads.emplace_back([&, c] {
      results[kProducers + c] =
          ring_test::consume(**ring, *ledger, kProducers * kPerProducer, 100s);
    });
  }
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < results.size(); ++i) EXPECT_EQ(results[i], 0) << "thread " << i;
  EXPECT_EQ(ledger->delivered.load(), kProducers * kPerProducer);
  EXPECT_EQ(ledger->torn.load(), 0U);
  EXPECT_EQ(ledger->reordered.load(), 0U);
  EXPECT_EQ(ledger->abandoned.load(), 0U);
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    for (std::uint64_t seq = 0; seq < kPerProducer; ++seq) {
      ASSERT_EQ(ledger->count(p, seq), 1) << "producer " << p << " seq " << seq;
    }
  }
  const auto stats = (*ring)->stats();
  EXPECT_EQ(stats.pushes, kProducers * kPerProducer);
  EXPECT_EQ(stats.pops, kProducers * kPerProducer);
}

// Each side pauses now and then for longer than the other's spin and yield phases, so
// both sleep on the ring's futex and are woken by the other's push_for / pop_for.
template <class Ring>
void sleepers_are_woken_and_every_message_arrives_once() {
  constexpr std::uint64_t kMessages = 400;
  constexpr RingConfig kConfig{4, 40};
  SharedArea ring_area(Ring::bytes_needed(kConfig));
  SharedArea ledger_area(sizeof(Ledger));
  auto ring = Ring::create_at(ring_area.data(), ring_area.size(), kConfig);
  ASSERT_TRUE(ring) << ring.error().message();
  auto* ledger = ring_test::make_ledger(ledger_area);
  int produced = -1;
  std::thread producer([&] {
    for (std::uint64_t first = 0; first < kMessages && produced <= 0; first += 20) {
      produced = ring_test::produce(**ring, 0, first, first + 20);
      std::this_thread::sleep_for(1ms);  // the consumer runs dry and sleeps
    }
  });
  std::vector<std::byte> buf(kConfig.message_size);
  std::array<std::int64_t, ring_test::kMaxProducers> last{};
  last.fill(-1);
  const auto end = std::chrono::steady_clock::now() + 100s;
  while (ledger->events() < kMessages && std::chrono::steady_clock::now() < end) {
    const auto r = (*ring)->pop_for(buf, 2ms);
    if (r.status != PopStatus::kEmpty) ring_test::record(*ledger, r, buf, last);
    if (ledger->events() % 30 == 29) std::this_thread::sleep_for(1ms);  // the producer fills it
  }
  producer.join();
  EXPECT_EQ(produced, 0);
  EXPECT_EQ(ledger->delivered.load(), kMessages);
  EXPECT_EQ(ledger->reordered.load(), 0U);
  for (std::uint64_t seq = 0; seq < kMessages; ++seq) ASSERT_EQ(ledger->count(0, seq), 1) << seq;
  const auto stats = (*ring)->stats();
  EXPECT_GT(stats.sleeps, 0U);
  EXPECT_GT(stats.wakeups, 0U);
}

TEST(RingThreads, SpscSleepersAreWokenAndEveryMessageArrivesOnce) {
  testing::Watchdog dog(120s, "SpscRing sleepers");
  sleepers_are_woken_and_every_message_arrives_once<SpscRing>();
}

TEST(RingThreads, MpmcSleepersAreWokenAndEveryMessageArrivesOnce) {
  testing::Watchdog dog(120s, "MpmcRing sleepers");
  sleepers_are_woken_and_every_message_arrives_once<MpmcRing>();
}

}  // namespace
}  // namespace shmcheck::core
