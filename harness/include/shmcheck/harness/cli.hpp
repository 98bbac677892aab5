// The `shmcheck` command line: one subcommand per file, registered on a CLI11 app.
//
// Each add_*_command() declares its flags on `app` and returns the function that
// runs it when chosen. Runners return one of the documented exit codes; they never
// call exit() themselves, so main() owns process teardown.
#pragma once

#include <functional>
#include <initializer_list>

namespace CLI {
class App;
class Validator;
}  // namespace CLI

namespace shmcheck::harness {

// Documented exit codes (README "Exit codes"; DESIGN.md "The run").
enum ExitCode : int {
  kExitPass = 0,               // every expectation held / nothing to report
  kExitExpectationFailed = 1,  // an expectation failed (audit: orphans remain)
  kExitUsage = 2,              // bad usage, flag or spec
  kExitEnvironment = 3,        // environment or resource limit (/dev/shm full, SHMMNI, /proc)
  kExitInternal = 4,           // a bug in shmcheck
};

using CommandRunner = std::function<int()>;
using CommandFactory = CommandRunner (*)(CLI::App&);

// The whole of a main(): declares the commands on `app`, parses argv and runs the one
// chosen. --help, --version and --build-stamp exit 0, a parse error kExitUsage, std::bad_alloc (a
// memory limit) kExitEnvironment, any other exception kExitInternal
// (command_line.cpp; `shmcheck` and `shmcheck-worker` share it).
int run_command_line(CLI::App& app, std::initializer_list<CommandFactory> commands, int argc,
                     char** argv);

// Whether standard output was closed when shmcheck started (it is then kept on
// /dev/null, so that no file takes descriptor 1).
[[nodiscard]] bool stdout_was_closed() noexcept;

// A check for a flag naming a file or directory: refuses an empty one.
CLI::Validator non_empty_path();
// The same for any other value: an empty one (a CI script's unset variable) would
// otherwise mean "no filter", "no gateway", "no such prefix", silently.
CLI::Validator non_empty_value();

CommandRunner add_list_failpoints_command(CLI::App& app);
CommandRunner add_audit_command(CLI::App& app);
// `shmcheck run SPEC... [--seed N] [--json FILE] [--keep-going]` (run_command.cpp).
CommandRunner add_run_command(CLI::App& app);
// `shmcheck worker ...` / `shmcheck-worker worker ...`: internal, started by the
// supervisor (worker_command.cpp).
CommandRunner add_worker_command(CLI::App& app);
CommandRunner add_validate_command(CLI::App& app);

}  // namespace shmcheck::harness
