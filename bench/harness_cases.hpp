// The cases of harness_bench (issue 7 item 5, "Harness costs"): spawning and reaping
// workers through the supervisor, live metrics and probes on versus off in real
// `shmcheck run`s, and a full audit of 10,000 objects.
#pragma once

#include <string>

#include "audit_population.hpp"
#include "cases.hpp"
#include "report.hpp"

namespace shmcheck::bench {

struct HarnessOptions {
  Options base;            // quick, repetitions, per-trial deadline
  std::string shmcheck;    // the shmcheck binary (`shmcheck run`, `shmcheck audit`)
  std::string worker;      // shmcheck-worker, what `shmcheck run` starts its workers from
  double run_seconds = 2;  // duration of each `shmcheck run` of the overhead spec
  PopulationConfig population;
  int audit_repeat = 7;
};

// Adds a Figure that holds an absolute limit from the issue ("under 1 s"): not a
// measurement, a reference so the Report can compare a measured figure against it.
void add_limit(Report& report, const std::string& id, const std::string& group, double value,
               const std::string& unit, const std::string& text);

// Spawn and reap N workers (8, 64, 256): the harness's Supervisor against a hand-made
// fork/exec + waitpid loop of the same worker executable (this program, as
// `harness_bench worker ...`, which runs shmcheck's worker command).
void run_spawn_cases(Report& report, const HarnessOptions& opts);

// The same spec run by `shmcheck run` with metrics off, with --metrics-listen (scraped
// every 250 ms), and with --no-probes, alternating; ops/s of its workers.
void run_overhead_cases(Report& report, const HarnessOptions& opts);

// A full audit of opts.population (10,000 objects, 300 holders) in private namespaces:
// take_inventory() in this process and the `shmcheck audit --json` command.
void run_audit_cases(Report& report, const HarnessOptions& opts);

}  // namespace shmcheck::bench
