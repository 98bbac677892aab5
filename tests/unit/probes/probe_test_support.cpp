#include "probe_test_support.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "shmcheck/core/segment_header.hpp"

namespace shmcheck::probe_tests {
namespace {

bool mount_or_report(const char* source, const char* target, const char* type, unsigned long flags,
                     const char* data) {
  if (::mount(source, target, type, flags, data) == 0) return true;
  std::fprintf(stderr, "sandbox: mount %s on %s: %s\n", type != nullptr ? type : "(no type)",
               target, std::strerror(errno));
  return false;
}

[[noreturn]] void exec_argv(const std::vector<std::string>& argv) {
  std::vector<char*> raw;
  raw.reserve(argv.size() + 1);
  for (const auto& a : argv) raw.push_back(const_cast<char*>(a.c_str()));
  raw.push_back(nullptr);
  ::execv(raw[0], raw.data());
  std::fprintf(stderr, "exec %s: %s\n", raw[0], std::strerror(errno));
  ::_exit(127);
}

pid_t fork_in_namespace(const std::function<int()>& fn) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    std::abort();
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::_exit(fn());
  }
  return pid;
}

}  // namespace

const probes::IpcObject* find_named(const probes::Inventory& inv, probes::IpcKind kind,
                                    const std::string& name) {
  for (const auto& o : inv.objects) {
    if (o.kind == kind && o.name == name) return &o;
  }
  return nullptr;
}

const probes::IpcObject* find_sysv(const probes::Inventory& inv, probes::IpcKind kind, int id) {
  for (const auto& o : inv.objects) {
    if (o.kind == kind && o.sysv_id == id) return &o;
  }
  return nullptr;
}

const probes::IpcObject* find_run(const probes::Inventory& inv, probes::IpcKind kind,
                                  const std::string& run_id) {
  for (const auto& o : inv.objects) {
    if (o.kind == kind && o.name.find(run_id) != std::string::npos) return &o;
  }
  return nullptr;
}

pid_t block_in_semop(int semid, unsigned short sem) {
  const int before = ::semctl(semid, sem, GETNCNT);
  const pid_t waiter = shmcheck::testing::fork_child([&] {
    sembuf down{sem, -1, 0};
    (void)::semop(semid, &down, 1);  // until the set is removed
    return 0;
  });
  for (int i = 0; i < 5000; ++i) {
    if (::semctl(semid, sem, GETNCNT) > before) return waiter;
    ::usleep(1000);
  }
  return -1;
}

std::string problems_text(const probes::Inventory& inv) {
  std::string s;
  for (const auto& p : inv.problems) s += p.source + ": " + p.error.message() + "\n";
  s += std::to_string(inv.processes_unreadable) + " unreadable process(es)";
  return s;
}

std::string helper_path() { return SHMCHECK_IPC_HELPER; }
std::string shmcheck_path() { return SHMCHECK_BINARY; }

bool sandbox_available() { return ::geteuid() == 0; }

probes::InventoryOptions sandbox_options() {
  probes::InventoryOptions options;
  options.mqueue_dir = kSandboxMqueueDir;
  options.trust_pid_namespace = true;
  return options;
}

bool shm_exists(const std::string& name) {
  struct stat st {};
  return ::stat(("/dev/shm" + name).c_str(), &st) == 0;
}

shmcheck::testing::ChildExit run_in_sandbox(const std::function<void()>& fn,
                                            std::chrono::milliseconds deadline) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t outer = shmcheck::testing::fork_child([&]() -> int {
    if (::unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID) != 0) {
      std::fprintf(stderr, "sandbox: unshare: %s\n", std::strerror(errno));
      return 90;
    }
    // Mounts below stay in this namespace.
    if (!mount_or_report(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr)) return 91;
    // Not fork_child: in a new pid namespace getppid() is 0, which fork_child
    // would take for a dead parent.
    const pid_t inner = fork_in_namespace([&]() -> int {
      // pid 1 of the new namespace: its own /proc, /dev/shm and mqueue.
      if (!mount_or_report("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) ||
          !mount_or_report("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV,
                           "mode=1777,size=256m") ||
          !mount_or_report("tmpfs", "/mnt", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")) {
        return 92;
      }
      if (::mkdir(kSandboxMqueueDir, 0755) != 0 ||
          !mount_or_report("mqueue", kSandboxMqueueDir, "mqueue", 0, nullptr)) {
        return 93;
      }
      fn();
      std::fflush(stdout);
      std::fflush(stderr);
      return ::testing::Test::HasFailure() ? 1 : 0;
    });
    const auto inner_exit = shmcheck::testing::wait_child(inner, deadline);
    if (!inner_exit.ok()) std::fprintf(stderr, "sandbox: %s\n", inner_exit.describe().c_str());
    return inner_exit.exited ? inner_exit.code : 94;
  });
  return shmcheck::testing::wait_child(outer, deadline + std::chrono::seconds(5));
}

std::optional<Helper> start_helper(const std::string& mode, const std::string& run_id,
                                   const std::string& as_user) {
  int in_pipe[2];
  int out_pipe[2];
  if (::pipe2(in_pipe, O_CLOEXEC) != 0) return std::nullopt;
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(in_pipe[0]);
    ::close(in_pipe[1]);
    return std::nullopt;
  }
  std::vector<std::string> argv;
  if (!as_user.empty()) {
    argv = {"/usr/bin/setpriv", "--reuid=" + as_user, "--regid=nogroup", "--clear-groups"};
  }
  argv.push_back(helper_path());
  argv.push_back(mode);
  argv.push_back(run_id);
  Helper h;
  h.pid = shmcheck::testing::fork_child([&]() -> int {
    ::dup2(in_pipe[0], STDIN_FILENO);
    ::dup2(out_pipe[1], STDOUT_FILENO);
    exec_argv(argv);
  });
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  h.to_child = in_pipe[1];
  h.from_child = out_pipe[0];
  std::string line;
  char c = 0;
  while (::read(h.from_child, &c, 1) == 1 && c != '\n') line.push_back(c);
  if (!testing_ipc::from_line(line, h.report)) {
    stop_helper(h);
    return std::nullopt;
  }
  return h;
}

namespace {

// The kernel drops a process's SysV attachments when its memory map is torn down, and
// a process that happens to be reading the dying one's /proc files at that moment (any
// ps, a concurrent audit test) holds the map and delays the teardown past the reap.
// Waits until the segment has no attachment left or is gone, at most deadline.
void wait_sysv_detached(int shmid, std::chrono::milliseconds deadline) {
  if (shmid < 0) return;
  const auto until = std::chrono::steady_clock::now() + deadline;
  shmid_ds ds{};
  while (::shmctl(shmid, IPC_STAT, &ds) == 0 && ds.shm_nattch != 0 &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

}  // namespace

shmcheck::testing::ChildExit stop_helper(Helper& h, std::chrono::milliseconds deadline) {
  if (h.to_child >= 0) ::close(h.to_child);
  if (h.from_child >= 0) ::close(h.from_child);
  h.to_child = h.from_child = -1;
  if (h.pid <= 0) return {};
  const auto exit = shmcheck::testing::wait_child(h.pid, deadline);
  h.pid = -1;
  wait_sysv_detached(h.report.sysv_shm, deadline);
  return exit;
}

std::string run_of_a_killed_helper() {
  const auto run = core::new_run_id();
  auto helper = start_helper("leak", run);
  if (!helper) {
    ADD_FAILURE() << "the leak helper did not start";
    return {};
  }
  const auto died = stop_helper(*helper);
  if (!died.killed_by(SIGKILL)) {
    ADD_FAILURE() << "the leak helper: " << died.describe();
    return {};
  }
  return run;
}

Captured run_capture(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                     std::chrono::milliseconds deadline) {
  Captured c;
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return c;
  // stderr into an unlinked file, read back after the exit (two pipes read in turn could
  // block each other).
  char err_path[] = "/tmp/shmcheck-capture-XXXXXX";
  const int err_fd = ::mkostemp(err_path, O_CLOEXEC);
  if (err_fd < 0) return c;
  ::unlink(err_path);
  const pid_t pid = shmcheck::testing::fork_child([&]() -> int {
    ::dup2(out_pipe[1], STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::close_range(3, ~0U, 0);  // only 0, 1 and 2, whatever the test process has open
    for (const auto& e : env) {
      const auto eq = e.find('=');
      ::setenv(e.substr(0, eq).c_str(), e.substr(eq + 1).c_str(), 1);
    }
    exec_argv(argv);
  });
  ::close(out_pipe[1]);
  char buf[4096];
  for (;;) {
    const auto n = ::read(out_pipe[0], buf, sizeof buf);
    if (n <= 0) break;
    c.out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(out_pipe[0]);
  c.exit = shmcheck::testing::wait_child(pid, deadline);
  ::lseek(err_fd, 0, SEEK_SET);
  for (;;) {
    const auto n = ::read(err_fd, buf, sizeof buf);
    if (n <= 0) break;
    c.err.append(buf, static_cast<std::size_t>(n));
  }
  ::close(err_fd);
  return c;
}

}  // namespace shmcheck::probe_tests
