// Test helpers for multi-process tests: fork a child that dies with its parent,
// wait for it with a deadline (never forever), and a Watchdog for whole scopes.
//
// Every multi-process test uses these so nothing it starts can hang CI: a child is
// SIGKILLed when the test process dies (PR_SET_PDEATHSIG), wait_child() SIGKILLs a
// child that outlives its deadline, and Watchdog ends the test process with a
// message when a scope runs past its limit.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace shmcheck::testing {

// Forks; the child runs fn() and _exit()s with its return value (no atexit, no
// gtest teardown in the child). The child gets SIGKILL if the parent dies.
pid_t fork_child(const std::function<int()>& fn);

struct ChildExit {
  bool exited = false;    // WIFEXITED
  int code = -1;          // exit status when exited
  bool signaled = false;  // WIFSIGNALED
  int signal = 0;
  bool timed_out = false;  // deadline passed: the child was SIGKILLed and reaped

  [[nodiscard]] bool ok() const { return exited && code == 0; }
  [[nodiscard]] bool killed_by(int sig) const { return signaled && signal == sig; }
  [[nodiscard]] std::string describe() const;
};

// Reaps pid, polling; SIGKILLs and reaps it when the deadline passes.
ChildExit wait_child(pid_t pid, std::chrono::milliseconds deadline = std::chrono::seconds(30));

// Kills a scope that runs too long: prints `what` and the limit to stderr, then
// _exit(124)s the whole test process (its forked children die with it).
class Watchdog {
 public:
  explicit Watchdog(std::chrono::milliseconds limit, std::string what = "test");
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// Spins (with short sleeps) until pred() or the deadline; returns pred().
bool eventually(const std::function<bool()>& pred,
                std::chrono::milliseconds deadline = std::chrono::seconds(10));

}  // namespace shmcheck::testing
