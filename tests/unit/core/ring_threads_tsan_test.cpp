// The ring logic with threads in one process, so ThreadSanitizer can check it (TSan
// cannot see races between processes). Built as shmcheck_core_ring_tsan_tests with
// the ctest labels core and tsan; `scripts/test --no-bootstrap --tsan` runs it under
// -fsanitize=thread.
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace shmcheck::core
