// shmcheck-worker: the worker processes of `shmcheck run`, started by its supervisor
// (`shmcheck-worker worker --control ... --index ...`, the arguments `shmcheck worker`
// takes too). Not meant to be run by hand.
#include <CLI/CLI.hpp>

#include "shmcheck/harness/cli.hpp"

int main(int argc, char** argv) {
  using namespace shmcheck::harness;
  CLI::App app{"shmcheck-worker: one worker process of `shmcheck run`", "shmcheck-worker"};
  app.set_version_flag("--version", "shmcheck-worker 0.1.0");
  return run_command_line(app, {&add_worker_command}, argc, argv);
}
