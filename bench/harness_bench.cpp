// harness_bench: what shmcheck's harness costs (issue 7 item 5), side by side in one
// run, each figure as a ratio to its reference or to the absolute limit:
//   spawn    spawn and reap 8 / 64 / 256 workers: the Supervisor vs a fork/exec loop
//   overhead probes and live metrics on vs off, the same spec in real `shmcheck run`s
//   audit    a full audit of 10,000 objects held by 300 processes
// Prints its part of the table and, with --json, writes it (scripts/bench merges the
// parts). A report, not a test: exit status 0 even when a target is missed.
//
//   harness_bench [--quick] [--json FILE] [--repetitions N] [--only GROUPS] [--shmcheck PATH]
//                 [--worker PATH]
//
// The spawn cases start shmcheck-worker, as `shmcheck run` does, and for comparison
// `shmcheck worker`.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "harness_cases.hpp"
#include "shmcheck/harness/cli.hpp"

#if !defined(SHMCHECK_BINARY) || !defined(SHMCHECK_WORKER_BINARY)
#error "SHMCHECK_BINARY and SHMCHECK_WORKER_BINARY are set by bench/CMakeLists.txt"
#endif

int main(int argc, char** argv) {
  using namespace shmcheck::bench;
  CLI::App app{"shmcheck harness_bench: spawn/reap, probes and metrics, audit at scale"};
  HarnessOptions opts;
  opts.shmcheck = SHMCHECK_BINARY;
  opts.worker = SHMCHECK_WORKER_BINARY;
  std::string json_path;
  std::string only = "spawn,overhead,audit";
  app.add_flag("--quick", opts.base.quick, "tiny run for CI smoke: seconds, 1 repetition");
  app.add_option("--json", json_path, "write every figure as JSON to this file");
  app.add_option("--repetitions", opts.base.repetitions, "timed repetitions per figure")
      ->check(CLI::Range(1, 64));
  app.add_option("--run-seconds", opts.run_seconds, "duration of each overhead `shmcheck run`")
      ->check(CLI::Range(0.1, 60.0));
  app.add_option("--objects", opts.population.objects, "objects in the audited population")
      ->check(CLI::Range(10, 100000));
  app.add_option("--processes", opts.population.processes, "holder processes of the population")
      ->check(CLI::Range(0, 2000));
  app.add_option("--only", only, "comma-separated groups: spawn,overhead,audit");
  app.add_option("--shmcheck", opts.shmcheck, "the shmcheck binary")->check(CLI::ExistingFile);
  app.add_option("--worker", opts.worker, "the shmcheck-worker binary (spawn cases)")
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  opts.audit_repeat = opts.base.repetitions;
  opts.base.deadline = std::chrono::milliseconds(30'000);
  if (opts.base.quick) {
    opts.base.repetitions = 1;
    opts.audit_repeat = 1;
    opts.run_seconds = 0.4;
    opts.population = {2000, 50};
  }

  try {
    Report report;
    add_machine_context(report);
    report.set_context(
        "mode", std::string(opts.base.quick ? "quick (smoke; figures meaningless)" : "full") +
                    ", " + std::to_string(opts.base.repetitions) + " repetitions");
    report.set_context("shmcheck", opts.shmcheck);

    const auto wanted = [&](const char* group) { return only.find(group) != std::string::npos; };
    if (wanted("spawn")) run_spawn_cases(report, opts);
    if (wanted("overhead")) run_overhead_cases(report, opts);
    if (wanted("audit")) run_audit_cases(report, opts);

    finish_part(report, json_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "harness_bench: %s\n", e.what());
    return 4;
  }
  return 0;
}
