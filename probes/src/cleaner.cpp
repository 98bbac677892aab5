#include "shmcheck/probes/cleaner.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/msg.h>
#include <sys/random.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>

#include "inventory_detail.hpp"
#include "shmcheck/core/segment.hpp"
#include "unique_fd.hpp"

namespace shmcheck::probes {
namespace {

using detail::DevIno;
using detail::UniqueFd;

// The caller defines semun (sem.h says so).
union SemUn {
  int val;
  struct semid_ds* buf;
  unsigned short* array;
};

std::string quarantine_name() {
  unsigned char raw[6] = {};
  std::size_t got = 0;
  while (got < sizeof raw) {
    const auto n = ::getrandom(raw + got, sizeof raw - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*s%d.%02x%02x%02x%02x%02x%02x",
                static_cast<int>(kQuarantinePrefix.size()), kQuarantinePrefix.data(),
                static_cast<int>(::getpid()), raw[0], raw[1], raw[2], raw[3], raw[4], raw[5]);
  return buf;
}

// A name quarantine_name() makes: the prefix, a pid, '.', 12 hex digits. Any name with
// the prefix was taken (a user's own ".shmcheck-clean.notes" would have been removed).
bool quarantined(std::string_view file_name) {
  if (!file_name.starts_with(kQuarantinePrefix)) return false;
  const std::string_view rest = file_name.substr(kQuarantinePrefix.size());
  const auto dot = rest.find('.');
  if (dot == 0 || dot == std::string_view::npos || rest.size() - dot - 1 != 12) return false;
  const auto decimal = [](char c) { return c >= '0' && c <= '9'; };
  const auto hex = [&](char c) { return decimal(c) || (c >= 'a' && c <= 'f'); };
  return std::ranges::all_of(rest.substr(0, dot), decimal) &&
         std::ranges::all_of(rest.substr(dot + 1), hex);
}

// What killed cleaners left in /dev/shm under a quarantine name (see reclaim_dead_runs).
CleanReport clean_quarantine(const CleanOptions& options, std::vector<InventoryProblem>& problems) {
  bool any = false;
  auto dir =
      detail::open_at(AT_FDCWD, options.inventory.dev_shm_dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (!dir) return {};
  (void)detail::for_each_entry(
      dir->get(), [&](std::string_view name, unsigned char) { any = any || quarantined(name); });
  if (!any) return {};
  auto inventory_options = options.inventory;
  inventory_options.kinds = {IpcKind::kPosixShm};
  const auto inv = take_inventory(inventory_options);
  for (const auto& p : inv.problems) problems.push_back(p);
  std::vector<IpcObject> candidates;
  for (const auto& o : inv.objects) {
    if (quarantined(detail::short_name(o))) candidates.push_back(o);
  }
  return clean_orphans(candidates, options);
}

class Cleaner {
 public:
  explicit Cleaner(const CleanOptions& options) : options_(options) {}

  CleanOutcome clean_one(const IpcObject& o) {
    CleanOutcome out;
    out.object = o;
    if (o.verdict != Verdict::kOrphaned) {
      return finish(out, CleanStatus::kNotOrphaned, std::string(to_string(o.verdict)));
    }
    const uid_t me = ::geteuid();
    if (o.uid != me && !(me == 0 && options_.all_users)) {
      return finish(out, CleanStatus::kNotOwner, "owned by uid " + std::to_string(o.uid));
    }
    switch (o.kind) {
      case IpcKind::kPosixShm:
      case IpcKind::kPosixSemaphore:
      case IpcKind::kPosixMqueue:
        return clean_posix(out);
      case IpcKind::kSysvShm:
        return clean_sysv_shm(out);
      case IpcKind::kSysvSemaphore:
      case IpcKind::kSysvMqueue:
        return clean_sysv_other(out);
      case IpcKind::kMemfd:
      case IpcKind::kDeleted:
        break;
    }
    return finish(out, CleanStatus::kUnsupported, "exists only while a process holds it");
  }

 private:
  static CleanOutcome& finish(CleanOutcome& out, CleanStatus status, std::string detail) {
    out.status = status;
    out.detail = std::move(detail);
    if (status != CleanStatus::kRemoved && status != CleanStatus::kWouldRemove) out.bytes_freed = 0;
    return out;
  }

  // One fresh walk for the whole batch, taken lazily at the first POSIX candidate that
  // needs it: no lease to ask for, or a refused one (to name the holder).
  const detail::ProcessScan& fresh_scan() {
    if (!scan_) {
      std::set<std::uint64_t> devices;
      for (const auto* dir : {&options_.inventory.dev_shm_dir, &options_.inventory.mqueue_dir}) {
        struct stat st {};
        if (::stat(dir->c_str(), &st) == 0) devices.insert(static_cast<std::uint64_t>(st.st_dev));
      }
      scan_ = detail::scan_processes(options_.inventory.proc_dir, devices, false,
                                     options_.inventory.trust_pid_namespace);
    }
    return *scan_;
  }

  // "held by 1234 (comm)" when a fresh walk finds a holder of o other than own_fd, this
  // process's descriptor of the check.
  std::optional<std::string> visible_holder(const IpcObject& o, int own_fd) {
    const auto& scan = fresh_scan();
    const auto it = scan.by_file.find(DevIno{o.device, o.inode});
    if (it == scan.by_file.end()) return std::nullopt;
    const pid_t me = ::getpid();
    for (const auto& ref : it->second) {
      const auto& p = scan.processes[ref.process];
      if (p.id.pid == me && ref.fd == own_fd) continue;
      return "held by " + std::to_string(p.id.pid) + " (" + p.comm + ")";
    }
    return std::nullopt;
  }

  CleanOutcome& clean_posix(CleanOutcome& out) {
    const IpcObject& o = out.object;
    const auto slash = o.path.rfind('/');
    if (slash == std::string::npos) return finish(out, CleanStatus::kFailed, "no path");
    const std::string dir_path = o.path.substr(0, slash);
    const std::string file = o.path.substr(slash + 1);
    auto dir = detail::open_at(AT_FDCWD, dir_path.c_str(), O_RDONLY | O_DIRECTORY);
    if (!dir) return finish(out, CleanStatus::kFailed, dir.error().message());
    auto fd =
        detail::open_at(dir->get(), file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (!fd) {
      if (fd.error().sys_errno == ENOENT) return finish(out, CleanStatus::kGone, "already removed");
      return finish(out, CleanStatus::kFailed, fd.error().message());
    }
    struct stat locked_st {};
    if (::fstat(fd->get(), &locked_st) != 0) return finish(out, CleanStatus::kFailed, "fstat");
    if (static_cast<std::uint64_t>(locked_st.st_dev) != o.device ||
        static_cast<std::uint64_t>(locked_st.st_ino) != o.inode) {
      return finish(out, CleanStatus::kChanged, "name now refers to another object");
    }
    if (locked_st.st_uid != o.uid) return finish(out, CleanStatus::kChanged, "owner changed");
    // Hold LOCK_EX through the removal: a shmcheck holder cannot take LOCK_SH meanwhile.
    if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK)
        return finish(out, CleanStatus::kNowHeld, "flock held by a process");
      return finish(out, CleanStatus::kFailed, "flock failed");
    }
    // Then the kernel's word, when it grants the exclusive lease: nobody holds the file
    // now (no fd, no mapping, in any process), and nobody can open it until fd closes,
    // after the removal. That one instant decides: a passing holder (another inventory
    // looking at the header) costs one more try, not a /proc walk on every try, and is
    // not met twice, once by the walk and once by the lease. Where no lease can be
    // asked for (not the owner and no CAP_LEASE, fs.leases-enable=0, an mqueue), a
    // fresh walk must find no holder and have read every process.
    const OpenCheck lease = detail::lease_exclusively(fd->get());
    switch (lease) {
      case OpenCheck::kNotOpen:
        break;
      case OpenCheck::kOpen:
        return finish(out, CleanStatus::kNowHeld,
                      visible_holder(o, fd->get()).value_or(detail::kHeldUnseen));
      case OpenCheck::kUnavailable:
      case OpenCheck::kNotChecked:
        if (auto holder = visible_holder(o, fd->get())) {
          return finish(out, CleanStatus::kNowHeld, std::move(*holder));
        }
        if (const auto& scan = fresh_scan(); !scan.complete()) {
          return finish(out, CleanStatus::kIncomplete,
                        scan.unreadable != 0 || scan.problems.empty()
                            ? std::to_string(scan.unreadable) + " process(es) could not be read"
                            : scan.problems.front().error.brief());
        }
        break;
    }
    // A name the file has others of (a hard link) frees nothing: the last one frees it.
    // A dry run removes none of them: clean_orphans counts the bytes once, when it
    // would remove every name.
    out.links = locked_st.st_nlink;
    const auto bytes = static_cast<std::uint64_t>(locked_st.st_blocks) * 512U;
    if (options_.dry_run) {
      out.bytes_freed = bytes;
      return finish(out, CleanStatus::kWouldRemove, "dry run");
    }
    out.bytes_freed = locked_st.st_nlink > 1 ? 0 : bytes;
    if (options_.before_remove) options_.before_remove(o);

    if (o.kind == IpcKind::kPosixMqueue) {
      // mqueue has no rename: re-check the name right before the unlink. It is unlinked
      // in the directory that was verified, not by mq_unlink, which acts on the
      // caller's IPC namespace: with --mqueue-dir naming another namespace's mount, it
      // removed this namespace's queue of the same name, held open by a live process.
      struct stat now {};
      if (::fstatat(dir->get(), file.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0) {
        return finish(out, CleanStatus::kGone, "removed meanwhile");
      }
      if (now.st_ino != locked_st.st_ino || now.st_dev != locked_st.st_dev) {
        return finish(out, CleanStatus::kChanged, "swapped before removal; left alone");
      }
      if (::unlinkat(dir->get(), file.c_str(), 0) != 0) {
        return finish(out, CleanStatus::kFailed, std::string("unlink: ") + std::strerror(errno));
      }
      return finish(out, CleanStatus::kRemoved, "");
    }

    // Move whatever the name points at aside, then check it is what we verified.
    const std::string aside = quarantine_name();
    if (::renameat2(dir->get(), file.c_str(), dir->get(), aside.c_str(), RENAME_NOREPLACE) != 0) {
      if (errno == ENOENT) return finish(out, CleanStatus::kGone, "removed meanwhile");
      return finish(out, CleanStatus::kFailed, std::string("rename: ") + std::strerror(errno));
    }
    struct stat moved {};
    const bool same = ::fstatat(dir->get(), aside.c_str(), &moved, AT_SYMLINK_NOFOLLOW) == 0 &&
                      moved.st_ino == locked_st.st_ino && moved.st_dev == locked_st.st_dev;
    if (!same) {
      if (::renameat2(dir->get(), aside.c_str(), dir->get(), file.c_str(), RENAME_NOREPLACE) != 0) {
        return finish(out, CleanStatus::kFailed,
                      "swapped in under the name before removal; could not move it back from " +
                          dir_path + "/" + aside);
      }
      return finish(out, CleanStatus::kChanged,
                    "swapped in under the name before removal; left alone");
    }
    // An open of the name that looked it up before the rename waits on our lease, and
    // its wait broke the lease: F_GETLEASE then answers what the break asks us to go
    // down to, not F_WRLCK. The name goes back and the file stays: once fd closes, that
    // open gets the file it named, not one removed under it. This narrows the race and
    // does not close it: an open that looked the name up before the rename and reaches
    // its lease check (in the kernel, after the lookup) only after this one still gets
    // the removed file, as it would with no lease at all.
    if (lease == OpenCheck::kNotOpen && ::fcntl(fd->get(), F_GETLEASE) != F_WRLCK) {
      if (::renameat2(dir->get(), aside.c_str(), dir->get(), file.c_str(), RENAME_NOREPLACE) != 0) {
        const std::string moved_to = dir_path + "/" + aside;
        return finish(out, CleanStatus::kFailed,
                      "opened while being removed; could not move it back from " + moved_to);
      }
      return finish(out, CleanStatus::kNowHeld, "a process opened it while it was being removed");
    }
    if (::unlinkat(dir->get(), aside.c_str(), 0) != 0) {
      const int err = errno;
      ::renameat2(dir->get(), aside.c_str(), dir->get(), file.c_str(), RENAME_NOREPLACE);
      return finish(out, CleanStatus::kFailed, std::string("unlink: ") + std::strerror(err));
    }
    return finish(out, CleanStatus::kRemoved, "");
  }

  CleanOutcome& clean_sysv_shm(CleanOutcome& out) {
    const IpcObject& o = out.object;
    struct shmid_ds ds {};
    if (::shmctl(o.sysv_id, IPC_STAT, &ds) != 0) {
      if (errno == EINVAL || errno == EIDRM)
        return finish(out, CleanStatus::kGone, "already removed");
      return finish(out, CleanStatus::kFailed,
                    std::string("shmctl IPC_STAT: ") + std::strerror(errno));
    }
    if (ds.shm_perm.__key != static_cast<key_t>(o.sysv_key) || ds.shm_perm.uid != o.uid ||
        (o.creator && ds.shm_cpid != o.creator->pid) || ds.shm_ctime != o.created_unix_s) {
      return finish(out, CleanStatus::kChanged, "key, owner, creator or ctime changed");
    }
    if (ds.shm_nattch != 0) {
      return finish(out, CleanStatus::kNowHeld, std::to_string(ds.shm_nattch) + " attachment(s)");
    }
    if ((ds.shm_perm.mode & SHM_DEST) != 0) {
      return finish(out, CleanStatus::kNotOrphaned, "already marked for removal");
    }
    out.bytes_freed = o.bytes_allocated;
    if (options_.dry_run) return finish(out, CleanStatus::kWouldRemove, "dry run");
    if (options_.before_remove) options_.before_remove(o);
    if (::shmctl(o.sysv_id, IPC_RMID, nullptr) != 0) {
      return finish(out, CleanStatus::kFailed,
                    std::string("shmctl IPC_RMID: ") + std::strerror(errno));
    }
    return finish(out, CleanStatus::kRemoved, "");
  }

  // Semaphore sets and message queues: only reach here with a proof from a run
  // manifest (reclaim). Re-check key and owner.
  CleanOutcome& clean_sysv_other(CleanOutcome& out) {
    const IpcObject& o = out.object;
    key_t key = 0;
    uid_t uid = 0;
    int rc = 0;
    if (o.kind == IpcKind::kSysvSemaphore) {
      struct semid_ds ds {};
      SemUn arg{};
      arg.buf = &ds;
      rc = ::semctl(o.sysv_id, 0, IPC_STAT, arg);
      key = ds.sem_perm.__key;
      uid = ds.sem_perm.uid;
    } else {
      struct msqid_ds ds {};
      rc = ::msgctl(o.sysv_id, IPC_STAT, &ds);
      key = ds.msg_perm.__key;
      uid = ds.msg_perm.uid;
    }
    if (rc != 0) {
      if (errno == EINVAL || errno == EIDRM)
        return finish(out, CleanStatus::kGone, "already removed");
      return finish(out, CleanStatus::kFailed, std::string("IPC_STAT: ") + std::strerror(errno));
    }
    if (key != static_cast<key_t>(o.sysv_key) || uid != o.uid) {
      return finish(out, CleanStatus::kChanged, "key or owner changed");
    }
    out.bytes_freed = o.bytes_allocated;
    if (options_.dry_run) return finish(out, CleanStatus::kWouldRemove, "dry run");
    if (options_.before_remove) options_.before_remove(o);
    rc = o.kind == IpcKind::kSysvSemaphore ? ::semctl(o.sysv_id, 0, IPC_RMID)
                                           : ::msgctl(o.sysv_id, IPC_RMID, nullptr);
    if (rc != 0)
      return finish(out, CleanStatus::kFailed, std::string("IPC_RMID: ") + std::strerror(errno));
    return finish(out, CleanStatus::kRemoved, "");
  }

  const CleanOptions& options_;
  std::optional<detail::ProcessScan> scan_;
};

}  // namespace

void pause_before_next_look() {
  thread_local std::minstd_rand jitter(static_cast<std::uint_fast32_t>(
      std::chrono::steady_clock::now().time_since_epoch().count() ^ ::getpid()));
  const auto poll_us = std::chrono::duration_cast<std::chrono::microseconds>(kSettlePoll).count();
  std::uniform_int_distribution<std::int64_t> spread(poll_us / 2, poll_us * 3 / 2);
  std::this_thread::sleep_for(std::chrono::microseconds(spread(jitter)));
}

std::string_view to_string(CleanStatus status) noexcept {
  switch (status) {
    case CleanStatus::kRemoved:
      return "removed";
    case CleanStatus::kWouldRemove:
      return "would_remove";
    case CleanStatus::kNotOrphaned:
      return "not_orphaned";
    case CleanStatus::kNotOwner:
      return "not_owner";
    case CleanStatus::kNowHeld:
      return "now_held";
    case CleanStatus::kChanged:
      return "changed";
    case CleanStatus::kGone:
      return "gone";
    case CleanStatus::kIncomplete:
      return "incomplete";
    case CleanStatus::kUnsupported:
      return "unsupported";
    case CleanStatus::kFailed:
      return "failed";
  }
  return "failed";
}

namespace {

// A dry run's bytes of a file with several names: on the first of them, and only when
// every name would be removed (the others keep the file, and its bytes, otherwise).
void count_hard_links_once(std::vector<CleanOutcome>& outcomes) {
  std::unordered_map<std::string, std::vector<CleanOutcome*>> names;
  for (auto& o : outcomes) {
    if (o.status == CleanStatus::kWouldRemove && o.links > 1) {
      names[o.object.storage()].push_back(&o);
    }
  }
  for (auto& [storage, of_file] : names) {
    const bool every_name = of_file.size() >= of_file.front()->links;
    for (std::size_t i = 0; i < of_file.size(); ++i) {
      if (i != 0 || !every_name) of_file[i]->bytes_freed = 0;
    }
  }
}

}  // namespace

CleanReport clean_orphans(const std::vector<IpcObject>& candidates, const CleanOptions& options) {
  using Clock = std::chrono::steady_clock;
  const auto settle_until = Clock::now() + options.settle;
  CleanReport report;
  report.outcomes.resize(candidates.size());
  std::vector<std::size_t> pending(candidates.size());
  for (std::size_t i = 0; i < pending.size(); ++i) pending[i] = i;
  for (;;) {
    Cleaner cleaner(options);  // a fresh /proc walk each round
    std::vector<std::size_t> held;
    for (const std::size_t i : pending) {
      report.outcomes[i] = cleaner.clean_one(candidates[i]);
      if (report.outcomes[i].status == CleanStatus::kNowHeld && Clock::now() < settle_until) {
        held.push_back(i);
      }
    }
    if (held.empty()) break;
    pending = std::move(held);
    pause_before_next_look();
  }
  if (options.dry_run) count_hard_links_once(report.outcomes);
  for (const auto& outcome : report.outcomes) {
    if (outcome.status == CleanStatus::kRemoved) {
      ++report.removed;
      report.bytes_freed += outcome.bytes_freed;
    }
  }
  return report;
}

// A dead run's manifest matched against an inventory: the objects still there (the
// candidates), those whose header names another run (skipped), and how many are gone.
struct RunCandidates {
  std::vector<IpcObject> candidates;
  std::vector<CleanOutcome> skipped;
  std::size_t gone = 0;
};

// Whether a SysV object's key is one the harness derives from the run-unique name
// (core::sysv_key_for, one per attempt). An id alone proves nothing: ids are reused, so
// a manifest whose object was removed (the harness killed before it removed the
// manifest) named whatever set took the id next, which reclaim removed with a process
// blocked on it.
bool keyed_for(const IpcObject& o, const std::string& name) {
  for (unsigned attempt = 0; attempt < core::Segment::kSysVKeyAttempts; ++attempt) {
    if (o.sysv_key == core::sysv_key_for(name, attempt)) return true;
  }
  return false;
}

RunCandidates candidates_of(const RunManifest& manifest, const Inventory& inventory) {
  RunCandidates out;
  const std::int64_t manifest_s = manifest.created_unix_ns / 1'000'000'000;
  for (const auto& mo : manifest.objects) {
    std::vector<const IpcObject*> matches;
    for (const auto& o : inventory.objects) {
      if (o.kind != mo.kind) continue;
      const bool sysv = o.kind == IpcKind::kSysvShm || o.kind == IpcKind::kSysvSemaphore ||
                        o.kind == IpcKind::kSysvMqueue;
      // A SysV object with the run's key: the id the manifest recorded, or any when the
      // harness died between creating it and recording its id (-1).
      const bool match = sysv ? keyed_for(o, mo.name) && (mo.sysv_id < 0 || o.sysv_id == mo.sysv_id)
                              : o.name == mo.name;
      if (match) matches.push_back(&o);
    }
    if (matches.size() > 1) {
      // Several objects on the run's derived keys (the harness moves to the next key
      // when another program's object holds one; only an unrecorded id, -1, meets this):
      // a segment whose header names the run and object is the run's; else which is
      // cannot be told, and none is removed.
      const IpcObject* first = matches.front();
      std::erase_if(matches, [&](const IpcObject* o) {
        return o->kind != IpcKind::kSysvShm || !core::sysv_segment_holds_name(o->sysv_id, mo.name);
      });
      if (matches.size() != 1) {
        out.skipped.push_back({*first, CleanStatus::kChanged,
                               "its id was not recorded and more than one object has one of "
                               "the run's keys: which is the run's cannot be told",
                               0});
        continue;
      }
    }
    if (matches.empty()) {
      ++out.gone;
      continue;
    }
    IpcObject candidate = *matches.front();
    if (candidate.header && candidate.header->run_id != manifest.run_id) {
      CleanOutcome skipped{candidate, CleanStatus::kChanged,
                           "header names run " + candidate.header->run_id, 0};
      out.skipped.push_back(std::move(skipped));
      continue;
    }
    const bool evidence_only =
        candidate.kind == IpcKind::kSysvSemaphore || candidate.kind == IpcKind::kSysvMqueue;
    if (evidence_only && candidate.verdict == Verdict::kUnknown &&
        candidate.created_unix_s + 2 >= manifest_s) {
      // The manifest of a dead harness is the proof these kinds cannot carry.
      candidate.verdict = Verdict::kOrphaned;
      candidate.reason =
          "listed in the manifest of dead harness " + std::to_string(manifest.harness.pid);
    }
    out.candidates.push_back(std::move(candidate));
  }
  return out;
}

ReclaimReport reclaim_dead_runs(const std::string& dir, const CleanOptions& options,
                                const std::set<std::string>& run_filter) {
  using Clock = std::chrono::steady_clock;
  const auto settle_until = Clock::now() + options.settle;
  ReclaimReport report;
  // What a killed cleaner left belongs to no run: not swept when only some runs are
  // asked for.
  if (run_filter.empty()) report.quarantine = clean_quarantine(options, report.problems);
  report.removed += report.quarantine.removed;
  report.bytes_freed += report.quarantine.bytes_freed;
  auto paths = list_manifests(dir);
  if (!paths) {
    if (paths.error().code != core::ErrorCode::kNotFound) {
      report.problems.push_back({dir, std::move(paths).error()});
    }
    return report;
  }
  if (run_filter.empty()) {
    if (auto stale = remove_stale_temporaries(dir, options.dry_run)) {
      report.stale_temporaries = std::move(*stale);
    }
  }
  std::optional<Inventory> inventory;
  for (const auto& path : *paths) {
    auto manifest = read_manifest(path);
    if (!manifest) {
      report.problems.push_back({path, std::move(manifest).error()});
      continue;
    }
    if (!run_filter.empty() && run_filter.count(manifest->run_id) == 0) continue;
    ReclaimedRun run;
    run.manifest_path = path;
    run.manifest = std::move(*manifest);
    run.harness = core::liveness(run.manifest.harness);
    if (run.harness == core::Liveness::kDead) {
      // Not in this /proc proves a harness dead only if it ran in this pid namespace
      // (two containers of a pod share the IPC namespace and may share /tmp: one's
      // reclaim took the other's live run for dead and removed its semaphore sets).
      // A manifest written before namespaces were recorded counts as the host's.
      const std::string_view harness_ns = run.manifest.pid_namespace.empty()
                                              ? detail::kHostPidNamespace
                                              : std::string_view(run.manifest.pid_namespace);
      const bool seen = detail::pid_namespaces(options.inventory.proc_dir).shows(harness_ns);
      if (!seen) {
        run.harness = core::Liveness::kUnknown;
        run.detail = "harness ran in pid namespace " +
                     (run.manifest.pid_namespace.empty() ? std::string("unrecorded")
                                                         : run.manifest.pid_namespace) +
                     ", which this /proc does not show";
        report.runs.push_back(std::move(run));
        continue;
      }
    }
    if (run.harness != core::Liveness::kDead) {
      run.detail = run.harness == core::Liveness::kAlive ? "harness is alive"
                                                         : "harness liveness cannot be read";
      report.runs.push_back(std::move(run));
      continue;
    }
    if (!inventory) {
      inventory = take_inventory(options.inventory);
      for (const auto& p : inventory->problems) report.problems.push_back(p);
    }
    auto found = candidates_of(run.manifest, *inventory);
    // The harness is dead and its workers died with it: a holder of its objects is most
    // likely passing (another run's or auditor's inventory opens each shmcheck object
    // for a moment), so an object in use gets the settle, on a fresh inventory.
    while (std::ranges::any_of(found.candidates,
                               [](const IpcObject& o) { return o.verdict == Verdict::kInUse; }) &&
           Clock::now() < settle_until) {
      pause_before_next_look();
      inventory = take_inventory(options.inventory);
      found = candidates_of(run.manifest, *inventory);
    }
    std::size_t gone = found.gone;
    for (auto& outcome : found.skipped) run.clean.outcomes.push_back(std::move(outcome));
    auto cleaned = clean_orphans(found.candidates, options);
    for (auto& outcome : cleaned.outcomes) run.clean.outcomes.push_back(std::move(outcome));
    run.clean.removed += cleaned.removed;
    run.clean.bytes_freed += cleaned.bytes_freed;
    std::size_t left = 0;
    std::size_t would_remove = 0;  // a dry run's: not kept, not removed either
    for (const auto& outcome : run.clean.outcomes) {
      if (outcome.status == CleanStatus::kRemoved || outcome.status == CleanStatus::kGone) {
        ++gone;
      } else if (outcome.status == CleanStatus::kWouldRemove) {
        ++would_remove;
      } else {
        ++left;
      }
    }
    if (left + would_remove == 0 && !options.dry_run) {
      auto removed = remove_manifest(run.manifest.run_id, dir);
      run.manifest_removed = removed.has_value();
      if (!removed) run.detail = removed.error().message();
    } else if (left + would_remove != 0) {
      std::string said;
      if (would_remove != 0) said = std::to_string(would_remove) + " object(s) would be removed";
      if (left != 0) {
        said += (said.empty() ? "" : ", ") + std::to_string(left) + " object(s) kept";
      }
      run.detail = said;
    }
    if (gone != 0 && run.detail.empty()) {
      run.detail = std::to_string(gone) + " object(s) removed or already gone";
    }
    report.removed += run.clean.removed;
    report.bytes_freed += run.clean.bytes_freed;
    report.runs.push_back(std::move(run));
  }
  return report;
}

}  // namespace shmcheck::probes
