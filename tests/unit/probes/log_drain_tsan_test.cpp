// The delivery-log drain with threads in one process, so ThreadSanitizer can check
// its handshake (TSan cannot see races between processes): a consumer thread writes
// through a DeliveryLog into a log of a few slots, which therefore goes round
// constantly, while a drainer thread calls drain_log. (ConsumerLog::snapshot() is
// not for use beside a drainer: TSan rightly reported it reading a slot the consumer
// was reusing.) Built as shmcheck_probes_tsan_tests with the ctest label tsan;
// `scripts/test --no-bootstrap --tsan` runs it under -fsanitize=thread.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#include "shmcheck/probes/journal.hpp"

namespace shmcheck::probes {
namespace {

using namespace std::chrono_literals;

DecodedMessage delivery(std::uint32_t producer, std::uint64_t seq) {
  DecodedMessage m;
  m.status = MessageStatus::kOk;
  m.header.producer = producer;
  m.header.seq = seq;
  return m;
}

TEST(LogDrainThreads, EveryDeliveryReachesTheDrainOnceAndInOrder) {
  constexpr std::uint64_t kSlots = 8;
  constexpr std::uint64_t kDeliveries = 20'000;
  std::vector<std::byte> memory(ConsumerLog::bytes_needed(kSlots) + kJournalAlignment);
  void* aligned = memory.data();
  std::size_t space = memory.size();
  ASSERT_NE(std::align(kJournalAlignment, ConsumerLog::bytes_needed(kSlots), aligned, space),
            nullptr);
  auto* log = new (aligned) ConsumerLog(0, kSlots);

  std::atomic<bool> done{false};
  std::vector<DeliveryRecord> drained;  // the drainer thread's until it is joined
  std::thread drainer([&] {
    while (!done.load(std::memory_order_acquire)) drain_log(*log, 2, drained);
  });
  bool all = true;
  {
    // Two producers, each seq from 1 up, a gap every third delivery: a record every
    // few deliveries, and runs open across seal requests.
    DeliveryLog writer(*log, 0, 10s);
    std::uint64_t next[2] = {1, 1};
    for (std::uint64_t i = 0; i < kDeliveries; ++i) {
      const auto producer = static_cast<std::uint32_t>(i % 2);
      all = writer.record(delivery(producer, next[producer])) && all;
      next[producer] += (i % 3 == 0) ? 2 : 1;
    }
  }
  done.store(true, std::memory_order_release);
  drainer.join();
  EXPECT_TRUE(all);

  ConsumerSnapshot s = log->snapshot();  // the rest, the consumer done
  s.records.insert(s.records.begin(), drained.begin(), drained.end());
  EXPECT_EQ(s.overflow, 0U);
  // Replay the same deliveries and compare, record by record, per producer.
  std::uint64_t next[2] = {1, 1};
  std::vector<std::uint64_t> expected[2];
  for (std::uint64_t i = 0; i < kDeliveries; ++i) {
    const auto producer = i % 2;
    expected[producer].push_back(next[producer]);
    next[producer] += (i % 3 == 0) ? 2 : 1;
  }
  std::vector<std::uint64_t> seen[2];
  for (const auto& r : s.records) {
    ASSERT_LT(r.producer, 2U);
    for (std::uint32_t k = 0; k < r.count; ++k) seen[r.producer].push_back(r.seq + k);
  }
  EXPECT_EQ(seen[0], expected[0]);
  EXPECT_EQ(seen[1], expected[1]);
}

}  // namespace
}  // namespace shmcheck::probes
