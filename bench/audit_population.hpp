// AuditPopulation: a host-like population of IPC objects to time a full audit against
// (issue 3 "Scale", issue 7 item 5): POSIX shm with and without shmcheck headers, named
// semaphores, SysV shm/sem/msg, and sleeping holder processes that keep some of them
// (fds with flock, mappings, SysV attachments).
//
// Not across processes beyond the holders it forks; created and removed by one process.
// Meant to run inside private namespaces (run_in_private_namespaces): as root, 10,000
// objects never reach the host's /dev/shm, where other tests audit meanwhile.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace shmcheck::bench {

struct PopulationConfig {
  int objects = 10000;
  int processes = 300;
};

class AuditPopulation {
 public:
  AuditPopulation() = default;
  ~AuditPopulation();  // stops the holders and removes every object
  AuditPopulation(const AuditPopulation&) = delete;
  AuditPopulation& operator=(const AuditPopulation&) = delete;

  // Creates cfg.objects objects under run id `run` (one in nine POSIX segments without a
  // shmcheck header), then cfg.processes holders. false, with a message on stderr, when
  // an object could not be created (what was made is removed by the destructor).
  [[nodiscard]] bool create(const PopulationConfig& cfg, const std::string& run);
  void destroy() noexcept;

  [[nodiscard]] std::size_t objects() const noexcept;
  [[nodiscard]] std::size_t holders() const noexcept { return holders_.size(); }

 private:
  bool make_objects(const PopulationConfig& cfg, const std::string& run);
  void start_holders(const PopulationConfig& cfg);

  std::vector<std::string> shm_names_;
  std::vector<std::string> sem_names_;
  std::vector<int> sysv_shm_;
  std::vector<int> sysv_sem_;
  std::vector<int> sysv_msg_;
  std::vector<pid_t> holders_;
};

// Runs fn in new pid, mount and IPC namespaces with a private /proc and /dev/shm (needs
// root), in a forked process: this process's namespaces stay as they are. Returns fn's
// return value, or -1 with `error` set when the namespaces could not be made, fn's
// process died, or the deadline passed (everything in the namespaces is then SIGKILLed).
// fn reports back through memory mapped MAP_SHARED before the call.
[[nodiscard]] int run_in_private_namespaces(const std::function<int()>& fn,
                                            std::chrono::milliseconds deadline, std::string& error);

}  // namespace shmcheck::bench
