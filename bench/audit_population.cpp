#include "audit_population.hpp"

#include <fcntl.h>
#include <sched.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>

#include "shmcheck/core/segment_header.hpp"

namespace shmcheck::bench {
namespace {

bool write_header(int fd, const std::string& run, const std::string& object) {
  core::SegmentHeader h{};
  h.layout_version = core::kLayoutVersion;
  h.kind = core::ObjectKind::kTest;
  h.creator = core::self_identity();
  h.total_size = 4096;
  h.payload_offset = core::kSegmentHeaderSize;
  h.payload_size = 4096 - core::kSegmentHeaderSize;
  std::snprintf(h.run_id, sizeof h.run_id, "%s", run.c_str());
  std::snprintf(h.object_name, sizeof h.object_name, "%s", object.c_str());
  h.magic.store(core::kSegmentMagic, std::memory_order_release);
  return ::pwrite(fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h);
}

}  // namespace

AuditPopulation::~AuditPopulation() { destroy(); }

bool AuditPopulation::create(const PopulationConfig& cfg, const std::string& run) {
  if (!make_objects(cfg, run)) return false;
  start_holders(cfg);
  return true;
}

std::size_t AuditPopulation::objects() const noexcept {
  return shm_names_.size() + sem_names_.size() + sysv_shm_.size() + sysv_sem_.size() +
         sysv_msg_.size();
}

bool AuditPopulation::make_objects(const PopulationConfig& cfg, const std::string& run) {
  const int sysv_shm = std::min(300, cfg.objects / 30);
  const int sysv_sem = std::min(100, cfg.objects / 100);
  const int sysv_msg = std::min(100, cfg.objects / 100);
  const int sems = cfg.objects / 20;
  const int shm = cfg.objects - sysv_shm - sysv_sem - sysv_msg - sems;
  for (int i = 0; i < shm; ++i) {
    const bool ours = i % 9 != 0;  // one in nine is a foreign object without a header
    const std::string object = "o" + std::to_string(i);
    const std::string name = ours ? core::segment_name(::geteuid(), run, object)
                                  : "/bench-foreign-" + run + "-" + std::to_string(i);
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) shm_names_.push_back(name);
    if (fd < 0 || ::ftruncate(fd, 4096) != 0 || (ours && !write_header(fd, run, object))) {
      std::fprintf(stderr, "audit population: creating %s: %s\n", name.c_str(),
                   std::strerror(errno));
      if (fd >= 0) ::close(fd);
      return false;
    }
    ::close(fd);
  }
  for (int i = 0; i < sems; ++i) {
    const std::string name = core::segment_name(::geteuid(), run, "s" + std::to_string(i));
    sem_t* s = ::sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 1U);
    if (s == SEM_FAILED) {
      std::fprintf(stderr, "audit population: sem_open: %s\n", std::strerror(errno));
      return false;
    }
    ::sem_close(s);
    sem_names_.push_back(name);
  }
  for (int i = 0; i < sysv_shm; ++i) {
    const int id = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (id < 0) {
      std::fprintf(stderr, "audit population: shmget: %s\n", std::strerror(errno));
      return false;
    }
    sysv_shm_.push_back(id);
  }
  for (int i = 0; i < sysv_sem; ++i) {
    const int id = ::semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    if (id >= 0) sysv_sem_.push_back(id);
  }
  for (int i = 0; i < sysv_msg; ++i) {
    const int id = ::msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (id >= 0) sysv_msg_.push_back(id);
  }
  return true;
}

// Each holder keeps a few objects: 4 fds with flock(LOCK_SH), 4 mappings with
// the fd closed, one semaphore mapping, one SysV attachment; then sleeps.
void AuditPopulation::start_holders(const PopulationConfig& cfg) {
  int ready[2];
  if (::pipe(ready) != 0) return;
  for (int p = 0; p < cfg.processes; ++p) {
    const pid_t pid = ::fork();
    if (pid < 0) break;
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::close(ready[0]);
      const std::size_t n = shm_names_.size();
      for (std::size_t k = 0; k < 8 && n != 0; ++k) {
        const auto& name = shm_names_[(static_cast<std::size_t>(p) * 8 + k) % n];
        const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
        if (fd < 0) continue;
        if (k < 4) {
          ::flock(fd, LOCK_SH);
        } else {
          ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
          ::close(fd);
        }
      }
      if (!sem_names_.empty()) {
        ::sem_open(sem_names_[static_cast<std::size_t>(p) % sem_names_.size()].c_str(), 0);
      }
      if (!sysv_shm_.empty()) {
        ::shmat(sysv_shm_[static_cast<std::size_t>(p) % sysv_shm_.size()], nullptr, SHM_RDONLY);
      }
      const char c = 1;
      if (::write(ready[1], &c, 1) != 1) ::_exit(1);
      for (;;) ::pause();
    }
    holders_.push_back(pid);
  }
  ::close(ready[1]);
  char c = 0;
  std::size_t got = 0;
  while (got < holders_.size() && ::read(ready[0], &c, 1) == 1) ++got;
  ::close(ready[0]);
}

void AuditPopulation::destroy() noexcept {
  for (const pid_t pid : holders_) ::kill(pid, SIGKILL);
  for (const pid_t pid : holders_) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  holders_.clear();
  for (const auto& n : shm_names_) ::shm_unlink(n.c_str());
  for (const auto& n : sem_names_) ::sem_unlink(n.c_str());
  for (const int id : sysv_shm_) ::shmctl(id, IPC_RMID, nullptr);
  for (const int id : sysv_sem_) ::semctl(id, 0, IPC_RMID);
  for (const int id : sysv_msg_) ::msgctl(id, IPC_RMID, nullptr);
  shm_names_.clear();
  sem_names_.clear();
  sysv_shm_.clear();
  sysv_sem_.clear();
  sysv_msg_.clear();
}

int run_in_private_namespaces(const std::function<int()>& fn, std::chrono::milliseconds deadline,
                              std::string& error) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t outer = ::fork();
  if (outer < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    return -1;
  }
  if (outer == 0) {
    // The namespaces' creator: unshare, then fork the namespace's pid 1, which mounts
    // its own /proc and /dev/shm. Dies with the caller; pid 1 dies with it, and every
    // process of the pid namespace with pid 1.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID) != 0) {
      std::perror("unshare (needs root)");
      ::_exit(120);
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      std::perror("mount --make-rprivate /");
      ::_exit(121);
    }
    const pid_t init = ::fork();
    if (init == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0 ||
          ::mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=512m") != 0) {
        std::perror("mount /proc, /dev/shm");
        ::_exit(122);
      }
      const int rc = fn();
      std::fflush(stdout);
      std::fflush(stderr);
      ::_exit(rc);
    }
    int status = 0;
    while (init > 0 && ::waitpid(init, &status, 0) < 0 && errno == EINTR) {
    }
    ::_exit(init > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : 123);
  }
  const auto end = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(outer, &status, WNOHANG);
    if (r == outer) break;
    if (r < 0 && errno != EINTR) {
      error = std::string("waitpid: ") + std::strerror(errno);
      return -1;
    }
    if (std::chrono::steady_clock::now() > end) {
      ::kill(outer, SIGKILL);  // pid 1 of the namespaces follows (PDEATHSIG), then the rest
      while (::waitpid(outer, &status, 0) < 0 && errno == EINTR) {
      }
      error = "deadline of " + std::to_string(deadline.count()) + " ms passed";
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!WIFEXITED(status)) {
    error = "namespace process killed by signal " + std::to_string(WTERMSIG(status));
    return -1;
  }
  const int rc = WEXITSTATUS(status);
  if (rc >= 120 && rc <= 123) {
    error = "could not set up private namespaces (exit " + std::to_string(rc) + ")";
    return -1;
  }
  return rc;
}

}  // namespace shmcheck::bench
