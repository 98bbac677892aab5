// A minimal HTTP/1.1 GET client for tests that talk to real servers on 127.0.0.1
// (Prometheus, Pushgateway, shmcheck's own /metrics). Blocking, with a deadline on
// connect and on every read: a server that never answers fails the test, never
// hangs it.
#pragma once

#include <chrono>
#include <optional>
#include <string>

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

// A TCP port that was free a moment ago on 127.0.0.1 (bind to port 0, read it back).
int free_tcp_port();

}  // namespace shmcheck::testing
