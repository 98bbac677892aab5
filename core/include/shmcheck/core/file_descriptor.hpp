// FileDescriptor: the one owner of an open file descriptor in this process.
//
// Per process, not shared: a plain RAII handle, move-only, that closes its fd when
// it is destroyed or reset. Whoever holds the FileDescriptor owns the fd; release()
// hands ownership back to the caller. Descriptors made by the core are O_CLOEXEC so
// workers exec'd by the harness never inherit them by accident.
//
// close() is never retried on EINTR: on Linux the descriptor is gone even when
// close reports EINTR, and a retry could close a descriptor another thread just got.
// No memory-ordering promises (no shared state).
#pragma once

#include <sys/types.h>

#include "shmcheck/core/result.hpp"

namespace shmcheck::core {

class FileDescriptor {
 public:
  FileDescriptor() noexcept = default;
  // Takes ownership of fd (-1 for none).
  explicit FileDescriptor(int fd) noexcept : fd_(fd) {}
  ~FileDescriptor() { reset(); }

  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }

  // open(2) through posix_call; O_CLOEXEC is always added.
  [[nodiscard]] static Result<FileDescriptor> open(const char* path, int flags,
                                                   mode_t mode = 0) noexcept;

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }

  // Gives up ownership without closing; the handle becomes empty.
  [[nodiscard]] int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

  // Closes the current descriptor (if any, errors ignored) and owns fd instead.
  void reset(int fd = -1) noexcept;

  // Closes now and reports a close error; the handle is empty afterwards either way.
  [[nodiscard]] Result<void> close() noexcept;

 private:
  int fd_ = -1;
};

}  // namespace shmcheck::core
