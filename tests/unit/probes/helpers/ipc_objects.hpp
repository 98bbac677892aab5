// Test helpers that make one IPC object of every kind, named after a run id, the
// way a shmcheck process would (O_CREAT|O_EXCL, 0600, SegmentHeader where a
// segment has one). Shared by the ipc helper program and the probes tests.
#pragma once

#include <sys/types.h>

#include <string>

namespace shmcheck::testing_ipc {

// "/shmcheck.<uid>.<run_id>.<object>"
std::string object_name(const std::string& run_id, const std::string& object);

// Writes a shmcheck SegmentHeader (kind kTest) for run_id/object at offset 0 of fd.
bool write_header(int fd, const std::string& run_id, const std::string& object, std::size_t size);

// shm_open(O_CREAT|O_EXCL, 0600) + ftruncate + header + touched pages. Returns the fd or -1.
int create_posix_shm(const std::string& run_id, const std::string& object, std::size_t size);

// Ids of the SysV objects a helper made, and its pid, as one JSON line.
struct HelperReport {
  int pid = 0;
  int sysv_shm = -1;
  int sysv_sem = -1;
  int sysv_msg = -1;
};
std::string to_line(const HelperReport& report);
bool from_line(const std::string& line, HelperReport& report);

}  // namespace shmcheck::testing_ipc
