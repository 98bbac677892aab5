// Private pieces of the inventory: the one /proc walk and the object-source
// readers. Not installed; used by inventory*.cpp and cleaner.cpp.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "shmcheck/probes/inventory.hpp"

namespace shmcheck::probes::detail {

struct DevIno {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  friend bool operator==(const DevIno&, const DevIno&) = default;
};

struct DevInoHash {
  std::size_t operator()(const DevIno& k) const noexcept {
    // splitmix-style mix: inodes are dense small numbers on tmpfs.
    std::uint64_t x = k.ino * 0x9E3779B97F4A7C15ULL ^ (k.dev + 0x632BE59BD9B4E019ULL);
    x ^= x >> 31U;
    return static_cast<std::size_t>(x);
  }
};

struct ProcessInfo {
  core::ProcessIdentity id{};
  pid_t ppid = 0;
  uid_t uid = 0;
  std::string comm;
};

struct HolderRef {
  std::uint32_t process = 0;  // index into ProcessScan::processes
  int fd = -1;
  bool mapped = false;
};

// A memfd or unlinked-but-held /dev/shm (or mqueue) file found through a process.
struct HeldOnlyObject {
  IpcKind kind = IpcKind::kMemfd;
  std::string link;  // readlink text or maps path
  DevIno key;
  bool stat_known = false;
  std::uint64_t blocks_bytes = 0;
  std::uint64_t size = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::uint32_t mode = 0;
  std::int64_t mtime = 0;
  std::int64_t ctime = 0;
  std::int64_t btime = 0;          // birth time, where the file system keeps one; else 0
  std::uint64_t mapped_bytes = 0;  // largest mapping seen, when no fd could be stat'ed
  std::optional<core::SegmentHeaderInfo> header;
};

struct ProcessScan {
  bool ran = false;
  std::vector<ProcessInfo> processes;
  std::unordered_map<DevIno, std::vector<HolderRef>, DevInoHash> by_file;
  std::unordered_map<int, std::vector<HolderRef>> by_shmid;  // SysV attachments (maps /SYSV)
  std::unordered_map<DevIno, HeldOnlyObject, DevInoHash> held_only;
  std::size_t unreadable = 0;
  std::vector<pid_t> unreadable_pids;
  std::vector<InventoryProblem> problems;

  [[nodiscard]] bool complete() const noexcept {
    return ran && unreadable == 0 && problems.empty();
  }
};

// Walks proc_dir once. `ipc_devices`: st_dev of /dev/shm and /dev/mqueue; files on
// them (and memfds) are recorded as holder evidence, everything else is ignored.
// `read_headers`: decode shmcheck headers of memfds found through their fds.
// `trust_pid_namespace`: see InventoryOptions; without it, a /proc of any pid namespace
// but the host's is a problem (the scan is not complete).
ProcessScan scan_processes(const std::string& proc_dir, const std::set<std::uint64_t>& ipc_devices,
                           bool read_headers, bool trust_pid_namespace);

// The host's (initial) pid namespace, as /proc/<pid>/ns/pid reads: PROC_PID_INIT_INO.
inline constexpr std::string_view kHostPidNamespace = "pid:[4026531836]";

// This process's pid namespace and the one proc_dir shows (its pid 1's: readable to
// root only, else empty), as "pid:[inode]".
struct PidNamespaces {
  std::string self;
  std::string proc;
  // Whether this /proc shows the processes of pid namespace `ns`: it is this process's,
  // and the /proc is of it too (as far as a non-root reader can tell).
  [[nodiscard]] bool shows(std::string_view ns) const {
    return !self.empty() && ns == self && (proc.empty() || proc == self);
  }
  // Why a walk of this /proc may miss processes (this process outside the host's pid
  // namespace, or a /proc of another namespace than its own); nullopt when it cannot.
  [[nodiscard]] std::optional<std::string> hidden_processes() const;
};
[[nodiscard]] PidNamespaces pid_namespaces(const std::string& proc_dir);

// Whether proc_dir numbers processes as this process's pid namespace does: the kernel
// gives /proc/sysvipc's pids (a segment's creator, a queue's last sender) in the
// reader's namespace, so only then do they name the processes this /proc shows. False
// for a /proc of another namespace (`unshare -p` without remounting it: the creator's
// number there belongs to someone else, or to nobody) and when it cannot tell.
[[nodiscard]] bool proc_numbers_own_pids(const std::string& proc_dir);

std::set<pid_t> process_tree_impl(pid_t root, const std::string& proc_dir);

// Converts the holder refs of one object into Holder values (merged per process).
std::vector<Holder> make_holders(const ProcessScan& scan, const std::vector<HolderRef>& refs,
                                 bool sysv);

// Reads one /proc/<pid>/stat: ppid, state, flags, start time, comm.
struct StatLine {
  pid_t ppid = 0;
  char state = '?';
  std::uint64_t flags = 0;
  std::uint64_t start_time = 0;
  std::string comm;
};
bool parse_stat_line(std::string_view text, StatLine& out);

// Boot time (seconds since the epoch) and clock ticks per second, to compare a
// process start time with SysV ctime.
std::int64_t boot_time_unix_s(const std::string& proc_dir);
long clock_ticks_per_second();

// Asks the kernel whether any other open file description of fd's file exists: an fd
// or a mapping (read-only ones too), in any process of any pid namespace. It grants a
// write lease (F_SETLEASE F_WRLCK) only when none does (fs/locks.c counts the
// file's writers and readers; fd must be this caller's only open of it, read-only).
// kNotOpen leaves the lease on fd until fd is closed or the lease released: meanwhile
// anyone's open() of the file waits for that (an O_NONBLOCK one fails with EWOULDBLOCK),
// so a file removed under the lease is one nobody held or opened in between. The lease
// break such an open causes signals SIGURG (ignored unless handled) instead of the
// default SIGIO, which would terminate the caller. A child forked meanwhile shares the
// leased open file description until it execs (fd is O_CLOEXEC) or exits, so callers
// hold the lease for a few system calls only.
OpenCheck lease_exclusively(int fd) noexcept;
// Why an object is held when only the refused lease says so (verdicts and the cleaner).
inline constexpr const char* kHeldUnseen =
    "held by a process the /proc walk cannot see (the kernel refused an exclusive lease)";

// fstatat(dirfd, name, flags) from what the kernel has cached (statx with
// AT_STATX_DONT_SYNC): the /proc walk stats every fd of every process, and a stat that
// asked a FUSE or hard-mounted NFS server that stopped answering hung the audit in an
// uninterruptible wait (not even SIGKILL ended it). `created`, when given: the birth
// time where the file system keeps one (tmpfs does), else 0. False with errno set.
bool stat_cached(int dirfd, const char* name, int flags, struct stat& st,
                 std::int64_t* created = nullptr) noexcept;

// Short name for prefix matching: no leading '/', no "sem.", "memfd:" or
// " (deleted)" decorations ("/dev/shm/x (deleted)" -> "x").
std::string short_name(const IpcObject& object);

}  // namespace shmcheck::probes::detail
