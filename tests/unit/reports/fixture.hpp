// A RunResult suite with every section populated, for the reporter tests.
#pragma once

#include "shmcheck/reports/reporter.hpp"

namespace shmcheck::reports::testing {

inline probes::RunResult passing_run() {
  probes::RunResult r;
  r.spec_name = "mpmc-producer-crash";
  r.spec_file = "specs/mpmc_producer_crash.yaml";
  r.seed = 42;
  r.run_id = "0123456789abcdef";
  r.repro = "shmcheck run specs/mpmc_producer_crash.yaml --seed 42";
  r.shmcheck_version = "0.1.0";
  r.started_at = "2026-11-29T17:00:00Z";
  r.finished_at = "2026-11-29T17:00:03Z";
  r.durations = {0.05, 2.0, 0.1, 2.15};
  r.verdict = probes::RunVerdict::kPass;
  r.exit_code = 0;
  r.fault_schedule.push_back({"producer", 1, "kill", "ring.push.before_commit", std::nullopt, 1000,
                              9, 0, true, probes::FaultStatus::kFired, ""});
  r.fault_schedule.push_back({"consumer", 0, "pause", "", 0.5, 0, 0, 0.2, false,
                              probes::FaultStatus::kSkipped,
                              "its worker was not running when it came due"});
  probes::WorkerOutcome producer{"producer", 1, 1, 5000, {}};
  producer.processes.push_back({0, 101, std::nullopt, 9, probes::ExitCause::kInjectedFailpoint,
                                "ring.push.before_commit", 1000, "push", 1000, 0.0, 0.8});
  producer.processes.push_back(
      {1, 102, 0, std::nullopt, probes::ExitCause::kClean, "", 0, "none", 0, 0.81, 2.0});
  r.workers.push_back(producer);
  probes::WorkerOutcome consumer{"consumer", 0, 0, 6000, {}};
  consumer.processes.push_back(
      {0, 103, 0, std::nullopt, probes::ExitCause::kClean, "", 0, "none", 0, 0.0, 2.0});
  r.workers.push_back(consumer);
  r.timeline = {{0.0, "producer", 1, 101, "spawn", ""},
                {0.5, "consumer", 0, 103, "pause", "SIGSTOP for 200 ms"},
                {0.7, "consumer", 0, 103, "resume", "SIGCONT"},
                {0.8, "producer", 1, 101, "kill", "SIGKILL at ring.push.before_commit #1000"},
                {0.81, "producer", 1, 102, "restart", "incarnation 1"},
                {2.0, "producer", 1, 102, "exit", "exit 0"}};
  r.throughput.interval_s = 0.5;
  r.throughput.series = {{"producer", {1000, 1200, 1400, 1400}},
                         {"consumer", {1000, 1200, 1400, 1400}}};
  r.throughput.fault_markers = {{0.5, "pause", "consumer", 0}, {0.8, "kill", "producer", 1}};
  probes::MessageVerdict mv;
  mv.counts.attempted = 5001;
  mv.counts.acked = 5000;
  mv.counts.delivered = 5000;
  mv.counts.lost_at_crash = 1;
  r.integrity = mv;
  probes::RoleStats prs{"producer", {}};
  for (std::uint64_t ns : {150ULL, 300ULL, 900ULL, 4000ULL, 40000ULL})
    prs.stats.latency.observe(ns);
  prs.stats.ops[1] = 5000;
  prs.stats.full_events = 3;
  for (std::uint64_t ns : {8000ULL, 35000ULL, 1200000ULL}) prs.stats.ring_wait.observe(ns);
  probes::RoleStats lrs{"locker", {}};
  for (std::uint64_t ns : {120ULL, 2500ULL, 70000ULL}) lrs.stats.lock_wait.observe(ns);
  r.roles = {prs, lrs};
  r.rings = {{"queue", "mpmc_ring", 64, 5001, 5000, 3, 120, 0, 17, 16}};
  r.leaks.findings.push_back({"posix_shm", "/shmcheck.0.0123456789abcdef.queue", 69632, "removed"});
  r.expectations = {{"lost", "0", "0", true}, {"p99_latency", "< 500us", "40 us", true}};
  return r;
}

inline probes::RunResult failing_run() {
  auto r = passing_run();
  r.spec_name = "broken <ring> & \"quotes\"";
  r.verdict = probes::RunVerdict::kFail;
  r.exit_code = 1;
  r.integrity->counts.lost = 3;
  r.expectations = {{"lost", "0", "3", false}, {"torn", "0", "0", true}};
  r.workers[1].processes[0].cause = probes::ExitCause::kUnexpectedSignal;
  r.workers[1].processes[0].signal = 11;
  r.workers[1].processes[0].exit_code = std::nullopt;
  r.stalls.push_back(
      {1.5, "no progress for 10s; locker[2] holds guard", {"consumer[0]: pop seq 812 (in_op)"}});
  r.leaks.leaked_objects = 1;
  r.leaks.findings.push_back(
      {"posix_shm", "/shmcheck.0.0123456789abcdef.extra\x01", 4096, "orphaned"});
  return r;
}

inline SuiteResult suite_of(std::vector<probes::RunResult> runs) {
  SuiteResult s;
  s.runs = std::move(runs);
  s.exit_code = suite_exit_code(s.runs);
  s.started_at = "2026-11-29T17:00:00Z";
  s.total_s = 4.3;
  s.hostname = "ci-host";
  return s;
}

}  // namespace shmcheck::reports::testing
