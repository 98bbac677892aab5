// `shmcheck audit`: lists every IPC object on the host with a verdict, cleans
// proved orphans (--clean, dry run unless --yes) and reclaims objects of runs
// whose harness died (--reclaim). See probes/inventory.hpp and probes/cleaner.hpp.
#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "shmcheck/core/printable.hpp"
#include "shmcheck/core/segment.hpp"
#include "shmcheck/harness/audit_exporter.hpp"
#include "shmcheck/harness/cli.hpp"
#include "shmcheck/harness/spec_loader.hpp"
#include "shmcheck/probes/cleaner.hpp"
#include "shmcheck/probes/inventory.hpp"
#include "shmcheck/probes/inventory_json.hpp"
#include "shmcheck/probes/run_manifest.hpp"

namespace shmcheck::harness {
namespace {

using core::printable;
using core::printable_name;
using probes::IpcKind;
using probes::IpcObject;
using probes::Verdict;

struct AuditFlags {
  bool json = false;
  std::vector<std::string> kinds;
  std::vector<std::string> users;
  std::string older_than;
  std::vector<std::string> verdicts;
  bool clean = false;
  bool yes = false;
  bool all_users = false;
  bool fail_on_orphans = false;
  bool reclaim = false;
  std::vector<std::string> runs;
  std::vector<std::string> prefixes;
  std::string manifest_dir;
  std::string mqueue_dir = "/dev/mqueue";
  bool trust_pid_namespace = false;
  std::string serve;     // --serve HOST:PORT: Prometheus exporter
  std::string textfile;  // --textfile FILE: node_exporter textfile
  std::string min_interval = "5s";
};

// The SysV keys the harness derived for the SysV objects of these runs' manifests (in
// `dir`, when they are still there: a live run's, or a dead one's not reclaimed yet),
// each with its run id. --filter-run listed a run's POSIX objects only: a SysV object
// has no name to carry the run id, and its header is not read.
std::map<std::int64_t, std::string> manifest_sysv_keys(const std::string& dir,
                                                       const std::set<std::string>& runs) {
  std::map<std::int64_t, std::string> keys;
  auto paths = probes::list_manifests(dir);
  if (!paths) return keys;
  for (const auto& path : *paths) {
    auto m = probes::read_manifest(path);
    if (!m || runs.count(m->run_id) == 0) continue;
    for (const auto& o : m->objects) {
      if (o.kind != IpcKind::kSysvShm && o.kind != IpcKind::kSysvSemaphore &&
          o.kind != IpcKind::kSysvMqueue) {
        continue;
      }
      for (unsigned attempt = 0; attempt < core::Segment::kSysVKeyAttempts; ++attempt) {
        keys.emplace(core::sysv_key_for(o.name, attempt), m->run_id);
      }
    }
  }
  return keys;
}

// The objects shown whose verdict the unreadable processes left `unknown`: POSIX files
// the kernel gave no answer on (another user's, leases disabled) and memfd or deleted
// memory no readable process holds. SysV semaphores and message queues are unknown
// anywhere.
std::size_t unknown_for_unreadable(const std::vector<IpcObject>& objects) {
  return static_cast<std::size_t>(
      std::count_if(objects.begin(), objects.end(), [](const IpcObject& o) {
        return o.verdict == Verdict::kUnknown && o.kind != IpcKind::kSysvShm &&
               o.kind != IpcKind::kSysvSemaphore && o.kind != IpcKind::kSysvMqueue;
      }));
}

// The durations every shmcheck flag and spec takes (500ms, 90s, 15m, 2h: parse_duration),
// plus days for ages (7d, 1.5d). A bare number is refused there as here: `--older-than 90`
// meant seconds, `run --duration 90` is an error, and `--min-interval 500ms` was refused.
std::optional<std::chrono::nanoseconds> parse_days_or_duration(const std::string& text,
                                                               std::string* why) {
  if (text.size() < 2 || text.back() != 'd') return parse_duration(text, why);
  const std::string as_hours = text.substr(0, text.size() - 1) + "h";
  const auto hours = parse_duration(as_hours, why);
  if (!hours) {  // its message quotes what was given, not the hours it was read as
    if (why->find("unit") != std::string::npos) {
      // "5dd" read as "5dh": the unit given was 'dd', not 'dh'.
      (void)parse_duration(text, why);
      return std::nullopt;
    }
    if (const auto at = why->find("'" + as_hours + "'"); at != std::string::npos) {
      why->replace(at, as_hours.size() + 2, "'" + text + "'");
    }
    return std::nullopt;
  }
  if (hours->count() > std::chrono::nanoseconds::max().count() / 24) {
    *why = "duration out of range: '" + text + "'";
    return std::nullopt;
  }
  return *hours * 24;
}

// A duration with days too ("7d"); an error lists the units audit takes.
std::optional<std::chrono::nanoseconds> parse_audit_duration(const std::string& text,
                                                             std::string* why) {
  auto d = parse_days_or_duration(text, why);
  constexpr std::string_view kUnits = "(use ns, us, ms, s, m, h)";
  if (const auto at = why->find(kUnits); !d && at != std::string::npos) {
    why->replace(at, kUnits.size(), "(use ns, us, ms, s, m, h, d)");
  }
  return d;
}

std::optional<uid_t> parse_user(const std::string& text) {
  uid_t uid = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), uid);
  if (ec == std::errc{} && ptr == text.data() + text.size()) return uid;
  const struct passwd* pw =
      ::getpwnam(text.c_str());  // NOLINT(concurrency-mt-unsafe): CLI thread only
  if (pw == nullptr) return std::nullopt;
  return pw->pw_uid;
}

std::string user_name(uid_t uid) {
  static std::map<uid_t, std::string> cache;
  if (auto it = cache.find(uid); it != cache.end()) return it->second;
  const struct passwd* pw = ::getpwuid(uid);  // NOLINT(concurrency-mt-unsafe): CLI thread only
  std::string name = pw != nullptr ? std::string(pw->pw_name) : std::to_string(uid);
  cache.emplace(uid, name);
  return name;
}

std::string human_age(std::int64_t s) {
  char buf[32];
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 7200) {
    std::snprintf(buf, sizeof buf, "%lldm", static_cast<long long>(s / 60));
  } else if (s < 172800) {
    std::snprintf(buf, sizeof buf, "%lldh", static_cast<long long>(s / 3600));
  } else {
    std::snprintf(buf, sizeof buf, "%lldd", static_cast<long long>(s / 86400));
  }
  return buf;
}

std::string holders_text(const IpcObject& o) {
  if (o.kind == IpcKind::kSysvShm && o.holders.empty() && o.attach_count > 0) {
    return std::to_string(o.attach_count) + " attached";
  }
  std::string s;
  for (std::size_t i = 0; i < o.holders.size() && i < 2; ++i) {
    if (i != 0) s += ",";
    s += std::to_string(o.holders[i].process.pid);
  }
  if (o.holders.size() > 2) s += "+" + std::to_string(o.holders.size() - 2);
  return s.empty() ? "-" : s;
}

// The SIZE column: bytes, but a SysV semaphore set's size is its number of semaphores.
std::string size_text(const IpcObject& o) {
  if (o.kind == IpcKind::kSysvSemaphore) {
    return std::to_string(o.nominal_size) + (o.nominal_size == 1 ? " sem" : " sems");
  }
  return format_bytes(o.nominal_size);
}

void print_table(const std::vector<IpcObject>& objects) {
  std::printf("%-9s %-15s %10s %10s %6s %-10s %5s %-14s %s\n", "KIND", "VERDICT", "BYTES", "SIZE",
              "AGE", "OWNER", "MODE", "HOLDERS", "NAME / REASON");
  for (const auto& o : objects) {
    std::printf("%-9s %-15s %10s %10s %6s %-10s %05o %-14s %s\n",
                std::string(to_string(o.kind)).c_str(), std::string(to_string(o.verdict)).c_str(),
                format_bytes(o.bytes_allocated).c_str(), size_text(o).c_str(),
                human_age(o.age_s).c_str(), user_name(o.uid).c_str(), o.mode,
                printable(holders_text(o)).c_str(), printable_name(o.name).c_str());
    std::printf("%74s%s%s\n", "",
                o.run_id.empty() ? "" : ("run " + printable(o.run_id) + ": ").c_str(),
                printable(o.reason).c_str());
  }
  const auto t = probes::totals(objects);
  std::printf("\nTotals by kind:\n");
  for (std::size_t i = 0; i < probes::kIpcKindCount; ++i) {
    if (t.by_kind[i].count == 0) continue;
    std::printf("  %-16s %6zu objects %12s\n",
                std::string(to_string(static_cast<IpcKind>(i))).c_str(), t.by_kind[i].count,
                format_bytes(t.by_kind[i].bytes).c_str());
  }
  std::printf("Totals by verdict:\n");
  for (std::size_t i = 0; i < probes::kVerdictCount; ++i) {
    std::printf("  %-16s %6zu objects %12s\n",
                std::string(to_string(static_cast<Verdict>(i))).c_str(), t.by_verdict[i].count,
                format_bytes(t.by_verdict[i].bytes).c_str());
  }
  std::printf("  %-16s %6zu objects %12s\n", "all", t.all.count, format_bytes(t.all.bytes).c_str());
  if (t.sharing_storage != 0) {
    std::printf(
        "  (%zu of them another name of a file listed above, a hard link: its bytes "
        "counted once)\n",
        t.sharing_storage);
  }
}

void print_clean(const probes::CleanReport& report, bool dry_run, const char* what) {
  std::uint64_t would = 0;
  std::size_t would_count = 0;
  for (const auto& o : report.outcomes) {
    switch (o.status) {
      case probes::CleanStatus::kRemoved:
        std::printf("removed      %-9s %10s  %s\n", std::string(to_string(o.object.kind)).c_str(),
                    format_bytes(o.bytes_freed).c_str(), printable_name(o.object.name).c_str());
        break;
      case probes::CleanStatus::kWouldRemove:
        ++would_count;
        would += o.bytes_freed;
        std::printf("would remove %-9s %10s  %s\n", std::string(to_string(o.object.kind)).c_str(),
                    format_bytes(o.bytes_freed).c_str(), printable_name(o.object.name).c_str());
        break;
      default:
        std::printf(
            "kept         %-9s %10s  %s (%s: %s)\n", std::string(to_string(o.object.kind)).c_str(),
            format_bytes(o.object.bytes_allocated).c_str(), printable_name(o.object.name).c_str(),
            std::string(to_string(o.status)).c_str(), printable(o.detail).c_str());
        break;
    }
  }
  if (dry_run) {
    std::printf("%s dry run: would remove %zu object(s), %s; add --yes to remove them\n", what,
                would_count, format_bytes(would).c_str());
  } else {
    std::printf("%s: removed %zu object(s), freed %s\n", what, report.removed,
                format_bytes(report.bytes_freed).c_str());
  }
}

int run_audit(const AuditFlags& f) {
  // Flags first: usage errors are exit code 2.
  probes::InventoryOptions options;
  options.mqueue_dir = f.mqueue_dir;
  options.trust_pid_namespace = f.trust_pid_namespace;
  // A directory named on purpose that is not an mqueue mount (a typo, /etc) listed no
  // queue and said nothing; the default is only noted when absent (not every host
  // mounts it).
  if (f.mqueue_dir != AuditFlags{}.mqueue_dir && !probes::is_mqueue_mount(f.mqueue_dir)) {
    std::fprintf(stderr, "shmcheck audit: --mqueue-dir %s: not a mounted mqueue file system\n",
                 printable(f.mqueue_dir).c_str());
    return kExitUsage;
  }
  for (const auto& k : f.kinds) {
    const auto kind = probes::ipc_kind_from_string(k);
    if (!kind) {
      std::fprintf(stderr,
                   "shmcheck audit: unknown --kind '%s' (posix_shm, posix_sem, posix_mq, sysv_shm, "
                   "sysv_sem, sysv_msg, memfd, deleted)\n",
                   k.c_str());
      return kExitUsage;
    }
    options.kinds.insert(*kind);
  }
  std::set<Verdict> verdicts;
  for (const auto& v : f.verdicts) {
    const auto verdict = probes::verdict_from_string(v);
    if (!verdict) {
      std::fprintf(stderr,
                   "shmcheck audit: unknown --verdict '%s' (in_use, orphaned, pending_destroy, "
                   "unknown)\n",
                   v.c_str());
      return kExitUsage;
    }
    verdicts.insert(*verdict);
  }
  std::set<uid_t> users;
  for (const auto& u : f.users) {
    const auto uid = parse_user(u);
    if (!uid) {
      std::fprintf(stderr, "shmcheck audit: unknown --user '%s'\n", u.c_str());
      return kExitUsage;
    }
    users.insert(*uid);
  }
  std::optional<std::int64_t> older_than;  // seconds, as ages are
  std::string why;
  if (!f.older_than.empty()) {
    const auto d = parse_audit_duration(f.older_than, &why);
    if (!d) {
      std::fprintf(stderr, "shmcheck audit: --older-than: %s (e.g. 90s, 15m, 2h, 7d)\n",
                   why.c_str());
      return kExitUsage;
    }
    older_than = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
  }
  // A reclaim takes every object of each dead run it picks (--filter-run picks runs):
  // these filters cut only the list printed after it, and `--reclaim --yes --kind
  // sysv_msg` removed a dead run's POSIX segments while seeming to ask for none.
  // With --clean or --fail-on-orphans beside it they pick what those act on.
  if (f.reclaim && !f.clean && !f.fail_on_orphans &&
      (!f.kinds.empty() || !f.users.empty() || !f.verdicts.empty() || !f.older_than.empty() ||
       !f.prefixes.empty())) {
    std::fprintf(stderr,
                 "shmcheck audit: --reclaim removes every object of each dead run "
                 "(--filter-run picks the runs); --kind, --user, --verdict, --older-than and "
                 "--name-prefix do not apply to it (they pick what --clean removes and what "
                 "--fail-on-orphans counts)\n");
    return kExitUsage;
  }
  if (f.yes && !f.clean && !f.reclaim) {
    std::fprintf(stderr, "shmcheck audit: --yes only makes sense with --clean or --reclaim\n");
    return kExitUsage;
  }
  if (f.all_users && !f.clean && !f.reclaim) {
    std::fprintf(stderr,
                 "shmcheck audit: --all-users only makes sense with --clean or --reclaim\n");
    return kExitUsage;
  }
  if (f.all_users && ::geteuid() != 0) {
    std::fprintf(stderr,
                 "shmcheck audit: --all-users needs root (other users' objects are never "
                 "removed otherwise)\n");
    return kExitUsage;
  }

  const auto min_interval = parse_audit_duration(f.min_interval, &why);
  if (!min_interval) {
    std::fprintf(stderr, "shmcheck audit: --min-interval: %s (e.g. 500ms, 5s, 1m)\n", why.c_str());
    return kExitUsage;
  }
  if (!f.serve.empty() || !f.textfile.empty()) {
    if (f.clean || f.reclaim || f.json) {
      std::fprintf(stderr,
                   "shmcheck audit: --serve/--textfile export metrics; they do not combine "
                   "with --clean, --reclaim or --json\n");
      return kExitUsage;
    }
    // The metrics count every object by kind and verdict: a filter would be ignored
    // (the textfile came out the same with or without it). --kind decides what is
    // scanned, and is kept.
    if (!f.users.empty() || !f.verdicts.empty() || !f.older_than.empty() || !f.runs.empty() ||
        !f.prefixes.empty()) {
      std::fprintf(stderr,
                   "shmcheck audit: --serve/--textfile export every object by kind and verdict; "
                   "--user, --verdict, --older-than, --filter-run and --name-prefix do not "
                   "apply (--kind does)\n");
      return kExitUsage;
    }
    // A textfile to a standard output closed at start: its descriptor is on /dev/full
    // (see fail_writes_to_a_closed_stdout), and "No space left on device" misled.
    if ((f.textfile == "-" || f.textfile == "/dev/stdout") && stdout_was_closed()) {
      std::fprintf(stderr, "shmcheck audit: --textfile %s: standard output was closed\n",
                   f.textfile.c_str());
      return kExitEnvironment;
    }
    AuditExporterOptions exporter;
    exporter.serve = f.serve;
    exporter.textfile = f.textfile;
    exporter.min_interval = *min_interval;
    exporter.inventory = options;
    return run_audit_exporter(exporter);
  }

  probes::CleanOptions clean_options;
  clean_options.dry_run = !f.yes;
  clean_options.all_users = f.all_users;
  clean_options.settle = probes::kPassingHolderSettle;
  clean_options.inventory = options;
  clean_options.inventory.kinds.clear();

  nlohmann::json out;
  // Removals the system refused (a read-only /dev/shm, EPERM): the objects are still
  // there, which a cleanup step in CI must hear of in the exit code (it was 0).
  std::size_t failed_removals = 0;
  const auto count_failed = [&](const probes::CleanReport& report) {
    for (const auto& o : report.outcomes) {
      failed_removals += o.status == probes::CleanStatus::kFailed ? 1U : 0U;
    }
  };
  std::optional<probes::ReclaimReport> reclaimed;
  bool manifest_refused = false;
  if (f.reclaim) {
    const std::string dir = f.manifest_dir.empty() ? probes::manifest_dir() : f.manifest_dir;
    const std::set<std::string> run_filter(f.runs.begin(), f.runs.end());
    reclaimed = probes::reclaim_dead_runs(dir, clean_options, run_filter);
    for (const auto& run : reclaimed->runs) count_failed(run.clean);
    count_failed(reclaimed->quarantine);
    for (const auto& p : reclaimed->problems) {
      std::fprintf(stderr, "shmcheck audit: %s: %s\n", printable(p.source).c_str(),
                   printable(p.error.brief()).c_str());
      // The directory or a manifest in it refused: what those runs left is still there,
      // which the exit code says (it was 0). The inventory's own problems are not this.
      manifest_refused |= p.source == dir || p.source.starts_with(dir + "/");
    }
    if (f.json) {
      out["reclaim"] = probes::to_json(*reclaimed);
    } else {
      for (const auto& run : reclaimed->runs) {
        std::printf("run %s (harness %d, %s): %s\n", run.manifest.run_id.c_str(),
                    run.manifest.harness.pid, core::to_string(run.harness), run.detail.c_str());
        if (!run.clean.outcomes.empty()) print_clean(run.clean, clean_options.dry_run, "  reclaim");
        if (run.manifest_removed) std::printf("  removed manifest %s\n", run.manifest_path.c_str());
      }
      for (const auto& path : reclaimed->stale_temporaries) {
        std::printf("%s manifest temporary a killed harness left: %s\n",
                    clean_options.dry_run ? "would remove" : "removed",
                    printable_name(path).c_str());
      }
      if (!reclaimed->quarantine.outcomes.empty()) {
        std::printf("left mid-removal by a killed cleaner:\n");
        print_clean(reclaimed->quarantine, clean_options.dry_run, "  reclaim");
      }
      if (reclaimed->runs.empty()) {
        std::printf(reclaimed->problems.empty() ? "reclaim: no run manifests in %s\n"
                                                : "reclaim: no run manifest read in %s\n",
                    dir.c_str());
      }
    }
  }

  const auto inv = probes::take_inventory(options);
  if (!inv.proc_available) {
    for (const auto& p : inv.problems) {
      std::fprintf(stderr, "shmcheck audit: cannot read %s: %s\n", printable(p.source).c_str(),
                   printable(p.error.brief()).c_str());
    }
    std::fprintf(stderr,
                 "shmcheck audit: /proc is required to tell in-use from orphaned objects\n");
    return kExitEnvironment;
  }
  bool source_failed = false;
  bool limit_reached = false;
  for (const auto& p : inv.problems) {
    std::fprintf(stderr, "shmcheck audit: warning: %s: %s\n", printable(p.source).c_str(),
                 printable(p.error.brief()).c_str());
    if (p.source == options.dev_shm_dir) source_failed = true;
    if (core::is_resource_limit(p.error.code)) limit_reached = true;
  }
  if (source_failed) {
    std::fprintf(stderr, "shmcheck audit: cannot list %s\n", options.dev_shm_dir.c_str());
    return kExitEnvironment;
  }
  if (limit_reached) {
    // Not a verdict to act on: holders went unseen for a reason of the auditor's own.
    std::fprintf(stderr,
                 "shmcheck audit: the scan reached a resource limit of this process (open "
                 "files or memory) and is incomplete; raise it (ulimit -n) and run again\n");
    return kExitEnvironment;
  }
  probes::RunAttribution attribution;
  attribution.run_ids.insert(f.runs.begin(), f.runs.end());
  attribution.name_prefixes = f.prefixes;
  if (!f.runs.empty()) {
    attribution.sysv_keys = manifest_sysv_keys(
        f.manifest_dir.empty() ? probes::manifest_dir() : f.manifest_dir, attribution.run_ids);
  }
  const bool attribution_filter = !f.runs.empty() || !f.prefixes.empty();
  std::vector<IpcObject> shown;
  for (const auto& o : inv.objects) {
    if (!users.empty() && users.count(o.uid) == 0) continue;
    if (!verdicts.empty() && verdicts.count(o.verdict) == 0) continue;
    if (older_than && o.age_s < *older_than) continue;
    const auto attributed =
        attribution_filter ? probes::attribute(o, attribution) : probes::AttributionReason::kNone;
    if (attribution_filter && attributed == probes::AttributionReason::kNone) continue;
    shown.push_back(o);
    // Tagged with its run, as a POSIX object is by its name.
    if (attributed == probes::AttributionReason::kManifestKey && shown.back().run_id.empty()) {
      shown.back().run_id = attribution.sysv_keys.at(o.sysv_key);
    }
  }
  std::stable_sort(shown.begin(), shown.end(), [](const IpcObject& a, const IpcObject& b) {
    return a.bytes_allocated > b.bytes_allocated;
  });

  // Said only where it changed a verdict: the kernel's lease proves most POSIX objects
  // either way, whoever could be read.
  if (const auto unknown = unknown_for_unreadable(shown);
      inv.processes_unreadable > 0 && unknown > 0) {
    std::fprintf(stderr,
                 "shmcheck audit: %zu process(es) could not be read (e.g. pid %d); %zu "
                 "object(s) no readable process holds are 'unknown', never 'orphaned' (the "
                 "kernel gave no lease to prove them free)%s\n",
                 inv.processes_unreadable,
                 inv.unreadable_pids.empty() ? 0 : static_cast<int>(inv.unreadable_pids.front()),
                 unknown, ::geteuid() == 0 ? "" : " (run as root for a full audit)");
  }

  std::size_t orphans = 0;
  for (const auto& o : shown) orphans += o.verdict == Verdict::kOrphaned ? 1U : 0U;
  if (f.json) {
    out["inventory"] = probes::to_json(inv, shown);
  } else {
    print_table(shown);
    // Said whenever queues were asked for (also with no --kind): a host without the
    // mount listed none, and a table without them read as "no queue leaked".
    if (!inv.mqueue_available &&
        (options.kinds.empty() || options.kinds.count(IpcKind::kPosixMqueue) != 0)) {
      std::printf("note: %s is not mounted: POSIX message queues are not listed\n",
                  options.mqueue_dir.c_str());
    }
  }

  if (f.clean) {
    std::vector<IpcObject> candidates;
    for (const auto& o : shown) {
      if (o.verdict == Verdict::kOrphaned) candidates.push_back(o);
    }
    const auto report = probes::clean_orphans(candidates, clean_options);
    count_failed(report);
    orphans -= std::min(orphans, report.removed);
    if (f.json) {
      out["clean"] = probes::to_json(report);
      out["clean"]["dry_run"] = clean_options.dry_run;
    } else {
      std::printf("\n");
      print_clean(report, clean_options.dry_run, "clean");
    }
  }
  if (f.json) {
    out["orphans_remaining"] = orphans;
    // A name need not be UTF-8 (any user can create "/dev/shm/\xff"): such bytes become
    // U+FFFD in the JSON; device and inode still identify the object.
    std::puts(out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  }
  if (failed_removals > 0) {
    std::fprintf(stderr, "shmcheck audit: %zu removal(s) failed; those objects are still there\n",
                 failed_removals);
    return kExitEnvironment;
  }
  if (manifest_refused) {
    std::fprintf(stderr,
                 "shmcheck audit: --reclaim could not read its manifest directory or a manifest "
                 "in it: what those runs left may still be there\n");
    return kExitEnvironment;
  }
  return f.fail_on_orphans && orphans > 0 ? kExitExpectationFailed : kExitPass;
}

}  // namespace

CommandRunner add_audit_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "audit", "List IPC objects on this host with in_use/orphaned verdicts; clean proved orphans");
  auto f = std::make_shared<AuditFlags>();
  cmd->add_flag("--json", f->json, "Print JSON instead of a table");
  cmd->add_option("--kind", f->kinds,
                  "Only these kinds: posix_shm posix_sem posix_mq sysv_shm sysv_sem sysv_msg "
                  "memfd deleted")
      ->delimiter(',')
      ->check(non_empty_value());
  cmd->add_option("--user", f->users, "Only objects owned by this user (name or uid)")
      ->delimiter(',')
      ->check(non_empty_value());
  cmd->add_option("--older-than", f->older_than,
                  "Only objects older than DURATION (90s, 15m, 2h, 7d)")
      ->check(non_empty_value());
  cmd->add_option("--verdict", f->verdicts,
                  "Only these verdicts: in_use orphaned pending_destroy unknown")
      ->delimiter(',')
      ->check(non_empty_value());
  cmd->add_option("--filter-run", f->runs, "Only objects of this shmcheck run id")
      ->delimiter(',')
      ->check(non_empty_value());
  cmd->add_option("--name-prefix", f->prefixes, "Only objects whose name starts with this prefix")
      ->check(non_empty_value());
  cmd->add_flag("--clean", f->clean, "Remove proved orphans you own (dry run unless --yes)");
  auto* reclaim =
      cmd->add_flag("--reclaim", f->reclaim,
                    "Remove the objects of shmcheck runs whose harness died (from run manifests)");
  cmd->add_flag("--yes", f->yes, "Really remove (with --clean / --reclaim)");
  cmd->add_flag("--all-users", f->all_users, "As root: also clean other users' orphans");
  auto* fail_on_orphans = cmd->add_flag("--fail-on-orphans", f->fail_on_orphans,
                                        "Exit 1 when orphans remain (CI gates)");
  cmd->add_option("--manifest-dir", f->manifest_dir,
                  "Run manifest directory for --reclaim (default $XDG_RUNTIME_DIR/shmcheck/runs "
                  "or /tmp/shmcheck-<uid>/runs); read only when it is yours and private, in a "
                  "parent no other user can write")
      ->needs(reclaim)
      ->check(non_empty_path());
  cmd->add_option("--mqueue-dir", f->mqueue_dir,
                  "Where the mqueue file system is mounted (default /dev/mqueue)")
      ->check(non_empty_path());
  cmd->add_flag("--trust-pid-namespace", f->trust_pid_namespace,
                "Outside the host's pid namespace (a container): take this /proc as every "
                "process that can reach the objects (only when /dev/shm, /dev/mqueue and the "
                "IPC namespace are the container's own)");
  // A flag that would be ignored is a usage error: an exporter has no verdict to exit
  // with, and --min-interval paces --serve's rescans only.
  auto* serve = cmd->add_option(
      "--serve", f->serve,
      "Run as a Prometheus exporter on HOST:PORT (rescans per scrape, see --min-interval)");
  serve->check(non_empty_value());
  auto* textfile = cmd->add_option("--textfile", f->textfile,
                                   "Write the metrics in node_exporter textfile format to FILE "
                                   "(atomically; '-': standard output) and exit");
  textfile->check(non_empty_path());
  serve->excludes(textfile);
  fail_on_orphans->excludes(serve)->excludes(textfile);
  cmd->add_option("--min-interval", f->min_interval,
                  "With --serve: rescan at most this often (default 5s)")
      ->needs(serve)
      ->check(non_empty_value());
  return [f] { return run_audit(*f); };
}

}  // namespace shmcheck::harness
