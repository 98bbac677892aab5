// A minimal HTTP/1.1 GET client for tests that talk to real servers on 127.0.0.1
// (Prometheus, Pushgateway, shmcheck's own /metrics). Blocking, with a deadline on
// connect and on every read: a server that never answers fails the test, never
// hangs it.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "shmcheck/core/file_descriptor.hpp"

namespace shmcheck::testing {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// GET http://127.0.0.1:<port><path>. nullopt on connect failure, timeout or garbage.
std::optional<HttpResponse> http_get(int port, const std::string& path,
                                     std::chrono::milliseconds deadline = std::chrono::seconds(5));

// Percent-encodes a query parameter value (PromQL goes through this).
std::string url_encode(const std::string& text);

// A TCP port on 127.0.0.1 held for a server the test starts on it, or as a port where
// nothing answers: a socket bound to the port with SO_REUSEADDR, never listening,
// closed when this object dies. Until then no bind to port 0 and no outgoing
// connection gets the port, yet a server that sets SO_REUSEADDR itself (Prometheus,
// the Pushgateway and shmcheck's exporter all do) binds and listens on it. A port
// chosen free and released was taken by a parallel test before Prometheus bound it
// ("address already in use"). port() is -1 when no socket could be bound.
class ReservedPort {
 public:
  ReservedPort();
  [[nodiscard]] int port() const { return port_; }

 private:
  core::FileDescriptor socket_;
  int port_ = -1;
};

}  // namespace shmcheck::testing
