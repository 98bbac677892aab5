#include "shmcheck/core/file_descriptor.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "shmcheck/core/posix_call.hpp"

namespace shmcheck::core {
namespace {

// close(2) must not be retried: on Linux the descriptor is released even when
// close reports EINTR, so EINTR counts as success here.
Result<int> close_once(int fd) noexcept {
  return posix_call("close", [fd] {
    const int r = ::close(fd);
    return (r == -1 && errno == EINTR) ? 0 : r;
  });
}

}  // namespace

Result<FileDescriptor> FileDescriptor::open(const char* path, int flags, mode_t mode) noexcept {
  auto fd = posix_call("open", [&] { return ::open(path, flags | O_CLOEXEC, mode); });
  if (!fd) {
    auto err = std::move(fd).error();
    err.detail = path;
    return err;
  }
  return FileDescriptor(*fd);
}

void FileDescriptor::reset(int fd) noexcept {
  if (fd_ >= 0 && fd_ != fd) (void)close_once(fd_);
  fd_ = fd;
}

Result<void> FileDescriptor::close() noexcept {
  if (fd_ < 0) return {};
  const int fd = release();
  SHMCHECK_TRY(close_once(fd));
  return {};
}

}  // namespace shmcheck::core
