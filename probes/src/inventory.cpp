// take_inventory(): lists the objects first (/dev/shm, /dev/mqueue, /proc/sysvipc),
// then walks /proc once for holders, then reads /proc/locks. That order matters: a
// holder that opens an object after the walk passed it is caught by its flock
// (shmcheck objects) or by the cleaner's re-verification.
#include "shmcheck/probes/inventory.hpp"

#include <sys/file.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "inventory_detail.hpp"
#include "unique_fd.hpp"

namespace shmcheck::probes {
namespace {

using detail::DevIno;
using detail::ProcessScan;
using detail::UniqueFd;

constexpr long kMqueueMagic = 0x19800202;  // linux/magic.h MQUEUE_MAGIC
constexpr std::uint32_t kShmDest = 01000;  // SHM_DEST in the SysV perms column

constexpr std::array<std::string_view, kIpcKindCount> kKindNames = {
    "posix_shm", "posix_sem", "posix_mq", "sysv_shm", "sysv_sem", "sysv_msg", "memfd", "deleted"};
constexpr std::array<std::string_view, kVerdictCount> kVerdictNames = {
    "in_use", "orphaned", "pending_destroy", "unknown"};
constexpr std::array<std::string_view, 4> kOpenCheckNames = {"not_checked", "not_open", "open",
                                                             "unavailable"};

bool wanted(const InventoryOptions& options, IpcKind kind) {
  return options.kinds.empty() || options.kinds.count(kind) != 0;
}

std::int64_t now_unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string run_id_from_name(std::string_view name) {
  auto parsed = core::parse_segment_name(name);
  return parsed ? parsed->run_id : std::string{};
}

// A directory of IPC files (/dev/shm or /dev/mqueue), kept open for header reads.
struct DirListing {
  UniqueFd dir;
  std::uint64_t device = 0;
  std::vector<IpcObject> objects;
  // Files of the kinds not asked for: still linked, so a holder's mapping of one is
  // not a deleted object (glibc maps a named semaphore under its temporary name, shown
  // " (deleted)": `--kind deleted` listed every live semaphore).
  std::vector<DevIno> not_wanted;
};

// Created: the birth time where the file system keeps one (tmpfs does), else the
// earlier of mtime and ctime (`touch -d 2001-01-01` made a new file 25 years old, and
// any write made an old one young).
std::int64_t creation_time(std::int64_t btime, std::int64_t mtime, std::int64_t ctime) {
  return btime > 0 ? btime : std::min(mtime, ctime);
}

void fill_from_stat(IpcObject& o, const struct stat& st, std::int64_t btime) {
  o.device = static_cast<std::uint64_t>(st.st_dev);
  o.inode = static_cast<std::uint64_t>(st.st_ino);
  o.uid = st.st_uid;
  o.gid = st.st_gid;
  o.mode = st.st_mode & 07777U;
  o.bytes_allocated = static_cast<std::uint64_t>(st.st_blocks) * 512U;
  o.nominal_size = static_cast<std::uint64_t>(st.st_size);
  o.modified_unix_s = st.st_mtim.tv_sec;
  o.created_unix_s = creation_time(btime, st.st_mtim.tv_sec, st.st_ctim.tv_sec);
}

// "QSIZE:129        NOTIFY:0     SIGNO:0     NOTIFY_PID:0"
std::uint64_t mqueue_qsize(int dirfd, const std::string& name) {
  std::string text;
  if (!detail::read_file_at(dirfd, name.c_str(), text)) return 0;
  std::string_view view(text);
  if (!view.starts_with("QSIZE:")) return 0;
  view.remove_prefix(6);
  std::uint64_t value = 0;
  return detail::parse_uint(view, value) ? value : 0;
}

// Lists /dev/shm (posix shm + semaphores) or /dev/mqueue.
void list_dir(const std::string& path, bool mqueue, const InventoryOptions& options,
              DirListing& out, Inventory& inv, bool& available) {
  auto dir = detail::open_at(AT_FDCWD, path.c_str(), O_RDONLY | O_DIRECTORY);
  if (!dir) {
    // No /dev/mqueue mount is normal; anything else is a problem worth reporting.
    if (!(mqueue && dir.error().sys_errno == ENOENT)) inv.problems.push_back({path, dir.error()});
    return;
  }
  struct stat dir_st {};
  struct statfs fs {};
  if (::fstat(dir->get(), &dir_st) != 0) return;
  if (mqueue && (::fstatfs(dir->get(), &fs) != 0 || fs.f_type != kMqueueMagic)) return;
  out.device = static_cast<std::uint64_t>(dir_st.st_dev);
  out.dir = std::move(*dir);
  const int dirfd = out.dir.get();
  auto walked = detail::for_each_entry(dirfd, [&](std::string_view entry, unsigned char type) {
    if (type != DT_REG && type != DT_UNKNOWN) return;
    const std::string name(entry);
    struct stat st {};
    std::int64_t btime = 0;
    if (!detail::stat_cached(dirfd, name.c_str(), AT_SYMLINK_NOFOLLOW, st, &btime) ||
        !S_ISREG(st.st_mode)) {
      return;
    }
    IpcObject o;
    if (mqueue) {
      o.kind = IpcKind::kPosixMqueue;
      o.name = "/" + name;
    } else if (entry.starts_with("sem.")) {
      o.kind = IpcKind::kPosixSemaphore;
      o.name = "/" + name.substr(4);
      // glibc's sem_open writes "sem.XXXXXX" and link()s it to the final name; a
      // process killed in between leaves the temporary behind.
      o.maybe_glibc_temporary = name.size() == 10 && st.st_nlink == 1;
    } else {
      o.kind = IpcKind::kPosixShm;
      o.name = "/" + name;
    }
    if (!wanted(options, o.kind)) {
      out.not_wanted.push_back(
          DevIno{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)});
      return;
    }
    o.path = path + "/" + name;
    fill_from_stat(o, st, btime);
    if (mqueue) {
      o.nominal_size = mqueue_qsize(dirfd, name);
      o.bytes_allocated = o.nominal_size;
    }
    o.run_id = run_id_from_name(o.name);
    out.objects.push_back(std::move(o));
  });
  if (!walked) {
    inv.problems.push_back({path, std::move(walked).error()});
    return;
  }
  available = true;
}

// Splits a /proc/sysvipc line into signed integers.
bool split_ints(std::string_view line, std::vector<std::int64_t>& out) {
  out.clear();
  while (true) {
    detail::skip_spaces(line);
    if (line.empty()) return true;
    bool negative = false;
    if (line.front() == '-') {
      negative = true;
      line.remove_prefix(1);
    }
    std::uint64_t value = 0;
    if (!detail::parse_uint(line, value)) return false;
    out.push_back(negative ? -static_cast<std::int64_t>(value) : static_cast<std::int64_t>(value));
  }
}

// /proc/sysvipc prints perms with "%4o": the digits we parsed as decimal are octal.
std::uint32_t octal_digits(std::int64_t decimal_digits) {
  std::uint32_t value = 0;
  std::uint32_t scale = 1;
  for (auto d = decimal_digits; d > 0; d /= 10) {
    value += static_cast<std::uint32_t>(d % 10) * scale;
    scale *= 8;
  }
  return value;
}

std::string sysv_name(std::int64_t key, int id) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "key=0x%08x id=%d",
                static_cast<unsigned>(static_cast<std::uint32_t>(key)), id);
  return buf;
}

// Reads one /proc/sysvipc file; fn(columns) per data line.
template <class Fn>
bool read_sysvipc(const std::string& path, Inventory& inv, Fn&& fn) {
  std::string text;
  auto read = detail::read_file_at(AT_FDCWD, path.c_str(), text);
  if (!read) {
    inv.problems.push_back({path, std::move(read).error()});
    return false;
  }
  std::string_view rest(text);
  const auto header_end = rest.find('\n');
  if (header_end == std::string_view::npos) return true;
  rest.remove_prefix(header_end + 1);
  std::vector<std::int64_t> cols;
  while (!rest.empty()) {
    const auto eol = rest.find('\n');
    const auto line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    if (split_ints(line, cols)) fn(cols);
  }
  return true;
}

// Processes blocked in semop on a set (each semaphore's semncnt and semzcnt): a set
// the caller may not read answers 0. Read only for sets of at most 256 semaphores (a
// syscall each), which is every set shmcheck makes.
std::uint64_t sysv_semaphore_waiters(int semid, std::uint64_t nsems) {
  if (nsems > 256) return 0;
  std::uint64_t waiters = 0;
  for (int i = 0; i < static_cast<int>(nsems); ++i) {
    for (const int what : {GETNCNT, GETZCNT}) {
      const int n = ::semctl(semid, i, what);
      if (n > 0) waiters += static_cast<std::uint64_t>(n);
    }
  }
  return waiters;
}

void read_sysv(const InventoryOptions& options, Inventory& inv, std::vector<IpcObject>& out) {
  const std::string base = options.proc_dir + "/sysvipc/";
  bool ok = true;
  if (wanted(options, IpcKind::kSysvShm)) {
    // key shmid perms size cpid lpid nattch uid gid cuid cgid atime dtime ctime rss swap
    ok = read_sysvipc(base + "shm", inv,
                      [&](const std::vector<std::int64_t>& c) {
                        if (c.size() < 14) return;
                        IpcObject o;
                        o.kind = IpcKind::kSysvShm;
                        o.sysv_key = c[0];
                        o.sysv_id = static_cast<int>(c[1]);
                        o.inode = static_cast<std::uint64_t>(c[1]);
                        const auto perms = octal_digits(c[2]);
                        o.mode = perms & 0777U;
                        o.sysv_dest = (perms & kShmDest) != 0;
                        o.nominal_size = static_cast<std::uint64_t>(c[3]);
                        o.creator = core::ProcessIdentity{static_cast<std::int32_t>(c[4]), 0, 0};
                        o.last_pid = static_cast<pid_t>(c[5]);
                        o.attach_count = static_cast<std::uint64_t>(c[6]);
                        o.uid = static_cast<uid_t>(c[7]);
                        o.gid = static_cast<gid_t>(c[8]);
                        o.modified_unix_s = std::max(c[11], c[12]);
                        o.created_unix_s = c[13];
                        o.bytes_allocated = c.size() >= 16
                                                ? static_cast<std::uint64_t>(c[14] + c[15])
                                                : o.nominal_size;
                        o.name = sysv_name(o.sysv_key, o.sysv_id);
                        out.push_back(std::move(o));
                      }) &&
         ok;
  }
  if (wanted(options, IpcKind::kSysvSemaphore)) {
    // key semid perms nsems uid gid cuid cgid otime ctime
    ok = read_sysvipc(base + "sem", inv,
                      [&](const std::vector<std::int64_t>& c) {
                        if (c.size() < 10) return;
                        IpcObject o;
                        o.kind = IpcKind::kSysvSemaphore;
                        o.sysv_key = c[0];
                        o.sysv_id = static_cast<int>(c[1]);
                        o.mode = octal_digits(c[2]) & 0777U;
                        o.nominal_size = static_cast<std::uint64_t>(c[3]);
                        o.uid = static_cast<uid_t>(c[4]);
                        o.gid = static_cast<gid_t>(c[5]);
                        o.modified_unix_s = c[8];
                        o.created_unix_s = c[9];
                        o.name = sysv_name(o.sysv_key, o.sysv_id);
                        o.waiters = sysv_semaphore_waiters(o.sysv_id, o.nominal_size);
                        out.push_back(std::move(o));
                      }) &&
         ok;
  }
  if (wanted(options, IpcKind::kSysvMqueue)) {
    // key msqid perms cbytes qnum lspid lrpid uid gid cuid cgid stime rtime ctime
    ok = read_sysvipc(base + "msg", inv,
                      [&](const std::vector<std::int64_t>& c) {
                        if (c.size() < 14) return;
                        IpcObject o;
                        o.kind = IpcKind::kSysvMqueue;
                        o.sysv_key = c[0];
                        o.sysv_id = static_cast<int>(c[1]);
                        o.mode = octal_digits(c[2]) & 0777U;
                        o.nominal_size = static_cast<std::uint64_t>(c[3]);
                        o.bytes_allocated = o.nominal_size;
                        o.last_pid = static_cast<pid_t>(c[5] != 0 ? c[5] : c[6]);
                        o.uid = static_cast<uid_t>(c[7]);
                        o.gid = static_cast<gid_t>(c[8]);
                        o.modified_unix_s = std::max(c[11], c[12]);
                        o.created_unix_s = c[13];
                        o.name = sysv_name(o.sysv_key, o.sysv_id);
                        out.push_back(std::move(o));
                      }) &&
         ok;
  }
  inv.sysvipc_available = ok;
}

// Opens (read-only, never waiting) the file a listing found at o.path under dirfd, if
// the name still refers to it: else nothing, and the next snapshot sees what replaced it.
std::optional<detail::UniqueFd> open_listed(int dirfd, const IpcObject& o) {
  const std::string name = o.path.substr(o.path.rfind('/') + 1);
  auto fd = detail::open_at(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (!fd) return std::nullopt;
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0 || static_cast<std::uint64_t>(st.st_ino) != o.inode ||
      static_cast<std::uint64_t>(st.st_dev) != o.device) {
    return std::nullopt;
  }
  return std::move(*fd);
}

// pread()s the header of a shmcheck object. Never maps, never locks: an audit
// that took even a brief LOCK_EX would make a concurrent Segment::open's
// LOCK_SH|LOCK_NB fail (only the cleaner, about to remove, may lock).
void read_shmcheck_header(int dirfd, IpcObject& o) {
  if (o.kind != IpcKind::kPosixShm || o.nominal_size < core::kSegmentHeaderSize) return;
  const auto fd = open_listed(dirfd, o);
  if (!fd) return;
  alignas(core::SegmentHeader) unsigned char buf[core::kSegmentHeaderSize];
  auto n = core::posix_call("pread", [&] { return ::pread(fd->get(), buf, sizeof buf, 0); });
  if (!n || static_cast<std::size_t>(*n) != sizeof buf) return;
  auto header = core::decode_segment_header(buf, sizeof buf);
  if (!header) return;
  o.header = std::move(*header);
  o.run_id = o.header->run_id;
  o.creator = o.header->creator;
  o.created_unix_s = static_cast<std::int64_t>(o.header->created_unix_ns / 1'000'000'000U);
}

bool creator_alive(const IpcObject& o) {
  return o.creator && o.creator_liveness == core::Liveness::kAlive;
}

// The kernel's word on a POSIX file nothing visibly holds (detail::lease_exclusively):
// asked only where it decides the verdict, on the very file that was listed.
bool needs_open_check(const IpcObject& o) {
  const bool posix_file = o.kind == IpcKind::kPosixShm || o.kind == IpcKind::kPosixSemaphore ||
                          o.kind == IpcKind::kPosixMqueue;
  return posix_file && o.holders.empty() && !o.flock_held && !creator_alive(o);
}

OpenCheck check_open(int dirfd, const IpcObject& o) {
  const auto fd = open_listed(dirfd, o);
  if (!fd) return OpenCheck::kUnavailable;
  return detail::lease_exclusively(fd->get());  // released when fd closes, right here
}

// Files someone holds a lock on, from /proc/locks ("1: FLOCK  ADVISORY  READ 1234
// 00:1a:5678 0 EOF"; the device is hex maj:min). Waiters ("1: -> FLOCK ...") hold
// nothing yet. shmcheck holders keep flock(LOCK_SH): this proves them without
// touching the lock, and without reading their /proc/<pid>/fd.
std::unordered_set<DevIno, detail::DevInoHash> locked_files(const std::string& proc_dir) {
  std::unordered_set<DevIno, detail::DevInoHash> out;
  std::string text;
  if (!detail::read_file_at(AT_FDCWD, (proc_dir + "/locks").c_str(), text)) return out;
  std::string_view rest(text);
  while (!rest.empty()) {
    const auto eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    if (line.find("->") != std::string_view::npos) continue;
    while (!line.empty()) {
      detail::skip_spaces(line);
      const auto end = line.find(' ');
      std::string_view token = line.substr(0, end);
      line.remove_prefix(end == std::string_view::npos ? line.size() : end);
      if (std::count(token.begin(), token.end(), ':') != 2) continue;
      std::uint64_t major = 0;
      std::uint64_t minor = 0;
      std::uint64_t inode = 0;
      if (!detail::parse_uint(token, major, 16) || token.empty() || token.front() != ':') break;
      token.remove_prefix(1);
      if (!detail::parse_uint(token, minor, 16) || token.empty() || token.front() != ':') break;
      token.remove_prefix(1);
      if (!detail::parse_uint(token, inode, 10)) break;
      out.insert(DevIno{static_cast<std::uint64_t>(
                            ::makedev(static_cast<unsigned>(major), static_cast<unsigned>(minor))),
                        inode});
      break;
    }
  }
  return out;
}

// Liveness of creators, answered from the /proc walk where it saw the pid (one
// hash lookup instead of an open/read/close of /proc/<pid>/stat per object), else
// asked once per pid. A process the walk saw alive may have died since: that errs
// towards in_use, the safe side.
class LivenessCache {
 public:
  explicit LivenessCache(const std::unordered_map<pid_t, std::uint64_t>& starts)
      : starts_(starts) {}

  core::Liveness of(const core::ProcessIdentity& who) {
    if (who.pid <= 0) return core::Liveness::kDead;
    if (auto it = starts_.find(who.pid); it != starts_.end()) {
      return who.start_time == 0 || who.start_time == it->second ? core::Liveness::kAlive
                                                                 : core::Liveness::kDead;
    }
    const auto key = std::make_pair(who.pid, who.start_time);
    if (auto it = asked_.find(key); it != asked_.end()) return it->second;
    const auto live = core::liveness(who);
    asked_.emplace(key, live);
    return live;
  }

 private:
  struct PairHash {
    std::size_t operator()(const std::pair<pid_t, std::uint64_t>& k) const noexcept {
      return std::hash<std::uint64_t>{}(k.second * 31U + static_cast<std::uint64_t>(k.first));
    }
  };
  const std::unordered_map<pid_t, std::uint64_t>& starts_;
  std::unordered_map<std::pair<pid_t, std::uint64_t>, core::Liveness, PairHash> asked_;
};

// SysV cpid carries no start time: a live process with that pid that started
// after the segment was created cannot be its creator.
core::Liveness sysv_creator_liveness(pid_t pid, std::int64_t created_unix_s,
                                     const std::unordered_map<pid_t, std::uint64_t>& starts,
                                     std::int64_t boot_s, LivenessCache& cache) {
  // 0: the kernel's word for a pid outside this pid namespace (a dead creator keeps its
  // number), not for a dead one: a container's audit called a host process's segment
  // orphaned.
  if (pid <= 0) return core::Liveness::kUnknown;
  const auto live = cache.of(core::ProcessIdentity{pid, 0, 0});
  if (live != core::Liveness::kAlive) return live;
  std::uint64_t start_ticks = 0;
  if (auto it = starts.find(pid); it != starts.end()) {
    start_ticks = it->second;
  } else if (auto st = core::process_start_time(pid)) {
    start_ticks = *st;
  } else {
    return core::Liveness::kUnknown;
  }
  if (boot_s == 0) return core::Liveness::kAlive;
  const auto start_s =
      boot_s + static_cast<std::int64_t>(
                   start_ticks / static_cast<std::uint64_t>(detail::clock_ticks_per_second()));
  // One second of slack: ctime and btime are whole seconds.
  return start_s > created_unix_s + 1 ? core::Liveness::kDead : core::Liveness::kAlive;
}

}  // namespace

std::string_view to_string(IpcKind kind) noexcept {
  const auto i = static_cast<std::size_t>(kind);
  return i < kKindNames.size() ? kKindNames[i] : "unknown";
}

std::optional<IpcKind> ipc_kind_from_string(std::string_view text) noexcept {
  for (std::size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == text) return static_cast<IpcKind>(i);
  }
  return std::nullopt;
}

std::string_view to_string(Verdict verdict) noexcept {
  const auto i = static_cast<std::size_t>(verdict);
  return i < kVerdictNames.size() ? kVerdictNames[i] : "unknown";
}

std::optional<Verdict> verdict_from_string(std::string_view text) noexcept {
  for (std::size_t i = 0; i < kVerdictNames.size(); ++i) {
    if (kVerdictNames[i] == text) return static_cast<Verdict>(i);
  }
  return std::nullopt;
}

std::string_view to_string(OpenCheck check) noexcept {
  const auto i = static_cast<std::size_t>(check);
  return i < kOpenCheckNames.size() ? kOpenCheckNames[i] : "unavailable";
}

std::string IpcObject::identity() const {
  std::string out(to_string(kind));
  out += ':';
  switch (kind) {
    case IpcKind::kSysvShm:
    case IpcKind::kSysvSemaphore:
    case IpcKind::kSysvMqueue:
      // ids are recycled only after the sequence number wraps; the key tells
      // a recycled id apart in the common case.
      out += std::to_string(sysv_id) + ':' + std::to_string(sysv_key);
      break;
    default:
      out += std::to_string(device) + ':' + std::to_string(inode);
      break;
  }
  return out;
}

std::string IpcObject::storage() const {
  switch (kind) {
    case IpcKind::kSysvShm:
    case IpcKind::kSysvSemaphore:
    case IpcKind::kSysvMqueue:
      return identity();
    default:
      return "file:" + std::to_string(device) + ':' + std::to_string(inode);
  }
}

std::vector<bool> counted_bytes(const std::vector<IpcObject>& objects) {
  std::vector<bool> counted;
  counted.reserve(objects.size());
  std::unordered_set<std::string> seen;
  for (const IpcObject& o : objects) counted.push_back(seen.insert(o.storage()).second);
  return counted;
}

const IpcObject* Inventory::find(std::string_view identity) const {
  for (const auto& o : objects) {
    if (o.identity() == identity) return &o;
  }
  return nullptr;
}

std::string_view to_string(IpcSource source) noexcept {
  switch (source) {
    case IpcSource::kDevShm:
      return "dev_shm";
    case IpcSource::kMqueue:
      return "mqueue";
    case IpcSource::kSysvIpc:
      return "sysvipc";
    case IpcSource::kProc:
      return "proc";
  }
  return "unknown";
}

bool lists_from(IpcKind kind, IpcSource source) noexcept {
  switch (kind) {
    case IpcKind::kPosixShm:
    case IpcKind::kPosixSemaphore:
      return source == IpcSource::kDevShm;
    case IpcKind::kPosixMqueue:
      return source == IpcSource::kMqueue;
    case IpcKind::kSysvShm:
    case IpcKind::kSysvSemaphore:
    case IpcKind::kSysvMqueue:
      return source == IpcSource::kSysvIpc;
    case IpcKind::kMemfd:
      return source == IpcSource::kProc;
    case IpcKind::kDeleted:
      return source == IpcSource::kProc || source == IpcSource::kDevShm;
  }
  return false;
}

bool Inventory::asked(IpcKind kind) const noexcept {
  return kinds_asked.empty() || kinds_asked.count(kind) != 0;
}

bool Inventory::available(IpcSource source) const noexcept {
  switch (source) {
    case IpcSource::kDevShm:
      return dev_shm_available;
    case IpcSource::kMqueue:
      return mqueue_available;
    case IpcSource::kSysvIpc:
      return sysvipc_available;
    case IpcSource::kProc:
      return proc_available;
  }
  return false;
}

bool Inventory::listed(IpcKind kind) const noexcept {
  if (!asked(kind)) return false;
  for (std::size_t s = 0; s < kIpcSourceCount; ++s) {
    const auto source = static_cast<IpcSource>(s);
    if (lists_from(kind, source) && !available(source)) return false;
  }
  return true;
}

namespace detail {
std::string short_name(const IpcObject& object) {
  std::string_view name = object.name;
  if (object.kind == IpcKind::kMemfd || object.kind == IpcKind::kDeleted) {
    if (name.ends_with(" (deleted)")) name.remove_suffix(10);
    if (name.starts_with("/memfd:")) name.remove_prefix(7);
    if (const auto slash = name.rfind('/'); slash != std::string_view::npos) {
      name.remove_prefix(slash + 1);
    }
    if (name.starts_with("sem.")) name.remove_prefix(4);
  }
  if (name.starts_with('/')) name.remove_prefix(1);
  return std::string(name);
}
}  // namespace detail

void assign_verdict(IpcObject& o, bool processes_complete) {
  const auto holder_text = [&o] {
    std::string s;
    for (std::size_t i = 0; i < o.holders.size() && i < 3; ++i) {
      if (i != 0) s += ", ";
      s += std::to_string(o.holders[i].process.pid) + " (" + o.holders[i].comm + ")";
    }
    if (o.holders.size() > 3) s += " and " + std::to_string(o.holders.size() - 3) + " more";
    return s;
  };
  const bool creator_lives = creator_alive(o);
  switch (o.kind) {
    case IpcKind::kSysvShm:
      if (o.sysv_dest) {
        o.verdict = Verdict::kPendingDestroy;
        o.reason = "marked for removal; freed when the last of " + std::to_string(o.attach_count) +
                   " attachment(s) detaches";
      } else if (o.attach_count > 0) {
        o.verdict = Verdict::kInUse;
        o.reason = std::to_string(o.attach_count) + " attachment(s)";
        if (!o.holders.empty()) o.reason += ": " + holder_text();
      } else if (creator_lives) {
        o.verdict = Verdict::kInUse;
        o.reason = "not attached, but creator " + std::to_string(o.creator->pid) + " is alive";
      } else if (o.creator && o.creator_liveness == core::Liveness::kUnknown) {
        o.verdict = Verdict::kUnknown;
        o.reason = o.creator->pid == 0
                       ? "not attached; its creator is in a pid namespace this one cannot see"
                       : "not attached; creator's liveness cannot be read";
      } else {
        o.verdict = Verdict::kOrphaned;
        o.reason = "not attached (nattch 0) and creator dead";
      }
      return;
    case IpcKind::kSysvSemaphore:
      if (o.waiters > 0) {
        o.verdict = Verdict::kInUse;
        o.reason = std::to_string(o.waiters) + " process(es) blocked in semop on it";
        return;
      }
      o.verdict = Verdict::kUnknown;
      o.reason = "SysV semaphores record no users: no proof either way";
      return;
    case IpcKind::kSysvMqueue:
      if (creator_lives) {
        o.verdict = Verdict::kInUse;
        o.reason = "last sender/receiver " + std::to_string(o.creator->pid) + " is alive";
      } else {
        o.verdict = Verdict::kUnknown;
        o.reason = "SysV message queues record no users: no proof either way";
      }
      return;
    case IpcKind::kMemfd:
    case IpcKind::kDeleted:
      // These exist only while something holds them.
      o.verdict = o.holders.empty() ? Verdict::kUnknown : Verdict::kInUse;
      o.reason = o.holders.empty() ? "no readable holder left" : "held by " + holder_text();
      return;
    case IpcKind::kPosixShm:
    case IpcKind::kPosixSemaphore:
    case IpcKind::kPosixMqueue:
      break;
  }
  const auto creator_dead = [&o] {
    return o.creator ? "; creator " + std::to_string(o.creator->pid) + " is dead" : std::string();
  };
  if (!o.holders.empty()) {
    o.verdict = Verdict::kInUse;
    o.reason = "held by " + holder_text();
  } else if (o.flock_held) {
    o.verdict = Verdict::kInUse;
    o.reason = "flock held by a process";
  } else if (creator_lives) {
    o.verdict = Verdict::kInUse;
    o.reason = "creator " + std::to_string(o.creator->pid) + " is alive";
  } else if (o.open_check == OpenCheck::kOpen) {
    o.verdict = Verdict::kInUse;
    o.reason = detail::kHeldUnseen;
  } else if (o.open_check == OpenCheck::kNotOpen) {
    o.verdict = Verdict::kOrphaned;
    o.reason = "nothing holds it (the kernel granted an exclusive lease)" + creator_dead();
  } else if (!processes_complete) {
    o.verdict = Verdict::kUnknown;
    o.reason = "no holder seen, but the walk of processes is incomplete";
  } else {
    o.verdict = Verdict::kOrphaned;
    o.reason = "no process holds it" + creator_dead();
  }
}

bool is_mqueue_mount(const std::string& dir) noexcept {
  struct statfs fs {};
  return ::statfs(dir.c_str(), &fs) == 0 && fs.f_type == kMqueueMagic;
}

// The holders of objects the kernel says are held (it refused a lease) where the walk
// found none: a thread that unshared its file table (unshare(CLONE_FILES)) keeps fds that
// /proc/<pid>/fd does not list, only /proc/<pid>/task/<tid>/fd. Looked for only then
// (a walk of every thread's table would cost the common case). The verdict stays in_use;
// the reason names the holder instead of "a process the walk cannot see".
void name_thread_holders(const std::string& proc_dir, const ProcessScan& scan,
                         bool processes_complete, std::vector<IpcObject>& objects) {
  std::unordered_map<DevIno, std::vector<IpcObject*>, detail::DevInoHash> unseen;
  for (auto& o : objects) {
    if (o.open_check == OpenCheck::kOpen && o.holders.empty() && !o.flock_held) {
      unseen[DevIno{o.device, o.inode}].push_back(&o);
    }
  }
  if (unseen.empty()) return;
  auto proc = detail::open_at(AT_FDCWD, proc_dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (!proc) return;
  for (const auto& p : scan.processes) {
    const std::string pid = std::to_string(p.id.pid);
    auto tasks = detail::open_at(proc->get(), (pid + "/task").c_str(), O_RDONLY | O_DIRECTORY);
    if (!tasks) continue;
    (void)detail::for_each_entry(tasks->get(), [&](std::string_view tid, unsigned char) {
      if (tid == pid) return;  // the process's own table: walked already
      auto fds =
          detail::open_at(tasks->get(), (std::string(tid) + "/fd").c_str(), O_RDONLY | O_DIRECTORY);
      if (!fds) return;
      (void)detail::for_each_entry(fds->get(), [&](std::string_view fd, unsigned char) {
        struct stat st {};
        if (!detail::stat_cached(fds->get(), std::string(fd).c_str(), 0, st)) return;
        const auto it = unseen.find(
            DevIno{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)});
        if (it == unseen.end()) return;
        int number = -1;
        std::from_chars(fd.data(), fd.data() + fd.size(), number);
        for (IpcObject* o : it->second) {
          const bool seen = std::ranges::any_of(
              o->holders, [&](const Holder& h) { return h.process.pid == p.id.pid; });
          if (!seen) o->holders.push_back(Holder{p.id, p.comm, p.uid, number, false, false});
        }
      });
    });
  }
  for (auto& [key, list] : unseen) {
    for (IpcObject* o : list) {
      if (!o->holders.empty()) assign_verdict(*o, processes_complete);
    }
  }
}

Inventory take_inventory(const InventoryOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  Inventory inv;
  inv.kinds_asked = options.kinds;
  inv.taken_unix_ns = now_unix_ns();
  const std::int64_t now_s = inv.taken_unix_ns / 1'000'000'000;

  // 1. The objects.
  DirListing shm;
  DirListing mq;
  const bool want_shm_dir = wanted(options, IpcKind::kPosixShm) ||
                            wanted(options, IpcKind::kPosixSemaphore) ||
                            wanted(options, IpcKind::kDeleted);
  if (want_shm_dir) list_dir(options.dev_shm_dir, false, options, shm, inv, inv.dev_shm_available);
  list_dir(options.mqueue_dir, true, options, mq, inv, inv.mqueue_available);
  std::vector<IpcObject> sysv;
  read_sysv(options, inv, sysv);

  // 2. One walk over /proc.
  std::set<std::uint64_t> devices;
  if (shm.dir.valid()) devices.insert(shm.device);
  if (mq.dir.valid()) devices.insert(mq.device);
  ProcessScan scan;
  if (options.scan_processes) {
    scan = detail::scan_processes(options.proc_dir, devices, options.read_headers,
                                  options.trust_pid_namespace);
    for (auto& p : scan.problems) inv.problems.push_back(std::move(p));
    scan.problems.clear();
  }
  inv.proc_available = scan.ran;
  inv.processes_scanned = scan.processes.size();
  inv.processes_unreadable = scan.unreadable;
  inv.unreadable_pids = scan.unreadable_pids;
  const bool complete =
      scan.ran && scan.unreadable == 0 &&
      std::none_of(inv.problems.begin(), inv.problems.end(),
                   [&](const InventoryProblem& p) { return p.source == options.proc_dir; });
  std::unordered_map<pid_t, std::uint64_t> starts;
  starts.reserve(scan.processes.size());
  for (const auto& p : scan.processes) starts.emplace(p.id.pid, p.id.start_time);
  const std::int64_t boot_s = detail::boot_time_unix_s(options.proc_dir);
  LivenessCache liveness(starts);
  const auto locks = locked_files(options.proc_dir);

  // 3. Holders, headers, flock probes, verdicts.
  std::unordered_set<DevIno, detail::DevInoHash> listed;
  inv.objects.reserve(shm.objects.size() + mq.objects.size() + sysv.size() + scan.held_only.size());
  for (DirListing* listing : {&shm, &mq}) {
    listed.insert(listing->not_wanted.begin(), listing->not_wanted.end());
    for (auto& o : listing->objects) {
      listed.insert(DevIno{o.device, o.inode});
      if (auto it = scan.by_file.find(DevIno{o.device, o.inode}); it != scan.by_file.end()) {
        o.holders = detail::make_holders(scan, it->second, false);
      }
      const bool ours = detail::short_name(o).starts_with(core::kNamePrefix);
      if (ours && options.read_headers) read_shmcheck_header(listing->dir.get(), o);
      o.flock_held = locks.count(DevIno{o.device, o.inode}) != 0;
      if (o.creator) o.creator_liveness = liveness.of(*o.creator);
      if (needs_open_check(o)) o.open_check = check_open(listing->dir.get(), o);
      assign_verdict(o, complete);
      inv.objects.push_back(std::move(o));
    }
  }
  const bool sysv_pids_here = detail::proc_numbers_own_pids(options.proc_dir);
  for (auto& o : sysv) {
    if (o.kind == IpcKind::kSysvShm) {
      if (auto it = scan.by_shmid.find(o.sysv_id); it != scan.by_shmid.end()) {
        o.holders = detail::make_holders(scan, it->second, true);
      }
    }
    if (o.creator) {
      o.creator_liveness =
          sysv_creator_liveness(o.creator->pid, o.created_unix_s, starts, boot_s, liveness);
    } else if (o.kind == IpcKind::kSysvMqueue && o.last_pid > 0) {
      // The last sender/receiver is evidence of use (never proof of an orphan).
      o.creator = core::ProcessIdentity{static_cast<std::int32_t>(o.last_pid), 0, 0};
      o.creator_liveness =
          sysv_creator_liveness(o.last_pid, o.modified_unix_s, starts, boot_s, liveness);
    }
    if (o.creator && !sysv_pids_here) o.creator_liveness = core::Liveness::kUnknown;
    assign_verdict(o, complete);
    if (o.kind == IpcKind::kSysvShm && o.creator && o.creator->pid > 0 && !sysv_pids_here &&
        o.verdict == Verdict::kUnknown) {
      o.reason = "not attached; creator " + std::to_string(o.creator->pid) +
                 " is numbered in this process's pid namespace and " + options.proc_dir +
                 " shows another: its liveness cannot be read";
    }
    inv.objects.push_back(std::move(o));
  }
  for (auto& [key, held] : scan.held_only) {
    if (listed.count(key) != 0 || !wanted(options, held.kind)) continue;
    IpcObject o;
    o.kind = held.kind;
    o.name = held.link;
    o.device = key.dev;
    o.inode = key.ino;
    if (held.stat_known) {
      o.uid = held.uid;
      o.gid = held.gid;
      o.mode = held.mode;
      o.bytes_allocated = held.blocks_bytes;
      o.nominal_size = held.size;
      o.modified_unix_s = held.mtime;
      o.created_unix_s = creation_time(held.btime, held.mtime, held.ctime);
    } else {
      o.nominal_size = held.mapped_bytes;
    }
    if (auto it = scan.by_file.find(key); it != scan.by_file.end()) {
      o.holders = detail::make_holders(scan, it->second, false);
    }
    if (!held.stat_known && !o.holders.empty()) o.uid = o.holders.front().uid;
    o.run_id = run_id_from_name(detail::short_name(o));
    if (held.header) {
      o.header = held.header;
      o.run_id = held.header->run_id;
      o.creator = held.header->creator;
      o.creator_liveness = liveness.of(*o.creator);
    }
    assign_verdict(o, complete);
    inv.objects.push_back(std::move(o));
  }
  name_thread_holders(options.proc_dir, scan, complete, inv.objects);
  for (auto& o : inv.objects)
    o.age_s = o.created_unix_s > 0 ? std::max<std::int64_t>(0, now_s - o.created_unix_s) : 0;
  inv.scan_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               std::chrono::steady_clock::now() - started)
                                               .count());
  return inv;
}

std::string_view to_string(AttributionReason reason) noexcept {
  switch (reason) {
    case AttributionReason::kNone:
      return "none";
    case AttributionReason::kHeaderRunId:
      return "header run id";
    case AttributionReason::kNameRunId:
      return "run id in name";
    case AttributionReason::kNamePrefix:
      return "name prefix";
    case AttributionReason::kCreatorPid:
      return "creator pid";
    case AttributionReason::kHolderPid:
      return "holder pid";
    case AttributionReason::kManifestKey:
      return "key of a manifest object";
  }
  return "none";
}

AttributionReason attribute(const IpcObject& o, const RunAttribution& run) {
  if (o.header && run.run_ids.count(o.header->run_id) != 0) return AttributionReason::kHeaderRunId;
  if (!o.run_id.empty() && run.run_ids.count(o.run_id) != 0) return AttributionReason::kNameRunId;
  if ((o.kind == IpcKind::kSysvShm || o.kind == IpcKind::kSysvSemaphore ||
       o.kind == IpcKind::kSysvMqueue) &&
      run.sysv_keys.count(o.sysv_key) != 0) {
    return AttributionReason::kManifestKey;
  }
  if (!run.name_prefixes.empty()) {
    const std::string bare = detail::short_name(o);
    for (std::string_view prefix : run.name_prefixes) {
      if (prefix.starts_with('/')) prefix.remove_prefix(1);
      if (!prefix.empty() && bare.starts_with(prefix)) return AttributionReason::kNamePrefix;
    }
  }
  if (o.creator && run.creator_pids.count(o.creator->pid) != 0 &&
      o.kind != IpcKind::kSysvMqueue) {  // a msg queue's "creator" is only its last user
    return AttributionReason::kCreatorPid;
  }
  if (run.include_holders) {
    for (const auto& h : o.holders) {
      if (run.creator_pids.count(h.process.pid) != 0) return AttributionReason::kHolderPid;
    }
  }
  return AttributionReason::kNone;
}

std::vector<IpcObject> InventoryDiff::appeared_from(const RunAttribution& run) const {
  std::vector<IpcObject> out;
  for (const auto& o : appeared) {
    if (attribute(o, run) != AttributionReason::kNone) out.push_back(o);
  }
  return out;
}

InventoryDiff diff(const Inventory& before, const Inventory& after) {
  std::unordered_set<std::string> before_ids;
  before_ids.reserve(before.objects.size());
  for (const auto& o : before.objects) before_ids.insert(o.identity());
  std::unordered_set<std::string> after_ids;
  after_ids.reserve(after.objects.size());
  InventoryDiff out;
  for (const auto& o : after.objects) {
    auto id = o.identity();
    if (before_ids.count(id) == 0) out.appeared.push_back(o);
    after_ids.insert(std::move(id));
  }
  for (const auto& o : before.objects) {
    if (after_ids.count(o.identity()) == 0) out.disappeared.push_back(o);
  }
  return out;
}

}  // namespace shmcheck::probes
