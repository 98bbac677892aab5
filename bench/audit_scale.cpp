// audit_scale: how long a full IPC inventory takes at scale (issue 3, "Scale").
//
// Creates 10,000 IPC objects (POSIX shm with and without shmcheck headers, named
// semaphores, SysV shm/sem/msg) and ~300 sleeping processes that hold some of them
// (fds with flock, mappings, SysV attachments), runs take_inventory() several
// times, prints the timings and the verdict counts, then removes everything.
//
// As root it runs in private pid/mount/IPC namespaces with its own /dev/shm, so
// 10,000 objects never reach the host's /dev/shm (other tests audit it meanwhile);
// --host runs on the real host namespaces instead (it still removes all it made).
//   audit_scale [--objects N] [--processes N] [--repeat N] [--host]
// Not a test: it measures, it asserts nothing.
#include <fcntl.h>
#include <sched.h>
#include <semaphore.h>
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
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "shmcheck/core/segment_header.hpp"
#include "shmcheck/probes/inventory.hpp"

namespace {

using shmcheck::probes::IpcKind;
using shmcheck::probes::Verdict;

struct Config {
  int objects = 10000;
  int processes = 300;
  int repeat = 7;
  bool host = false;
};

struct Made {
  std::vector<std::string> shm_names;
  std::vector<std::string> sem_names;
  std::vector<int> sysv_shm;
  std::vector<int> sysv_sem;
  std::vector<int> sysv_msg;
};

double cpu_ms() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

bool write_header(int fd, const std::string& run, const std::string& object) {
  shmcheck::core::SegmentHeader h{};
  h.layout_version = shmcheck::core::kLayoutVersion;
  h.kind = shmcheck::core::ObjectKind::kTest;
  h.creator = shmcheck::core::self_identity();
  h.total_size = 4096;
  h.payload_offset = shmcheck::core::kSegmentHeaderSize;
  h.payload_size = 4096 - shmcheck::core::kSegmentHeaderSize;
  std::snprintf(h.run_id, sizeof h.run_id, "%s", run.c_str());
  std::snprintf(h.object_name, sizeof h.object_name, "%s", object.c_str());
  h.magic.store(shmcheck::core::kSegmentMagic, std::memory_order_release);
  return ::pwrite(fd, &h, sizeof h, 0) == static_cast<ssize_t>(sizeof h);
}

bool make_objects(const Config& cfg, const std::string& run, Made& made) {
  const int sysv_shm = std::min(300, cfg.objects / 30);
  const int sysv_sem = std::min(100, cfg.objects / 100);
  const int sysv_msg = std::min(100, cfg.objects / 100);
  const int sems = cfg.objects / 20;
  const int shm = cfg.objects - sysv_shm - sysv_sem - sysv_msg - sems;
  for (int i = 0; i < shm; ++i) {
    const bool ours = i % 9 != 0;  // one in nine is a foreign object without a header
    const std::string object = "o" + std::to_string(i);
    const std::string name = ours ? shmcheck::core::segment_name(::geteuid(), run, object)
                                  : "/bench-foreign-" + run + "-" + std::to_string(i);
    const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ::ftruncate(fd, 4096) != 0 || (ours && !write_header(fd, run, object))) {
      std::fprintf(stderr, "audit_scale: creating %s: %s\n", name.c_str(), std::strerror(errno));
      if (fd >= 0) ::close(fd);
      return false;
    }
    ::close(fd);
    made.shm_names.push_back(name);
  }
  for (int i = 0; i < sems; ++i) {
    const std::string name =
        shmcheck::core::segment_name(::geteuid(), run, "s" + std::to_string(i));
    sem_t* s = ::sem_open(name.c_str(), O_CREAT | O_EXCL, 0600, 1U);
    if (s == SEM_FAILED) {
      std::fprintf(stderr, "audit_scale: sem_open: %s\n", std::strerror(errno));
      return false;
    }
    ::sem_close(s);
    made.sem_names.push_back(name);
  }
  for (int i = 0; i < sysv_shm; ++i) {
    const int id = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    if (id < 0) {
      std::fprintf(stderr, "audit_scale: shmget: %s\n", std::strerror(errno));
      return false;
    }
    made.sysv_shm.push_back(id);
  }
  for (int i = 0; i < sysv_sem; ++i) {
    const int id = ::semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    if (id >= 0) made.sysv_sem.push_back(id);
  }
  for (int i = 0; i < sysv_msg; ++i) {
    const int id = ::msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    if (id >= 0) made.sysv_msg.push_back(id);
  }
  return true;
}

// Each holder keeps a few objects: 4 fds with flock(LOCK_SH), 4 mappings with
// the fd closed, one semaphore mapping, one SysV attachment; then sleeps.
std::vector<pid_t> start_holders(const Config& cfg, const Made& made) {
  std::vector<pid_t> pids;
  int ready[2];
  if (::pipe(ready) != 0) return pids;
  for (int p = 0; p < cfg.processes; ++p) {
    const pid_t pid = ::fork();
    if (pid < 0) break;
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::close(ready[0]);
      const std::size_t n = made.shm_names.size();
      for (std::size_t k = 0; k < 8 && n != 0; ++k) {
        const auto& name = made.shm_names[(static_cast<std::size_t>(p) * 8 + k) % n];
        const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
        if (fd < 0) continue;
        if (k < 4) {
          ::flock(fd, LOCK_SH);
        } else {
          ::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
          ::close(fd);
        }
      }
      if (!made.sem_names.empty()) {
        ::sem_open(made.sem_names[static_cast<std::size_t>(p) % made.sem_names.size()].c_str(), 0);
      }
      if (!made.sysv_shm.empty()) {
        ::shmat(made.sysv_shm[static_cast<std::size_t>(p) % made.sysv_shm.size()], nullptr,
                SHM_RDONLY);
      }
      const char c = 1;
      if (::write(ready[1], &c, 1) != 1) ::_exit(1);
      for (;;) ::pause();
    }
    pids.push_back(pid);
  }
  ::close(ready[1]);
  char c = 0;
  std::size_t got = 0;
  while (got < pids.size() && ::read(ready[0], &c, 1) == 1) ++got;
  ::close(ready[0]);
  return pids;
}

void stop_holders(const std::vector<pid_t>& pids) {
  for (const pid_t pid : pids) ::kill(pid, SIGKILL);
  for (const pid_t pid : pids) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
}

void remove_objects(const Made& made) {
  for (const auto& n : made.shm_names) ::shm_unlink(n.c_str());
  for (const auto& n : made.sem_names) ::sem_unlink(n.c_str());
  for (const int id : made.sysv_shm) ::shmctl(id, IPC_RMID, nullptr);
  for (const int id : made.sysv_sem) ::semctl(id, 0, IPC_RMID);
  for (const int id : made.sysv_msg) ::msgctl(id, IPC_RMID, nullptr);
}

int measure(const Config& cfg) {
  const std::string run = shmcheck::core::new_run_id();
  Made made;
  auto t0 = std::chrono::steady_clock::now();
  const bool ok = make_objects(cfg, run, made);
  std::printf("created %zu objects in %.0f ms\n",
              made.shm_names.size() + made.sem_names.size() + made.sysv_shm.size() +
                  made.sysv_sem.size() + made.sysv_msg.size(),
              ms_since(t0));
  if (!ok) {
    remove_objects(made);
    return 3;
  }
  t0 = std::chrono::steady_clock::now();
  const auto holders = start_holders(cfg, made);
  std::printf("started %zu holder processes in %.0f ms\n", holders.size(), ms_since(t0));

  // Wall time, and the CPU time this process spent (user + kernel): on a shared,
  // loaded machine the wall time also counts waiting for a CPU.
  std::vector<double> times;
  std::vector<double> cpu_times;
  shmcheck::probes::Inventory last;
  for (int i = 0; i < cfg.repeat; ++i) {
    const double cpu0 = cpu_ms();
    t0 = std::chrono::steady_clock::now();
    last = shmcheck::probes::take_inventory();
    times.push_back(ms_since(t0));
    cpu_times.push_back(cpu_ms() - cpu0);
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu_times.begin(), cpu_times.end());
  std::size_t verdicts[shmcheck::probes::kVerdictCount] = {};
  std::size_t headers = 0;
  for (const auto& o : last.objects) {
    ++verdicts[static_cast<std::size_t>(o.verdict)];
    headers += o.header ? 1U : 0U;
  }
  std::printf(
      "inventory: %zu objects (%zu with shmcheck headers), %zu processes scanned, %zu unreadable\n",
      last.objects.size(), headers, last.processes_scanned, last.processes_unreadable);
  std::printf("verdicts: in_use %zu, orphaned %zu, pending_destroy %zu, unknown %zu\n", verdicts[0],
              verdicts[1], verdicts[2], verdicts[3]);
  std::printf("full audit wall time over %d runs: min %.1f ms, median %.1f ms, max %.1f ms\n",
              cfg.repeat, times.front(), times[times.size() / 2], times.back());
  std::printf("full audit CPU time (user+sys) over %d runs: min %.1f ms, median %.1f ms\n",
              cfg.repeat, cpu_times.front(), cpu_times[cpu_times.size() / 2]);

  stop_holders(holders);
  t0 = std::chrono::steady_clock::now();
  remove_objects(made);
  std::printf("removed everything in %.0f ms\n", ms_since(t0));
  return 0;
}

// Private pid/mount/IPC namespaces with a private /dev/shm and /proc.
int measure_in_sandbox(const Config& cfg) {
  if (::unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWPID) != 0) {
    std::perror("audit_scale: unshare (use --host when not root)");
    return 3;
  }
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    std::perror("audit_scale: mount --make-rprivate /");
    return 3;
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0 ||
        ::mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=512m") != 0) {
      std::perror("audit_scale: mount");
      ::_exit(3);
    }
    std::fflush(stdout);
    const int rc = measure(cfg);
    std::fflush(stdout);
    ::_exit(rc);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 4;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--objects" && has_value) {
      cfg.objects = std::atoi(argv[++i]);
    } else if (arg == "--processes" && has_value) {
      cfg.processes = std::atoi(argv[++i]);
    } else if (arg == "--repeat" && has_value) {
      cfg.repeat = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--host") {
      cfg.host = true;
    } else {
      std::fprintf(stderr,
                   "usage: audit_scale [--objects N] [--processes N] [--repeat N] [--host]\n");
      return 2;
    }
  }
  std::printf("audit_scale: %d objects, %d holder processes, %s\n", cfg.objects, cfg.processes,
              cfg.host ? "host namespaces" : "private namespaces");
  std::fflush(stdout);
  if (cfg.host || ::geteuid() != 0) return measure(cfg);
  return measure_in_sandbox(cfg);
}
