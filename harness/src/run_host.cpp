#include "run_host.hpp"

#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <semaphore.h>
#include <unistd.h>

#include <chrono>

#include "shmcheck/core/process_identity.hpp"
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
  impl_->manifest.created_unix_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(
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

// Removes one leaked object of this run. Only objects the run owns by name/header or
// creator, and only when the inventory proved them orphaned.
bool reclaim(const probes::IpcObject& object) {
  if (object.verdict != probes::Verdict::kOrphaned) return false;
  switch (object.kind) {
    case probes::IpcKind::kPosixShm:
      return ::shm_unlink(object.name.c_str()) == 0;
    case probes::IpcKind::kPosixSemaphore:
      return ::sem_unlink(object.name.c_str()) == 0;
    case probes::IpcKind::kSysvShm:
      return ::shmctl(object.sysv_id, IPC_RMID, nullptr) == 0;
    case probes::IpcKind::kSysvSemaphore:
      return ::semctl(object.sysv_id, 0, IPC_RMID) == 0;
    default:
      return false;
  }
}

}  // namespace

LeakCheck LeakProbe::after(const std::string& run_id, const std::set<pid_t>& pids) {
  LeakCheck out;
  const auto now = probes::take_inventory({});
  for (const auto& p : now.problems) out.problems.push_back(p.source + ": " + p.error.message());
  probes::RunAttribution run;
  run.run_ids = {run_id};
  run.creator_pids = pids;
  const auto appeared = probes::diff(impl_->before, now).appeared_from(run);
  for (const auto& object : appeared) {
    // A SysV semaphore set carries no attachment count: unknown, but ours by creator.
    LeakItem item{std::string(probes::to_string(object.kind)), object.name,
                  object.bytes_allocated != 0 ? object.bytes_allocated : object.nominal_size,
                  std::string(probes::to_string(object.verdict))};
    ++out.leaked_objects;
    probes::IpcObject judged = object;
    if (object.kind == probes::IpcKind::kSysvSemaphore && object.verdict == probes::Verdict::kUnknown) {
      // Every process of the run is gone (reaped): nobody can be using it.
      judged.verdict = probes::Verdict::kOrphaned;
    }
    if (reclaim(judged)) item.verdict += ", removed";
    out.items.push_back(std::move(item));
  }
  return out;
}

}  // namespace shmcheck::harness
