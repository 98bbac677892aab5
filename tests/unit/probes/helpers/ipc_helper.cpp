// shmcheck_ipc_helper: makes one IPC object of every kind for a run id, prints
// their ids as one JSON line on stdout, then
//   leak: dies by SIGKILL (no cleanup: every named object is left behind);
//   hold: keeps them all open/mapped/attached until stdin reaches EOF, then exits
//         (still without removing them: the test removes what it made).
// Objects: posix shm "shm" (fd + flock LOCK_SH, shmcheck header), "mapped"
// (mapping only, fd closed), named semaphore "sem", mqueue "mq", SysV shm
// (attached), SysV semaphore set, SysV message queue (one message), memfd
// "memfd" (header), and "deleted" (a posix shm unlinked but still mapped).
#include <fcntl.h>
#include <mqueue.h>
#include <semaphore.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include "ipc_objects.hpp"

namespace {

constexpr std::size_t kSize = 64 * 1024;

int fail(const char* what) {
  std::fprintf(stderr, "shmcheck_ipc_helper: %s: %s\n", what, std::strerror(errno));
  return 3;
}

void* map_fd(int fd) {
  void* p = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return nullptr;
  static_cast<volatile char*>(p)[kSize - 1] = 'y';
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace shmcheck::testing_ipc;
  if (argc != 3 || (std::strcmp(argv[1], "leak") != 0 && std::strcmp(argv[1], "hold") != 0)) {
    std::fprintf(stderr, "usage: shmcheck_ipc_helper leak|hold RUN_ID\n");
    return 2;
  }
  const bool leak = std::strcmp(argv[1], "leak") == 0;
  const std::string run = argv[2];
  HelperReport report;
  report.pid = static_cast<int>(::getpid());

  const int shm_fd = create_posix_shm(run, "shm", kSize);
  if (shm_fd < 0) return fail("shm_open shm");
  if (::flock(shm_fd, LOCK_SH) != 0) return fail("flock");
  if (map_fd(shm_fd) == nullptr) return fail("mmap shm");

  const int mapped_fd = create_posix_shm(run, "mapped", kSize);
  if (mapped_fd < 0) return fail("shm_open mapped");
  if (map_fd(mapped_fd) == nullptr) return fail("mmap mapped");
  ::close(mapped_fd);  // held through the mapping alone

  sem_t* sem = ::sem_open(object_name(run, "sem").c_str(), O_CREAT | O_EXCL, 0600, 1U);
  if (sem == SEM_FAILED) return fail("sem_open");

  struct mq_attr attr {};
  attr.mq_maxmsg = 4;
  attr.mq_msgsize = 64;
  const mqd_t mq =
      ::mq_open(object_name(run, "mq").c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, &attr);
  if (mq == static_cast<mqd_t>(-1)) return fail("mq_open");
  if (::mq_send(mq, "hello", 5, 0) != 0) return fail("mq_send");

  report.sysv_shm = ::shmget(IPC_PRIVATE, kSize, IPC_CREAT | 0600);
  if (report.sysv_shm < 0) return fail("shmget");
  void* attached = ::shmat(report.sysv_shm, nullptr, 0);
  if (attached == reinterpret_cast<void*>(-1)) return fail("shmat");
  static_cast<volatile char*>(attached)[0] = 'z';

  report.sysv_sem = ::semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
  if (report.sysv_sem < 0) return fail("semget");

  report.sysv_msg = ::msgget(IPC_PRIVATE, IPC_CREAT | 0600);
  if (report.sysv_msg < 0) return fail("msgget");
  struct {
    long mtype;
    char text[8];
  } msg{1, "hi"};
  if (::msgsnd(report.sysv_msg, &msg, sizeof msg.text, 0) != 0) return fail("msgsnd");

  const std::string memfd_name = object_name(run, "memfd").substr(1);
  const int memfd = ::memfd_create(memfd_name.c_str(), MFD_CLOEXEC);
  if (memfd < 0) return fail("memfd_create");
  if (::ftruncate(memfd, kSize) != 0 || !write_header(memfd, run, "memfd", kSize)) {
    return fail("memfd header");
  }
  if (map_fd(memfd) == nullptr) return fail("mmap memfd");

  const int deleted_fd = create_posix_shm(run, "deleted", kSize);
  if (deleted_fd < 0) return fail("shm_open deleted");
  if (map_fd(deleted_fd) == nullptr) return fail("mmap deleted");
  ::close(deleted_fd);
  ::shm_unlink(object_name(run, "deleted").c_str());

  const std::string line = to_line(report);
  if (::write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    return fail("write report");
  }
  if (leak) {
    ::raise(SIGKILL);
  }
  char buf[64];
  while (::read(STDIN_FILENO, buf, sizeof buf) > 0) {
  }
  return 0;
}
