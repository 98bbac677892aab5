#include "shmcheck/testing/http.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace shmcheck::testing {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point end) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

sockaddr_in loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

struct Socket {
  int fd = -1;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::optional<HttpResponse> http_get(int port, const std::string& path,
                                     std::chrono::milliseconds deadline) {
  const auto end = Clock::now() + deadline;
  Socket s;
  s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s.fd < 0) return std::nullopt;
  auto addr = loopback(port);
  if (::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {  // NOLINT
    if (errno != EINPROGRESS) return std::nullopt;
    pollfd p{s.fd, POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(end)) != 1) return std::nullopt;
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return std::nullopt;
  }
  const std::string request = "GET " + path +
                              " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                              "\r\nConnection: close\r\n\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    pollfd p{s.fd, POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(end)) != 1) return std::nullopt;
    const auto n = ::send(s.fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return std::nullopt;
    sent += static_cast<std::size_t>(n);
  }
  std::string raw;
  std::array<char, 8192> buf{};
  for (;;) {
    pollfd p{s.fd, POLLIN, 0};
    if (::poll(&p, 1, remaining_ms(end)) != 1) return std::nullopt;
    const auto n = ::recv(s.fd, buf.data(), buf.size(), 0);
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    raw.append(buf.data(), static_cast<std::size_t>(n));
  }
  HttpResponse out;
  if (std::sscanf(raw.c_str(), "HTTP/1.%*d %d", &out.status) != 1) return std::nullopt;
  const auto body_at = raw.find("\r\n\r\n");
  if (body_at == std::string::npos) return std::nullopt;
  std::string body = raw.substr(body_at + 4);
  // Chunked transfer encoding: join the chunks.
  const auto headers = raw.substr(0, body_at);
  if (headers.find("chunked") != std::string::npos) {
    std::string joined;
    std::size_t pos = 0;
    while (pos < body.size()) {
      const auto eol = body.find("\r\n", pos);
      if (eol == std::string::npos) break;
      const auto size = std::strtoul(body.substr(pos, eol - pos).c_str(), nullptr, 16);
      if (size == 0) break;
      joined += body.substr(eol + 2, size);
      pos = eol + 2 + size + 2;
    }
    body = std::move(joined);
  }
  out.body = std::move(body);
  return out;
}

std::string url_encode(const std::string& text) {
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      std::array<char, 4> buf{};
      std::snprintf(buf.data(), buf.size(), "%%%02X", c);
      out += buf.data();
    }
  }
  return out;
}

ReservedPort::ReservedPort() {
  core::FileDescriptor fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return;
  const int on = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) return;
  auto addr = loopback(0);
  auto* const sa = reinterpret_cast<sockaddr*>(&addr);  // NOLINT(*-reinterpret-cast): BSD sockets
  if (::bind(fd.get(), sa, sizeof addr) != 0) return;
  socklen_t len = sizeof addr;
  if (::getsockname(fd.get(), sa, &len) != 0) return;
  port_ = ntohs(addr.sin_port);
  socket_ = std::move(fd);
}

}  // namespace shmcheck::testing
