#include "shmcheck/probes/run_result.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>
#include <sstream>
#include <string>

namespace shmcheck::probes {
namespace {

using nlohmann::json;

std::set<std::string> keys(const json& j) {
  std::set<std::string> out;
  for (const auto& [key, value] : j.items()) out.insert(key);
  return out;
}

RunResult sample() {
  RunResult r;
  r.spec_name = "mpmc-producer-crash";
  r.spec_file = "specs/mpmc.yaml";
  r.seed = 42;
  r.run_id = "0123456789abcdef";
  r.repro = "shmcheck run specs/mpmc.yaml --seed 42";
  r.shmcheck_version = "0.1.0";
  r.started_at = "2026-11-29T17:05:00Z";
  r.finished_at = "2026-11-29T17:05:06Z";
  r.durations = Durations{0.25, 5.0, 0.5, 5.75};
  r.verdict = RunVerdict::kFail;
  r.exit_code = 1;
  r.ended_early = "consumer 0's delivery log filled to 843750 of 1125000 records after 3.2s";
  r.fault_schedule = {
      ScheduledFault{"producer", 1, "kill", "ring.push.before_commit", std::nullopt, 10000, 9, 0,
                     true, FaultStatus::kNotReached,
                     "producer[1] completed 4200 operations before the run ended"},
      ScheduledFault{"consumer", 0, "pause", "", 1.5, 0, 0, 0.2, false, FaultStatus::kFired, ""}};
  r.workers = {WorkerOutcome{
      "producer",
      1,
      1,
      20000,
      {ProcessOutcome{0, 100, std::nullopt, 9, ExitCause::kInjectedFailpoint,
                      "ring.push.before_commit", 10000, "push", 10001, 0.01, 2.5},
       ProcessOutcome{1, 101, 0, std::nullopt, ExitCause::kClean, "", 0, "none", 0, 2.51, 5.0}}}};
  r.timeline = {
      TimelineEvent{0.01, "producer", 1, 100, "spawn", ""},
      TimelineEvent{2.5, "producer", 1, 100, "kill", "SIGKILL at ring.push.before_commit #10000"}};
  r.throughput = Throughput{0.1,
                            {ThroughputSeries{"producer", {10, 20, 0, 30}}},
                            {FaultMarker{2.5, "kill", "producer", 1}}};
  MessageVerdict v;
  v.counts.attempted = 20001;
  v.counts.acked = 20000;
  v.counts.delivered = 20001;
  v.counts.recovered = 1;
  v.counts.lost = 2;
  v.examples = {IntegrityExample{"lost", MessageKey{1, 0, 77}, -1, "acked, never delivered"}};
  CrashAttribution a;
  a.crash = CrashRecord{"producer", 1, 0, 100, WorkerOp::kPush, 10001, "ring.push.before_commit"};
  a.effect = "recovered";
  a.message = MessageKey{1, 0, 10001};
  a.description = "producer[1] died";
  CrashAttribution b;
  b.crash = CrashRecord{"consumer", 0, 0, 200, WorkerOp::kNone, 0, ""};
  b.effect = "none";
  b.description = "consumer[0] died outside pop";
  v.crashes = {a, b};
  r.integrity = v;
  MutexFindings m;
  m.object = "guard";
  m.snapshot.a = m.snapshot.b = m.snapshot.generation = m.snapshot.updates = 7;
  m.problems = {"1 exclusion violations"};
  r.mutexes = {m};
  SemaphoreFindings s;
  s.object = "slots";
  s.flavor = "sysv";
  s.initial = 4;
  s.undo = true;
  s.value = 4;
  s.held_at_exit = 1;
  r.semaphores = {s};
  PageFindings p;
  p.object = "pages";
  p.snapshot.pages_written = 3;
  r.pages = {p};
  r.rings = {RingCounters{"queue", "mpmc_ring", 64, 20'000, 19'998, 12, 340, 2, 41, 40}};
  r.stalls = {StallFinding{3.0, "no progress for 10s", {"consumer[0]: pop (in_op)"}}};
  r.leaks = LeakReport{1, {LeakFinding{"posix_shm", "/shmcheck.1000.x.queue", 4096, "orphaned"}}};
  RoleStats role;
  role.role = "producer";
  role.stats.ops[static_cast<std::size_t>(WorkerOp::kPush)] = 20000;
  role.stats.latency.observe(150);
  role.stats.latency.observe(2'000);
  role.stats.lock_wait.observe(5'000'000'000);
  role.stats.full_events = 4;
  role.stats.ring_wait.observe(30'000);
  r.roles = {role};
  r.expectations = {ExpectationResult{"lost", "0", "2", false},
                    ExpectationResult{"p99_latency", "< 500us", "2us", true}};
  return r;
}

TEST(RunResultJson, TopLevelKeysAreTheDocumentedOnes) {
  const json j = to_json(sample());
  const std::set<std::string> expected = {"format",
                                          "format_version",
                                          "spec",
                                          "seed",
                                          "run_id",
                                          "repro",
                                          "shmcheck_version",
                                          "started_at",
                                          "finished_at",
                                          "durations",
                                          "verdict",
                                          "exit_code",
                                          "error",
                                          "ended_early",
                                          "fault_schedule",
                                          "workers",
                                          "timeline",
                                          "throughput",
                                          "integrity",
                                          "mutexes",
                                          "semaphores",
                                          "pages",
                                          "rings",
                                          "stalls",
                                          "leaks",
                                          "roles",
                                          "expectations"};
  EXPECT_EQ(keys(j), expected);
  EXPECT_EQ(j["format"], "shmcheck-run-result");
  EXPECT_EQ(j["format_version"], 1);
  EXPECT_EQ(j["verdict"], "fail");
  EXPECT_EQ(j["exit_code"], 1);
  EXPECT_EQ(j["seed"], 42);
}

TEST(RunResultJson, NestedKeysAreTheDocumentedOnes) {
  const json j = to_json(sample());
  EXPECT_EQ(keys(j["spec"]), (std::set<std::string>{"name", "file"}));
  EXPECT_EQ(keys(j["durations"]),
            (std::set<std::string>{"setup_s", "run_s", "check_s", "total_s"}));
  EXPECT_EQ(keys(j["fault_schedule"][0]),
            (std::set<std::string>{"role", "index", "kind", "failpoint", "at_s", "occurrence",
                                   "signal", "pause_s", "restart", "status", "note"}));
  EXPECT_TRUE(j["fault_schedule"][0]["at_s"].is_null());
  EXPECT_EQ(j["fault_schedule"][1]["at_s"], 1.5);
  EXPECT_EQ(keys(j["workers"][0]),
            (std::set<std::string>{"role", "index", "restarts", "ops", "processes"}));
  EXPECT_EQ(keys(j["workers"][0]["processes"][0]),
            (std::set<std::string>{"incarnation", "pid", "exit_code", "signal", "cause",
                                   "failpoint", "occurrence", "op", "op_seq", "start_s", "end_s"}));
  EXPECT_TRUE(j["workers"][0]["processes"][0]["exit_code"].is_null());
  EXPECT_EQ(j["workers"][0]["processes"][0]["signal"], 9);
  EXPECT_EQ(j["workers"][0]["processes"][0]["cause"], "injected_failpoint");
  EXPECT_EQ(keys(j["timeline"][0]),
            (std::set<std::string>{"t_s", "role", "index", "pid", "kind", "detail"}));
  EXPECT_EQ(keys(j["throughput"]),
            (std::set<std::string>{"interval_s", "series", "fault_markers"}));
  EXPECT_EQ(keys(j["throughput"]["fault_markers"][0]),
            (std::set<std::string>{"t_s", "kind", "role", "index"}));
  const json& integrity = j["integrity"];
  for (const char* k : {"lost",
                        "lost_at_crash",
                        "recovered",
                        "in_flight_dropped",
                        "unexpected",
                        "foreign",
                        "duplicated",
                        "reordered",
                        "torn",
                        "abandoned",
                        "abandoned_unexplained",
                        "stalled",
                        "stranded",
                        "unlogged",
                        "log_overflow",
                        "untracked_incarnations",
                        "complete",
                        "violations",
                        "examples",
                        "crashes",
                        "attempted",
                        "acked",
                        "delivered",
                        "left_in_ring"}) {
    EXPECT_TRUE(integrity.contains(k)) << k;
  }
  EXPECT_EQ(integrity["violations"], 2);
  EXPECT_EQ(
      keys(integrity["examples"][0]),
      (std::set<std::string>{"kind", "producer", "incarnation", "seq", "consumer", "detail"}));
  EXPECT_EQ(
      keys(integrity["crashes"][0]),
      (std::set<std::string>{"role", "index", "incarnation", "pid", "op", "op_seq", "failpoint",
                             "effect", "producer", "incarnation_in_flight", "seq", "description"}));
  EXPECT_TRUE(integrity["crashes"][1]["seq"].is_null());
  EXPECT_EQ(j["mutexes"][0]["ok"], false);
  EXPECT_EQ(j["semaphores"][0]["ok"], true);
  EXPECT_EQ(keys(j["leaks"]), (std::set<std::string>{"leaked_objects", "findings"}));
  EXPECT_EQ(keys(j["leaks"]["findings"][0]),
            (std::set<std::string>{"kind", "name", "bytes", "verdict"}));
  EXPECT_EQ(keys(j["expectations"][0]),
            (std::set<std::string>{"name", "expected", "actual", "pass"}));
}

TEST(RunResultJson, HistogramsCarryPercentilesAndCumulativePrometheusBuckets) {
  const json role = to_json(sample())["roles"][0];
  EXPECT_EQ(role["ops"], 20000);
  EXPECT_EQ(role["ops_by_op"]["push"], 20000);
  const json& latency = role["latency"];
  EXPECT_EQ(keys(latency), (std::set<std::string>{"count", "sum_s", "max_s", "p50_s", "p90_s",
                                                  "p99_s", "p999_s", "buckets"}));
  ASSERT_EQ(latency["buckets"].size(), kHistogramBuckets);
  EXPECT_DOUBLE_EQ(latency["buckets"][0]["le"].get<double>(), 1e-7);
  EXPECT_EQ(latency["buckets"][kHistogramBuckets - 1]["le"], "+Inf");
  EXPECT_EQ(latency["buckets"][1]["count"], 1);
  EXPECT_EQ(latency["buckets"][kHistogramBuckets - 1]["count"], 2);
  EXPECT_DOUBLE_EQ(latency["max_s"].get<double>(), 2e-6);
  EXPECT_LE(latency["p99_s"].get<double>(), 2e-6);
  EXPECT_EQ(role["lock_wait"]["buckets"][kHistogramBuckets - 2]["count"], 0);
  EXPECT_EQ(role["lock_wait"]["buckets"][kHistogramBuckets - 1]["count"], 1);
  EXPECT_EQ(role["full_events"], 4);
  EXPECT_EQ(role["ring_wait"]["count"], 1);
  EXPECT_DOUBLE_EQ(role["ring_wait"]["sum_s"].get<double>(), 30e-6);
}

TEST(RunResultJson, FromJsonInvertsToJson) {
  const RunResult original = sample();
  const json j = to_json(original);
  auto parsed = run_result_from_json(j);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(to_json(*parsed), j);
  EXPECT_EQ(parsed->workers, original.workers);
  EXPECT_EQ(parsed->roles, original.roles);
  EXPECT_EQ(parsed->rings, original.rings);
  EXPECT_EQ(parsed->integrity->counts, original.integrity->counts);
  // Through text as well.
  auto reparsed = run_result_from_json(json::parse(j.dump(2)));
  ASSERT_TRUE(reparsed);
  EXPECT_EQ(to_json(*reparsed), j);
}

std::string streamed(const RunResult& r, int depth = 0) {
  std::ostringstream out;
  write_json(out, r, depth);
  return out.str();
}

std::string dumped(const json& j) { return j.dump(2, ' ', false, json::error_handler_t::replace); }

TEST(RunResultJson, WriteJsonPrintsTheDocumentsBytesWithoutBuildingIt) {
  RunResult r = sample();
  EXPECT_EQ(streamed(r), dumped(to_json(r)));
  // Many records in every list, an empty record list, no integrity verdict, a string
  // that is not UTF-8 (replaced, as dump does) and one with a newline (escaped).
  for (int i = 0; i < 50; ++i) {
    r.timeline.push_back(r.timeline[i % 2]);
    r.workers[0].processes.push_back(r.workers[0].processes[i % 2]);
    r.integrity->crashes.push_back(r.integrity->crashes[i % 2]);
  }
  r.stalls.clear();
  r.error = "worker said \xff\xfe then\nstopped";
  EXPECT_EQ(streamed(r), dumped(to_json(r)));
  r.integrity.reset();
  EXPECT_EQ(streamed(r), dumped(to_json(r)));
  EXPECT_EQ(streamed(RunResult{}), dumped(to_json(RunResult{})));
}

TEST(RunResultJson, WriteJsonNestsAtAnyDepth) {
  const RunResult r = sample();
  const json doc = {{"runs", json::array({to_json(r), to_json(r)})}, {"seed", to_json(r)}};
  std::ostringstream out;
  out << "{\n  \"runs\": ";
  write_json(out, std::vector<RunResult>{r, r}, 1);
  out << ",\n  \"seed\": ";
  write_json(out, r, 1);
  out << "\n}";
  EXPECT_EQ(out.str(), dumped(doc));
  std::ostringstream none;
  write_json(none, std::vector<RunResult>{}, 3);
  EXPECT_EQ(none.str(), "[]");
}

TEST(RunResultJson, MalformedDocumentNamesTheKey) {
  json j = to_json(sample());
  j["workers"][0]["processes"][0].erase("cause");
  auto parsed = run_result_from_json(j);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, core::ErrorCode::kInvalidArgument);
  // The JSON path to the bad value leads the message.
  EXPECT_EQ(parsed.error().detail.rfind("workers[0].processes[0]: missing key \"cause\"", 0), 0u)
      << parsed.error().detail;

  j = to_json(sample());
  j["workers"][0]["processes"][1]["cause"] = "vanished";
  parsed = run_result_from_json(j);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().detail, "workers[0].processes[1].cause: unknown value \"vanished\"");

  j = to_json(sample());
  j["integrity"]["crashes"][0]["seq"] = "x";
  parsed = run_result_from_json(j);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().detail.rfind("integrity.crashes[0].seq: ", 0), 0u)
      << parsed.error().detail;

  j = to_json(sample());
  j["roles"][0]["ops_by_op"].erase("push");
  parsed = run_result_from_json(j);
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().detail, "roles[0].ops_by_op: missing key \"push\"");

  j = to_json(sample());
  j["seed"] = "forty-two";
  parsed = run_result_from_json(j);
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().detail.find("seed"), std::string::npos);

  EXPECT_FALSE(run_result_from_json(json::array()));
  j = to_json(sample());
  j["format_version"] = 99;
  EXPECT_FALSE(run_result_from_json(j));
}

TEST(RunResultJson, ResultWithoutMessageWorkloadHasNullIntegrity) {
  RunResult r;
  r.verdict = RunVerdict::kPass;
  r.exit_code = 0;
  const json j = to_json(r);
  EXPECT_TRUE(j["integrity"].is_null());
  EXPECT_EQ(j["verdict"], "pass");
  auto parsed = run_result_from_json(j);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_FALSE(parsed->integrity.has_value());
}

TEST(Compare, EveryOperatorComparesAndNaNNeverPasses) {
  EXPECT_TRUE(compare(1, CompareOp::kLess, 2));
  EXPECT_FALSE(compare(2, CompareOp::kLess, 2));
  EXPECT_TRUE(compare(2, CompareOp::kLessEqual, 2));
  EXPECT_TRUE(compare(3, CompareOp::kGreater, 2));
  EXPECT_FALSE(compare(2, CompareOp::kGreater, 2));
  EXPECT_TRUE(compare(2, CompareOp::kGreaterEqual, 2));
  EXPECT_TRUE(compare(0, CompareOp::kEqual, 0));
  EXPECT_TRUE(compare(1, CompareOp::kNotEqual, 0));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(compare(nan, CompareOp::kLess, 1));
  EXPECT_FALSE(compare(nan, CompareOp::kNotEqual, 1));
}

TEST(Compare, OperatorNamesRoundTrip) {
  for (const CompareOp op : {CompareOp::kLess, CompareOp::kLessEqual, CompareOp::kGreater,
                             CompareOp::kGreaterEqual, CompareOp::kEqual, CompareOp::kNotEqual}) {
    EXPECT_EQ(compare_op_from_string(to_string(op)), op);
  }
  EXPECT_FALSE(compare_op_from_string("=>").has_value());
}

TEST(Names, VerdictsAndExitCausesRoundTrip) {
  for (const RunVerdict v : {RunVerdict::kPass, RunVerdict::kFail, RunVerdict::kError}) {
    EXPECT_EQ(run_verdict_from_string(to_string(v)), v);
  }
  for (const ExitCause c :
       {ExitCause::kClean, ExitCause::kInjectedFailpoint, ExitCause::kInjectedTimer,
        ExitCause::kStoppedByHarness, ExitCause::kUnexpectedSignal, ExitCause::kUnexpectedExit,
        ExitCause::kOomKilled, ExitCause::kRunning}) {
    EXPECT_EQ(exit_cause_from_string(to_string(c)), c);
  }
  EXPECT_TRUE(is_unexpected(ExitCause::kOomKilled));
  EXPECT_FALSE(is_unexpected(ExitCause::kInjectedTimer));
}

}  // namespace
// Throughput counts messages delivered once: a duplicating bug (every message sent
// twice) doubled it, and passed a throughput expectation only because of the copies.
TEST(Throughput, CountsEachMessageOnceNotItsCopies) {
  RunResult r;
  MessageVerdict mv;
  mv.counts.delivered = 1000;
  mv.counts.duplicated = 400;
  mv.counts.redelivered = 3;
  r.integrity = mv;
  EXPECT_EQ(throughput_ops(r), 597U);
  r.integrity->counts.duplicated = 5000;  // never below zero
  EXPECT_EQ(throughput_ops(r), 0U);
  // Without messages: every role's operations but the consumer's.
  r.integrity.reset();
  RoleStats locker{"locker", {}};
  locker.stats.ops[1] = 7;
  RoleStats consumer{"consumer", {}};
  consumer.stats.ops[1] = 100;
  r.roles = {locker, consumer};
  EXPECT_EQ(throughput_ops(r), 7U);
}

}  // namespace shmcheck::probes
