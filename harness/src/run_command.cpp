#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "shmcheck/harness/cli.hpp"
#include "shmcheck/harness/fault_schedule.hpp"
#include "shmcheck/harness/run.hpp"
#include "shmcheck/harness/run_outputs.hpp"
#include "shmcheck/harness/spec_loader.hpp"
#include "shmcheck/harness/supervisor.hpp"
#include "shmcheck/probes/cleaner.hpp"

namespace shmcheck::harness {
namespace {

struct RunArgs {
  std::vector<std::string> specs;
  std::optional<std::uint64_t> seed;
  std::optional<std::chrono::nanoseconds> duration;
  bool keep_going = false;
  bool no_probes = false;
  std::uint64_t max_log_records = kDefaultHeldRecords;
  OutputOptions outputs;  // --json, --junit, --html, --summary, --report-dir, metrics, --quiet
  bool no_reclaim = false;
};

// Before a run starts: the objects of earlier runs of this user whose harness died
// (SIGKILL, the OOM killer, a CI job's timeout) are removed, under `shmcheck audit
// --reclaim --yes`'s rules (the harness proved dead, each object proved orphaned and
// the caller's), so a host does not collect them run after run. Costs a read of the
// manifest directory when there is nothing to reclaim. Says what it removed, and what
// it had to keep.
void reclaim_earlier_runs() {
  probes::CleanOptions options;
  options.dry_run = false;
  options.settle = probes::kPassingHolderSettle;
  const std::string dir = probes::manifest_dir();
  const auto report = probes::reclaim_dead_runs(dir, options);
  // A manifest that cannot be read is a run whose objects nobody will reclaim: said on
  // every run until someone looks. (The inventory's own problems, a /proc entry that
  // cannot be read, show as objects kept below.)
  for (const auto& p : report.problems) {
    if (p.source.rfind(dir, 0) != 0) continue;
    std::fprintf(stderr,
                 "shmcheck: warning: run manifests: %s: a run whose harness died keeps its "
                 "objects (see `shmcheck audit --reclaim`)\n",
                 p.error.brief().c_str());
  }
  if (report.quarantine.removed > 0) {
    std::fprintf(stderr,
                 "shmcheck: removed %zu file(s) a killed cleaner left half-removed in /dev/shm\n",
                 report.quarantine.removed);
  }
  for (const auto& run : report.runs) {
    if (run.harness != core::Liveness::kDead) continue;
    std::size_t kept = 0;
    for (const auto& outcome : run.clean.outcomes) {
      if (outcome.status != probes::CleanStatus::kRemoved &&
          outcome.status != probes::CleanStatus::kGone) {
        ++kept;
      }
    }
    if (run.clean.removed > 0) {
      std::fprintf(stderr,
                   "shmcheck: reclaimed %zu object(s) of run %s, whose harness (pid %d) died\n",
                   run.clean.removed, run.manifest.run_id.c_str(), run.manifest.harness.pid);
    }
    if (kept > 0) {
      std::fprintf(stderr,
                   "shmcheck: run %s, whose harness (pid %d) died, left %zu object(s) that "
                   "cannot be proved orphaned here; see `shmcheck audit --reclaim`\n",
                   run.manifest.run_id.c_str(), run.manifest.harness.pid, kept);
    }
  }
}

// Worse exit codes win: 4 internal > 3 environment > 2 usage > 1 failed > 0 pass.
int worst(int a, int b) {
  const auto rank = [](int code) {
    switch (code) {
      case kExitPass:
        return 0;
      case kExitExpectationFailed:
        return 1;
      case kExitUsage:
        return 2;
      case kExitEnvironment:
        return 3;
      default:
        return 4;
    }
  };
  return rank(a) >= rank(b) ? a : b;
}

// SHMCHECK_TEST_BROKEN: test-only broken worker variants (see worker.hpp).
std::optional<Broken> broken_from_env(std::string& error) {
  const char* env = std::getenv("SHMCHECK_TEST_BROKEN");  // NOLINT(concurrency-mt-unsafe): start-up
  if (env == nullptr || *env == '\0') return Broken::kNone;
  auto b = broken_from_string(env);
  if (!b) error = std::string("SHMCHECK_TEST_BROKEN: unknown variant '") + env + "'";
  return b;
}

// A decimal uint64 and nothing else: "-5", "1e3" or an overflow give nullopt (CLI11
// alone takes "-5" for an unsigned as 2^64 - 5 and lets an overflow through).
std::optional<std::uint64_t> parse_u64(std::string_view text) {
  std::uint64_t n = 0;
  const auto* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, n);
  if (text.empty() || ec != std::errc() || p != end) return std::nullopt;
  return n;
}

// The check of an integer flag, before CLI11 converts it.
CLI::Validator u64_check(bool positive) {
  return {[positive](const std::string& v) {
            const auto n = parse_u64(v);
            if (n && (*n != 0 || !positive)) return std::string();
            return (positive ? "not a positive integer: " : "not a whole number: ") + v;
          },
          positive ? "POSITIVE" : "UINT"};
}

// A test-only positive count from the environment: `fallback` when unset, nullopt
// (and `error`) when not a positive integer.
std::optional<std::uint64_t> count_from_env(const char* name, std::uint64_t fallback,
                                            std::string& error) {
  const char* env = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): start-up
  if (env == nullptr || *env == '\0') return fallback;
  const auto n = parse_u64(env);
  if (!n || *n == 0) {
    error = std::string(name) + ": not a positive integer: '" + env + "'";
    return std::nullopt;
  }
  return n;
}

// The results, each with its spec's place on the command line, as a suite in that
// order (a refused spec, third on the line, came first).
reports::SuiteResult suite_in_command_line_order(
    std::vector<std::pair<std::size_t, probes::RunResult>> results) {
  std::ranges::stable_sort(results, {}, &std::pair<std::size_t, probes::RunResult>::first);
  reports::SuiteResult suite;
  for (auto& [at, r] : results) suite.runs.push_back(std::move(r));
  return suite;
}

int run_main(const RunArgs& args) {
  // First: a SIGTERM while the specs load or the reports open (a CI job cancelled at
  // once) killed the harness with no report, exit 143; now the run sees it, and says so.
  install_interrupt_handlers();
  std::string error;
  const auto broken = broken_from_env(error);
  // SHMCHECK_TEST_LOG_RECORDS: delivery-log slots per producer (RunOptions::log_records).
  const auto log_records =
      broken ? count_from_env("SHMCHECK_TEST_LOG_RECORDS", kDefaultLogRecords, error)
             : std::nullopt;
  // SHMCHECK_TEST_LOG_SLOTS: every consumer log's slots, as they are (RunOptions::log_slots).
  const auto log_slots =
      log_records ? count_from_env("SHMCHECK_TEST_LOG_SLOTS", 0, error) : std::nullopt;
  if (!broken || !log_records || !log_slots) {
    std::fprintf(stderr, "shmcheck run: %s\n", error.c_str());
    return kExitUsage;
  }
  OutputOptions output_options = args.outputs;
  output_options.inputs = args.specs;
  auto outputs = RunOutputs::open(output_options);
  if (!outputs) {
    std::fprintf(stderr, "shmcheck run: %s\n", outputs.error().brief().c_str());
    return outputs.error().code == core::ErrorCode::kInvalidArgument ? kExitUsage
                                                                     : kExitEnvironment;
  }
  RunOutputs& out = **outputs;
  RunOptions options;
  options.seed = args.seed;
  options.duration = args.duration;
  options.quiet = args.outputs.quiet;
  options.broken = *broken;
  options.log_records = *log_records;
  options.log_slots = *log_slots;
  options.held_records = args.max_log_records;
  options.probes = !args.no_probes;

  // Validate every spec first: a bad spec is a usage error before anything runs. With
  // --keep-going the others run, and each refused spec is in the reports as an error
  // (named by its file): the reports and the exit code tell one verdict.
  // Each result keeps its spec's place on the command line: the reports list them in
  // that order (a refused spec, third on the line, came first).
  std::vector<Spec> specs;
  std::vector<std::size_t> spec_places;
  std::vector<std::pair<std::size_t, probes::RunResult>> refused;
  std::size_t place = 0;
  int code = kExitPass;
  // `repro`: the command that shows the refusal again (validate passes a spec refused
  // only for a flag or for its company).
  const auto refuse = [&](const std::string& path, const std::string& why,
                          const std::string& repro) {
    std::fprintf(stderr, "%s\n", why.c_str());
    probes::RunResult r;
    r.spec_name = path;
    r.spec_file = path;
    r.verdict = probes::RunVerdict::kError;
    r.exit_code = kExitUsage;
    r.error = "spec refused: " + why;
    r.repro = repro;
    refused.emplace_back(place, std::move(r));
    code = worst(code, kExitUsage);
  };
  for (; place < args.specs.size(); ++place) {
    const std::string& path = args.specs[place];
    auto loaded = load_spec_file(path);
    if (!loaded.ok()) {
      std::string why;
      for (const auto& e : loaded.errors) why += (why.empty() ? "" : "\n") + e.to_string();
      refuse(path, why, "shmcheck validate " + shell_quote(path));
      continue;
    }
    if (args.no_probes && loaded.spec->expect.p99_latency) {
      refuse(path, path + ": expects p99_latency, which needs the latency probes: drop --no-probes",
             "shmcheck run " + shell_quote(path) + " --no-probes");
      continue;
    }
    // A spec's name labels its reports and its metrics: two runs of one name would
    // write duplicate series into /metrics (an invalid exposition) and JUnit suites that
    // CI systems merge.
    const auto same = std::ranges::find(specs, loaded.spec->name, &Spec::name);
    if (same != specs.end()) {
      refuse(path, same_name_error(*loaded.spec, same->file).to_string(),
             "shmcheck run " + shell_quote(same->file) + " " + shell_quote(path));
      continue;
    }
    specs.push_back(std::move(*loaded.spec));
    spec_places.push_back(place);
  }
  // A spec the reports list without running it: after a refusal (no --keep-going), an
  // interrupt, or a failure (no --keep-going). The headline counted only what ran ("0
  // of 1 specs passed" for two given), and CI's test count dropped.
  // `what` is the error in full: "not run: <why>", or for the reports written at the
  // start, "did not finish: ...".
  const auto unfinished = [&](std::size_t i, std::string what, int exit_code) {
    probes::RunResult r;
    r.spec_name = specs[i].name;
    r.spec_file = specs[i].file;
    r.verdict = probes::RunVerdict::kError;
    r.exit_code = exit_code;
    r.error = std::move(what);
    return std::pair{spec_places[i], std::move(r)};
  };
  const auto not_run = [&](std::size_t i, const std::string& why, int exit_code) {
    return unfinished(i, "not run: " + why, exit_code);
  };
  if (code != kExitPass && !args.keep_going) {
    // Nothing runs. The reports already there say so (a reused workspace kept the last
    // run's PASS for CI to read); none is made anew, nor a report directory.
    std::vector<std::pair<std::size_t, probes::RunResult>> results = std::move(refused);
    for (std::size_t i = 0; i < specs.size(); ++i) {
      results.push_back(
          not_run(i, "another spec was refused (--keep-going runs the others)", kExitUsage));
    }
    // The push replaces its group: with the refusal, not with nothing.
    for (const auto& [at, r] : results) out.on_result(r);
    return worst(code, out.finish(suite_in_command_line_order(std::move(results)),
                                  /*replace_only=*/true));
  }
  if (auto started = out.start(); !started) {
    std::fprintf(stderr, "shmcheck run: %s\n", started.error().brief().c_str());
    return worst(code, kExitEnvironment);
  }
  // What the reports say should this harness never reach finish() (SIGKILL, the OOM
  // killer): not the last run's PASS, left in a reused report directory.
  {
    std::vector<std::pair<std::size_t, probes::RunResult>> pending = refused;
    for (std::size_t i = 0; i < specs.size(); ++i) {
      pending.push_back(unfinished(i,
                                   "did not finish: the harness ended before it wrote its "
                                   "reports (killed, or out of memory)",
                                   kExitEnvironment));
    }
    out.write_pending(suite_in_command_line_order(std::move(pending)));
  }

  if (!args.no_reclaim) reclaim_earlier_runs();
  // Once for all the specs: the check execs it (--build-stamp), and a refusal is said once.
  const auto worker_executable = worker_executable_beside_self();
  options.worker_executable = worker_executable.path;
  if (!worker_executable.refused.empty()) {
    std::fprintf(stderr, "shmcheck: %s\n", worker_executable.refused.c_str());
  }
  // In the metrics too (/metrics, the push): a dashboard of exit codes sees the refusal.
  for (const auto& [at, r] : refused) out.on_result(r);
  std::vector<std::pair<std::size_t, probes::RunResult>> results = std::move(refused);
  const auto suite_start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const Spec& spec = specs[i];
    if (const int sig = interrupt_signal(); sig != 0) {
      results.push_back(not_run(i, "interrupted by " + signal_name(sig), kExitEnvironment));
      code = worst(code, kExitEnvironment);
      continue;
    }
    options.on_sample = [&out, name = spec.name](const LiveSample& sample) {
      out.on_sample(name, sample);
    };
    auto result = run_spec(spec, options);
    out.on_result(result);
    std::FILE* const summary_out = out.reports_to_stdout() ? stderr : stdout;
    std::fputs(summarize(result).c_str(), summary_out);
    std::fflush(summary_out);
    code = worst(code, result.exit_code);
    const bool stop = result.exit_code != kExitPass && !args.keep_going;
    const int stopped_by = result.exit_code;
    const std::string failed = spec.name;
    results.emplace_back(spec_places[i], std::move(result));
    if (stop) {
      for (std::size_t rest = i + 1; rest < specs.size(); ++rest) {
        results.push_back(not_run(
            rest, "stopped after " + failed + " (--keep-going runs every spec)", stopped_by));
      }
      break;
    }
  }
  reports::SuiteResult suite = suite_in_command_line_order(std::move(results));
  suite.total_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - suite_start).count();
  // Reports, the push and --linger; a report that cannot be written is an environment error.
  code = worst(code, out.finish(std::move(suite)));
  // The summaries on stdout are a courtesy: the verdict is the exit code and the reports
  // (a report that cannot be written is an error above). A reader that went away
  // (`| head`) or a full disk loses them; that is said, and the exit code stays the
  // verdict (main() would otherwise make it an environment error).
  if (std::fflush(stdout) != 0 || std::ferror(stdout) != 0) {
    std::fprintf(stderr,
                 "shmcheck run: standard output could not be written; the verdict is "
                 "the exit code and the reports\n");
    std::clearerr(stdout);
  }
  return code;
}

}  // namespace

CommandRunner add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "run", "Run workload specs with crash injection; verify integrity and leaks");
  auto args = std::make_shared<RunArgs>();
  cmd->add_option("spec", args->specs, "Spec files (YAML)")->required();
  cmd->add_option("--seed", args->seed, "Seed for the fault schedule (overrides the spec's)")
      ->check(u64_check(false));
  cmd->add_option_function<std::string>(
         "--duration",
         [args](const std::string& text) {
           std::string why;
           const auto d = parse_duration(text, &why);
           if (!d) throw CLI::ValidationError("--duration", why);
           if (d->count() == 0) throw CLI::ValidationError("--duration", "must be greater than 0s");
           args->duration = d;
         },
         "Run each spec this long instead of its own duration (e.g. 10m for a soak, 500ms "
         "for a quick look); the fault schedule follows it")
      ->type_name("DURATION");
  cmd->add_flag("--keep-going", args->keep_going,
                "Run every spec even after one fails (default: stop at the first failure)");
  cmd->add_flag("--no-probes", args->no_probes,
                "No latency or lock-wait sampling in the workers (no clock read per "
                "operation); integrity journals, counters and the verdict stay");
  cmd->add_option("--max-log-records", args->max_log_records,
                  "Entries the integrity check may hold, about 64 bytes each (seq "
                  "intervals it cannot merge yet, deliveries above acked, duplicates: a few "
                  "thousand in a run that loses nothing); a duration-bound run that "
                  "reaches it ends early and says so")
      ->check(u64_check(true))
      ->default_val(kDefaultHeldRecords);
  cmd->add_flag("--no-reclaim", args->no_reclaim,
                "Leave the objects of earlier runs whose harness died (default: remove those "
                "proved orphaned first, as `shmcheck audit --reclaim --yes` does)");
  add_output_options(*cmd, args->outputs);
  return [args] { return run_main(*args); };
}

}  // namespace shmcheck::harness
