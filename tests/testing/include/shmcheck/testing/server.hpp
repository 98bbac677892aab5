// ServerProcess: a real server (Prometheus, Pushgateway, `shmcheck run
// --metrics-listen`) started by a test on 127.0.0.1, waited for with a deadline,
// and stopped by pid (SIGTERM, then SIGKILL) and reaped when the object dies.
// A server that fails to start or never becomes ready is an error with its
// captured stderr, never a hang.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace shmcheck::testing {

class ServerProcess {
 public:
  // Starts argv[0] (absolute path or PATH lookup) with stdout+stderr to log_path.
  static std::optional<ServerProcess> start(const std::vector<std::string>& argv,
                                            const std::string& log_path);
  ServerProcess(ServerProcess&& other) noexcept;
  ServerProcess& operator=(ServerProcess&& other) noexcept;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess();

  // Polls GET http://127.0.0.1:<port><path> until it answers 200, the process
  // exits, or the deadline passes.
  [[nodiscard]] bool wait_ready(int port, const std::string& path,
                                std::chrono::milliseconds deadline = std::chrono::seconds(20));
  [[nodiscard]] bool running();
  // Waits for a normal exit; returns the raw wait status or -1 on timeout (then killed).
  int wait_exit(std::chrono::milliseconds deadline);
  void stop();
  [[nodiscard]] pid_t pid() const { return pid_; }
  [[nodiscard]] std::string log() const;

 private:
  ServerProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_ = -1;
  int status_ = 0;
  std::string log_path_;
};

}  // namespace shmcheck::testing
