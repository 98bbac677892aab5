#include "shmcheck/core/robust_mutex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <limits>
#include <new>

#include "shmcheck/core/posix_call.hpp"
#include "sync_clock.hpp"

namespace shmcheck::core {
namespace {

using detail::deadline_after;
using detail::monotonic_ns;
using detail::to_timespec;

// pthread_mutex_clocklock(CLOCK_MONOTONIC): immune to wall-clock steps. GCC 12's
// ThreadSanitizer does not intercept it (it would miss the acquisition and report
// the unlock as bogus), so TSan builds wait with timedlock on the equivalent
// CLOCK_REALTIME deadline instead.
int clocklock_monotonic(pthread_mutex_t* mutex, const timespec* deadline) noexcept {
#if defined(__SANITIZE_THREAD__)
  const timespec real_deadline = detail::realtime_deadline_from_monotonic(*deadline);
  return ::pthread_mutex_timedlock(mutex, &real_deadline);
#else
  return ::pthread_mutex_clocklock(mutex, CLOCK_MONOTONIC, deadline);
#endif
}

Error lock_error(int rc, const char* call) noexcept {
  return Error{error_code_from_errno(rc), rc, call, {}, std::source_location::current()};
}

// Destroys a pthread_mutexattr_t on every path out of create_at().
class MutexAttr {
 public:
  MutexAttr() noexcept : rc_(::pthread_mutexattr_init(&attr_)) {}
  ~MutexAttr() {
    if (rc_ == 0) ::pthread_mutexattr_destroy(&attr_);
  }
  MutexAttr(const MutexAttr&) = delete;
  MutexAttr& operator=(const MutexAttr&) = delete;
  [[nodiscard]] int init_rc() const noexcept { return rc_; }
  pthread_mutexattr_t* get() noexcept { return &attr_; }

 private:
  pthread_mutexattr_t attr_{};
  int rc_;
};

}  // namespace

const char* to_string(LockStatus status) noexcept {
  switch (status) {
    case LockStatus::kAcquired:
      return "acquired";
    case LockStatus::kOwnerDied:
      return "owner_died";
  }
  return "unknown";
}

Result<RobustMutex*> RobustMutex::create_at(void* mem) noexcept {
  if (mem == nullptr || reinterpret_cast<std::uintptr_t>(mem) % alignof(RobustMutex) != 0) {
    return make_error(ErrorCode::kInvalidArgument, "RobustMutex::create_at",
                      "memory must be aligned to 64 bytes");
  }
  MutexAttr attr;
  if (attr.init_rc() != 0) return lock_error(attr.init_rc(), "pthread_mutexattr_init");
  SHMCHECK_TRY(pthread_call("pthread_mutexattr_setpshared", [&] {
    return ::pthread_mutexattr_setpshared(attr.get(), PTHREAD_PROCESS_SHARED);
  }));
  SHMCHECK_TRY(pthread_call("pthread_mutexattr_setrobust", [&] {
    return ::pthread_mutexattr_setrobust(attr.get(), PTHREAD_MUTEX_ROBUST);
  }));
  SHMCHECK_TRY(pthread_call("pthread_mutexattr_settype", [&] {
    return ::pthread_mutexattr_settype(attr.get(), PTHREAD_MUTEX_ERRORCHECK);
  }));

  auto* self = new (mem) RobustMutex();
  self->magic_.store(0, std::memory_order_relaxed);
  self->reserved0_ = 0;
  self->acquisitions_.store(0, std::memory_order_relaxed);
  self->owner_died_.store(0, std::memory_order_relaxed);
  self->contended_.store(0, std::memory_order_relaxed);
  self->wait_ns_.store(0, std::memory_order_relaxed);
  SHMCHECK_TRY(pthread_call("pthread_mutex_init",
                            [&] { return ::pthread_mutex_init(&self->mutex_, attr.get()); }));
  // Publish last: attach() in another process trusts nothing before this store.
  self->magic_.store(kMagic, std::memory_order_release);
  return self;
}

RobustMutex* RobustMutex::attach(void* mem) noexcept {
  assert(mem != nullptr && reinterpret_cast<std::uintptr_t>(mem) % alignof(RobustMutex) == 0 &&
         "RobustMutex::attach: misaligned memory");
  auto* self = std::launder(static_cast<RobustMutex*>(mem));
  assert(self->is_initialised() && "RobustMutex::attach: memory holds no initialised mutex");
  return self;
}

// glibc (2.36, checked here) has pthread_mutex_trylock return ENOTRECOVERABLE for an
// unrecoverable robust mutex but leave its futex word holding the caller's tid, so
// every later lock by anyone else blocks or sees EBUSY instead of ENOTRECOVERABLE.
// pthread_mutex_lock releases the word on that path; do the same here: drop the
// word if it is ours and wake one waiter, who will find ENOTRECOVERABLE and pass
// the wake on. Nobody else can change the word while our tid is in it (waiters
// only add FUTEX_WAITERS), so this is safe; with a fixed glibc it does nothing.
void RobustMutex::release_after_unrecoverable_trylock() noexcept {
  std::atomic_ref<int> word(mutex_.__data.__lock);
  const auto tid = static_cast<std::uint32_t>(::gettid());
  const auto held = static_cast<std::uint32_t>(word.load(std::memory_order_relaxed));
  if ((held & FUTEX_TID_MASK) != tid) return;
  const auto released = static_cast<std::uint32_t>(word.exchange(0, std::memory_order_release));
  if ((released & FUTEX_WAITERS) != 0) {
    ::syscall(SYS_futex, &mutex_.__data.__lock, FUTEX_WAKE, 1, nullptr, nullptr, 0);
  }
}

Result<LockStatus> RobustMutex::finish(int rc, const char* call) noexcept {
  if (rc == 0) {
    count_acquisition();
    return LockStatus::kAcquired;
  }
  if (rc == EOWNERDEAD) {
    count_acquisition();
    bump(owner_died_, 1);
    return LockStatus::kOwnerDied;
  }
  return lock_error(rc, call);
}

Result<LockStatus> RobustMutex::lock_slow(int trylock_rc) noexcept {
  if (trylock_rc == ENOTRECOVERABLE) release_after_unrecoverable_trylock();
  if (trylock_rc != EBUSY) return finish(trylock_rc, "pthread_mutex_trylock");
  const std::uint64_t start = monotonic_ns();
  int rc = 0;
  do {
    rc = ::pthread_mutex_lock(&mutex_);
  } while (rc == EINTR);
  const std::uint64_t waited = monotonic_ns() - start;
  auto out = finish(rc, "pthread_mutex_lock");
  if (out) {
    bump(contended_, 1);
    bump(wait_ns_, waited);
  }
  return out;
}

Result<LockStatus> RobustMutex::try_lock() noexcept {
  const int rc = ::pthread_mutex_trylock(&mutex_);
  if (rc == ENOTRECOVERABLE) release_after_unrecoverable_trylock();
  if (rc == EBUSY) {
    return Error{
        ErrorCode::kTimedOut, EBUSY, "pthread_mutex_trylock", {}, std::source_location::current()};
  }
  return finish(rc, "pthread_mutex_trylock");
}

Result<LockStatus> RobustMutex::lock_for(std::chrono::nanoseconds timeout) noexcept {
  const int first = ::pthread_mutex_trylock(&mutex_);
  if (first == ENOTRECOVERABLE) release_after_unrecoverable_trylock();
  if (first != EBUSY) return finish(first, "pthread_mutex_trylock");
  if (timeout <= std::chrono::nanoseconds::zero()) {
    return Error{ErrorCode::kTimedOut,
                 ETIMEDOUT,
                 "RobustMutex::lock_for",
                 {},
                 std::source_location::current()};
  }
  const std::uint64_t start = monotonic_ns();
  const timespec deadline = to_timespec(deadline_after(start, timeout));
  int rc = 0;
  do {
    rc = clocklock_monotonic(&mutex_, &deadline);
  } while (rc == EINTR);
  const std::uint64_t waited = monotonic_ns() - start;
  auto out = finish(rc, "pthread_mutex_clocklock");
  if (out) {
    bump(contended_, 1);
    bump(wait_ns_, waited);
  }
  return out;
}

Result<void> RobustMutex::unlock_error(int rc) noexcept {
  return lock_error(rc, "pthread_mutex_unlock");
}

Result<void> RobustMutex::make_consistent() noexcept {
  return pthread_call("pthread_mutex_consistent",
                      [&] { return ::pthread_mutex_consistent(&mutex_); });
}

MutexStats RobustMutex::stats() const noexcept {
  MutexStats s;
  s.acquisitions = acquisitions_.load(std::memory_order_relaxed);
  s.contended = contended_.load(std::memory_order_relaxed);
  s.wait_ns = wait_ns_.load(std::memory_order_relaxed);
  s.owner_died = owner_died_.load(std::memory_order_relaxed);
  return s;
}

Result<void> RobustMutex::destroy() noexcept {
  assert(is_initialised() && "RobustMutex::destroy of an uninitialised mutex");
  SHMCHECK_TRY(
      pthread_call("pthread_mutex_destroy", [&] { return ::pthread_mutex_destroy(&mutex_); }));
  magic_.store(0, std::memory_order_release);
  return {};
}

}  // namespace shmcheck::core
