// Semaphore under threads, for ThreadSanitizer (label `tsan`): a POSIX semaphore
// used as a lock must order the plain data it guards, through wait(), wait_for()'s
// spin and its sleep alike. (SysV semop is invisible to TSan, so only POSIX here.)
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "shmcheck/core/segment_header.hpp"
#include "shmcheck/core/semaphore.hpp"
#include "shmcheck/testing/process.hpp"

namespace shmcheck::core {
namespace {

using namespace std::chrono_literals;

struct alignas(64) UnnamedStorage {
  std::byte bytes[Semaphore::kUnnamedBytes];
};

struct GuardedBySemaphore {
  std::uint64_t value = 0;  // plain data: TSan flags any access the semaphore does not order
  std::atomic<int> in_section{0};
  std::atomic<int> violations{0};
  std::atomic<int> errors{0};
};

// Four threads take turns through a binary semaphore, half with wait(), half with
// wait_for() (which spins, then sleeps); returns how often the section was entered.
std::uint64_t hammer(Semaphore& sem, GuardedBySemaphore& g) {
  constexpr int kThreads = 4;
  constexpr int kIterations = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&sem, &g, timed = t % 2 == 0] {
      for (int i = 0; i < kIterations; ++i) {
        if (timed) {
          for (;;) {
            auto got = sem.wait_for(5ms);
            if (!got) {
              g.errors.fetch_add(1);
              return;
            }
            if (*got) break;
          }
        } else if (!sem.wait()) {
          g.errors.fetch_add(1);
          return;
        }
        if (g.in_section.fetch_add(1) != 0) g.violations.fetch_add(1);
        g.value += 1;
        if (i % 101 == 0) std::this_thread::yield();
        g.in_section.fetch_sub(1);
        if (!sem.post()) g.errors.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  return static_cast<std::uint64_t>(kThreads) * kIterations;
}

TEST(SemaphoreThreads, UnnamedSemaphoreOrdersTheDataItGuards) {
  testing::Watchdog watchdog(60s, "SemaphoreThreads unnamed");
  auto storage = std::make_unique<UnnamedStorage>();
  auto sem = Semaphore::create_unnamed(storage->bytes, 1);
  ASSERT_TRUE(sem) << sem.error().message();
  GuardedBySemaphore g;
  const auto expected = hammer(*sem, g);
  EXPECT_EQ(g.errors.load(), 0);
  EXPECT_EQ(g.violations.load(), 0);
  EXPECT_EQ(g.value, expected);
  auto v = sem->value();
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 1);
  ASSERT_TRUE(sem->destroy());
}

TEST(SemaphoreThreads, NamedSemaphoreOrdersTheDataItGuards) {
  testing::Watchdog watchdog(60s, "SemaphoreThreads named");
  auto sem = Semaphore::create_named(segment_name(::getuid(), new_run_id(), "tsan"), 1);
  ASSERT_TRUE(sem) << sem.error().message();
  struct Remove {  // removes the name even when an assertion below fails
    Semaphore& s;
    ~Remove() { EXPECT_TRUE(s.destroy()); }
  } remove{*sem};
  GuardedBySemaphore g;
  const auto expected = hammer(*sem, g);
  EXPECT_EQ(g.errors.load(), 0);
  EXPECT_EQ(g.violations.load(), 0);
  EXPECT_EQ(g.value, expected);
}

}  // namespace
}  // namespace shmcheck::core
