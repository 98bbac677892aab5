// RunManifest: the file a harness writes BEFORE it creates any IPC object, naming
// the run, the harness process (pid + start time) and every object it will make.
// If the harness dies by SIGKILL, `shmcheck audit --reclaim` finds the manifest,
// proves the harness dead (core::liveness with start time, so pid reuse cannot
// fool it) and removes the listed objects after the cleaner's usual re-checks.
//
// Files: <manifest_dir()>/<run-id>.manifest, JSON:
//   {"run_id": "...", "harness_pid": 123, "harness_start_time": 456,
//    "created_unix_ns": 789, "pid_namespace": "pid:[4026531836]",
//    "objects": [{"ref": "<SegmentRef::to_string()>", "name": "/shmcheck.0.<run>.q",
//                 "kind": "posix_shm", "sysv_id": -1}]}
// "kind" and "sysv_id" are optional (default posix_shm / -1). manifest_dir() is
// $XDG_RUNTIME_DIR/shmcheck/runs when XDG_RUNTIME_DIR is set, else
// /tmp/shmcheck-<uid>/runs; it is created 0700 and must be owned by the caller
// (a directory someone else planted is refused). Writes are atomic (temp + rename),
// so a reader sees the old or the new manifest, never half of one.
// Owner: the harness writes and (after a clean teardown) removes it; the auditor
// removes it after reclaiming. Not shared memory; plain files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shmcheck/core/process_identity.hpp"
#include "shmcheck/core/result.hpp"
#include "shmcheck/probes/inventory.hpp"

namespace shmcheck::probes {

struct ManifestObject {
  std::string ref;   // SegmentRef::to_string() (kept verbatim for the harness)
  std::string name;  // POSIX name ("/shmcheck.0.<run>.q"); for SysV the segment_name it stands for
  IpcKind kind = IpcKind::kPosixShm;  // kPosixShm, kPosixSemaphore, kPosixMqueue, kSysvShm,
                                      // kSysvSemaphore, kSysvMqueue
  int sysv_id = -1;                   // SysV objects: the id
};

struct RunManifest {
  std::string run_id;
  core::ProcessIdentity harness{};
  std::int64_t created_unix_ns = 0;
  // The harness's pid namespace ("pid:[inode]"); write_manifest records the writer's
  // when empty. A harness of another namespace is not in this /proc: its absence
  // there proves nothing (read: empty in manifests written before it was recorded).
  std::string pid_namespace;
  std::vector<ManifestObject> objects;
};

// $XDG_RUNTIME_DIR/shmcheck/runs or /tmp/shmcheck-<uid>/runs (not created).
[[nodiscard]] std::string manifest_dir();
// Creates `dir` (and parents under the base) with mode 0700; verifies owner and mode.
[[nodiscard]] core::Result<void> ensure_manifest_dir(const std::string& dir);
[[nodiscard]] std::string manifest_path(const std::string& dir, const std::string& run_id);

// Atomically writes <dir>/<run_id>.manifest (creating dir as above). Rewrite it
// to add objects as the run creates them.
[[nodiscard]] core::Result<void> write_manifest(const RunManifest& manifest,
                                                const std::string& dir = manifest_dir());
[[nodiscard]] core::Result<RunManifest> read_manifest(const std::string& path);
// Paths of every *.manifest in dir (kNotFound when dir does not exist).
[[nodiscard]] core::Result<std::vector<std::string>> list_manifests(
    const std::string& dir = manifest_dir());
[[nodiscard]] core::Result<void> remove_manifest(const std::string& run_id,
                                                 const std::string& dir = manifest_dir());
// The temporary files write_manifest leaves when its writer is killed before the rename
// (<run id>.manifest.tmp.<pid>): removes those older than a minute whose writer's pid
// is not a process here (only listed with dry_run). Such a file never names an object
// its renamed manifest does not: each object is recorded before it is created. Returns
// their paths.
[[nodiscard]] core::Result<std::vector<std::string>> remove_stale_temporaries(
    const std::string& dir, bool dry_run);

}  // namespace shmcheck::probes
