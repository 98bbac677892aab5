// Reading the system's settings and naming the limit a create ran into (internal to the
// core): a SysV create that failed with ENOSPC hit the system's limits on SysV objects,
// which errno alone ("No space left on device") hides behind what reads like a full
// /dev/shm.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <optional>
#include <string>
#include <utility>

#include "shmcheck/core/result.hpp"

namespace shmcheck::core::detail {

// The whole of a small text file (/proc, /sys), or nullopt.
inline std::optional<std::string> read_small_file(const std::string& path) noexcept {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::array<char, 4096> buf{};
  std::string text;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf.data(), static_cast<std::size_t>(n));
    if (text.size() > 65536) break;
  }
  ::close(fd);
  return text;
}

// /proc/sys/kernel/<name> on one line, tabs as spaces ("?" if unreadable).
inline std::string kernel_setting(const std::string& name) {
  std::string text = read_small_file("/proc/sys/kernel/" + name).value_or("?");
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  for (char& c : text) c = c == '\t' || c == '\n' ? ' ' : c;
  return text;
}

// err with `what` (the object) as its detail, and, when it is ENOSPC from shmget or
// semget, the limit it ran into.
inline Error with_sysv_limits(Error err, std::string what, bool semaphore) {
  if (err.sys_errno == ENOSPC) {
    what += semaphore ? ": the system's SysV semaphore limits are reached (kernel.sem = \"" +
                            kernel_setting("sem") +
                            "\": SEMMSL SEMMNS SEMOPM SEMMNI; `ipcs -s` lists the sets)"
                      : ": the system's SysV shared memory limits are reached (kernel.shmmni = " +
                            kernel_setting("shmmni") +
                            " segments, kernel.shmall = " + kernel_setting("shmall") +
                            " pages; `ipcs -m` lists the segments)";
  }
  err.detail = std::move(what);
  return err;
}

}  // namespace shmcheck::core::detail
