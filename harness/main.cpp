// shmcheck: run shared-memory workload specs with crash injection, and audit IPC leaks.
#include <CLI/CLI.hpp>

#include "shmcheck/harness/cli.hpp"

int main(int argc, char** argv) {
  using namespace shmcheck::harness;
  CLI::App app{"shmcheck: testing and leak audit for shared-memory IPC", "shmcheck"};
  app.set_version_flag("--version", "shmcheck 0.1.0");
  return run_command_line(app,
                          {&add_list_failpoints_command, &add_audit_command, &add_run_command,
                           &add_worker_command, &add_validate_command},
                          argc, argv);
}
