// RobustMutex under threads, for ThreadSanitizer (label `tsan`): the same mutual
// exclusion and statistics logic the process tests check, where TSan can see it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "shmcheck/core/robust_mutex.hpp"
#include "shmcheck/testing/process.hpp"

namespace shmcheck::core {
namespace {

using namespace std::chrono_literals;

struct alignas(RobustMutex) MutexStorage {
  std::byte bytes[sizeof(RobustMutex)];
};

struct GuardedByMutex {
  std::uint64_t a = 0;  // plain data: TSan flags any access the mutex does not order
  std::uint64_t b = 0;
  std::atomic<int> in_section{0};
  std::atomic<int> violations{0};
  std::atomic<int> errors{0};
};

RobustMutex* make_mutex(MutexStorage& storage) {
  auto created = RobustMutex::create_at(storage.bytes);
  EXPECT_TRUE(created) << created.error().message();
  return created ? *created : nullptr;
}

void critical_section(GuardedByMutex& g) {
  if (g.in_section.fetch_add(1) != 0) g.violations.fetch_add(1);
  g.a += 1;
  if (g.a % 97 == 0) std::this_thread::yield();  // hold it across a reschedule now and then
  g.b += 1;
  g.in_section.fetch_sub(1);
}

TEST(RobustMutexThreads, LockKeepsThreadsOutOfEachOthersCriticalSection) {
  testing::Watchdog watchdog(60s, "RobustMutexThreads lock");
  auto storage = std::make_unique<MutexStorage>();
  RobustMutex* m = make_mutex(*storage);
  ASSERT_NE(m, nullptr);
  GuardedByMutex g;
  constexpr int kThreads = 4;
  constexpr int kIterations = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIterations; ++i) {
        auto st = m->lock();
        if (!st || *st != LockStatus::kAcquired) {
          g.errors.fetch_add(1);
          return;
        }
        critical_section(g);
        if (!m->unlock()) g.errors.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(g.errors.load(), 0);
  EXPECT_EQ(g.violations.load(), 0);
  EXPECT_EQ(g.a, static_cast<std::uint64_t>(kThreads) * kIterations);
  EXPECT_EQ(g.a, g.b);
  const auto s = m->stats();
  EXPECT_EQ(s.acquisitions, static_cast<std::uint64_t>(kThreads) * kIterations);
  EXPECT_LE(s.contended, s.acquisitions);
  EXPECT_EQ(s.owner_died, 0U);
  ASSERT_TRUE(m->destroy());
}

TEST(RobustMutexThreads, TryLockAndLockForKeepThreadsApartToo) {
  testing::Watchdog watchdog(60s, "RobustMutexThreads try_lock");
  auto storage = std::make_unique<MutexStorage>();
  RobustMutex* m = make_mutex(*storage);
  ASSERT_NE(m, nullptr);
  GuardedByMutex g;
  std::atomic<std::uint64_t> acquired{0};
  constexpr int kIterations = 4000;
  auto worker = [&](bool use_try_lock) {
    for (int i = 0; i < kIterations; ++i) {
      auto st = use_try_lock ? m->try_lock() : m->lock_for(10ms);
      if (!st) {
        if (st.error().code != ErrorCode::kTimedOut) g.errors.fetch_add(1);
        continue;  // busy: legitimately not acquired
      }
      acquired.fetch_add(1);
      critical_section(g);
      if (!m->unlock()) g.errors.fetch_add(1);
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(worker, true);
  threads.emplace_back(worker, true);
  threads.emplace_back(worker, false);
  threads.emplace_back(worker, false);
  for (auto& th : threads) th.join();
  EXPECT_EQ(g.errors.load(), 0);
  EXPECT_EQ(g.violations.load(), 0);
  EXPECT_EQ(g.a, acquired.load());
  EXPECT_EQ(g.a, g.b);
  EXPECT_EQ(m->stats().acquisitions, acquired.load());
  ASSERT_TRUE(m->destroy());
}

}  // namespace
}  // namespace shmcheck::core
