#include "shmcheck/core/failpoint.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <vector>

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

TEST(Failpoint, KillRaisesTheSignalItIsGiven) {
  const pid_t pid = testing::fork_child([] {
    if (!arm_failpoints_from_string("ring.pop.before_release=2:kill=15")) return 99;
    failpoint(FailpointId::kRingPopBeforeRelease);
    failpoint(FailpointId::kRingPopBeforeRelease);
    return 0;
  });
  const auto exit = testing::wait_child(pid);
  EXPECT_TRUE(exit.killed_by(SIGTERM)) << exit.describe();
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

// Disarms everything and records, from the observer, the hits on which `id` acts.
const std::vector<std::uint64_t>& record_firings(FailpointId id) {
  static FailpointId watched;
  static std::vector<std::uint64_t> seen;
  watched = id;
  seen.clear();
  disarm_all_failpoints();
  set_failpoint_observer([](FailpointId fp, std::uint64_t n, FailpointAction) noexcept {
    if (fp == watched) seen.push_back(n);
  });
  return seen;
}

// One failpoint with several arms: each acts on its own hit (a pause stops the process
// and lets it go on; the kill after it still comes). Before, the last arm named replaced
// the others: a spec's pause at hit 2 never happened.
TEST(Failpoint, EveryArmOfOnePointFiresOnItsOwnOccurrence) {
  const auto& seen = record_firings(FailpointId::kRingPopAfterClaim);
  ASSERT_TRUE(arm_failpoints_from_string(
      "ring.pop.after_claim=4:delay=1us;ring.pop.after_claim=2:delay=1us;"
      "ring.pop.after_claim=4:delay=2us"));
  for (int i = 0; i < 6; ++i) failpoint(FailpointId::kRingPopAfterClaim);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{2, 4, 4}));
  set_failpoint_observer(nullptr);
  disarm_all_failpoints();

  const pid_t pid = testing::fork_child([] {
    if (!arm_failpoints_from_string("ring.push.after_claim=2:pause;ring.push.after_claim=3:kill")) {
      return 99;
    }
    for (int i = 0; i < 3; ++i) failpoint(FailpointId::kRingPushAfterClaim);
    return 0;
  });
  int status = 0;
  const testing::Watchdog watchdog(std::chrono::seconds(30), "waiting for the paused child");
  ASSERT_EQ(::waitpid(pid, &status, WUNTRACED), pid);
  ASSERT_TRUE(WIFSTOPPED(status)) << "the pause on hit 2 did not stop the child";
  ::kill(pid, SIGCONT);
  const auto exit = testing::wait_child(pid);
  EXPECT_TRUE(exit.killed_by(SIGKILL)) << exit.describe();
}

TEST(Failpoint, ArmingReplacesWhatAPointHadAndAddingKeepsIt) {
  const auto& seen = record_firings(FailpointId::kSegmentWriteMidPage);
  const FailpointArm delay{FailpointAction::kDelay, 1, 1000};
  ASSERT_TRUE(arm_failpoints_from_string("segment.write.mid_page=1:delay=1us"));
  arm_failpoint(FailpointId::kSegmentWriteMidPage, {FailpointAction::kDelay, 2, 1000});
  ASSERT_TRUE(add_failpoint_arm(FailpointId::kSegmentWriteMidPage, {delay.action, 3, 1000}));
  for (int i = 0; i < 4; ++i) failpoint(FailpointId::kSegmentWriteMidPage);
  EXPECT_EQ(seen, (std::vector<std::uint64_t>{2, 3}));
  for (std::size_t i = 2; i < kMaxFailpointArms; ++i) {
    ASSERT_TRUE(add_failpoint_arm(FailpointId::kSegmentWriteMidPage, delay)) << i;
  }
  const auto over = add_failpoint_arm(FailpointId::kSegmentWriteMidPage, delay);
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, ErrorCode::kLimit);
  set_failpoint_observer(nullptr);
  disarm_all_failpoints();
}

TEST(Failpoint, BadSpecsAreRejected) {
  for (const char* bad : {"ring.push.after_claim", "nope=1:kill", "ring.push.after_claim=0:kill",
                          "ring.push.after_claim=1:explode", "ring.push.after_claim=1:delay=5y",
                          "ring.push.after_claim=x:kill", "ring.push.after_claim=1:exit=300",
                          "ring.push.after_claim=1:kill=0", "ring.push.after_claim=1:kill=65",
                          "ring.push.after_claim=1:killer", "ring.push.after_claim=1:kill="}) {
    EXPECT_FALSE(arm_failpoints_from_string(bad)) << bad;
  }
  std::string nine;
  for (int i = 1; i <= 9; ++i) nine += "ring.push.after_claim=" + std::to_string(i) + ":kill;";
  EXPECT_FALSE(arm_failpoints_from_string(nine));
  // A bad item arms nothing, not even the good items before it.
  disarm_all_failpoints();
  EXPECT_FALSE(arm_failpoints_from_string("ring.push.after_claim=1:kill;nope=1:kill"));
  EXPECT_FALSE(failpoints_armed());
  disarm_all_failpoints();
}

}  // namespace
}  // namespace shmcheck::core
