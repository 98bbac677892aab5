#include "shmcheck/core/semaphore.hpp"

#include <fcntl.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <new>
#include <utility>

#include "shmcheck/core/cpu_relax.hpp"
#include "shmcheck/core/posix_call.hpp"
#include "sync_clock.hpp"
#include "system_limits.hpp"

namespace shmcheck::core {
namespace {

using detail::deadline_after;
using detail::monotonic_ns;
using detail::to_timespec;

// What an unnamed semaphore occupies in shared memory: the sem_t, then a word
// published (release) once sem_init has run, so attach_unnamed() can refuse
// memory that holds no semaphore.
struct UnnamedBlock {
  sem_t sem;
  std::atomic<std::uint32_t> magic;
};
static_assert(sizeof(UnnamedBlock) <= Semaphore::kUnnamedBytes);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);
constexpr std::uint32_t kUnnamedMagic = 0x4D45'5353U;  // "SSEM"

// The caller of semctl defines union semun (semctl(2)).
union SemUn {
  int val;
  semid_ds* buf;
  unsigned short* array;
};

constexpr std::string_view kNamedSemDir = "/dev/shm/sem.";
constexpr std::size_t kMaxNamedBody = 250;

// sem_clockwait(CLOCK_MONOTONIC): immune to wall-clock steps. GCC 12's
// ThreadSanitizer does not intercept it (it would miss the synchronisation), so TSan
// builds wait with sem_timedwait on the equivalent CLOCK_REALTIME deadline instead.
int clockwait_monotonic(sem_t* sem, const timespec* deadline) noexcept {
#if defined(__SANITIZE_THREAD__)
  const timespec real_deadline = detail::realtime_deadline_from_monotonic(*deadline);
  return ::sem_timedwait(sem, &real_deadline);
#else
  return ::sem_clockwait(sem, CLOCK_MONOTONIC, deadline);
#endif
}

bool valid_named(std::string_view name) noexcept {
  if (name.size() < 2 || name.size() > kMaxNamedBody + 1 || name.front() != '/') return false;
  return name.find('/', 1) == std::string_view::npos;
}

// A named semaphore must be a regular file of ours with mode 0600: never trust an
// object someone else planted under the name.
Result<void> check_named_owner(const std::string& name) noexcept {
  std::string path(kNamedSemDir);
  path.append(name, 1);
  struct stat st {};
  SHMCHECK_TRY(posix_call("stat", [&] { return ::stat(path.c_str(), &st); }));
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid() || (st.st_mode & 07777) != 0600) {
    return make_error(ErrorCode::kForeign, "sem_open", name + ": not ours or not mode 0600");
  }
  return {};
}

Result<void> check_sysv_sem_owner(int semid) noexcept {
  semid_ds ds{};
  SemUn arg{};
  arg.buf = &ds;
  SHMCHECK_TRY(posix_call("semctl(IPC_STAT)", [&] { return ::semctl(semid, 0, IPC_STAT, arg); }));
  const uid_t me = ::geteuid();
  if (ds.sem_perm.uid != me || ds.sem_perm.cuid != me || (ds.sem_perm.mode & 0777) != 0600 ||
      ds.sem_nsems != 1) {
    return make_error(
        ErrorCode::kForeign, "semget",
        "semid " + std::to_string(semid) + ": not ours, not 0600 or not one semaphore");
  }
  return {};
}

}  // namespace

const char* to_string(SemaphoreFlavor flavor) noexcept {
  switch (flavor) {
    case SemaphoreFlavor::kPosixUnnamed:
      return "posix_unnamed";
    case SemaphoreFlavor::kPosixNamed:
      return "posix_named";
    case SemaphoreFlavor::kSysV:
      return "sysv";
  }
  return "unknown";
}

std::optional<SemaphoreFlavor> semaphore_flavor_from_string(std::string_view text) noexcept {
  for (auto f :
       {SemaphoreFlavor::kPosixUnnamed, SemaphoreFlavor::kPosixNamed, SemaphoreFlavor::kSysV}) {
    if (text == to_string(f)) return f;
  }
  return std::nullopt;
}

Result<Semaphore> Semaphore::create_unnamed(void* mem, unsigned initial) noexcept {
  if (mem == nullptr || reinterpret_cast<std::uintptr_t>(mem) % alignof(UnnamedBlock) != 0) {
    return make_error(ErrorCode::kInvalidArgument, "Semaphore::create_unnamed",
                      "memory must be 8-byte aligned");
  }
  if (initial > kMaxValue) {
    return make_error(ErrorCode::kInvalidArgument, "Semaphore::create_unnamed", "initial value");
  }
  auto* block = new (mem) UnnamedBlock;
  block->magic.store(0, std::memory_order_relaxed);
  SHMCHECK_TRY(posix_call("sem_init", [&] { return ::sem_init(&block->sem, 1, initial); }));
  block->magic.store(kUnnamedMagic, std::memory_order_release);
  Semaphore s;
  s.flavor_ = SemaphoreFlavor::kPosixUnnamed;
  s.sem_ = &block->sem;
  s.creator_ = true;
  return s;
}

Result<Semaphore> Semaphore::attach_unnamed(void* mem) noexcept {
  if (mem == nullptr || reinterpret_cast<std::uintptr_t>(mem) % alignof(UnnamedBlock) != 0) {
    return make_error(ErrorCode::kInvalidArgument, "Semaphore::attach_unnamed",
                      "memory must be 8-byte aligned");
  }
  auto* block = std::launder(static_cast<UnnamedBlock*>(mem));
  if (block->magic.load(std::memory_order_acquire) != kUnnamedMagic) {
    return make_error(ErrorCode::kForeign, "Semaphore::attach_unnamed",
                      "no initialised semaphore at this address");
  }
  Semaphore s;
  s.flavor_ = SemaphoreFlavor::kPosixUnnamed;
  s.sem_ = &block->sem;
  return s;
}

Result<Semaphore> Semaphore::create_named(std::string name, unsigned initial) noexcept {
  if (!valid_named(name)) {
    return make_error(ErrorCode::kInvalidArgument, "Semaphore::create_named", name);
  }
  if (initial > kMaxValue) {
    return make_error(ErrorCode::kInvalidArgument, "Semaphore::create_named", "initial value");
  }
  auto opened = posix_call_ptr("sem_open", SEM_FAILED, [&] {
    return ::sem_open(name.c_str(), O_CREAT | O_EXCL, static_cast<mode_t>(0600), initial);
  });
  if (!opened) {
    auto err = std::move(opened).error();
    err.detail = name;
    return err;
  }
  Semaphore s;
  s.flavor_ = SemaphoreFlavor::kPosixNamed;
  s.sem_ = *opened;
  s.creator_ = true;
  s.name_ = std::move(name);
  // We made it with O_EXCL, so it is ours; the check catches a umask or a
  // filesystem that did not honour the mode. On failure s's destructor closes it.
  if (auto ok = check_named_owner(s.name_); !ok) {
    (void)::sem_unlink(s.name_.c_str());
    return std::move(ok).error();
  }
  return s;
}

Result<Semaphore> Semaphore::open_named(std::string name) noexcept {
  if (!valid_named(name)) {
    return make_error(ErrorCode::kInvalidArgument, "Semaphore::open_named", name);
  }
  auto opened = posix_call_ptr("sem_open", SEM_FAILED, [&] { return ::sem_open(name.c_str(), 0); });
  if (!opened) {
    auto err = std::move(opened).error();
    err.detail = name;
    return err;
  }
  Semaphore s;
  s.flavor_ = SemaphoreFlavor::kPosixNamed;
  s.sem_ = *opened;
  s.name_ = std::move(name);
  SHMCHECK_TRY(check_named_owner(s.name_));
  return s;
}

Result<Semaphore> Semaphore::create_sysv(unsigned initial, bool undo, key_t key) noexcept {
  if (initial > kMaxValue) {
    return make_error(ErrorCode::kInvalidArgument, "Semaphore::create_sysv", "initial value");
  }
  auto id = posix_call("semget", [&] { return ::semget(key, 1, IPC_CREAT | IPC_EXCL | 0600); });
  if (!id) {
    if (id.error().sys_errno != ENOSPC) return std::move(id).error();
    return detail::with_sysv_limits(std::move(id).error(), "key " + std::to_string(key),
                                    /*semaphore=*/true);
  }
  Semaphore s;
  s.flavor_ = SemaphoreFlavor::kSysV;
  s.semid_ = *id;
  s.undo_ = undo;
  s.creator_ = true;
  SemUn arg{};
  arg.val = static_cast<int>(initial);
  auto set = posix_call("semctl(SETVAL)", [&] { return ::semctl(s.semid_, 0, SETVAL, arg); });
  if (!set) {
    (void)s.destroy();  // undo the half-made object
    return std::move(set).error();
  }
  if (auto ok = check_sysv_sem_owner(s.semid_); !ok) {
    (void)s.destroy();
    return std::move(ok).error();
  }
  return s;
}

Result<Semaphore> Semaphore::open_sysv(int semid, bool undo) noexcept {
  if (semid < 0) return make_error(ErrorCode::kInvalidArgument, "Semaphore::open_sysv", "semid");
  SHMCHECK_TRY(check_sysv_sem_owner(semid));
  Semaphore s;
  s.flavor_ = SemaphoreFlavor::kSysV;
  s.semid_ = semid;
  s.undo_ = undo;
  return s;
}

Semaphore::Semaphore(Semaphore&& other) noexcept
    : flavor_(other.flavor_),
      sem_(std::exchange(other.sem_, nullptr)),
      semid_(std::exchange(other.semid_, -1)),
      undo_(other.undo_),
      creator_(std::exchange(other.creator_, false)),
      destroyed_(other.destroyed_),
      name_(std::move(other.name_)) {}

Semaphore& Semaphore::operator=(Semaphore&& other) noexcept {
  if (this != &other) {
    close();
    flavor_ = other.flavor_;
    sem_ = std::exchange(other.sem_, nullptr);
    semid_ = std::exchange(other.semid_, -1);
    undo_ = other.undo_;
    creator_ = std::exchange(other.creator_, false);
    destroyed_ = other.destroyed_;
    name_ = std::move(other.name_);
  }
  return *this;
}

Semaphore::~Semaphore() { close(); }

void Semaphore::close() noexcept {
  if (flavor_ == SemaphoreFlavor::kPosixNamed && sem_ != nullptr) (void)::sem_close(sem_);
  sem_ = nullptr;
  semid_ = -1;
}

Result<bool> Semaphore::sysv_op(short delta, short flags, std::uint64_t deadline_ns) noexcept {
  sembuf op{};
  op.sem_num = 0;
  op.sem_op = delta;
  op.sem_flg = static_cast<short>(flags | (undo_ ? SEM_UNDO : 0));
  for (;;) {
    int rc = 0;
    if (deadline_ns == 0) {
      rc = ::semop(semid_, &op, 1);
    } else {
      const std::uint64_t now = monotonic_ns();
      if (now >= deadline_ns) return false;
      const timespec rel = to_timespec(deadline_ns - now);
      rc = ::semtimedop(semid_, &op, 1, &rel);
    }
    if (rc == 0) return true;
    const int err = errno;
    if (err == EINTR) continue;  // a deadline is re-measured on the next turn
    if (err == EAGAIN) return false;
    return Error{error_code_from_errno(err), err, "semop", "semid " + std::to_string(semid_),
                 std::source_location::current()};
  }
}

Result<void> Semaphore::wait() noexcept {
  if (flavor_ == SemaphoreFlavor::kSysV) {
    auto r = sysv_op(-1, 0, 0);
    if (!r) return std::move(r).error();
    return {};
  }
  SHMCHECK_TRY(posix_call("sem_wait", [&] { return ::sem_wait(sem_); }));
  return {};
}

Result<bool> Semaphore::try_wait() noexcept {
  if (flavor_ == SemaphoreFlavor::kSysV) return sysv_op(-1, IPC_NOWAIT, 0);
  for (;;) {
    if (::sem_trywait(sem_) == 0) return true;
    const int err = errno;
    if (err == EAGAIN) return false;
    if (err == EINTR) continue;
    return Error{
        error_code_from_errno(err), err, "sem_trywait", {}, std::source_location::current()};
  }
}

Result<bool> Semaphore::wait_for(std::chrono::nanoseconds timeout) noexcept {
  auto first = try_wait();
  if (!first || *first || timeout <= std::chrono::nanoseconds::zero()) return first;

  // Spin up to kSpinFor: a post that is about to happen is far cheaper to catch
  // here than to be woken for (35-40 us across CPUs on these machines).
  const std::uint64_t start = monotonic_ns();
  const std::uint64_t deadline = deadline_after(start, timeout);
  const std::uint64_t spin_end = std::min(deadline, deadline_after(start, kSpinFor));
  // Poll after every pause (a POSIX try is one relaxed load when the value is 0) and
  // read the clock every 16 polls: a post is seen within one pause, not sixteen.
  while (monotonic_ns() < spin_end) {
    for (int i = 0; i < 16; ++i) {
      cpu_relax();
      auto got = try_wait();
      if (!got || *got) return got;
    }
  }

  if (flavor_ == SemaphoreFlavor::kSysV) {
    // sysv_op treats 0 as "no deadline"; a deadline is always > start >= 0 here.
    return sysv_op(-1, 0, std::max<std::uint64_t>(deadline, 1));
  }
  const timespec abs = to_timespec(deadline);
  for (;;) {
    if (clockwait_monotonic(sem_, &abs) == 0) return true;
    const int err = errno;
    if (err == ETIMEDOUT) return false;
    if (err == EINTR) continue;  // same absolute deadline
    return Error{
        error_code_from_errno(err), err, "sem_clockwait", {}, std::source_location::current()};
  }
}

Result<void> Semaphore::post() noexcept {
  if (flavor_ == SemaphoreFlavor::kSysV) {
    auto r = sysv_op(1, 0, 0);
    if (!r) return std::move(r).error();
    return {};
  }
  SHMCHECK_TRY(posix_call("sem_post", [&] { return ::sem_post(sem_); }));
  return {};
}

Result<int> Semaphore::value() noexcept {
  if (flavor_ == SemaphoreFlavor::kSysV) {
    return posix_call("semctl(GETVAL)", [&] { return ::semctl(semid_, 0, GETVAL); });
  }
  int v = 0;
  SHMCHECK_TRY(posix_call("sem_getvalue", [&] { return ::sem_getvalue(sem_, &v); }));
  return v;
}

Result<void> Semaphore::destroy() noexcept {
  if (!creator_) {
    return make_error(ErrorCode::kPermission, "Semaphore::destroy", "only the creator destroys");
  }
  if (destroyed_) return {};
  switch (flavor_) {
    case SemaphoreFlavor::kPosixUnnamed: {
      // The sem_t is the first member of its UnnamedBlock.
      auto* block = reinterpret_cast<UnnamedBlock*>(sem_);
      block->magic.store(0, std::memory_order_release);
      SHMCHECK_TRY(posix_call("sem_destroy", [&] { return ::sem_destroy(sem_); }));
      break;
    }
    case SemaphoreFlavor::kPosixNamed:
      SHMCHECK_TRY(posix_call("sem_unlink", [&] { return ::sem_unlink(name_.c_str()); }));
      break;
    case SemaphoreFlavor::kSysV:
      SHMCHECK_TRY(posix_call("semctl(IPC_RMID)", [&] { return ::semctl(semid_, 0, IPC_RMID); }));
      break;
  }
  destroyed_ = true;
  return {};
}

}  // namespace shmcheck::core
