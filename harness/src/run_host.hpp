// Host-side bookkeeping of a run: the run manifest (probes/run_manifest.hpp) and the
// leak probe.
//
// ManifestWriter keeps <manifest_dir>/<run-id>.manifest current: written before the
// first object exists, an entry added (and the file rewritten) before each object is
// created, completed with its ref/id right after, and removed after a clean teardown.
//
// The leak probe: IPC inventory before the run, and after the run's own cleanup
// the objects that appeared and belong to it (header or name run id, or created by the
// harness or one of its workers). Anything of the run still there is leaked: it is
// reported, then removed when it is a proved orphan we own (so a leaking run does not
// pollute the host), and the report says so.
//
// Kept in its own translation unit: probes/inventory.hpp and probes/run_result.hpp
// declared clashing verdict types once; the run verdict is now probes::RunVerdict.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "shmcheck/core/result.hpp"

namespace shmcheck::harness {

enum class ManifestKind { kPosixShm, kPosixSemaphore, kSysvShm, kSysvSemaphore, kMemfd };

class ManifestWriter {
 public:
  ManifestWriter();
  ~ManifestWriter();
  ManifestWriter(const ManifestWriter&) = delete;
  ManifestWriter& operator=(const ManifestWriter&) = delete;

  // Writes the manifest with no objects yet.
  [[nodiscard]] core::Result<void> begin(const std::string& run_id);
  // Records an object about to be created (its name) and rewrites the file.
  [[nodiscard]] core::Result<std::size_t> add(ManifestKind kind, const std::string& name);
  // Completes an entry once the object exists.
  [[nodiscard]] core::Result<void> update(std::size_t entry, const std::string& ref, int sysv_id);
  // Removes the manifest (the run removed everything it listed).
  [[nodiscard]] core::Result<void> remove();
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
};

struct LeakItem {
  std::string kind;  // "posix_shm", "posix_sem", "sysv_shm", "sysv_sem", "memfd", ...
  std::string name;
  std::uint64_t bytes = 0;
  std::string verdict;  // inventory verdict, or "removed" when reclaimed after the check
};

struct LeakCheck {
  std::uint64_t leaked_objects = 0;
  std::vector<LeakItem> items;
  std::vector<std::string> problems;  // inventory sources that could not be read
};

class LeakProbe {
 public:
  LeakProbe();
  ~LeakProbe();
  LeakProbe(const LeakProbe&) = delete;
  LeakProbe& operator=(const LeakProbe&) = delete;

  // Snapshot before the run creates anything.
  void before();
  // After the run removed what it made: what of the run is still there, then reclaim.
  [[nodiscard]] LeakCheck after(const std::string& run_id, const std::set<pid_t>& pids);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shmcheck::harness
