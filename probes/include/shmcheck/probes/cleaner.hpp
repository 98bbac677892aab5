// Cleaner: removes proved orphans, and reclaims the objects of runs whose harness
// died (run manifests). Used by `shmcheck audit --clean/--reclaim` and by tests.
//
// Safety rules, every one checked per object right before removal:
//  - only verdict `orphaned` (never in_use, unknown or pending_destroy) — except a
//    reclaim, where the manifest of a dead harness is the proof for SysV
//    semaphores and message queues that carry no attachment evidence;
//  - only the caller's own objects, unless the caller is root and all_users is set;
//  - re-verified after a fresh /proc walk: no holder, device and inode unchanged,
//    flock(LOCK_EX|LOCK_NB) succeeds on the very file that is removed and the kernel
//    grants an exclusive lease on it (POSIX: nothing anywhere holds it, and nobody can
//    open it until it is gone; where the lease cannot be asked for, the walk must have
//    read every process), or IPC_STAT shows nattch 0 and the same key/owner/creator
//    (SysV shm);
//  - POSIX files are first renamed to a private quarantine name and removed only if
//    the renamed file is the one that was verified; anything swapped in under the
//    name meanwhile is renamed back untouched. (/dev/mqueue cannot rename: there
//    device and inode are re-checked immediately before mq_unlink.)
// Dry run by default. Plain values; not for shared memory.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "shmcheck/probes/inventory.hpp"
#include "shmcheck/probes/run_manifest.hpp"

namespace shmcheck::probes {

struct CleanOptions {
  bool dry_run = true;
  bool all_users = false;      // honoured only when the caller is root
  InventoryOptions inventory;  // roots (/dev/shm, /dev/mqueue, /proc) for re-verification
  // A candidate whose re-check meets a holder (kNowHeld) is checked again, about every
  // kSettlePoll and each time in full (flock, then the lease or a fresh /proc walk), until this
  // much time has passed; a reclaim takes its inventory again while a dead run's
  // object is in use. A passing holder lets go meanwhile: another auditor's or run's
  // inventory opens every shmcheck object for a moment to read its header. A real one
  // does not, and the outcome stays kNowHeld (or kNotOrphaned). Zero: one check.
  std::chrono::milliseconds settle{0};
  // Test hook: runs after an object passed every re-check, immediately before the
  // removal step (a test swaps in another object here to prove the swap is caught).
  std::function<void(const IpcObject&)> before_remove;
};

// The settle the harness and `audit --clean/--reclaim` give a passing holder: an
// inventory's look at an object lasts well under a millisecond, even under ASan.
inline constexpr std::chrono::milliseconds kPassingHolderSettle{1000};
// How often a held object is looked at again while a settle lasts.
inline constexpr std::chrono::milliseconds kSettlePoll{10};
// Sleeps before a held object is looked at again: kSettlePoll give or take half, at
// random, so the looks cannot fall into step with a holder that comes back
// periodically (an exporter's scrapes, a test's scanner) and meet it every time.
void pause_before_next_look();

enum class CleanStatus : std::uint8_t {
  kRemoved,
  kWouldRemove,  // dry run: every check passed
  kNotOrphaned,  // verdict is not orphaned (in_use, unknown, pending_destroy)
  kNotOwner,     // another user's object
  kNowHeld,      // a holder appeared (fresh /proc walk, flock, or the lease refused)
  kChanged,      // device/inode/key/creator changed: not the object that was judged
  kGone,         // already removed by someone else
  kIncomplete,   // no lease to be had, and the walk could not read every process
  kUnsupported,  // a kind that cannot be removed (memfd, deleted-but-held)
  kFailed,       // the removal syscall failed
};
[[nodiscard]] std::string_view to_string(CleanStatus status) noexcept;

struct CleanOutcome {
  IpcObject object;
  CleanStatus status = CleanStatus::kFailed;
  std::string detail;
  std::uint64_t bytes_freed = 0;  // removed (or, in a dry run, would be freed)
  // The names (hard links) the file had when it was checked: a name frees its file's
  // bytes only as the last of them. A dry run counts the bytes once, when it would
  // remove every name.
  std::uint64_t links = 1;
};

struct CleanReport {
  std::vector<CleanOutcome> outcomes;
  std::size_t removed = 0;
  std::uint64_t bytes_freed = 0;
};

// Re-verifies and removes each candidate (normally the orphaned objects of an
// inventory, already filtered by the caller). One fresh /proc walk for the batch.
[[nodiscard]] CleanReport clean_orphans(const std::vector<IpcObject>& candidates,
                                        const CleanOptions& options);

struct ReclaimedRun {
  std::string manifest_path;
  RunManifest manifest;
  core::Liveness harness = core::Liveness::kUnknown;
  bool manifest_removed = false;
  std::string detail;  // why a run was skipped or its manifest kept
  CleanReport clean;
};

struct ReclaimReport {
  std::vector<ReclaimedRun> runs;
  // Files a cleaner killed between its rename and its unlink left under a quarantine
  // name; counted in `removed` and `bytes_freed` too.
  CleanReport quarantine;
  // Manifest temporaries a killed harness left (removed, or would be in a dry run).
  std::vector<std::string> stale_temporaries;
  std::size_t removed = 0;
  std::uint64_t bytes_freed = 0;
  std::vector<InventoryProblem> problems;
};

// The name a POSIX file is moved to before its removal: ".shmcheck-clean.<pid>.<hex>".
inline constexpr std::string_view kQuarantinePrefix = ".shmcheck-clean.";

// Finds manifests in `dir` whose harness is proved dead and removes their objects
// under the same rules (the manifest itself when nothing of the run remains). First
// removes what a killed cleaner left under a quarantine name in /dev/shm: no manifest
// names those, and their cleaner had proved them orphaned; each is proved again (the
// caller's, orphaned: a live cleaner holds its lease). The /dev/shm listing is read
// once for that; an inventory is taken only when such a name is there.
// `run_filter`: when not empty, only manifests of these run ids (quarantine files
// carry no run id: they are removed whatever the filter).
[[nodiscard]] ReclaimReport reclaim_dead_runs(const std::string& dir, const CleanOptions& options,
                                              const std::set<std::string>& run_filter = {});

}  // namespace shmcheck::probes
