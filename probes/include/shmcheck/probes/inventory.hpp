// Inventory: a snapshot of every IPC object on this Linux host, each with the
// evidence about who holds it and a verdict (in_use, orphaned, pending_destroy,
// unknown). The leak probe of a run, the `shmcheck audit` command and the
// GoogleTest leak listener are all built on it.
//
// Sources: /dev/shm (POSIX shm and `sem.*` named semaphores, glibc's `sem.XXXXXX`
// temporaries included), /dev/mqueue (when mounted), /proc/sysvipc/{shm,sem,msg},
// and per process /proc/<pid>/fd and /proc/<pid>/maps (holders; memfd and
// deleted-but-mapped memory). /proc is walked once per snapshot; holders are
// matched to objects by (device, inode), never by path (the maps device is hex; a
// SysV mapping's inode is its shmid).
//
// Verdicts fail closed: an object is `orphaned` only on a proof. For a POSIX file
// (shm, named semaphore, message queue) that no readable process holds, the kernel
// gives one directly: it grants an exclusive lease (F_SETLEASE F_WRLCK) only while
// no other open file description of the file exists — no fd and no mapping, read-only
// ones included, in any process of any pid namespace, readable to us or not. Granted:
// `orphaned`; refused: `in_use` (held by a process the /proc walk cannot see, e.g. in
// another container sharing /dev/shm). Where the lease cannot be asked for (not the
// caller's file and no CAP_LEASE, leases disabled), the /proc walk is the only
// evidence, and when any process could not be read (permissions, hidepid, a pid 1
// unreadable even to root) an object not proved held is `unknown`, never `orphaned`.
// SysV semaphore sets and message queues carry no attachment count: `unknown` (a run
// manifest of a dead harness is the only proof, see run_manifest.hpp / cleaner.hpp).
// Objects created by shmcheck carry a SegmentHeader, read with pread (no mapping,
// no lock), so their run and creator are attributed positively; their holders
// also keep flock(LOCK_SH), which is read from /proc/locks — the audit never takes
// a flock itself (a concurrent Segment::open's LOCK_SH|LOCK_NB must not fail
// because someone was merely looking). The lease is asked for only on objects nothing
// visibly holds, and held for two system calls: an open() of the file in that instant
// waits for its release (an O_NONBLOCK open fails with EWOULDBLOCK).
//
// Not shared memory itself: plain values owned by the caller. take_inventory() is
// safe to call from any thread; it never creates, changes or removes an object.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "shmcheck/core/process_identity.hpp"
#include "shmcheck/core/result.hpp"
#include "shmcheck/core/segment_header.hpp"

namespace shmcheck::probes {

enum class IpcKind : std::uint8_t {
  kPosixShm,        // /dev/shm/<name>
  kPosixSemaphore,  // /dev/shm/sem.<name> (sem_open)
  kPosixMqueue,     // /dev/mqueue/<name>
  kSysvShm,         // /proc/sysvipc/shm
  kSysvSemaphore,   // /proc/sysvipc/sem
  kSysvMqueue,      // /proc/sysvipc/msg
  kMemfd,           // memfd_create: exists only while a process holds an fd or mapping
  kDeleted,         // a /dev/shm or /dev/mqueue file already unlinked but still held
};
inline constexpr std::size_t kIpcKindCount = 8;

// "posix_shm", "posix_sem", "posix_mq", "sysv_shm", "sysv_sem", "sysv_msg", "memfd", "deleted"
[[nodiscard]] std::string_view to_string(IpcKind kind) noexcept;
[[nodiscard]] std::optional<IpcKind> ipc_kind_from_string(std::string_view text) noexcept;

// What an inventory reads its objects from.
enum class IpcSource : std::uint8_t { kDevShm, kMqueue, kSysvIpc, kProc };
inline constexpr std::size_t kIpcSourceCount = 4;
// "dev_shm", "mqueue", "sysvipc", "proc"
[[nodiscard]] std::string_view to_string(IpcSource source) noexcept;
// Whether objects of `kind` are listed from `source` (a deleted object: from /proc's
// maps and fds, of files on /dev/shm's file system).
[[nodiscard]] bool lists_from(IpcKind kind, IpcSource source) noexcept;

enum class Verdict : std::uint8_t {
  kInUse,           // held: by a readable process (fd, mapping, flock, SysV attach), by one the
                    // kernel knows of (lease refused), or its creator lives
  kOrphaned,        // proved: the kernel says nothing holds it (lease granted), or no process
                    // holds it and every process could be read
  kPendingDestroy,  // SysV shm marked for removal (SHM_DEST), freed at the last detach
  kUnknown,         // could not be proved either way: never removed
};
inline constexpr std::size_t kVerdictCount = 4;

// "in_use", "orphaned", "pending_destroy", "unknown"
[[nodiscard]] std::string_view to_string(Verdict verdict) noexcept;
[[nodiscard]] std::optional<Verdict> verdict_from_string(std::string_view text) noexcept;

// What the kernel answered when asked for an exclusive lease on a POSIX file.
enum class OpenCheck : std::uint8_t {
  kNotChecked,   // not asked: a holder or a live creator already decided, or not a POSIX file
  kNotOpen,      // lease granted: no open file description of it exists on this host
  kOpen,         // lease refused: some process holds it open or mapped
  kUnavailable,  // no answer: not ours and no CAP_LEASE, leases disabled, replaced meanwhile
};
// "not_checked", "not_open", "open", "unavailable"
[[nodiscard]] std::string_view to_string(OpenCheck check) noexcept;

// One process that holds an object, and how.
struct Holder {
  core::ProcessIdentity process{};  // pid + start time (read during the walk)
  std::string comm;                 // /proc/<pid>/comm, for people
  uid_t uid = 0;                    // real uid of the process
  int fd = -1;                      // an fd number referring to the object (-1: none)
  bool mapped = false;              // has at least one mapping of the object
  bool sysv_attached = false;       // SysV shm: attach seen in maps (/SYSV<key>)

  friend bool operator==(const Holder&, const Holder&) = default;
};

struct IpcObject {
  IpcKind kind = IpcKind::kPosixShm;
  // POSIX: the name as passed to shm_open/sem_open/mq_open ("/shmcheck.0.ab.q",
  // "/mysem" for /dev/shm/sem.mysem). SysV: "key=0x0000abcd id=42". memfd and
  // deleted: the link text ("/memfd:name (deleted)", "/dev/shm/x (deleted)").
  std::string name;
  // Where it lives in the file system: "/dev/shm/sem.mysem", "/dev/mqueue/q";
  // empty for SysV, memfd and deleted objects.
  std::string path;
  std::int64_t sysv_key = 0;  // SysV key (0 = IPC_PRIVATE)
  int sysv_id = -1;           // SysV shmid/semid/msqid; -1 otherwise
  std::uint64_t device = 0;   // st_dev (POSIX, memfd, deleted); 0 for SysV
  std::uint64_t inode = 0;    // st_ino; the shmid for SysV shm
  uid_t uid = 0;              // owner
  gid_t gid = 0;
  std::uint32_t mode = 0;  // permission bits (SysV: perms incl. SHM_DEST 01000 is kept apart)
  std::uint64_t bytes_allocated = 0;  // memory actually used: st_blocks*512; SysV shm: rss+swap
  std::uint64_t nominal_size = 0;     // st_size; SysV: segment size / nsems / queue bytes
  std::int64_t created_unix_s = 0;    // header creation time, SysV ctime, else birth time or
                                      // (where the file system keeps none) min(mtime, ctime)
  std::int64_t modified_unix_s = 0;   // mtime / last SysV operation time
  std::int64_t age_s = 0;             // snapshot time - created_unix_s
  // Creator: SysV cpid (start time unknown: 0), or the shmcheck header's creator.
  std::optional<core::ProcessIdentity> creator;
  core::Liveness creator_liveness = core::Liveness::kUnknown;  // meaningful when creator is set
  pid_t last_pid = 0;              // SysV shm lpid / msg lspid; 0 when unknown
  std::uint64_t attach_count = 0;  // SysV shm nattch
  // SysV semaphores: processes blocked in semop on the set now (semncnt + semzcnt of
  // each semaphore): proof it is in use. 0 also when the set could not be asked.
  std::uint64_t waiters = 0;
  bool sysv_dest = false;  // SysV shm: SHM_DEST set (removed at the last detach)
  // Named as glibc names a sem_open's temporary file (sem. and 6 characters): maybe one
  // a sem_open killed before its link() left, or a semaphore given such a name (the
  // two are alike in every way the auditor can see).
  bool maybe_glibc_temporary = false;
  bool flock_held = false;  // /proc/locks lists a lock on it (shmcheck holders flock)
  OpenCheck open_check = OpenCheck::kNotChecked;  // the kernel's word, when it was asked
  std::vector<Holder> holders;
  // shmcheck's own objects: the decoded header (read with pread).
  std::optional<core::SegmentHeaderInfo> header;
  // Run id from the header, else parsed from a "shmcheck.<uid>.<run>.<object>" name.
  std::string run_id;
  Verdict verdict = Verdict::kUnknown;
  std::string reason;  // why the verdict, for people ("held by 1234 (worker) fd 5")

  // Stable identity within one host boot, used by diff(): kind + (device, inode)
  // for file-backed objects, kind + id + key + creation time for SysV.
  [[nodiscard]] std::string identity() const;
  // What holds its memory: (device, inode) for a file-backed object, whatever its kind
  // (two names of one file in /dev/shm, hard links, are one storage, and so is a
  // deleted name of a file still listed under another); the identity for SysV.
  [[nodiscard]] std::string storage() const;
  [[nodiscard]] bool is_shmcheck() const noexcept { return header.has_value() || !run_id.empty(); }
};

// Whether each object's bytes_allocated counts in a total of bytes: only the first
// (in list order) of the objects that share a storage(). Counts of objects count every
// name; bytes count what memory holds once (two hard links of 1 MiB are 1 MiB).
[[nodiscard]] std::vector<bool> counted_bytes(const std::vector<IpcObject>& objects);

struct InventoryOptions {
  // Empty: every kind.
  std::set<IpcKind> kinds;
  // Read shmcheck headers (objects named shmcheck.*; pread only).
  bool read_headers = true;
  // Walk /proc for holders (memfd and deleted objects need it too). Off: every
  // POSIX object is `unknown` (SysV shm still has nattch).
  bool scan_processes = true;
  // Every process that can reach these objects is in this /proc's pid namespace (a
  // container with /dev/shm, /dev/mqueue and an IPC namespace of its own). Off: outside
  // the host's pid namespace the walk is incomplete, so only the kernel's lease proves
  // a POSIX object orphaned. (SysV shm needs no walk: nattch counts every attachment,
  // and a creator this namespace cannot see, cpid 0, is `unknown` either way.)
  bool trust_pid_namespace = false;
  // Roots, overridable for tests.
  std::string dev_shm_dir = "/dev/shm";
  std::string mqueue_dir = "/dev/mqueue";
  std::string proc_dir = "/proc";
};

// Something that stopped part of the snapshot; the rest is still reported, and
// verdicts stay fail-closed.
struct InventoryProblem {
  std::string source;  // "/dev/shm", "/proc", "/proc/sysvipc/shm", "/proc/1234/fd"
  core::Error error;
};

struct Inventory {
  std::vector<IpcObject> objects;
  std::int64_t taken_unix_ns = 0;
  std::uint64_t scan_ns = 0;             // wall time the snapshot took
  std::size_t processes_scanned = 0;     // processes whose fd and maps were read
  std::size_t processes_unreadable = 0;  // processes we could not read: verdicts fail closed
  std::vector<pid_t> unreadable_pids;    // the first few, for messages
  bool dev_shm_available = false;
  bool mqueue_available = false;  // /dev/mqueue mounted and readable
  bool sysvipc_available = false;
  bool proc_available = false;
  std::set<IpcKind> kinds_asked;  // InventoryOptions::kinds (empty: every kind)
  std::vector<InventoryProblem> problems;

  // True when every source was read and every process inspected.
  [[nodiscard]] bool complete() const noexcept {
    return problems.empty() && processes_unreadable == 0;
  }
  [[nodiscard]] const IpcObject* find(std::string_view identity) const;
  // Whether objects of `kind` were asked for (InventoryOptions::kinds).
  [[nodiscard]] bool asked(IpcKind kind) const noexcept;
  // Whether `source` could be read.
  [[nodiscard]] bool available(IpcSource source) const noexcept;
  // Whether objects of `kind` were looked for and every source they are listed from
  // could be read: a kind not listed is unknown, not zero (/dev/mqueue not mounted,
  // --kind leaving it out).
  [[nodiscard]] bool listed(IpcKind kind) const noexcept;
};

// True when `dir` is a mounted mqueue file system (what --mqueue-dir must name).
[[nodiscard]] bool is_mqueue_mount(const std::string& dir) noexcept;

// Takes a snapshot. Never throws for environment problems: they land in
// `problems` (fatal only if the caller decides so, e.g. no /proc at all).
[[nodiscard]] Inventory take_inventory(const InventoryOptions& options = {});

// Re-judges one object from fresh holder evidence (the same rules as take_inventory).
// Exposed for the cleaner and for tests.
void assign_verdict(IpcObject& object, bool processes_complete);

// What a run or a test may call its own. An object matches when any rule holds.
struct RunAttribution {
  std::set<std::string> run_ids;           // header run_id or the run id in the name
  std::vector<std::string> name_prefixes;  // e.g. "/shmcheck.1000.ab12cd34ef56ab78." or "/mytest."
  std::set<pid_t> creator_pids;            // header creator or SysV cpid in this set
  bool include_holders = false;            // also match objects held by a pid in creator_pids
  // SysV keys of runs' manifest objects (core::sysv_key_for of each object's name, every
  // attempt) -> the run id: a SysV object has no name, and its header is not read, so a
  // run's segments and semaphore sets are found by the keys the harness derived.
  std::map<std::int64_t, std::string> sysv_keys;
};

enum class AttributionReason : std::uint8_t {
  kNone,
  kHeaderRunId,
  kNameRunId,
  kNamePrefix,
  kCreatorPid,
  kHolderPid,
  kManifestKey
};
[[nodiscard]] std::string_view to_string(AttributionReason reason) noexcept;
[[nodiscard]] AttributionReason attribute(const IpcObject& object, const RunAttribution& run);

struct InventoryDiff {
  std::vector<IpcObject> appeared;     // in `after`, not in `before` (state from `after`)
  std::vector<IpcObject> disappeared;  // in `before`, not in `after` (state from `before`)

  // The appeared objects that `run` can call its own.
  [[nodiscard]] std::vector<IpcObject> appeared_from(const RunAttribution& run) const;
};

[[nodiscard]] InventoryDiff diff(const Inventory& before, const Inventory& after);

// `root` and every live descendant of it (from the ppid field of /proc/<pid>/stat).
// Dead descendants cannot be named from /proc: callers that fork record them.
[[nodiscard]] std::set<pid_t> process_tree(pid_t root, const std::string& proc_dir = "/proc");

}  // namespace shmcheck::probes
