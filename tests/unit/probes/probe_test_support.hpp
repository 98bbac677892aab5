// Support for the probes tests: a hermetic sandbox (fresh pid, mount and IPC
// namespaces with private /proc, /dev/shm and an mqueue mount) so verdicts can be
// asserted exactly while other helpers' tests run on the same host, and a handle
// on the shmcheck_ipc_helper program.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "helpers/ipc_objects.hpp"
#include "shmcheck/probes/inventory.hpp"
#include "shmcheck/testing/process.hpp"

namespace shmcheck::probe_tests {

// Where the sandbox mounts things.
inline constexpr const char* kSandboxMqueueDir = "/mnt/shmcheck-mqueue";

// True when this process may create namespaces (root).
bool sandbox_available();

// Inventory options for use inside run_in_sandbox: the sandbox's mqueue mount, and its
// pid namespace trusted (its /dev/shm, mqueue and IPC are its own).
probes::InventoryOptions sandbox_options();

// Whether the POSIX shared-memory object `name` ("/shmcheck....") exists in /dev/shm.
bool shm_exists(const std::string& name);

// Runs fn as pid 1 of a new pid namespace, in new mount and IPC namespaces, with a
// private tmpfs on /dev/shm (mode 1777), a fresh /proc and mqueue on
// kSandboxMqueueDir. fn's gtest failures are printed by the child; the child exits
// 1 when any happened. Everything the sandbox made vanishes with it.
shmcheck::testing::ChildExit run_in_sandbox(
    const std::function<void()>& fn, std::chrono::milliseconds deadline = std::chrono::seconds(60));

// The helper program, started with its stdin/stdout on pipes.
struct Helper {
  pid_t pid = -1;
  int to_child = -1;    // close to let a "hold" helper exit
  int from_child = -1;  // the JSON report line
  testing_ipc::HelperReport report;
};
// as_user: run through setpriv as that user (e.g. "nobody"); empty: as we are.
std::optional<Helper> start_helper(const std::string& mode, const std::string& run_id,
                                   const std::string& as_user = {});
// Closes stdin and reaps (deadline).
shmcheck::testing::ChildExit stop_helper(
    Helper& helper, std::chrono::milliseconds deadline = std::chrono::seconds(20));
// A new run id whose objects a "leak" helper made before it died of SIGKILL: orphans.
// Empty, with the reason added as a test failure, when the helper did not do just that.
std::string run_of_a_killed_helper();

// Runs argv (argv[0] a path) to completion, capturing stdout; stderr passes through.
struct Captured {
  shmcheck::testing::ChildExit exit;
  std::string out;
  std::string err;
};
// env: "NAME=value" entries added in the child before exec.
Captured run_capture(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
                     std::chrono::milliseconds deadline = std::chrono::seconds(30));

// Finders over a snapshot (nullptr when absent).
const probes::IpcObject* find_named(const probes::Inventory& inv, probes::IpcKind kind,
                                    const std::string& name);
const probes::IpcObject* find_sysv(const probes::Inventory& inv, probes::IpcKind kind, int id);
const probes::IpcObject* find_run(const probes::Inventory& inv, probes::IpcKind kind,
                                  const std::string& run_id);
// A child blocked in semop(-1) on semaphore `sem` of set semid until the set is removed;
// returns once it waits there (semncnt counts it), or -1 when it did not within 5 s.
pid_t block_in_semop(int semid, unsigned short sem);

// "source: message" lines of a snapshot's problems, for assertion messages.
std::string problems_text(const probes::Inventory& inv);

// Path of a built binary next to the tests (from compile definitions).
std::string helper_path();
std::string shmcheck_path();

}  // namespace shmcheck::probe_tests
