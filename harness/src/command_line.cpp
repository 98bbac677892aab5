#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <exception>
#include <map>
#include <new>

#include "shmcheck/harness/build_stamp.hpp"
#include "shmcheck/harness/cli.hpp"

namespace shmcheck::harness {

int run_command_line(CLI::App& app, std::initializer_list<CommandFactory> commands, int argc,
                     char** argv) {
  app.require_subcommand(1);
  std::map<const CLI::App*, CommandRunner> runners;
  for (const CommandFactory factory : commands) {
    const auto before = app.get_subcommands({});
    CommandRunner runner = factory(app);
    for (auto* sub : app.get_subcommands({})) {
      if (std::find(before.begin(), before.end(), sub) == before.end()) runners[sub] = runner;
    }
  }

  app.add_flag_callback(
      "--build-stamp",
      [] {
        std::printf("%.*s\n", static_cast<int>(build_stamp().size()), build_stamp().data());
        throw CLI::Success();
      },
      "Print the build stamp (a digest of the sources this binary was built from) and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --help-all, --version, --build-stamp
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }
  try {
    for (auto* sub : app.get_subcommands()) return runners.at(sub)();
  } catch (const std::bad_alloc&) {
    // A memory limit (ulimit -v, a cgroup), not a bug: the environment's exit code.
    std::fprintf(stderr, "%s: out of memory\n", app.get_name().c_str());
    return kExitEnvironment;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", app.get_name().c_str(), e.what());
    return kExitInternal;
  }
  return kExitUsage;
}

}  // namespace shmcheck::harness
