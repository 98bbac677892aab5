#include "shmcheck/core/semaphore.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>

#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/core/segment_header.hpp"
#include "shmcheck/testing/process.hpp"
#include "sync_test_support.hpp"

namespace shmcheck::core {
namespace {

using namespace std::chrono_literals;
using test::SharedPages;

constexpr auto kChildDeadline = std::chrono::milliseconds(10'000);

std::string fresh_name(const std::string& object) {
  return segment_name(::getuid(), new_run_id(), object);
}

// Destroys what a test created when the test ends, passed or failed. Forked children
// leave through _exit() and never run it, so only the creating process removes.
class SemaphoreGuard {
 public:
  SemaphoreGuard() = default;
  explicit SemaphoreGuard(Semaphore sem) : sem_(std::move(sem)) {}
  SemaphoreGuard(const SemaphoreGuard&) = delete;
  SemaphoreGuard& operator=(const SemaphoreGuard&) = delete;
  ~SemaphoreGuard() {
    if (sem_ && sem_->is_creator()) {
      auto r = sem_->destroy();
      EXPECT_TRUE(r) << r.error().message();
    }
  }
  Semaphore& operator*() { return *sem_; }
  Semaphore* operator->() { return &*sem_; }
  void reset(Semaphore sem) { sem_.emplace(std::move(sem)); }

 private:
  std::optional<Semaphore> sem_;
};

// Memory and flags shared across fork.
struct Shared {
  alignas(64) std::byte sem_mem[Semaphore::kUnnamedBytes];
  std::atomic<int> child_ready;
  std::atomic<int> got;
};

// One suite for every flavor: the same behaviour, made and opened each flavor's way.
class SemaphoreTest : public ::testing::TestWithParam<SemaphoreFlavor> {
 protected:
  // Creates this test's semaphore (kept in sem_, destroyed by the guard).
  void make(unsigned initial, bool undo = false) {
    Result<Semaphore> made = make_error(ErrorCode::kOther, "unreachable");
    switch (GetParam()) {
      case SemaphoreFlavor::kPosixUnnamed:
        made = Semaphore::create_unnamed(shared_->sem_mem, initial);
        break;
      case SemaphoreFlavor::kPosixNamed:
        made = Semaphore::create_named(fresh_name("sem"), initial);
        break;
      case SemaphoreFlavor::kSysV:
        made = Semaphore::create_sysv(initial, undo);
        break;
    }
    ASSERT_TRUE(made) << made.error().message();
    sem_.reset(std::move(made).value());
  }

  // The same object as another process would open it (from the name / id / memory).
  Result<Semaphore> open_again(bool undo = false) {
    switch (GetParam()) {
      case SemaphoreFlavor::kPosixUnnamed:
        return Semaphore::attach_unnamed(shared_->sem_mem);
      case SemaphoreFlavor::kPosixNamed:
        return Semaphore::open_named(sem_->name());
      case SemaphoreFlavor::kSysV:
        return Semaphore::open_sysv(sem_->sysv_id(), undo);
    }
    return make_error(ErrorCode::kInvalidArgument, "flavor");
  }

  int value() {
    auto v = sem_->value();
    EXPECT_TRUE(v) << v.error().message();
    return v ? *v : -1;
  }

  testing::Watchdog watchdog_{std::chrono::seconds(60), "SemaphoreTest"};
  SharedPages pages_{4096};
  Shared* shared_ = pages_.as<Shared>();
  SemaphoreGuard sem_;
};

TEST_P(SemaphoreTest, ReportsItsFlavorAndInitialValue) {
  make(3);
  EXPECT_EQ(sem_->flavor(), GetParam());
  EXPECT_TRUE(sem_->is_creator());
  EXPECT_EQ(value(), 3);
}

TEST_P(SemaphoreTest, PostRaisesAndWaitLowersTheValue) {
  make(0);
  ASSERT_TRUE(sem_->post());
  ASSERT_TRUE(sem_->post());
  EXPECT_EQ(value(), 2);
  ASSERT_TRUE(sem_->wait());
  EXPECT_EQ(value(), 1);
}

TEST_P(SemaphoreTest, TryWaitTakesAUnitOnlyWhenOneIsThere) {
  make(1);
  auto first = sem_->try_wait();
  ASSERT_TRUE(first) << first.error().message();
  EXPECT_TRUE(*first);
  auto second = sem_->try_wait();
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_FALSE(*second);
  EXPECT_EQ(value(), 0);
}

TEST_P(SemaphoreTest, WaitForTimesOutWhenNothingIsPosted) {
  make(0);
  auto r = sem_->wait_for(30ms);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(*r);
  auto zero = sem_->wait_for(0ns);
  ASSERT_TRUE(zero) << zero.error().message();
  EXPECT_FALSE(*zero);
  EXPECT_EQ(value(), 0);
}

TEST_P(SemaphoreTest, WaitForTakesAnAvailableUnit) {
  make(2);
  auto r = sem_->wait_for(1s);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(*r);
  EXPECT_EQ(value(), 1);
}

TEST_P(SemaphoreTest, AnotherHandleSeesTheSameObject) {
  make(0);
  auto other = open_again();
  ASSERT_TRUE(other) << other.error().message();
  EXPECT_FALSE(other->is_creator());
  ASSERT_TRUE(other->post());
  EXPECT_EQ(value(), 1);
  auto d = other->destroy();
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().code, ErrorCode::kPermission);
  EXPECT_EQ(value(), 1) << "a non-creator's destroy() removed nothing";
}

TEST_P(SemaphoreTest, PostFromAnotherProcessWakesABlockedWaiter) {
  make(0);
  const pid_t waiter = testing::fork_child([this] {
    auto mine = open_again();
    if (!mine) return 2;
    shared_->child_ready.store(1);
    auto r = mine->wait_for(8s);
    if (!r) return 3;
    shared_->got.store(*r ? 1 : 0);
    return *r ? 0 : 4;
  });
  ASSERT_TRUE(testing::eventually([&] { return shared_->child_ready.load() == 1; }));
  // Asleep after announcing itself: past the spin, blocked in the kernel.
  ASSERT_TRUE(testing::eventually([&] { return test::process_state(waiter) == 'S'; }));
  const pid_t poster = testing::fork_child([this] {
    auto mine = open_again();
    if (!mine) return 2;
    return mine->post() ? 0 : 3;
  });
  const auto posted = testing::wait_child(poster, kChildDeadline);
  EXPECT_TRUE(posted.ok()) << posted.describe();
  const auto woke = testing::wait_child(waiter, kChildDeadline);
  EXPECT_TRUE(woke.ok()) << woke.describe();
  EXPECT_EQ(shared_->got.load(), 1);
  EXPECT_EQ(value(), 0);
}

TEST_P(SemaphoreTest, HolderKilledBetweenWaitAndPostLeavesTheValueLow) {
  make(1);  // SysV here without SEM_UNDO: drifts like POSIX
  const pid_t holder = testing::fork_child([this] {
    auto mine = open_again();
    if (!mine) return 2;
    if (!mine->wait()) return 3;
    arm_failpoint(FailpointId::kSemaphoreAfterWait, {FailpointAction::kKill, 1});
    failpoint(FailpointId::kSemaphoreAfterWait);  // a worker dies holding the unit
    return mine->post() ? 4 : 5;
  });
  const auto exit = testing::wait_child(holder, kChildDeadline);
  ASSERT_TRUE(exit.killed_by(SIGKILL)) << exit.describe();
  EXPECT_EQ(value(), 0) << "the dead holder's unit is never given back (drift)";
  auto r = sem_->try_wait();
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
}

TEST_P(SemaphoreTest, DestroyRemovesTheObjectAndIsIdempotent) {
  make(1);
  ASSERT_TRUE(sem_->destroy());
  ASSERT_TRUE(sem_->destroy());
  auto again = open_again();
  ASSERT_FALSE(again);
  switch (GetParam()) {
    case SemaphoreFlavor::kPosixUnnamed:
      EXPECT_EQ(again.error().code, ErrorCode::kForeign);
      break;
    case SemaphoreFlavor::kPosixNamed:
      EXPECT_EQ(again.error().code, ErrorCode::kNotFound);
      EXPECT_NE(::access(("/dev/shm/sem." + sem_->name().substr(1)).c_str(), F_OK), 0);
      break;
    case SemaphoreFlavor::kSysV:
      EXPECT_EQ(again.error().code, ErrorCode::kInvalidArgument);  // EINVAL: id removed
      break;
  }
}

INSTANTIATE_TEST_SUITE_P(AllFlavors, SemaphoreTest,
                         ::testing::Values(SemaphoreFlavor::kPosixUnnamed,
                                           SemaphoreFlavor::kPosixNamed, SemaphoreFlavor::kSysV),
                         [](const ::testing::TestParamInfo<SemaphoreFlavor>& flavor) {
                           return std::string(to_string(flavor.param));
                         });

TEST(SemaphoreFlavor, NamesRoundTrip) {
  for (auto f :
       {SemaphoreFlavor::kPosixUnnamed, SemaphoreFlavor::kPosixNamed, SemaphoreFlavor::kSysV}) {
    EXPECT_EQ(semaphore_flavor_from_string(to_string(f)), f);
  }
  EXPECT_FALSE(semaphore_flavor_from_string("posix").has_value());
}

TEST(SysVSemaphore, UndoRestoresTheValueWhenTheHolderIsKilled) {
  testing::Watchdog watchdog(std::chrono::seconds(30), "SysV undo");
  auto made = Semaphore::create_sysv(2, /*undo=*/true);
  ASSERT_TRUE(made) << made.error().message();
  SemaphoreGuard sem(std::move(made).value());
  const int id = sem->sysv_id();
  const pid_t holder = testing::fork_child([id] {
    auto mine = Semaphore::open_sysv(id, /*undo=*/true);
    if (!mine) return 2;
    if (!mine->wait() || !mine->wait()) return 3;
    arm_failpoint(FailpointId::kSemaphoreAfterWait, {FailpointAction::kKill, 1});
    failpoint(FailpointId::kSemaphoreAfterWait);
    return 4;
  });
  const auto exit = testing::wait_child(holder, kChildDeadline);
  ASSERT_TRUE(exit.killed_by(SIGKILL)) << exit.describe();
  auto v = sem->value();
  ASSERT_TRUE(v) << v.error().message();
  EXPECT_EQ(*v, 2) << "the kernel gave back both units the dead holder took";
}

TEST(SysVSemaphore, UndoCancelsOutForAHolderThatPostsBack) {
  auto made = Semaphore::create_sysv(1, /*undo=*/true);
  ASSERT_TRUE(made) << made.error().message();
  SemaphoreGuard sem(std::move(made).value());
  const int id = sem->sysv_id();
  const pid_t holder = testing::fork_child([id] {
    auto mine = Semaphore::open_sysv(id, /*undo=*/true);
    if (!mine) return 2;
    for (int i = 0; i < 100; ++i) {
      if (!mine->wait() || !mine->post()) return 3;
    }
    return 0;
  });
  const auto exit = testing::wait_child(holder, kChildDeadline);
  ASSERT_TRUE(exit.ok()) << exit.describe();
  auto v = sem->value();
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, 1);
}

TEST(SysVSemaphore, OpenRefusesASetWithTheWrongMode) {
  const int id = ::semget(IPC_PRIVATE, 1, IPC_CREAT | IPC_EXCL | 0644);
  ASSERT_GE(id, 0);
  auto r = Semaphore::open_sysv(id, false);
  EXPECT_FALSE(r);
  if (!r) {
    EXPECT_EQ(r.error().code, ErrorCode::kForeign);
  }
  EXPECT_EQ(::semctl(id, 0, IPC_RMID), 0);
}

TEST(NamedSemaphore, CreateRefusesATakenName) {
  auto made = Semaphore::create_named(fresh_name("taken"), 0);
  ASSERT_TRUE(made) << made.error().message();
  SemaphoreGuard sem(std::move(made).value());
  auto second = Semaphore::create_named(sem->name(), 0);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kExists);
}

TEST(NamedSemaphore, OpenRefusesAPlantedObjectWithTheWrongMode) {
  const std::string name = fresh_name("planted");
  const mode_t old = ::umask(0);
  sem_t* planted = ::sem_open(name.c_str(), O_CREAT | O_EXCL, 0644, 0U);
  ::umask(old);
  ASSERT_NE(planted, SEM_FAILED);
  auto r = Semaphore::open_named(name);
  EXPECT_FALSE(r);
  if (!r) {
    EXPECT_EQ(r.error().code, ErrorCode::kForeign);
  }
  ::sem_close(planted);
  EXPECT_EQ(::sem_unlink(name.c_str()), 0);
}

TEST(NamedSemaphore, BadNamesAreRejected) {
  for (const char* bad : {"", "/", "noslash", "/a/b"}) {
    auto r = Semaphore::create_named(bad, 0);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(UnnamedSemaphore, AttachRefusesMemoryWithoutASemaphore) {
  SharedPages blank(4096);
  auto r = Semaphore::attach_unnamed(blank.data());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kForeign);
}

TEST(Semaphore, InitialValueAboveTheLimitIsRejected) {
  SharedPages pages(4096);
  auto r = Semaphore::create_unnamed(pages.data(), Semaphore::kMaxValue + 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  auto s = Semaphore::create_sysv(Semaphore::kMaxValue + 1, false);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace shmcheck::core
