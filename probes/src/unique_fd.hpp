// UniqueFd and directory iteration for the probes' /proc and /dev/shm readers.
// Private to probes/src. (core's FileDescriptor is the public handle; this one
// exists so the probes do not depend on core headers that are still in review.)
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <string_view>

#include "shmcheck/core/posix_call.hpp"

namespace shmcheck::probes::detail {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// openat() through posix_call, returning an owned fd. `mode` applies with O_CREAT.
inline core::Result<UniqueFd> open_at(int dirfd, const char* path, int flags,
                                      mode_t mode = 0600) noexcept {
  auto fd =
      core::posix_call("openat", [&] { return ::openat(dirfd, path, flags | O_CLOEXEC, mode); });
  if (!fd) return std::move(fd).error();
  return UniqueFd(*fd);
}

// Calls fn(name, d_type) for every entry but "." and "..", reading the directory
// with getdents64 in large batches (one syscall per ~500 entries).
template <class Fn>
core::Result<void> for_each_entry(int dirfd, Fn&& fn) noexcept {
  alignas(8) char buf[32768];
  for (;;) {
    auto n = core::posix_call("getdents64", [&] { return ::getdents64(dirfd, buf, sizeof buf); });
    if (!n) return std::move(n).error();
    if (*n == 0) return {};
    for (long off = 0; off < *n;) {
      const auto* entry = reinterpret_cast<const struct dirent64*>(buf + off);
      off += entry->d_reclen;
      const std::string_view name(entry->d_name);
      if (name == "." || name == "..") continue;
      fn(name, entry->d_type);
    }
  }
}

// Reads the rest of an open file into out.
inline core::Result<void> read_fd(int fd, std::string& out) noexcept {
  out.clear();
  char buf[16384];
  for (;;) {
    auto n = core::posix_call("read", [&] { return ::read(fd, buf, sizeof buf); });
    if (!n) return std::move(n).error();
    if (*n == 0) return {};
    out.append(buf, static_cast<std::size_t>(*n));
  }
}

// Reads a whole (small or /proc) file relative to dirfd into out.
inline core::Result<void> read_file_at(int dirfd, const char* path, std::string& out) noexcept {
  auto fd = open_at(dirfd, path, O_RDONLY);
  if (!fd) return std::move(fd).error();
  return read_fd(fd->get(), out);
}

// Parses an unsigned decimal or hex prefix of text; advances text.
inline bool parse_uint(std::string_view& text, std::uint64_t& out, unsigned base = 10) noexcept {
  std::uint64_t value = 0;
  std::size_t i = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    unsigned digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<unsigned>(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      digit = static_cast<unsigned>(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      digit = static_cast<unsigned>(c - 'A' + 10);
    } else {
      break;
    }
    value = value * base + digit;
  }
  if (i == 0) return false;
  out = value;
  text.remove_prefix(i);
  return true;
}

inline void skip_spaces(std::string_view& text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
}

}  // namespace shmcheck::probes::detail
