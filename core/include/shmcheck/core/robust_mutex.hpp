// RobustMutex: a process-shared, robust pthread mutex that lives in shared memory,
// with contention statistics kept next to it.
//
// Works across processes: create_at() builds it in place in memory every user maps
// (a segment's payload, or MAP_SHARED|MAP_ANONYMOUS memory shared across fork); the
// other processes attach() to the same bytes. Whoever created the memory owns the
// mutex; destroy() is optional (unmapping is enough once nobody holds it).
//
// Robustness: when the holder dies (SIGKILL, _exit), the next locker acquires the
// mutex with LockStatus::kOwnerDied: the protected data may be half-updated. The
// caller repairs it, then calls make_consistent() before unlock(). Unlocking without
// make_consistent() makes the mutex permanently unusable: every later lock() fails
// with ErrorCode::kNotRecoverable. A dead owner is a value, not an error.
//
// Memory ordering: lock() acquires and unlock() releases, as pthread mutexes do.
// Statistics are relaxed atomics in the shared object, updated only while the
// mutex is held (so a plain load+store is an exact increment), readable any time
// from any process (values may be momentarily stale, never torn).
//
// Cost: the uncontended path is one pthread_mutex_trylock plus one counter update
// on the cache line the lock word is already on; only a busy trylock reads the
// clock (CLOCK_MONOTONIC) and counts a contended acquisition and its wait time.
// The mutex is an error-checking one: relocking by the owner fails instead of
// deadlocking, and unlock by a non-owner fails with kPermission.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cassert>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shmcheck/core/result.hpp"
#include "shmcheck/core/segment_header.hpp"

namespace shmcheck::core {

enum class LockStatus {
  kAcquired,   // the mutex is held, the protected data is consistent
  kOwnerDied,  // the mutex is held, the previous owner died holding it: repair, then
               // make_consistent()
};

[[nodiscard]] const char* to_string(LockStatus status) noexcept;

struct MutexStats {
  std::uint64_t acquisitions = 0;  // successful lock/try_lock/lock_for (owner-died included)
  std::uint64_t contended = 0;     // acquisitions that found the mutex busy and waited
  std::uint64_t wait_ns = 0;       // total time those contended acquisitions waited
  std::uint64_t owner_died = 0;    // acquisitions that reported kOwnerDied
};

class alignas(kCacheLineSize) RobustMutex {
 public:
  static constexpr std::uint32_t kMagic = 0x584D'5352U;  // "RSMX"

  RobustMutex(const RobustMutex&) = delete;
  RobustMutex& operator=(const RobustMutex&) = delete;
  RobustMutex(RobustMutex&&) = delete;
  RobustMutex& operator=(RobustMutex&&) = delete;

  // Builds the mutex in place at mem (sizeof(RobustMutex) bytes, aligned to
  // alignof(RobustMutex)); the initialised word is published last, with release.
  // Nobody else may use the memory until this returns.
  [[nodiscard]] static Result<RobustMutex*> create_at(void* mem) noexcept;
  // The mutex another process created at mem. Asserts that it was initialised.
  [[nodiscard]] static RobustMutex* attach(void* mem) noexcept;

  // Blocks until held. kOwnerDied: held, but the data needs repair. Errors:
  // kNotRecoverable (abandoned without make_consistent), kOther (EDEADLK: relock).
  [[nodiscard]] Result<LockStatus> lock() noexcept {
    const int rc = ::pthread_mutex_trylock(&mutex_);
    if (rc == 0) [[likely]] {
      count_acquisition();
      return LockStatus::kAcquired;
    }
    return lock_slow(rc);
  }
  // Never blocks. A busy mutex is the error kTimedOut (errno EBUSY).
  [[nodiscard]] Result<LockStatus> try_lock() noexcept;
  // Blocks up to timeout (CLOCK_MONOTONIC). Error kTimedOut when it expires.
  [[nodiscard]] Result<LockStatus> lock_for(std::chrono::nanoseconds timeout) noexcept;

  // Releases. kPermission when the caller does not hold it.
  [[nodiscard]] Result<void> unlock() noexcept {
    const int rc = ::pthread_mutex_unlock(&mutex_);
    if (rc == 0) [[likely]] {
      return {};
    }
    return unlock_error(rc);
  }
  // Marks the state protected by the mutex as repaired; only valid while holding it
  // after kOwnerDied (kInvalidArgument otherwise).
  [[nodiscard]] Result<void> make_consistent() noexcept;

  [[nodiscard]] MutexStats stats() const noexcept;

  // pthread_mutex_destroy and clears the initialised word. The mutex must be
  // unlocked and no process may use it afterwards.
  [[nodiscard]] Result<void> destroy() noexcept;

  [[nodiscard]] bool is_initialised() const noexcept {
    return magic_.load(std::memory_order_acquire) == kMagic;
  }

 private:
  RobustMutex() noexcept = default;
  ~RobustMutex() = default;

  // Called with the mutex held: a plain increment is exact, relaxed keeps it
  // readable (never torn) from other processes.
  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t by) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
  }
  void count_acquisition() noexcept {
    assert(is_initialised() && "RobustMutex used before create_at()");
    bump(acquisitions_, 1);
  }
  // Handles a trylock result other than 0: EBUSY waits, EOWNERDEAD is a value.
  [[nodiscard]] Result<LockStatus> lock_slow(int trylock_rc) noexcept;
  [[nodiscard]] static Result<void> unlock_error(int rc) noexcept;
  // Works around glibc's trylock keeping an unrecoverable mutex locked (see .cpp).
  void release_after_unrecoverable_trylock() noexcept;
  // Maps a pthread lock result (0, EOWNERDEAD or an error) and counts it.
  [[nodiscard]] Result<LockStatus> finish(int rc, const char* call) noexcept;

  // Cache line 0: what every lock/unlock touches.
  pthread_mutex_t mutex_;
  std::atomic<std::uint32_t> magic_;
  std::uint32_t reserved0_;
  std::atomic<std::uint64_t> acquisitions_;
  std::atomic<std::uint64_t> owner_died_;
  // Cache line 1: slow-path counters.
  std::atomic<std::uint64_t> contended_;
  std::atomic<std::uint64_t> wait_ns_;

  friend struct RobustMutexLayout;
};

// Layout checks live in a friend so they can see the private members.
struct RobustMutexLayout {
  static_assert(sizeof(pthread_mutex_t) + 2 * sizeof(std::uint32_t) + 2 * sizeof(std::uint64_t) <=
                    kCacheLineSize,
                "the lock word and the fast-path counters share one cache line");
  static constexpr bool kFastPathOnOneLine =
      offsetof(RobustMutex, owner_died_) + sizeof(std::uint64_t) <= kCacheLineSize;
};
static_assert(RobustMutexLayout::kFastPathOnOneLine);
static_assert(sizeof(RobustMutex) == 2 * kCacheLineSize);
static_assert(alignof(RobustMutex) == kCacheLineSize);
static_assert(std::is_standard_layout_v<RobustMutex>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

}  // namespace shmcheck::core
