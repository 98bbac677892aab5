#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "shmcheck/harness/cli.hpp"
#include "shmcheck/harness/run.hpp"
#include "shmcheck/harness/spec_loader.hpp"
#include "shmcheck/harness/supervisor.hpp"

namespace shmcheck::harness {
namespace {

struct RunArgs {
  std::vector<std::string> specs;
  std::optional<std::uint64_t> seed;
  std::string json;
  bool keep_going = false;
  bool quiet = false;
};

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

int run_main(const RunArgs& args) {
  std::string error;
  const auto broken = broken_from_env(error);
  if (!broken) {
    std::fprintf(stderr, "shmcheck run: %s\n", error.c_str());
    return kExitUsage;
  }
  RunOptions options;
  options.seed = args.seed;
  options.quiet = args.quiet;
  options.broken = *broken;

  // Validate every spec first: a bad spec is a usage error before anything runs.
  std::vector<Spec> specs;
  int code = kExitPass;
  for (const auto& path : args.specs) {
    auto loaded = load_spec_file(path);
    if (!loaded.ok()) {
      for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.to_string().c_str());
      code = worst(code, kExitUsage);
      continue;
    }
    specs.push_back(std::move(*loaded.spec));
  }
  if (code != kExitPass && !args.keep_going) return code;

  install_interrupt_handlers();
  nlohmann::json results = nlohmann::json::array();
  for (const auto& spec : specs) {
    if (interrupt_signal() != 0) break;
    const auto result = run_spec(spec, options);
    std::fputs(summarize(result).c_str(), stdout);
    std::fflush(stdout);
    results.push_back(probes::to_json(result));
    code = worst(code, result.exit_code);
    if (result.exit_code != kExitPass && !args.keep_going) break;
  }
  if (!args.json.empty()) {
    const nlohmann::json doc = results.size() == 1 ? results[0] : results;
    std::ofstream out(args.json, std::ios::trunc);
    out << doc.dump(2) << "\n";
    out.close();
    if (!out) {
      std::fprintf(stderr, "shmcheck run: cannot write %s\n", args.json.c_str());
      code = worst(code, kExitEnvironment);
    }
  }
  return code;
}

}  // namespace

CommandRunner add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "run", "Run workload specs with crash injection; verify integrity and leaks");
  auto args = std::make_shared<RunArgs>();
  cmd->add_option("spec", args->specs, "Spec files (YAML)")->required()->check(CLI::ExistingPath);
  cmd->add_option("--seed", args->seed, "Seed for the fault schedule (overrides the spec's)");
  cmd->add_option("--json", args->json, "Write the run result(s) as JSON to this file");
  cmd->add_flag("--keep-going", args->keep_going,
                "Run every spec even after one fails (default: stop at the first failure)");
  cmd->add_flag("-q,--quiet", args->quiet, "No progress lines on stderr");
  return [args] { return run_main(*args); };
}

}  // namespace shmcheck::harness
