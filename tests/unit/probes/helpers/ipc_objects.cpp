#include "ipc_objects.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <vector>

#include "shmcheck/core/segment_header.hpp"

namespace shmcheck::testing_ipc {

std::string object_name(const std::string& run_id, const std::string& object) {
  return core::segment_name(::geteuid(), run_id, object);
}

bool write_header(int fd, const std::string& run_id, const std::string& object, std::size_t size) {
  core::SegmentHeader h{};
  h.layout_version = core::kLayoutVersion;
  h.kind = core::ObjectKind::kTest;
  h.creator = core::self_identity();
  struct timespec now {};
  ::clock_gettime(CLOCK_REALTIME, &now);
  h.created_unix_ns = static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000U +
                      static_cast<std::uint64_t>(now.tv_nsec);
  h.total_size = size;
  h.payload_offset = core::kSegmentHeaderSize;
  h.payload_size = size - core::kSegmentHeaderSize;
  std::snprintf(h.run_id, sizeof h.run_id, "%s", run_id.c_str());
  std::snprintf(h.object_name, sizeof h.object_name, "%s", object.c_str());
  h.magic.store(core::kSegmentMagic, std::memory_order_release);
  return ::pwrite(fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h);
}

int create_posix_shm(const std::string& run_id, const std::string& object, std::size_t size) {
  const auto name = object_name(run_id, object);
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0 || !write_header(fd, run_id, object, size)) {
    ::close(fd);
    ::shm_unlink(name.c_str());
    return -1;
  }
  // Touch the payload so st_blocks counts real pages.
  const std::vector<char> page(4096, 'x');
  for (std::size_t off = core::kSegmentHeaderSize; off + page.size() <= size; off += page.size()) {
    if (::pwrite(fd, page.data(), page.size(), static_cast<off_t>(off)) < 0) break;
  }
  return fd;
}

std::string to_line(const HelperReport& r) {
  nlohmann::json j{
      {"pid", r.pid}, {"sysv_shm", r.sysv_shm}, {"sysv_sem", r.sysv_sem}, {"sysv_msg", r.sysv_msg}};
  return j.dump() + "\n";
}

bool from_line(const std::string& line, HelperReport& r) {
  const auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return false;
  r.pid = j.value("pid", 0);
  r.sysv_shm = j.value("sysv_shm", -1);
  r.sysv_sem = j.value("sysv_sem", -1);
  r.sysv_msg = j.value("sysv_msg", -1);
  return r.pid > 0;
}

}  // namespace shmcheck::testing_ipc
