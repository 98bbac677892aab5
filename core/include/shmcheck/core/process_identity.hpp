// ProcessIdentity: a pid plus the process's start time, which together name one
// process for the life of the machine (a pid alone is reused).
//
// Liveness is proved from /proc/<pid>/stat, never from kill(pid, 0): a zombie
// answers kill() but holds nothing, and a reused pid answers for someone else.
// Plain value type, safe to store in shared memory (trivially copyable).
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "shmcheck/core/result.hpp"

namespace shmcheck::core {

struct ProcessIdentity {
  std::int32_t pid = 0;
  std::uint32_t reserved = 0;
  std::uint64_t start_time = 0;  // /proc/<pid>/stat field 22, clock ticks after boot

  friend bool operator==(const ProcessIdentity&, const ProcessIdentity&) = default;
};
static_assert(sizeof(ProcessIdentity) == 16);

enum class Liveness {
  kAlive,    // the same process (pid and start time match), a thread of it running
  kDead,     // gone, a zombie with no live thread, or the pid now another process's
  kUnknown,  // /proc could not be read (hidepid, permissions): fail closed
};

[[nodiscard]] const char* to_string(Liveness liveness) noexcept;

// Start time of pid from /proc/<pid>/stat. kNotFound when there is no such process.
[[nodiscard]] Result<std::uint64_t> process_start_time(pid_t pid) noexcept;

// Identity of the calling process; cached, and re-read after fork().
[[nodiscard]] ProcessIdentity self_identity() noexcept;

// Identity of another process, read now.
[[nodiscard]] Result<ProcessIdentity> identity_of(pid_t pid) noexcept;

[[nodiscard]] Liveness liveness(const ProcessIdentity& who) noexcept;

// Whether a thread of pid's group other than its leader still runs (kAlive), none does
// (kDead), or /proc cannot tell (kUnknown: fail closed). A leader that called
// pthread_exit shows as a zombie ('Z' in /proc/<pid>/stat) while the process lives on,
// holding its descriptors and mappings, until its last thread ends.
[[nodiscard]] Liveness thread_group_liveness(pid_t pid) noexcept;

}  // namespace shmcheck::core
