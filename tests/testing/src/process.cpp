#include "shmcheck/testing/process.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace shmcheck::testing {

pid_t fork_child(const std::function<int()>& fn) {
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    std::abort();
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(125);  // parent died before prctl
    int rc = 126;
    try {
      rc = fn();
    } catch (...) {
      rc = 127;
    }
    ::_exit(rc);
  }
  return pid;
}

std::string ChildExit::describe() const {
  if (timed_out) return "timed out (SIGKILLed by wait_child)";
  if (exited) return "exited with " + std::to_string(code);
  if (signaled) return "killed by signal " + std::to_string(signal);
  return "unknown";
}

ChildExit wait_child(pid_t pid, std::chrono::milliseconds deadline) {
  ChildExit out;
  const auto end = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return out;
    if (std::chrono::steady_clock::now() >= end) {
      ::kill(pid, SIGKILL);
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      out.timed_out = true;
      break;
    }
    ::usleep(1000);
  }
  if (WIFEXITED(status)) {
    out.exited = true;
    out.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    out.signaled = true;
    out.signal = WTERMSIG(status);
  }
  return out;
}

Watchdog::Watchdog(std::chrono::milliseconds limit, std::string what) {
  thread_ = std::thread([this, limit, what = std::move(what)] {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
      std::fprintf(stderr, "WATCHDOG: %s still running after %lld ms; aborting the test process\n",
                   what.c_str(), static_cast<long long>(limit.count()));
      std::fflush(stderr);
      ::_exit(124);
    }
  });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds deadline) {
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    ::usleep(1000);
  }
  return pred();
}

}  // namespace shmcheck::testing
