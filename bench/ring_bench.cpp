// ring_bench: shmcheck's shared-memory core side by side with its peers and
// with the machine's limits, across two processes pinned to different CPUs, in
// one run. Prints one table (median of the repetitions, [min .. max], ratio to
// the reference, the target and PASS/MISS) and, with --json, writes
// every figure. A report, not a test: exit status 0 even when a target is missed.
//
//   ring_bench [--quick] [--json FILE] [--repetitions N] [--seconds S] [--only GROUPS]
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include "cases.hpp"

namespace {

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", s);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace shmcheck::bench;
  CLI::App app{"shmcheck ring_bench: cross-process rings, mutexes and semaphores vs peers"};
  Options opts;
  std::string json_path;
  std::string only = "throughput,latency,mutex,semaphore,failpoints";
  app.add_flag("--quick", opts.quick, "tiny run for CI smoke: seconds, 1 repetition");
  app.add_option("--json", json_path, "write every figure as JSON to this file");
  app.add_option("--repetitions", opts.repetitions, "timed repetitions per figure")
      ->check(CLI::Range(1, 101));
  app.add_option("--seconds", opts.trial_seconds, "target length of one timed trial")
      ->check(CLI::Range(0.001, 60.0));
  app.add_option("--capacity", opts.capacity, "ring/queue capacity in messages (power of two)");
  app.add_option("--only", only,
                 "comma-separated groups: throughput,latency,mutex,semaphore,failpoints");
  int nice_value = -20;
  app.add_option("--nice", nice_value,
                 "nice value for the measuring processes (needs CAP_SYS_NICE below 0; "
                 "ignored when not permitted): spinning roles on a loaded machine")
      ->check(CLI::Range(-20, 19));
  CLI11_PARSE(app, argc, argv);
  const std::string priority = raise_priority(nice_value);
  if (opts.capacity != 0 && (opts.capacity & (opts.capacity - 1)) != 0) {
    std::fprintf(stderr, "--capacity must be a power of two\n");
    return 2;
  }
  if (opts.quick) {
    opts.repetitions = 1;
    opts.trial_seconds = 0.01;
    opts.latency_samples = 2'000;
    opts.deadline = std::chrono::milliseconds(20'000);
  }

  try {
    SampleClock::calibrate();
    const std::vector<int> cpus = allowed_cpus();
    if (cpus.size() >= 2) opts.cpus = {cpus[0], cpus[1]};

    Report report;
    add_machine_context(report);
    report.set_context("priority", priority);
    report.set_context("pinning", opts.cpus.size() >= 2
                                      ? "role 0 on CPU " + std::to_string(opts.cpus[0]) +
                                            ", role 1 on CPU " + std::to_string(opts.cpus[1])
                                      : "unpinned: fewer than 2 CPUs allowed");
    report.set_context(
        "clock", SampleClock::uses_tsc()
                     ? "rdtsc, " + std::to_string(1.0 / SampleClock::ns_per_tick()) + " ticks/ns"
                     : "CLOCK_MONOTONIC");
    report.set_context(
        "mode", std::string(opts.quick ? "quick (smoke; figures meaningless)" : "full") + ", " +
                    std::to_string(opts.repetitions) + " repetitions of ~" +
                    seconds_text(opts.trial_seconds) + " s");

    const auto wanted = [&](const char* group) { return only.find(group) != std::string::npos; };
    if (wanted("throughput")) run_throughput_cases(report, opts);
    if (wanted("latency")) run_latency_cases(report, opts);
    if (wanted("mutex")) run_mutex_cases(report, opts);
    if (wanted("semaphore")) run_semaphore_cases(report, opts);
    if (wanted("failpoints")) run_failpoint_cases(report, opts);

    finish_part(report, json_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ring_bench: %s\n", e.what());
    return 4;
  }
  return 0;
}
