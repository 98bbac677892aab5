#include "shmcheck/core/robust_mutex.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/testing/process.hpp"
#include "sync_test_support.hpp"

namespace shmcheck::core {
namespace {

using namespace std::chrono_literals;
using test::SharedPages;

constexpr auto kChildDeadline = std::chrono::milliseconds(10'000);

// What the tests share across fork: the mutex, a record it protects (invariant
// a == b) and flags the processes use to step each other through a scenario.
struct Shared {
  alignas(RobustMutex) std::byte mutex_mem[sizeof(RobustMutex)];
  std::uint64_t a;
  std::uint64_t b;
  std::uint64_t counter;  // only touched under the mutex
  std::atomic<int> in_section;
  std::atomic<int> violations;
  std::atomic<int> child_ready;
  std::atomic<int> release;
};

class RobustMutexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = RobustMutex::create_at(shared_->mutex_mem);
    ASSERT_TRUE(created) << created.error().message();
    mutex_ = *created;
  }

  SharedPages pages_{sizeof(Shared) + 4096};
  Shared* shared_ = pages_.as<Shared>();
  RobustMutex* mutex_ = nullptr;
  testing::Watchdog watchdog_{std::chrono::seconds(60), "RobustMutexTest"};
};

// A child that takes the mutex, half-updates the record and is SIGKILLed there
// (the mutex.locked.mid_update failpoint, as a worker would be).
pid_t spawn_victim(Shared* shared) {
  return testing::fork_child([shared] {
    RobustMutex* m = RobustMutex::attach(shared->mutex_mem);
    arm_failpoint(FailpointId::kMutexLockedMidUpdate, {FailpointAction::kKill, 1});
    auto st = m->lock();
    if (!st) return 2;
    shared->a += 1;
    failpoint(FailpointId::kMutexLockedMidUpdate);  // dies here, a != b
    shared->b += 1;
    (void)m->unlock();
    return 3;  // the failpoint did not fire
  });
}

TEST_F(RobustMutexTest, CreateAtRejectsMisalignedMemory) {
  auto* misaligned = reinterpret_cast<std::byte*>(shared_->mutex_mem) + 8;
  auto r = RobustMutex::create_at(misaligned);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(RobustMutexTest, CreatedMutexIsInitialisedAndZeroedMemoryIsNot) {
  EXPECT_TRUE(RobustMutex::attach(shared_->mutex_mem)->is_initialised());
  SharedPages blank(4096);
  const auto* raw = blank.as<RobustMutex>();  // zero-filled: never created
  EXPECT_FALSE(raw->is_initialised());
}

#ifndef NDEBUG
TEST_F(RobustMutexTest, AttachOfUninitialisedMemoryAborts) {
  SharedPages blank(4096);
  EXPECT_DEATH((void)RobustMutex::attach(blank.data()), "no initialised mutex");
}
#endif

TEST_F(RobustMutexTest, LockUnlockCountsUncontendedAcquisitions) {
  for (int i = 0; i < 3; ++i) {
    auto st = mutex_->lock();
    ASSERT_TRUE(st) << st.error().message();
    EXPECT_EQ(*st, LockStatus::kAcquired);
    ASSERT_TRUE(mutex_->unlock());
  }
  const auto s = mutex_->stats();
  EXPECT_EQ(s.acquisitions, 3U);
  EXPECT_EQ(s.contended, 0U);
  EXPECT_EQ(s.wait_ns, 0U);
  EXPECT_EQ(s.owner_died, 0U);
}

TEST_F(RobustMutexTest, RelockByTheOwnerFailsInsteadOfDeadlocking) {
  ASSERT_TRUE(mutex_->lock());
  auto again = mutex_->lock();
  EXPECT_FALSE(again);
  ASSERT_TRUE(mutex_->unlock());
}

TEST_F(RobustMutexTest, TryLockOnAMutexHeldByAnotherProcessReportsBusy) {
  const pid_t pid = testing::fork_child([s = shared_] {
    RobustMutex* m = RobustMutex::attach(s->mutex_mem);
    if (!m->lock()) return 2;
    s->child_ready.store(1);
    const auto end = std::chrono::steady_clock::now() + 8s;
    while (s->release.load() == 0 && std::chrono::steady_clock::now() < end) ::sched_yield();
    return m->unlock() ? 0 : 4;
  });
  ASSERT_TRUE(testing::eventually([&] { return shared_->child_ready.load() == 1; }));

  auto busy = mutex_->try_lock();
  ASSERT_FALSE(busy);
  EXPECT_EQ(busy.error().code, ErrorCode::kTimedOut);
  auto timed = mutex_->lock_for(20ms);
  ASSERT_FALSE(timed);
  EXPECT_EQ(timed.error().code, ErrorCode::kTimedOut);

  shared_->release.store(1);
  const auto exit = testing::wait_child(pid, kChildDeadline);
  EXPECT_TRUE(exit.ok()) << exit.describe();
  auto st = mutex_->lock_for(5s);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(*st, LockStatus::kAcquired);
  ASSERT_TRUE(mutex_->unlock());
}

TEST_F(RobustMutexTest, UnlockByAProcessThatDoesNotHoldItIsRefused) {
  ASSERT_TRUE(mutex_->lock());
  const pid_t pid = testing::fork_child([s = shared_] {
    auto r = RobustMutex::attach(s->mutex_mem)->unlock();
    return !r && r.error().code == ErrorCode::kPermission ? 0 : 1;
  });
  const auto exit = testing::wait_child(pid, kChildDeadline);
  EXPECT_TRUE(exit.ok()) << exit.describe();
  ASSERT_TRUE(mutex_->unlock());
}

TEST_F(RobustMutexTest, BlockedLockerIsCountedAsContendedWithItsWaitTime) {
  ASSERT_TRUE(mutex_->lock());
  const pid_t pid = testing::fork_child([s = shared_] {
    RobustMutex* m = RobustMutex::attach(s->mutex_mem);
    s->child_ready.store(1);
    auto st = m->lock();
    if (!st || *st != LockStatus::kAcquired) return 2;
    return m->unlock() ? 0 : 3;
  });
  ASSERT_TRUE(testing::eventually([&] { return shared_->child_ready.load() == 1; }));
  // Asleep after announcing itself: it can only be waiting on the mutex's futex.
  ASSERT_TRUE(testing::eventually([&] { return test::process_state(pid) == 'S'; }));
  ASSERT_TRUE(mutex_->unlock());
  const auto exit = testing::wait_child(pid, kChildDeadline);
  ASSERT_TRUE(exit.ok()) << exit.describe();

  const auto s = mutex_->stats();
  EXPECT_EQ(s.acquisitions, 2U);
  EXPECT_EQ(s.contended, 1U);
  EXPECT_GT(s.wait_ns, 0U);
}

TEST_F(RobustMutexTest, OwnerKilledMidUpdateIsReportedRepairedAndRecovered) {
  shared_->a = shared_->b = 7;
  const auto victim = testing::wait_child(spawn_victim(shared_), kChildDeadline);
  ASSERT_TRUE(victim.killed_by(SIGKILL)) << victim.describe();

  auto st = mutex_->lock();
  ASSERT_TRUE(st) << st.error().message();
  ASSERT_EQ(*st, LockStatus::kOwnerDied);
  EXPECT_NE(shared_->a, shared_->b) << "the victim died between the two writes";
  shared_->b = shared_->a;  // repair: finish the interrupted update
  ASSERT_TRUE(mutex_->make_consistent());
  ASSERT_TRUE(mutex_->unlock());

  // Later lockers, in this process and in another one, see a healthy mutex.
  st = mutex_->lock();
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(*st, LockStatus::kAcquired);
  EXPECT_EQ(shared_->a, shared_->b);
  ASSERT_TRUE(mutex_->unlock());
  const pid_t next = testing::fork_child([s = shared_] {
    RobustMutex* m = RobustMutex::attach(s->mutex_mem);
    auto r = m->lock();
    if (!r) return 2;
    if (*r != LockStatus::kAcquired) return 3;
    const bool consistent = s->a == s->b && s->a == 8;
    if (!m->unlock()) return 4;
    return consistent ? 0 : 5;
  });
  const auto exit = testing::wait_child(next, kChildDeadline);
  EXPECT_TRUE(exit.ok()) << exit.describe();

  const auto s = mutex_->stats();
  EXPECT_EQ(s.owner_died, 1U);
  EXPECT_EQ(s.acquisitions, 4U);  // victim, repairer, this process again, the child
}

TEST_F(RobustMutexTest, OwnerDiedSeenByLockForAndTryLockToo) {
  ASSERT_TRUE(testing::wait_child(spawn_victim(shared_), kChildDeadline).killed_by(SIGKILL));
  auto st = mutex_->try_lock();
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(*st, LockStatus::kOwnerDied);
  shared_->b = shared_->a;
  ASSERT_TRUE(mutex_->make_consistent());
  ASSERT_TRUE(mutex_->unlock());

  ASSERT_TRUE(testing::wait_child(spawn_victim(shared_), kChildDeadline).killed_by(SIGKILL));
  st = mutex_->lock_for(1s);
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(*st, LockStatus::kOwnerDied);
  ASSERT_TRUE(mutex_->make_consistent());
  ASSERT_TRUE(mutex_->unlock());
  EXPECT_EQ(mutex_->stats().owner_died, 2U);
}

// The owner dies while another process is asleep waiting for the mutex: the sleeper
// is woken by the kernel's robust-list cleanup and gets the mutex with kOwnerDied.
TEST_F(RobustMutexTest, OwnerKilledWhileOthersWaitWakesAWaiterWithOwnerDied) {
  for (const bool timed : {false, true}) {
    SCOPED_TRACE(timed ? "lock_for" : "lock");
    shared_->child_ready.store(0);
    const pid_t holder = testing::fork_child([s = shared_] {
      RobustMutex* m = RobustMutex::attach(s->mutex_mem);
      if (!m->lock()) return 2;
      s->child_ready.store(1);
      for (;;) ::pause();  // holds the mutex until SIGKILLed
    });
    ASSERT_TRUE(testing::eventually([&] { return shared_->child_ready.load() == 1; }));
    const pid_t waiter = testing::fork_child([s = shared_, timed] {
      RobustMutex* m = RobustMutex::attach(s->mutex_mem);
      auto st = timed ? m->lock_for(8s) : m->lock();
      if (!st) return 2;
      if (*st != LockStatus::kOwnerDied) return 3;
      if (!m->make_consistent()) return 4;
      return m->unlock() ? 0 : 5;
    });
    // The waiter announces nothing: asleep means blocked on the held mutex.
    ASSERT_TRUE(testing::eventually([&] { return test::process_state(waiter) == 'S'; }));
    ASSERT_EQ(::kill(holder, SIGKILL), 0);
    const auto held = testing::wait_child(holder, kChildDeadline);
    EXPECT_TRUE(held.killed_by(SIGKILL)) << held.describe();
    const auto woke = testing::wait_child(waiter, kChildDeadline);
    EXPECT_TRUE(woke.ok()) << woke.describe();
  }
  const auto s = mutex_->stats();
  EXPECT_EQ(s.owner_died, 2U);
  EXPECT_EQ(s.contended, 2U);
  EXPECT_EQ(s.acquisitions, 4U);
  auto st = mutex_->lock();
  ASSERT_TRUE(st) << st.error().message();
  EXPECT_EQ(*st, LockStatus::kAcquired);
  ASSERT_TRUE(mutex_->unlock());
}

TEST_F(RobustMutexTest, MakeConsistentWithoutOwnerDeathIsRejected) {
  ASSERT_TRUE(mutex_->lock());
  auto r = mutex_->make_consistent();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  ASSERT_TRUE(mutex_->unlock());
}

TEST_F(RobustMutexTest, UnlockWithoutMakeConsistentLeavesTheMutexUnrecoverable) {
  ASSERT_TRUE(testing::wait_child(spawn_victim(shared_), kChildDeadline).killed_by(SIGKILL));
  auto st = mutex_->lock();
  ASSERT_TRUE(st) << st.error().message();
  ASSERT_EQ(*st, LockStatus::kOwnerDied);
  ASSERT_TRUE(mutex_->unlock());  // no repair, no make_consistent

  auto again = mutex_->lock();
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kNotRecoverable);
  auto tried = mutex_->try_lock();
  ASSERT_FALSE(tried);
  EXPECT_EQ(tried.error().code, ErrorCode::kNotRecoverable) << tried.error().message();
  // Every later locker, in any process and by any call, is told the same thing
  // (and none of them is left holding or blocking on the lock word).
  const pid_t pid = testing::fork_child([s = shared_] {
    RobustMutex* m = RobustMutex::attach(s->mutex_mem);
    auto r = m->lock_for(1s);
    if (r || r.error().code != ErrorCode::kNotRecoverable) return 1;
    auto t = m->try_lock();
    if (t || t.error().code != ErrorCode::kNotRecoverable) return 2;
    auto l = m->lock();
    return !l && l.error().code == ErrorCode::kNotRecoverable ? 0 : 3;
  });
  const auto exit = testing::wait_child(pid, kChildDeadline);
  EXPECT_TRUE(exit.ok()) << exit.describe();
  auto last = mutex_->lock_for(1s);
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().code, ErrorCode::kNotRecoverable) << last.error().message();
}

TEST_F(RobustMutexTest, ProcessesNeverShareTheCriticalSection) {
  constexpr int kProcesses = 3;
  constexpr int kIterations = 3000;
  std::vector<pid_t> pids;
  for (int p = 0; p < kProcesses; ++p) {
    pids.push_back(testing::fork_child([s = shared_] {
      RobustMutex* m = RobustMutex::attach(s->mutex_mem);
      for (int i = 0; i < kIterations; ++i) {
        auto st = m->lock();
        if (!st || *st != LockStatus::kAcquired) return 2;
        if (s->in_section.fetch_add(1) != 0) s->violations.fetch_add(1);
        s->counter += 1;
        if (i % 64 == 0) ::sched_yield();  // hold it across a reschedule now and then
        s->in_section.fetch_sub(1);
        if (!m->unlock()) return 3;
      }
      return 0;
    }));
  }
  for (const pid_t pid : pids) {
    const auto exit = testing::wait_child(pid, kChildDeadline);
    EXPECT_TRUE(exit.ok()) << exit.describe();
  }
  EXPECT_EQ(shared_->violations.load(), 0);
  EXPECT_EQ(shared_->counter, static_cast<std::uint64_t>(kProcesses) * kIterations);
  const auto s = mutex_->stats();
  EXPECT_EQ(s.acquisitions, static_cast<std::uint64_t>(kProcesses) * kIterations);
  EXPECT_LE(s.contended, s.acquisitions);
  EXPECT_EQ(s.owner_died, 0U);
}

}  // namespace
}  // namespace shmcheck::core
