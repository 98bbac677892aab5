#include <fcntl.h>

#include <cerrno>
#include <csignal>

#include "inventory_detail.hpp"

namespace shmcheck::probes::detail {

OpenCheck lease_exclusively(int fd) noexcept {
  // Before the lease exists, so no break can find the default signal set.
  if (::fcntl(fd, F_SETSIG, SIGURG) != 0) return OpenCheck::kUnavailable;
  if (::fcntl(fd, F_SETLEASE, F_WRLCK) == 0) return OpenCheck::kNotOpen;
  // EAGAIN: another open file description exists. EACCES: not the file's owner and no
  // CAP_LEASE; EINVAL: leases disabled (fs.leases-enable) or not a regular file.
  return errno == EAGAIN || errno == EBUSY ? OpenCheck::kOpen : OpenCheck::kUnavailable;
}

}  // namespace shmcheck::probes::detail
