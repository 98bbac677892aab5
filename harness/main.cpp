// shmcheck: run shared-memory workload specs with crash injection, and audit IPC leaks.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <new>

#include "shmcheck/harness/cli.hpp"

int main(int argc, char** argv) {
  using namespace shmcheck::harness;
  CLI::App app{"shmcheck: testing and leak audit for shared-memory IPC", "shmcheck"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "shmcheck 0.1.0");

  std::map<const CLI::App*, CommandRunner> runners;
  const auto add = [&](CommandRunner (*factory)(CLI::App&)) {
    const auto before = app.get_subcommands({});
    CommandRunner runner = factory(app);
    for (auto* sub : app.get_subcommands({})) {
      if (std::find(before.begin(), before.end(), sub) == before.end()) runners[sub] = runner;
    }
  };
  add(&add_list_failpoints_command);
  add(&add_audit_command);
  add(&add_run_command);
  add(&add_worker_command);
  add(&add_validate_command);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  try {
    for (auto* sub : app.get_subcommands()) return runners.at(sub)();
  } catch (const std::bad_alloc&) {
    // A memory limit (ulimit -v, a cgroup), not a bug: the environment's exit code.
    std::fputs("shmcheck: out of memory\n", stderr);
    return kExitEnvironment;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmcheck: internal error: %s\n", e.what());
    return kExitInternal;
  }
  return kExitUsage;
}
