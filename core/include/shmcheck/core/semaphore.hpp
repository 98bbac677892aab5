// Semaphore: one counting-semaphore interface over three kernels' worth of flavors:
//   kPosixUnnamed  sem_init(pshared=1) in shared memory the caller provides
//                  (kUnnamedBytes bytes: the sem_t plus an initialised word);
//   kPosixNamed    sem_open(O_CREAT|O_EXCL, 0600) under a run-unique name the caller
//                  builds (segment_name() style: "/shmcheck.<uid>.<run>.<object>");
//   kSysV          semget(IPC_PRIVATE or a key, IPC_CREAT|IPC_EXCL|0600), semop, with
//                  optional SEM_UNDO.
// All work across processes. A Semaphore is a move-only, per-process handle: the
// process that created the object is its creator, and only the creator's destroy()
// removes it (sem_destroy / sem_unlink / IPC_RMID). The handle's destructor releases
// only process-local resources (sem_close); it never removes the object, so a run
// can hand the object to other processes and a test can leave one behind on purpose.
//
// Crash semantics (the reason the flavors exist side by side): when a process dies
// between wait() and its post(), a POSIX semaphore stays one lower for ever (drift);
// a SysV semaphore opened with undo=true has the kernel revert every operation that
// process made through it (SEM_UNDO applies to wait and post alike, so a process's
// net effect is undone at exit: use it for take-and-give-back, not for a producer
// whose posts must outlive it).
//
// Memory ordering: a successful wait() acquires what the matching post() released
// (POSIX and SysV semaphores both synchronise memory).
//
// wait_for() spins briefly (try_wait with a pause instruction, a few microseconds)
// before sleeping: waking a sleeping process on another CPU costs tens of
// microseconds, a short spin catches the common quick hand-off.
#pragma once

#include <semaphore.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shmcheck/core/result.hpp"

namespace shmcheck::core {

enum class SemaphoreFlavor : std::uint8_t { kPosixUnnamed, kPosixNamed, kSysV };

// "posix_unnamed", "posix_named", "sysv".
[[nodiscard]] const char* to_string(SemaphoreFlavor flavor) noexcept;
[[nodiscard]] std::optional<SemaphoreFlavor> semaphore_flavor_from_string(
    std::string_view text) noexcept;

class Semaphore {
 public:
  // Bytes an unnamed semaphore occupies in shared memory (align to 8 at least).
  static constexpr std::size_t kUnnamedBytes = 64;
  // Largest initial value every flavor accepts (SysV's SEMVMX).
  static constexpr unsigned kMaxValue = 32767;
  // How long wait_for() spins before it sleeps.
  static constexpr std::chrono::nanoseconds kSpinFor{4000};
  // IPC_PRIVATE, spelled without the macro's old-style cast.
  static constexpr key_t kPrivateKey = 0;

  static Result<Semaphore> create_unnamed(void* mem, unsigned initial) noexcept;
  // Fails with kForeign when mem holds no initialised semaphore.
  static Result<Semaphore> attach_unnamed(void* mem) noexcept;
  // name: "/" then up to 250 characters without '/'. kExists when taken.
  static Result<Semaphore> create_named(std::string name, unsigned initial) noexcept;
  // Refuses (kForeign) an object not owned by this user or not mode 0600.
  static Result<Semaphore> open_named(std::string name) noexcept;
  // key IPC_PRIVATE (default) makes a fresh anonymous set; another key must be unused.
  static Result<Semaphore> create_sysv(unsigned initial, bool undo,
                                       key_t key = kPrivateKey) noexcept;
  // Refuses (kForeign) a set not owned by this user, not mode 0600 or not of one semaphore.
  static Result<Semaphore> open_sysv(int semid, bool undo) noexcept;

  Semaphore(Semaphore&& other) noexcept;
  Semaphore& operator=(Semaphore&& other) noexcept;
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;
  ~Semaphore();

  [[nodiscard]] SemaphoreFlavor flavor() const noexcept { return flavor_; }
  [[nodiscard]] int sysv_id() const noexcept { return semid_; }             // -1 unless kSysV
  [[nodiscard]] const std::string& name() const noexcept { return name_; }  // kPosixNamed
  [[nodiscard]] bool is_creator() const noexcept { return creator_; }
  [[nodiscard]] bool undo() const noexcept { return undo_; }

  // Blocks until a unit is taken (EINTR retried).
  [[nodiscard]] Result<void> wait() noexcept;
  // Takes a unit if one is there: true, else false. Never blocks.
  [[nodiscard]] Result<bool> try_wait() noexcept;
  // Takes a unit within timeout (CLOCK_MONOTONIC): true, or false when it expired.
  [[nodiscard]] Result<bool> wait_for(std::chrono::nanoseconds timeout) noexcept;
  [[nodiscard]] Result<void> post() noexcept;
  [[nodiscard]] Result<int> value() noexcept;
  // Removes the object (creator only: kPermission otherwise). Idempotent. The handle
  // must not wait/post afterwards (named: other openers keep a working object until
  // they close it; SysV and unnamed: the object is gone for everyone).
  [[nodiscard]] Result<void> destroy() noexcept;

 private:
  Semaphore() noexcept = default;
  // One semop on semaphore 0 (SEM_UNDO added when undo_). deadline_ns: 0 = block
  // without limit, else a CLOCK_MONOTONIC deadline. false: EAGAIN (IPC_NOWAIT or
  // the deadline passed).
  [[nodiscard]] Result<bool> sysv_op(short delta, short flags, std::uint64_t deadline_ns) noexcept;
  void close() noexcept;

  SemaphoreFlavor flavor_ = SemaphoreFlavor::kPosixUnnamed;
  sem_t* sem_ = nullptr;  // unnamed: inside the caller's memory; named: from sem_open
  int semid_ = -1;
  bool undo_ = false;
  bool creator_ = false;
  bool destroyed_ = false;
  std::string name_;
};

}  // namespace shmcheck::core
