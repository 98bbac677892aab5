// Failpoints: named points compiled into the core's operations where a test can
// make this process die, exit, stop or stall at an exact moment.
//
// Per process: the arming table lives in this process's memory and is set from
// the fault schedule (arm()) or from the SHMCHECK_FAILPOINTS environment variable
// ("ring.push.before_commit=3:kill;mutex.locked.mid_update=1:pause"). Disarmed,
// a failpoint costs one relaxed load of a process-global flag and a predictable
// branch. Armed, each hit increments that point's counter (relaxed) and, on the
// armed occurrence, runs the observer (if any: the harness records "killed at X
// on occurrence N" in shared memory first) and then the action. One failpoint can
// carry several arms (a pause on hit 100, a kill on hit 1000): each fires on its own
// occurrence, those sharing one hit in the order they were armed.
#pragma once

#include <atomic>
#include <csignal>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "shmcheck/core/result.hpp"

namespace shmcheck::core {

// X(identifier, "dotted.name", "what is half-done when it fires")
#define SHMCHECK_FAILPOINTS(X)                                                                    \
  X(kRingPushAfterClaim, "ring.push.after_claim", "slot claimed, nothing written")                \
  X(kRingPushMidPayload, "ring.push.mid_payload", "half of the payload written")                  \
  X(kRingPushBeforeCommit, "ring.push.before_commit", "payload written, not yet published")       \
  X(kRingPushAfterCommit, "ring.push.after_commit", "message committed, producer not told")       \
  X(kRingPopAfterClaim, "ring.pop.after_claim", "slot claimed by consumer, payload unread")       \
  X(kRingPopBeforeRelease, "ring.pop.before_release",                                             \
    "payload copied out and handed over, slot not released")                                      \
  X(kMutexLockedMidUpdate, "mutex.locked.mid_update", "lock held, protected record half-updated") \
  X(kMutexLockedAfterUpdate, "mutex.locked.after_update", "record updated, lock still held")      \
  X(kSemaphoreAfterWait, "semaphore.after_wait", "unit taken, not yet posted back")               \
  X(kSegmentWriteMidPage, "segment.write.mid_page", "page half-written, generation odd")

enum class FailpointId : std::uint16_t {
#define SHMCHECK_FAILPOINT_ENUM(id, name, what) id,
  SHMCHECK_FAILPOINTS(SHMCHECK_FAILPOINT_ENUM)
#undef SHMCHECK_FAILPOINT_ENUM
      kCount
};
inline constexpr std::size_t kFailpointCount = static_cast<std::size_t>(FailpointId::kCount);

struct FailpointInfo {
  FailpointId id;
  std::string_view name;
  std::string_view description;
};
// Every failpoint, in declaration order.
[[nodiscard]] std::span<const FailpointInfo> all_failpoints() noexcept;
[[nodiscard]] std::string_view to_string(FailpointId id) noexcept;
[[nodiscard]] std::optional<FailpointId> failpoint_from_name(std::string_view name) noexcept;

enum class FailpointAction : std::uint8_t {
  kKill,   // raise(signal), SIGKILL unless told: no cleanup, no unwinding, owner dies; no core
  kExit,   // _exit(exit_code): holds resources, skips destructors
  kPause,  // raise(SIGSTOP): the harness resumes it with SIGCONT
  kDelay,  // sleep delay_ns, then continue
};

struct FailpointArm {
  FailpointAction action = FailpointAction::kKill;
  std::uint64_t occurrence = 1;  // fires on this hit (1-based)
  std::uint64_t delay_ns = 0;    // kDelay
  int exit_code = 0;             // kExit
  int signal = SIGKILL;          // kKill: the signal raised (SIGTERM, SIGSEGV, ... kill too)
};

// Called on the firing hit, before the action: must be async-signal-safe in spirit
// (no locks, no allocation). Used to record the injection in shared memory.
using FailpointObserver = void (*)(FailpointId id, std::uint64_t occurrence,
                                   FailpointAction action) noexcept;

// Arms at most this many occurrences per failpoint.
inline constexpr std::size_t kMaxFailpointArms = 8;

// Replaces every arm of `id` with this one and restarts its hit count.
void arm_failpoint(FailpointId id, const FailpointArm& arm) noexcept;
// Adds one more arm to `id` (its hit count goes on); kLimit past kMaxFailpointArms.
[[nodiscard]] Result<void> add_failpoint_arm(FailpointId id, const FailpointArm& arm) noexcept;
void disarm_all_failpoints() noexcept;
void set_failpoint_observer(FailpointObserver observer) noexcept;
// Parses and arms a spec like "ring.push.before_commit=3:kill;x=1:delay=200us" ("kill=15"
// raises SIGTERM instead of SIGKILL; "exit=7" exits with 7). A
// failpoint named more than once gets every arm named ("x=100:pause;x=1000:kill"); the
// arms it had before are replaced. Nothing is armed when any item is malformed.
[[nodiscard]] Result<void> arm_failpoints_from_string(std::string_view spec);
// Reads SHMCHECK_FAILPOINTS, if set.
[[nodiscard]] Result<void> arm_failpoints_from_env();
// Hits counted since arming (only counted while any failpoint is armed).
[[nodiscard]] std::uint64_t failpoint_hits(FailpointId id) noexcept;

namespace detail {
inline std::atomic<bool> g_failpoints_armed{false};
void failpoint_hit(FailpointId id) noexcept;
}  // namespace detail

// Compiled with SHMCHECK_NO_FAILPOINTS defined, every check below is a constant false
// and arming reports kUnsupported: bench/'s reference copy of the core, against which
// scripts/bench measures what disarmed failpoints cost. Every other build keeps them.
#if defined(SHMCHECK_NO_FAILPOINTS)
inline constexpr bool kFailpointsCompiledIn = false;
#else
inline constexpr bool kFailpointsCompiledIn = true;
#endif

// True while any failpoint is armed in this process: one relaxed load.
[[nodiscard]] inline bool failpoints_armed() noexcept {
  if constexpr (kFailpointsCompiledIn) {
    return detail::g_failpoints_armed.load(std::memory_order_relaxed);
  } else {
    return false;
  }
}

// The hot-path check: one relaxed load and a predictable branch when nothing is armed.
inline void failpoint(FailpointId id) noexcept {
  if (failpoints_armed()) [[unlikely]] {
    detail::failpoint_hit(id);
  }
}

}  // namespace shmcheck::core
