// Mutexes and semaphores between processes.
//
// Mutexes: uncontended lock+unlock in one pinned process (the mutex in shared
// memory, process-shared), and two processes on two CPUs contending for it,
// each incrementing a shared counter inside the lock (checked afterwards: a
// lost increment fails the figure). Semaphores: ping-pong between two
// processes over two semaphores (post mine, wait for yours), per round trip.
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include <boost/interprocess/sync/interprocess_mutex.hpp>
#include <cerrno>
#include <cstring>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>

#include "cases.hpp"

#if __has_include("shmcheck/core/robust_mutex.hpp")
#define SHMCHECK_BENCH_HAVE_ROBUST_MUTEX 1
#include "shmcheck/core/robust_mutex.hpp"
#else
#define SHMCHECK_BENCH_HAVE_ROBUST_MUTEX 0
#endif
#if __has_include("shmcheck/core/semaphore.hpp")
#define SHMCHECK_BENCH_HAVE_SEMAPHORE 1
#include "shmcheck/core/semaphore.hpp"
#else
#define SHMCHECK_BENCH_HAVE_SEMAPHORE 0
#endif

namespace shmcheck::bench {
namespace {

namespace bip = boost::interprocess;

std::string errno_text(const char* call, int err) {
  return std::string(call) + ": " + std::strerror(err);
}

// --- mutex subjects: init(mem) in the parent; lock()/unlock() in the roles --------

class PthreadMutex {
 public:
  explicit PthreadMutex(bool robust) : robust_(robust) {}
  static constexpr std::size_t kBytes = sizeof(pthread_mutex_t);
  void init(void* mem) {
    m_ = static_cast<pthread_mutex_t*>(mem);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (robust_) pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    const int rc = pthread_mutex_init(m_, &attr);
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) throw std::runtime_error(errno_text("pthread_mutex_init", rc));
  }
  void lock() {
    const int rc = pthread_mutex_lock(m_);
    if (rc != 0) [[unlikely]]
      throw std::runtime_error(errno_text("pthread_mutex_lock", rc));
  }
  void unlock() {
    const int rc = pthread_mutex_unlock(m_);
    if (rc != 0) [[unlikely]]
      throw std::runtime_error(errno_text("pthread_mutex_unlock", rc));
  }
  void destroy() { pthread_mutex_destroy(m_); }

 private:
  bool robust_;
  pthread_mutex_t* m_ = nullptr;
};

class BoostMutex {
 public:
  static constexpr std::size_t kBytes = sizeof(bip::interprocess_mutex);
  void init(void* mem) { m_ = new (mem) bip::interprocess_mutex(); }
  void lock() { m_->lock(); }
  void unlock() { m_->unlock(); }
  void destroy() { m_->~interprocess_mutex(); }

 private:
  bip::interprocess_mutex* m_ = nullptr;
};

#if SHMCHECK_BENCH_HAVE_ROBUST_MUTEX
class ShmcheckMutex {
 public:
  static constexpr std::size_t kBytes = sizeof(core::RobustMutex);
  void init(void* mem) {
    auto made = core::RobustMutex::create_at(mem);
    if (!made) throw std::runtime_error(made.error().message());
    m_ = *made;
  }
  void lock() {
    const auto r = m_->lock();
    if (!r || *r != core::LockStatus::kAcquired) [[unlikely]] {
      throw std::runtime_error(r ? "RobustMutex: owner died with no crash" : r.error().message());
    }
  }
  void unlock() {
    const auto r = m_->unlock();
    if (!r) [[unlikely]]
      throw std::runtime_error(r.error().message());
  }
  void destroy() {}

 private:
  core::RobustMutex* m_ = nullptr;
};
#endif

struct alignas(64) MutexBlock {
  alignas(64) std::byte mutex[256];
  alignas(64) std::uint64_t counter;
};

template <class Mutex>
TrialValue mutex_trial(const Options& opts, Mutex subject, std::uint64_t n, bool contended) {
  static_assert(Mutex::kBytes <= sizeof(MutexBlock::mutex));
  SharedRegion region(sizeof(MutexBlock));
  auto* block = new (region.data()) MutexBlock();
  try {
    subject.init(block->mutex);
  } catch (const std::exception& e) {
    return trial_failed(e.what());
  }
  const auto body = [&](Role& role) {
    role.start();
    for (std::uint64_t i = 0; i < n; ++i) {
      subject.lock();
      ++block->counter;
      subject.unlock();
    }
    role.stop();
  };
  // Uncontended runs on the second CPU: the first one takes the parent's housekeeping.
  const std::vector<int> cpus =
      contended || opts.cpus.size() < 2 ? opts.cpus : std::vector<int>{opts.cpus[1]};
  const auto outcome = contended ? run_roles({body, body}, cpus, opts.deadline)
                                 : run_roles({body}, cpus, opts.deadline);
  subject.destroy();
  if (!outcome.ok) return trial_failed(outcome.error);
  const std::uint64_t total = contended ? 2 * n : n;
  if (block->counter != total) {
    return trial_failed("mutual exclusion broken: counter " + std::to_string(block->counter) +
                        ", expected " + std::to_string(total));
  }
  TrialValue t;
  t.ok = true;
  t.seconds = outcome.elapsed_seconds();
  t.values = {t.seconds * 1e9 / static_cast<double>(total)};
  return t;
}

Figure mutex_figure(const std::string& key, const std::string& name, bool contended) {
  return make_figure(
      std::string("mutex.") + (contended ? "contended." : "uncontended.") + key,
      contended ? "Mutex, 2 processes on 2 CPUs contending (ns per lock+unlock, lower is better)"
                : "Mutex, uncontended lock+unlock, process-shared (ns, lower is better)",
      name, "ns", Better::kLower,
      contended ? "each process: lock, ++shared counter, unlock; counter checked"
                : "one pinned process, mutex in MAP_SHARED memory");
}

// --- semaphore subjects: a pair (mine, yours) for the ping-pong --------------------

void check_sem(int rc, const char* call) {
  if (rc != 0) [[unlikely]]
    throw std::runtime_error(errno_text(call, errno));
}

void sem_wait_blocking(sem_t* s) {
  while (::sem_wait(s) != 0) {
    if (errno != EINTR) throw std::runtime_error(errno_text("sem_wait", errno));
  }
}

struct UnnamedSemPair {
  sem_t* sems = nullptr;
  void init(void* mem) {
    sems = static_cast<sem_t*>(mem);
    check_sem(::sem_init(&sems[0], 1, 0), "sem_init");
    check_sem(::sem_init(&sems[1], 1, 0), "sem_init");
  }
  void post(int i) { check_sem(::sem_post(&sems[i]), "sem_post"); }
  void wait(int i) { sem_wait_blocking(&sems[i]); }
  void destroy() {
    ::sem_destroy(&sems[0]);
    ::sem_destroy(&sems[1]);
  }
};

struct NamedSemPair {
  std::string names[2];
  sem_t* sems[2] = {SEM_FAILED, SEM_FAILED};
  void init(void*) {
    for (int i = 0; i < 2; ++i) {
      names[i] = unique_name(i == 0 ? "bench_sem_a" : "bench_sem_b");
      sems[i] = ::sem_open(names[i].c_str(), O_CREAT | O_EXCL, 0600, 0);
      if (sems[i] == SEM_FAILED) throw std::runtime_error(errno_text("sem_open", errno));
    }
  }
  void post(int i) { check_sem(::sem_post(sems[i]), "sem_post"); }
  void wait(int i) { sem_wait_blocking(sems[i]); }
  void destroy() {
    for (int i = 0; i < 2; ++i) {
      if (sems[i] != SEM_FAILED) {
        ::sem_close(sems[i]);
        ::sem_unlink(names[i].c_str());
      }
    }
  }
};

struct SysvSemPair {
  int id = -1;
  void init(void*) {
    id = ::semget(IPC_PRIVATE, 2, IPC_CREAT | IPC_EXCL | 0600);
    if (id < 0) throw std::runtime_error(errno_text("semget", errno));
  }
  void op(int i, short delta) {
    sembuf b{static_cast<unsigned short>(i), delta, 0};
    while (::semop(id, &b, 1) != 0) {
      if (errno != EINTR) throw std::runtime_error(errno_text("semop", errno));
    }
  }
  void post(int i) { op(i, 1); }
  void wait(int i) { op(i, -1); }
  void destroy() {
    if (id >= 0) ::semctl(id, 0, IPC_RMID);
  }
};

#if SHMCHECK_BENCH_HAVE_SEMAPHORE
struct ShmcheckSemPair {
  core::SemaphoreFlavor flavor;
  std::optional<core::Semaphore> sems[2];
  void init(void* mem) {
    for (int i = 0; i < 2; ++i) {
      auto made = [&]() -> core::Result<core::Semaphore> {
        switch (flavor) {
          case core::SemaphoreFlavor::kPosixUnnamed:
            return core::Semaphore::create_unnamed(
                static_cast<std::byte*>(mem) + static_cast<std::size_t>(i) * 256, 0);
          case core::SemaphoreFlavor::kPosixNamed:
            return core::Semaphore::create_named(
                unique_name(i == 0 ? "bench_sem_a" : "bench_sem_b"), 0);
          case core::SemaphoreFlavor::kSysV:
            break;
        }
        return core::Semaphore::create_sysv(0, false);
      }();
      if (!made) throw std::runtime_error(made.error().message());
      sems[i].emplace(std::move(*made));
    }
  }
  void post(int i) {
    const auto r = sems[i]->post();
    if (!r) [[unlikely]]
      throw std::runtime_error(r.error().message());
  }
  // wait_for: the spin-then-sleep wait (wait() is the plain blocking one).
  void wait(int i) {
    const auto r = sems[i]->wait_for(std::chrono::seconds(30));
    if (!r) [[unlikely]]
      throw std::runtime_error(r.error().message());
    if (!*r) [[unlikely]]
      throw std::runtime_error("Semaphore::wait_for timed out");
  }
  void destroy() {
    for (auto& s : sems) {
      if (s) (void)s->destroy();
    }
  }
};
#endif

// Ping-pong over two semaphores between two processes, us per round trip. With
// syscall_floor: one process doing the same four operations, none of which ever
// blocks (the floor of a round trip of a flavor whose every operation is a syscall).
template <class Pair>
TrialValue semaphore_trial(const Options& opts, Pair pair, std::uint64_t n,
                           bool syscall_floor = false) {
  SharedRegion region(4096);
  try {
    pair.init(region.data());
  } catch (const std::exception& e) {
    pair.destroy();
    return trial_failed(e.what());
  }
  const auto loop = [n](Role& role, auto&& body) {
    role.start();
    for (std::uint64_t i = 0; i < n; ++i) body();
    role.stop();
  };
  std::vector<RoleFn> roles;
  if (syscall_floor) {
    roles = {[&](Role& role) {
      loop(role, [&] {
        pair.post(0);
        pair.wait(0);
        pair.post(1);
        pair.wait(1);
      });
    }};
  } else {
    roles = {[&](Role& role) {
               loop(role, [&] {
                 pair.post(0);
                 pair.wait(1);
               });
             },
             [&](Role& role) {
               loop(role, [&] {
                 pair.wait(0);
                 pair.post(1);
               });
             }};
  }
  const auto outcome = run_roles(roles, opts.cpus, opts.deadline);
  pair.destroy();
  if (!outcome.ok) return trial_failed(outcome.error);
  TrialValue t;
  t.ok = true;
  t.seconds = outcome.elapsed_seconds();
  t.values = {t.seconds * 1e6 / static_cast<double>(n)};
  return t;
}

Figure sem_figure(const std::string& key, const std::string& name, const std::string& note) {
  return make_figure("semaphore." + key,
                     "Semaphore ping-pong between 2 processes (us per round trip, lower is better)",
                     name, "us", Better::kLower, note);
}

}  // namespace

void run_mutex_cases(Report& report, const Options& opts) {
  const std::uint64_t ops = opts.quick ? 20'000 : 200'000;
  const std::uint64_t max_ops = 200'000'000;
  for (const bool contended : {false, true}) {
    MeasureBatch batch(report, opts);
    batch.add(
        {mutex_figure("plain", "plain pthread mutex (pshared)", contended)}, ops, max_ops, true,
        [&](std::uint64_t n) { return mutex_trial(opts, PthreadMutex(false), n, contended); });
    batch.add({mutex_figure("robust", "raw robust pthread mutex (pshared)", contended)}, ops,
              max_ops, true,
              [&](std::uint64_t n) { return mutex_trial(opts, PthreadMutex(true), n, contended); });
    batch.add({mutex_figure("boost", "Boost interprocess_mutex", contended)}, ops, max_ops, true,
              [&](std::uint64_t n) { return mutex_trial(opts, BoostMutex(), n, contended); });
#if SHMCHECK_BENCH_HAVE_ROBUST_MUTEX
    batch.add({mutex_figure("shmcheck", "shmcheck RobustMutex", contended)}, ops, max_ops, true,
              [&](std::uint64_t n) { return mutex_trial(opts, ShmcheckMutex(), n, contended); });
    batch.run();
    const std::string kind = contended ? "mutex.contended." : "mutex.uncontended.";
    report.compare(kind + "shmcheck", kind + "robust",
                   contended ? std::nullopt : std::optional(at_most(1.1, "<= 1.1x")));
    report.compare(kind + "shmcheck", kind + "plain");
    report.compare(kind + "shmcheck", kind + "boost");
#else
    batch.run();
    const std::string kind = contended ? "mutex.contended." : "mutex.uncontended.";
    report.compare(kind + "robust", kind + "plain");
#endif
  }
#if !SHMCHECK_BENCH_HAVE_ROBUST_MUTEX
  report.omit("shmcheck RobustMutex",
              "core/include/shmcheck/core/robust_mutex.hpp not in this build");
#endif
}

void run_semaphore_cases(Report& report, const Options& opts) {
  MeasureBatch batch(report, opts);
  const std::uint64_t ops = opts.quick ? 50 : 300;
  const std::uint64_t max_ops = 20'000'000;
  batch.add({sem_figure("blocking.posix_unnamed", "blocking sem_wait, POSIX unnamed (reference)",
                        "sem_init(pshared=1) in MAP_SHARED memory; glibc sem_wait")},
            ops, max_ops, true,
            [&](std::uint64_t n) { return semaphore_trial(opts, UnnamedSemPair{}, n); });
  batch.add({sem_figure("blocking.posix_named", "blocking sem_wait, POSIX named",
                        "sem_open(O_CREAT|O_EXCL, 0600), unique name, unlinked after")},
            ops, max_ops, true,
            [&](std::uint64_t n) { return semaphore_trial(opts, NamedSemPair{}, n); });
  batch.add(
      {sem_figure("blocking.sysv", "blocking semop, SysV", "semget(IPC_PRIVATE), IPC_RMID after")},
      ops, max_ops, true, [&](std::uint64_t n) { return semaphore_trial(opts, SysvSemPair{}, n); });
  batch.add({sem_figure("floor.sysv", "4 uncontended semop calls (SysV floor)",
                        "one process: post+wait on each of two SysV semaphores, never blocking")},
            ops, max_ops, true,
            [&](std::uint64_t n) { return semaphore_trial(opts, SysvSemPair{}, n, true); });
#if SHMCHECK_BENCH_HAVE_SEMAPHORE
  const struct {
    core::SemaphoreFlavor flavor;
    const char* key;
    const char* name;
    const char* blocking;
  } flavors[] = {
      {core::SemaphoreFlavor::kPosixUnnamed, "posix_unnamed", "shmcheck Semaphore, POSIX unnamed",
       "semaphore.blocking.posix_unnamed"},
      {core::SemaphoreFlavor::kPosixNamed, "posix_named", "shmcheck Semaphore, POSIX named",
       "semaphore.blocking.posix_named"},
      {core::SemaphoreFlavor::kSysV, "sysv", "shmcheck Semaphore, SysV", "semaphore.blocking.sysv"},
  };
  for (const auto& fl : flavors) {
    batch.add({sem_figure(std::string("shmcheck.") + fl.key, fl.name,
                          "Semaphore::wait_for (spins Semaphore::kSpinFor, then sleeps) / post")},
              ops, max_ops, true, [&opts, flavor = fl.flavor](std::uint64_t n) {
                return semaphore_trial(opts, ShmcheckSemPair{flavor, {}}, n);
              });
    const std::string id = std::string("semaphore.shmcheck.") + fl.key;
    report.compare(id, "semaphore.blocking.posix_unnamed", at_most(1.0 / 50, "<= 1/50"));
    if (std::string(fl.blocking) != "semaphore.blocking.posix_unnamed") {
      report.compare(id, fl.blocking);
    }
    if (fl.flavor == core::SemaphoreFlavor::kSysV) report.compare(id, "semaphore.floor.sysv");
  }
#else
  report.compare("semaphore.blocking.posix_named", "semaphore.blocking.posix_unnamed");
  report.compare("semaphore.blocking.sysv", "semaphore.blocking.posix_unnamed");
  report.omit("shmcheck Semaphore", "core/include/shmcheck/core/semaphore.hpp not in this build");
#endif
  batch.run();
}

}  // namespace shmcheck::bench
