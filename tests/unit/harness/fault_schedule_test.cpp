#include "shmcheck/harness/fault_schedule.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <set>
#include <vector>

namespace shmcheck::harness {
namespace {

using namespace std::chrono_literals;

std::vector<WorkerPlan> three_producers_two_consumers() {
  return {{"producer", 0, 0},
          {"producer", 0, 1},
          {"producer", 0, 2},
          {"consumer", 1, 0},
          {"consumer", 1, 1}};
}

std::vector<FaultRule> mixed_rules() {
  FaultRule fp;
  fp.type = FaultType::kKillAtFailpoint;
  fp.target = "producer";
  fp.failpoint = core::FailpointId::kRingPushBeforeCommit;
  fp.after = 100;
  fp.restart = true;
  fp.rule_index = 0;
  FaultRule random_kills;
  random_kills.type = FaultType::kKillAtTime;
  random_kills.target = "any";
  random_kills.every = 250ms;
  random_kills.jitter = 100ms;
  random_kills.restart = true;
  random_kills.rule_index = 1;
  FaultRule pause;
  pause.type = FaultType::kPauseAtTime;
  pause.target = "consumer";
  pause.duration = 200ms;
  pause.rule_index = 2;
  return {fp, random_kills, pause};
}

TEST(Prng, SameSeedGivesSameSequence) {
  Prng a(42);
  Prng b(42);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(a.next(), b.next());
}

TEST(Prng, KnownFirstOutputsForSeedZeroArePinned) {
  // Pinned values: a change here changes every stored schedule.
  std::uint64_t state = 0;
  EXPECT_EQ(splitmix64(state), 0xE220A8397B1DCDAFULL);
  Prng rng(0);
  const std::uint64_t first = rng.next();
  Prng again(0);
  EXPECT_EQ(again.next(), first);
  EXPECT_NE(Prng(1).next(), first);
}

TEST(Prng, BelowStaysInRangeAndCoversIt) {
  Prng rng(7);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 2000; ++i) {
    const auto v = rng.below(5);
    ASSERT_LT(v, 5U);
    seen.insert(v);
  }
  EXPECT_EQ(seen.size(), 5U);
  EXPECT_EQ(rng.below(0), 0U);
}

TEST(FaultSchedule, SameSeedGivesIdenticalSchedule) {
  const auto workers = three_producers_two_consumers();
  const auto rules = mixed_rules();
  const auto a = expand_fault_schedule(1234, workers, rules, 3s);
  const auto b = expand_fault_schedule(1234, workers, rules, 3s);
  EXPECT_EQ(a.to_json(), b.to_json());
  EXPECT_EQ(a.describe(), b.describe());
}

// What the console prints of a long schedule: its ends and a count of the rest.
TEST(FaultSchedule, DescribeWithAnEdgeShowsTheEndsAndCountsTheRest) {
  FaultSchedule s;
  for (int i = 0; i < 10; ++i) {
    ScheduledFault f;
    f.role = "producer";
    f.at = std::chrono::milliseconds(i);
    s.faults.push_back(f);
  }
  const std::string text = s.describe(2);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 5) << text;
  EXPECT_NE(text.find("[1] "), std::string::npos) << text;
  EXPECT_EQ(text.find("[2] "), std::string::npos) << text;
  EXPECT_NE(text.find("  ... 6 more"), std::string::npos) << text;
  EXPECT_NE(text.find("[8] "), std::string::npos) << text;
  EXPECT_NE(text.find("[9] "), std::string::npos) << text;
  EXPECT_EQ(s.describe(5), s.describe()) << "10 faults fit two edges of 5";
}

TEST(FaultSchedule, DifferentSeedsGiveDifferentSchedules) {
  const auto workers = three_producers_two_consumers();
  const auto rules = mixed_rules();
  std::set<std::string> distinct;
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    distinct.insert(expand_fault_schedule(seed, workers, rules, 3s).describe());
  }
  EXPECT_GT(distinct.size(), 1U);
}

TEST(FaultSchedule, FailpointRuleTargetsOneWorkerOfTheRoleWithTheOccurrence) {
  const auto workers = three_producers_two_consumers();
  const auto rules = mixed_rules();
  const auto s = expand_fault_schedule(9, workers, std::span(rules).first(1), 3s);
  ASSERT_EQ(s.faults.size(), 1U);
  const auto& f = s.faults[0];
  EXPECT_EQ(f.type, FaultType::kKillAtFailpoint);
  EXPECT_EQ(f.role, "producer");
  EXPECT_LT(f.worker, 3U);
  EXPECT_EQ(f.occurrence, 100U);
  EXPECT_TRUE(f.restart);
  EXPECT_EQ(s.arm_string_for(f.worker), "ring.push.before_commit=100:kill");
  for (std::size_t w = 0; w < workers.size(); ++w) {
    if (w != f.worker) {
      EXPECT_EQ(s.arm_string_for(w), "");
    }
  }
}

TEST(FaultSchedule, ArmStringParsesWithTheCoreParser) {
  FaultRule exit_rule;
  exit_rule.type = FaultType::kExitAtFailpoint;
  exit_rule.target = "locker";
  exit_rule.failpoint = core::FailpointId::kMutexLockedMidUpdate;
  exit_rule.after = 3;
  exit_rule.exit_code = 7;
  const std::vector<WorkerPlan> workers{{"locker", 0, 0}};
  const auto s = expand_fault_schedule(1, workers, std::span(&exit_rule, 1), 1s);
  const auto arm = s.arm_string_for(0);
  EXPECT_EQ(arm, "mutex.locked.mid_update=3:exit=7");
  EXPECT_TRUE(core::arm_failpoints_from_string(arm).has_value());
  core::disarm_all_failpoints();
}

TEST(FaultSchedule, PeriodicKillsStayInsideTheRunAndAreSortedByTime) {
  const auto workers = three_producers_two_consumers();
  const auto rules = mixed_rules();
  const auto s = expand_fault_schedule(77, workers, std::span(rules).subspan(1, 1), 2s);
  // every 250ms over 2s: instants 250ms .. 1750ms -> 7 kills.
  ASSERT_EQ(s.faults.size(), 7U);
  for (std::size_t i = 0; i < s.faults.size(); ++i) {
    const auto& f = s.faults[i];
    EXPECT_EQ(f.type, FaultType::kKillAtTime);
    EXPECT_EQ(f.signal, SIGKILL);
    const auto nominal = 250ms * static_cast<int>(i + 1);
    EXPECT_GE(f.at, nominal - 100ms);
    EXPECT_LE(f.at, nominal + 100ms);
    if (i > 0) {
      EXPECT_LE(s.faults[i - 1].at, f.at);
    }
  }
}

TEST(FaultSchedule, PauseTargetsTheRoleWithItsDuration) {
  const auto workers = three_producers_two_consumers();
  const auto rules = mixed_rules();
  const auto s = expand_fault_schedule(5, workers, std::span(rules).subspan(2, 1), 2s);
  ASSERT_EQ(s.faults.size(), 1U);
  EXPECT_EQ(s.faults[0].type, FaultType::kPauseAtTime);
  EXPECT_EQ(s.faults[0].role, "consumer");
  EXPECT_EQ(s.faults[0].duration, 200ms);
  EXPECT_GE(s.faults[0].at, 0ns);
  EXPECT_LT(s.faults[0].at, 2s);
}

TEST(FaultSchedule, RuleForAnAbsentRoleExpandsToNothing) {
  FaultRule rule;
  rule.target = "waiter";
  rule.start = 10ms;
  const auto workers = three_producers_two_consumers();
  EXPECT_TRUE(expand_fault_schedule(1, workers, std::span(&rule, 1), 1s).faults.empty());
}

// A failpoint fault on "any" worker lands on one whose role passes the failpoint: before,
// some seeds picked a consumer for ring.push.before_commit, a fault that never fires.
TEST(FaultSchedule, AFailpointFaultOnAnyWorkerPicksOneThatReachesIt) {
  const auto workers = three_producers_two_consumers();
  FaultRule push;
  push.type = FaultType::kKillAtFailpoint;
  push.failpoint = core::FailpointId::kRingPushBeforeCommit;
  FaultRule pop = push;
  pop.failpoint = core::FailpointId::kRingPopAfterClaim;
  std::set<std::string> push_roles;
  std::set<std::string> pop_roles;
  for (std::uint64_t seed = 0; seed < 64; ++seed) {
    for (const auto& f : expand_fault_schedule(seed, workers, std::span(&push, 1), 2s).faults) {
      push_roles.insert(f.role);
    }
    for (const auto& f : expand_fault_schedule(seed, workers, std::span(&pop, 1), 2s).faults) {
      pop_roles.insert(f.role);
    }
  }
  EXPECT_EQ(push_roles, std::set<std::string>{"producer"});
  EXPECT_EQ(pop_roles, std::set<std::string>{"consumer"});
}

TEST(FaultSchedule, OneShotStartWithoutJitterIsKeptExactly) {
  FaultRule rule;
  rule.target = "consumer";
  rule.start = 1500ms;
  rule.signal = SIGTERM;
  const std::vector<WorkerPlan> workers{{"producer", 0, 0}, {"consumer", 1, 0}};
  const auto s = expand_fault_schedule(3, workers, std::span(&rule, 1), 2s);
  ASSERT_EQ(s.faults.size(), 1U);
  EXPECT_EQ(s.faults[0].worker, 1U);
  EXPECT_EQ(s.faults[0].at, 1500ms);
  EXPECT_EQ(s.faults[0].describe(), "kill consumer[0] at t=1500ms (SIGTERM)");
}

// `start: 0ms` is the run's start, as written: it was read as "not given", and the kills
// came a period late (300, 600, 900 ms) and a one-off pause at a seeded instant.
TEST(FaultSchedule, AStartOfZeroFiresAtTheRunsStart) {
  const std::vector<WorkerPlan> workers{{"locker", 0, 0}, {"locker", 1, 1}};
  FaultRule kills;
  kills.target = "locker";
  kills.start = 0ms;
  kills.every = 300ms;
  std::vector<std::chrono::nanoseconds> at;
  for (const auto& f : expand_fault_schedule(3, workers, std::span(&kills, 1), 1s).faults) {
    at.push_back(f.at);
  }
  EXPECT_EQ(at, (std::vector<std::chrono::nanoseconds>{0ms, 300ms, 600ms, 900ms}));
  EXPECT_EQ(timed_firings(kills.start, kills.every, 0, 1s), 4U);
  FaultRule pause;
  pause.type = FaultType::kPauseAtTime;
  pause.target = "locker";
  pause.start = 0ms;
  pause.duration = 50ms;
  for (std::uint64_t seed = 0; seed < 8; ++seed) {
    const auto s = expand_fault_schedule(seed, workers, std::span(&pause, 1), 1s);
    ASSERT_EQ(s.faults.size(), 1U);
    EXPECT_EQ(s.faults[0].at, 0ms) << "seed " << seed;
  }
}

// A jittered instant reads as milliseconds or seconds, not as "t=393080671ns".
TEST(FaultSchedule, AJitteredInstantIsDescribedToTheMicrosecond) {
  ScheduledFault f;
  f.role = "consumer";
  f.worker = 1;
  f.at = 393'080'671ns;
  EXPECT_EQ(f.describe(), "kill consumer[0] at t=393.081ms (SIGKILL)");
  f.at = 1'393'080'671ns;
  f.type = FaultType::kPauseAtTime;
  f.duration = 20ms;
  EXPECT_EQ(f.describe(), "pause consumer[0] at t=1.393081s for 20ms");
}

TEST(FaultSchedule, MaxBoundsTheNumberOfFirings) {
  FaultRule rule;
  rule.every = 100ms;
  rule.max = 3;
  const auto workers = three_producers_two_consumers();
  EXPECT_EQ(expand_fault_schedule(3, workers, std::span(&rule, 1), 2s).faults.size(), 3U);
}

// timed_firings counts what expand_fault_schedule plans, so the plan-size check agrees
// with the plan it guards.
TEST(FaultSchedule, TimedFiringsCountsWhatTheScheduleHolds) {
  struct Case {
    std::chrono::nanoseconds start, every, jitter;
    std::uint32_t max;
    std::chrono::nanoseconds length;
  };
  constexpr std::chrono::nanoseconds none{-1};  // no `start` given
  constexpr std::chrono::nanoseconds kForever = std::chrono::nanoseconds::max();
  const Case cases[] = {
      {none, 250ms, 100ms, 0, 2s},
      {none, 200ms, 0ms, 0, 2s},
      {none, 200ms, 0ms, 0, 2001ms},
      {300ms, 0ms, 0ms, 0, 2s},
      {300ms, 0ms, 0ms, 0, 300ms},
      {none, 0ms, 0ms, 0, 2s},
      {500ms, 1ms, 0ms, 0, 1s},
      {none, 100ms, 0ms, 3, 2s},
      {none, 3s, 0ms, 0, 2s},
      {none, 1us, 0ms, 0, 10ms},
      {1ms, 7ms, 3ms, 20, 1s},
      {0ms, 200ms, 50ms, 0, 2s},
      {0ms, 0ms, 0ms, 0, 2s},
      {0ms, 1s, 0ms, 0, 1s},
      // Periods whose next firing is past int64 ns: `t += every` wrapped negative, inside
      // the run again, and the expansion planned firings until memory ran out.
      {500ms, kForever, 0ms, 5, 1s},
      {0ms, kForever / 2 + 1ns, 0ms, 0, kForever},
      {none, kForever, 0ms, 0, kForever},
      {none, 0ms, 0ms, 0, kForever}};  // a seeded instant in the first 60% of 292 years
  const auto workers = three_producers_two_consumers();
  for (const auto& c : cases) {
    FaultRule rule;
    rule.start = c.start;
    rule.every = c.every;
    rule.jitter = c.jitter;
    rule.max = c.max;
    const auto planned = expand_fault_schedule(5, workers, std::span(&rule, 1), c.length);
    EXPECT_EQ(timed_firings(c.start, c.every, c.max, c.length), planned.faults.size())
        << "start " << c.start.count() << " every " << c.every.count() << " max " << c.max
        << " length " << c.length.count();
  }
}

TEST(FaultSchedule, APlanPastTheLimitIsRefusedNamingItsLargestRule) {
  const std::uint64_t fits[] = {1, kMaxPlannedFaults - 2, 1};
  EXPECT_FALSE(check_plan_size(fits, 1s).has_value());
  const std::uint64_t one_rule[] = {999'999'999};
  const auto refused = check_plan_size(one_rule, 1s);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->rule, 0U);
  EXPECT_EQ(refused->why,
            "this fault fires 999999999 times in the run (1s); a run plans at most 1000000, each "
            "held and listed in the reports: fire it less often, cap it with 'max', or shorten "
            "the run");
  const std::uint64_t together[] = {600'000, 1, 700'000};
  const auto both = check_plan_size(together, 10min);
  ASSERT_TRUE(both.has_value());
  EXPECT_EQ(both->rule, 2U);
  EXPECT_NE(both->why.find("fires 700000 times in the run (10m), the spec's faults 1300001 in all"),
            std::string::npos)
      << both->why;
  const std::uint64_t overflowing[] = {UINT64_MAX, UINT64_MAX};
  EXPECT_TRUE(check_plan_size(overflowing, 1s).has_value());
}

TEST(FaultSchedule, PauseAtFailpointArmsAPause) {
  FaultRule rule;
  rule.type = FaultType::kPauseAtFailpoint;
  rule.target = "consumer";
  rule.failpoint = core::FailpointId::kRingPopAfterClaim;
  rule.after = 5;
  rule.duration = 300ms;
  const std::vector<WorkerPlan> workers{{"consumer", 0, 0}};
  const auto s = expand_fault_schedule(3, workers, std::span(&rule, 1), 2s);
  ASSERT_EQ(s.faults.size(), 1U);
  EXPECT_EQ(s.arm_string_for(0), "ring.pop.after_claim=5:pause");
  EXPECT_EQ(s.faults[0].duration, 300ms);
}

TEST(Signals, NamesRoundTrip) {
  EXPECT_EQ(signal_from_name("SIGKILL"), SIGKILL);
  EXPECT_EQ(signal_from_name("TERM"), SIGTERM);
  EXPECT_EQ(signal_from_name("SIGNOPE"), 0);
  EXPECT_EQ(signal_name(SIGABRT), "SIGABRT");
}

}  // namespace
}  // namespace shmcheck::harness
