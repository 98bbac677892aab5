#include "run_host.hpp"

#include <semaphore.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "shmcheck/core/process_identity.hpp"
#include "shmcheck/probes/cleaner.hpp"
#include "shmcheck/probes/inventory.hpp"
#include "shmcheck/probes/run_manifest.hpp"

namespace shmcheck::harness {

struct ManifestWriter::Impl {
  probes::RunManifest manifest;
  std::string dir;
};

ManifestWriter::ManifestWriter() : impl_(std::make_unique<Impl>()) {}
ManifestWriter::~ManifestWriter() = default;

core::Result<void> ManifestWriter::begin(const std::string& run_id) {
  impl_->dir = probes::manifest_dir();
  impl_->manifest.run_id = run_id;
  impl_->manifest.harness = core::self_identity();
  impl_->manifest.created_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count();
  path_ = probes::manifest_path(impl_->dir, run_id);
  return probes::write_manifest(impl_->manifest, impl_->dir);
}

core::Result<std::size_t> ManifestWriter::add(ManifestKind kind, const std::string& name) {
  probes::ManifestObject object;
  object.name = name;
  switch (kind) {
    case ManifestKind::kPosixShm:
      object.kind = probes::IpcKind::kPosixShm;
      break;
    case ManifestKind::kPosixSemaphore:
      object.kind = probes::IpcKind::kPosixSemaphore;
      break;
    case ManifestKind::kSysvShm:
      object.kind = probes::IpcKind::kSysvShm;
      break;
    case ManifestKind::kSysvSemaphore:
      object.kind = probes::IpcKind::kSysvSemaphore;
      break;
    case ManifestKind::kMemfd:
      object.kind = probes::IpcKind::kMemfd;
      break;
  }
  impl_->manifest.objects.push_back(std::move(object));
  SHMCHECK_TRY(probes::write_manifest(impl_->manifest, impl_->dir));
  return impl_->manifest.objects.size() - 1;
}

core::Result<void> ManifestWriter::update(std::size_t entry, const std::string& ref, int sysv_id) {
  auto& object = impl_->manifest.objects.at(entry);
  object.ref = ref;
  object.sysv_id = sysv_id;
  return probes::write_manifest(impl_->manifest, impl_->dir);
}

core::Result<void> ManifestWriter::remove() {
  if (impl_->manifest.run_id.empty()) return {};
  return probes::remove_manifest(impl_->manifest.run_id, impl_->dir);
}

struct LeakProbe::Impl {
  probes::Inventory before;
};

LeakProbe::LeakProbe() : impl_(std::make_unique<Impl>()) {}
LeakProbe::~LeakProbe() = default;

void LeakProbe::before() { impl_->before = probes::take_inventory({}); }

namespace {

// The inventory fails closed ("unknown") when any process on the host cannot be read.
// For objects of this run there is a positive proof instead: the run id is ours, every
// process of the run has been reaped by this harness, and no holder is left (no fd or
// mapping seen, no flock — every shmcheck holder keeps flock(LOCK_SH) — and no SysV
// attachment). Only then is the object removed.
bool remove_run_owned(const probes::IpcObject& object, const std::string& run_id,
                      const std::set<pid_t>& pids) {
  const bool creator_ours = object.creator && pids.contains(object.creator->pid);
  if (!object.holders.empty()) return false;
  switch (object.kind) {
    case probes::IpcKind::kPosixShm:
      if (!object.header || object.header->run_id != run_id || object.flock_held) return false;
      return ::shm_unlink(object.name.c_str()) == 0;
    case probes::IpcKind::kPosixSemaphore:
      if (object.run_id != run_id) return false;
      return ::sem_unlink(object.name.c_str()) == 0;
    case probes::IpcKind::kSysvShm:
      if (!creator_ours || object.attach_count != 0) return false;
      return ::shmctl(object.sysv_id, IPC_RMID, nullptr) == 0;
    case probes::IpcKind::kSysvSemaphore:
      if (!creator_ours) return false;
      return ::semctl(object.sysv_id, 0, IPC_RMID) == 0;
    default:
      return false;
  }
}

// Every process of the run has been reaped, so whatever still holds one of its objects
// is outside the run. Two such holders let go by themselves, within moments:
// - the kernel finishing a reaped process's SysV detach. It drops a process's
//   attachments when its memory map is torn down, and a process reading the dead one's
//   /proc files at that moment (a ps, an auditor) holds the map past the reap;
// - another process's inventory (a concurrent run's leak check, an `audit`), which
//   opens each shmcheck object for a moment to read its header and ask for a lease.
//   Two runs in parallel saw each other's leaked segments `in_use` and left them
//   behind (1 in 17 under ASan).
// They get up to kSettle before a holder counts.
constexpr auto kSettle = probes::kPassingHolderSettle;

bool detach_pending(const probes::IpcObject& o) {
  return o.kind == probes::IpcKind::kSysvShm && o.attach_count > 0 && o.holders.empty();
}

bool held(const std::vector<probes::IpcObject>& appeared) {
  return std::ranges::any_of(appeared, [](const probes::IpcObject& o) {
    return detach_pending(o) || o.verdict == probes::Verdict::kInUse || !o.holders.empty() ||
           o.flock_held;
  });
}

}  // namespace

LeakCheck LeakProbe::after(const std::string& run_id, const std::set<pid_t>& pids) {
  LeakCheck out;
  probes::RunAttribution run;
  run.run_ids = {run_id};
  run.creator_pids = pids;
  const auto settle_until = std::chrono::steady_clock::now() + kSettle;
  const auto settling = [&] { return std::chrono::steady_clock::now() < settle_until; };
  auto now = probes::take_inventory({});
  auto appeared = probes::diff(impl_->before, now).appeared_from(run);
  while (held(appeared) && settling()) {
    probes::pause_before_next_look();
    now = probes::take_inventory({});
    appeared = probes::diff(impl_->before, now).appeared_from(run);
  }
  for (const auto& p : now.problems) out.problems.push_back(p.source + ": " + p.error.message());
  std::vector<probes::IpcObject> orphans;
  for (const auto& object : appeared) {
    ++out.leaked_objects;
    out.items.push_back({std::string(probes::to_string(object.kind)), object.name,
                         object.bytes_allocated != 0 ? object.bytes_allocated : object.nominal_size,
                         std::string(probes::to_string(object.verdict))});
    if (object.verdict == probes::Verdict::kOrphaned) {
      orphans.push_back(object);
    } else if (object.verdict == probes::Verdict::kUnknown &&
               remove_run_owned(object, run_id, pids)) {
      out.items.back().verdict +=
          ", removed (run-owned, no holder, every process of the run reaped)";
    }
  }
  // Proved orphans of this run: removed under the cleaner's re-checks, so the host is
  // left as it was found even when the run leaked. A re-check that meets a passing
  // holder (kNowHeld) is tried again while the settling time lasts, and for a
  // quarter of it at least: the inventory above may have spent it all before its last
  // look found them orphaned, and one check would leave them to the next holder met.
  probes::CleanOptions options;
  options.dry_run = false;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      settle_until - std::chrono::steady_clock::now());
  options.settle = std::max(std::chrono::milliseconds(kSettle / 4), left);
  const auto cleaned = probes::clean_orphans(orphans, options);
  for (const auto& outcome : cleaned.outcomes) {
    for (auto& item : out.items) {
      if (item.name == outcome.object.name && item.kind == probes::to_string(outcome.object.kind)) {
        item.verdict += ", " + std::string(probes::to_string(outcome.status));
      }
    }
  }
  return out;
}

}  // namespace shmcheck::harness
