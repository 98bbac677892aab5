#include "shmcheck/core/failpoint.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include "shmcheck/testing/process.hpp"

namespace shmcheck::core {
namespace {

TEST(Failpoint, RegistryNamesAreUniqueAndRoundTrip) {
  const auto all = all_failpoints();
  ASSERT_EQ(all.size(), kFailpointCount);
  for (const auto& fp : all) {
    EXPECT_EQ(failpoint_from_name(fp.name), fp.id) << fp.name;
    EXPECT_EQ(to_string(fp.id), fp.name);
    EXPECT_FALSE(fp.description.empty());
  }
  EXPECT_FALSE(failpoint_from_name("ring.push.nowhere").has_value());
}

TEST(Failpoint, DisarmedPointDoesNothing) {
  disarm_all_failpoints();
  for (int i = 0; i < 1000; ++i) failpoint(FailpointId::kRingPushBeforeCommit);
  EXPECT_EQ(failpoint_hits(FailpointId::kRingPushBeforeCommit), 0U);
}

TEST(Failpoint, KillFiresOnTheArmedOccurrenceOnly) {
  const pid_t pid = testing::fork_child([] {
    arm_failpoint(FailpointId::kRingPushAfterClaim, {FailpointAction::kKill, 3});
    failpoint(FailpointId::kRingPushAfterClaim);
    failpoint(FailpointId::kRingPushAfterClaim);
    failpoint(FailpointId::kRingPushBeforeCommit);  // other points do not count
    failpoint(FailpointId::kRingPushAfterClaim);    // third hit: SIGKILL
    return 0;
  });
  const auto exit = testing::wait_child(pid);
  EXPECT_TRUE(exit.killed_by(SIGKILL)) << exit.describe();
}

TEST(Failpoint, ExitActionUsesTheExitCode) {
  const pid_t pid = testing::fork_child([] {
    if (!arm_failpoints_from_string("mutex.locked.mid_update=2:exit=7")) return 99;
    failpoint(FailpointId::kMutexLockedMidUpdate);
    failpoint(FailpointId::kMutexLockedMidUpdate);
    return 0;
  });
  const auto exit = testing::wait_child(pid);
  EXPECT_TRUE(exit.exited && exit.code == 7) << exit.describe();
}

TEST(Failpoint, ObserverRunsBeforeTheAction) {
  static int seen = 0;
  seen = 0;  // --gtest_repeat runs this again
  disarm_all_failpoints();
  set_failpoint_observer([](FailpointId id, std::uint64_t n, FailpointAction) noexcept {
    if (id == FailpointId::kSemaphoreAfterWait && n == 1) ++seen;
  });
  ASSERT_TRUE(arm_failpoints_from_string("semaphore.after_wait=1:delay=1us"));
  failpoint(FailpointId::kSemaphoreAfterWait);
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(failpoint_hits(FailpointId::kSemaphoreAfterWait), 1U);
  set_failpoint_observer(nullptr);
  disarm_all_failpoints();
}

TEST(Failpoint, BadSpecsAreRejected) {
  for (const char* bad : {"ring.push.after_claim", "nope=1:kill", "ring.push.after_claim=0:kill",
                          "ring.push.after_claim=1:explode", "ring.push.after_claim=1:delay=5y",
                          "ring.push.after_claim=x:kill", "ring.push.after_claim=1:exit=300"}) {
    EXPECT_FALSE(arm_failpoints_from_string(bad)) << bad;
  }
  disarm_all_failpoints();
}

}  // namespace
}  // namespace shmcheck::core
