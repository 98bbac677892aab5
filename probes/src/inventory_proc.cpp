// The one /proc walk of a snapshot: per process, its identity (stat), its fds
// (readlinkat + stat_cached: device and inode of what each fd refers to) and its
// mappings (/proc/<pid>/maps: hex device, inode; /SYSV entries carry the shmid).
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "inventory_detail.hpp"
#include "unique_fd.hpp"

namespace shmcheck::probes::detail {

bool stat_cached(int dirfd, const char* name, int flags, struct stat& st,
                 std::int64_t* created) noexcept {
  // A seccomp profile older than statx refuses it with EPERM (glibc falls back to
  // fstatat only on ENOSYS): then every entry was skipped, and an audit saw nothing.
  static std::atomic<bool> statx_refused{false};
  if (statx_refused.load(std::memory_order_relaxed)) {
    if (created != nullptr) *created = 0;
    return ::fstatat(dirfd, name, &st, flags) == 0;
  }
  struct statx x {};
  const unsigned mask = STATX_BASIC_STATS | (created != nullptr ? STATX_BTIME : 0U);
  if (::statx(dirfd, name, flags | AT_STATX_DONT_SYNC, mask, &x) != 0) {
    if (errno != ENOSYS && errno != EPERM) return false;
    statx_refused.store(true, std::memory_order_relaxed);
    return stat_cached(dirfd, name, flags, st, created);
  }
  st = {};
  st.st_dev = ::makedev(x.stx_dev_major, x.stx_dev_minor);
  st.st_ino = x.stx_ino;
  st.st_mode = x.stx_mode;
  st.st_nlink = x.stx_nlink;
  st.st_uid = x.stx_uid;
  st.st_gid = x.stx_gid;
  st.st_rdev = ::makedev(x.stx_rdev_major, x.stx_rdev_minor);
  st.st_size = static_cast<off_t>(x.stx_size);
  st.st_blksize = static_cast<blksize_t>(x.stx_blksize);
  st.st_blocks = static_cast<blkcnt_t>(x.stx_blocks);
  st.st_atim = {x.stx_atime.tv_sec, x.stx_atime.tv_nsec};
  st.st_mtim = {x.stx_mtime.tv_sec, x.stx_mtime.tv_nsec};
  st.st_ctim = {x.stx_ctime.tv_sec, x.stx_ctime.tv_nsec};
  if (created != nullptr) *created = (x.stx_mask & STATX_BTIME) != 0 ? x.stx_btime.tv_sec : 0;
  return true;
}

namespace {

constexpr long kProcSuperMagic = 0x9fa0;          // linux/magic.h PROC_SUPER_MAGIC
constexpr std::uint64_t kPfKthread = 0x00200000;  // include/linux/sched.h PF_KTHREAD
constexpr std::size_t kMaxUnreadablePids = 16;

bool is_pid_name(std::string_view name, pid_t& pid) {
  int value = 0;
  const auto [ptr, ec] = std::from_chars(name.data(), name.data() + name.size(), value);
  if (ec != std::errc{} || ptr != name.data() + name.size() || value <= 0) return false;
  pid = value;
  return true;
}

void add_ref(std::vector<HolderRef>& refs, std::uint32_t process, int fd, bool mapped) {
  if (!refs.empty() && refs.back().process == process) {
    if (refs.back().fd < 0) refs.back().fd = fd;
    refs.back().mapped = refs.back().mapped || mapped;
    return;
  }
  refs.push_back(HolderRef{process, fd, mapped});
}

bool has_shmcheck_name(std::string_view link) {
  // "/memfd:shmcheck.0.<run>.<object> (deleted)"
  constexpr std::string_view kMemfd = "/memfd:";
  if (!link.starts_with(kMemfd)) return false;
  link.remove_prefix(kMemfd.size());
  return link.starts_with(core::kNamePrefix);
}

void read_memfd_header(int fd_dir, std::string_view fd_name, HeldOnlyObject& object) {
  const std::string name(fd_name);
  // /proc/<pid>/fd/<n> is a magic link: it must be followed (no O_NOFOLLOW).
  auto fd = open_at(fd_dir, name.c_str(), O_RDONLY | O_NONBLOCK);
  if (!fd) return;
  alignas(core::SegmentHeader) unsigned char buf[core::kSegmentHeaderSize];
  auto n = core::posix_call("pread", [&] { return ::pread(fd->get(), buf, sizeof buf, 0); });
  if (!n || static_cast<std::size_t>(*n) != sizeof buf) return;
  auto header = core::decode_segment_header(buf, sizeof buf);
  if (header) object.header = std::move(*header);
}

void fill_stat(HeldOnlyObject& object, const struct stat& st, std::int64_t btime) {
  object.stat_known = true;
  object.blocks_bytes = static_cast<std::uint64_t>(st.st_blocks) * 512U;
  object.size = static_cast<std::uint64_t>(st.st_size);
  object.uid = st.st_uid;
  object.gid = st.st_gid;
  object.mode = st.st_mode & 07777U;
  object.mtime = st.st_mtim.tv_sec;
  object.ctime = st.st_ctim.tv_sec;
  object.btime = btime;
}

class Walker {
 public:
  Walker(const std::set<std::uint64_t>& devices, bool read_headers, ProcessScan& scan)
      : devices_(devices),
        read_headers_(read_headers),
        scan_(scan),
        own_ipc_namespace_(ipc_namespace(AT_FDCWD, "/proc/self/ns/ipc")) {}

  void process(int proc_fd, pid_t pid, std::string_view name) {
    const std::string dir(name);
    auto pfd = open_at(proc_fd, dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (!pfd) {
      if (!gone(pid, pfd.error())) unreadable(pid);
      return;
    }
    struct stat dir_st {};
    if (::fstat(pfd->get(), &dir_st) != 0) return;
    auto text = read_file_at(pfd->get(), "stat", buf_);
    if (!text) {
      if (!gone(pid, text.error())) unreadable(pid);
      return;
    }
    StatLine stat;
    if (!parse_stat_line(buf_, stat)) {
      unreadable(pid);
      return;
    }
    // Kernel threads have no user fds or mappings; zombies hold nothing. But a leader
    // that called pthread_exit is a zombie while its other threads run on, holding the
    // process's fds and mappings: its own fd and maps files then read empty, a live
    // thread's (task/<tid>/) read them.
    if ((stat.flags & kPfKthread) != 0) return;
    if (stat.state == 'Z' || stat.state == 'X') {
      bool cannot_tell = false;
      auto thread = live_thread(proc_fd, pfd->get(), pid, cannot_tell);
      if (!thread) {
        if (cannot_tell) unreadable(pid);  // it may live and hold: the walk is incomplete
        return;
      }
      *pfd = std::move(*thread);
    }

    const auto index = static_cast<std::uint32_t>(scan_.processes.size());
    scan_.processes.push_back(
        ProcessInfo{core::ProcessIdentity{static_cast<std::int32_t>(pid), 0, stat.start_time},
                    stat.ppid, dir_st.st_uid, std::move(stat.comm)});

    other_ipc_namespace_.reset();
    bool ok = scan_fds(pfd->get(), pid, index);
    ok = scan_maps(pfd->get(), pid, index) && ok;
    if (!ok) unreadable(pid);
  }

 private:
  // True when a read failed because the process exited meanwhile. A failure of our own
  // (the open-file limit, memory) is also an inventory problem, once: the scan is then
  // incomplete for a reason of this auditor's, not the process's.
  bool gone(pid_t pid, const core::Error& e) {
    if (e.sys_errno == ENOENT || e.sys_errno == ESRCH) return true;
    if (core::is_resource_limit(e.code) && !limit_noted_) {
      limit_noted_ = true;
      scan_.problems.push_back({"/proc/" + std::to_string(pid), e});
    }
    return false;
  }

  void unreadable(pid_t pid) {
    ++scan_.unreadable;
    if (scan_.unreadable_pids.size() < kMaxUnreadablePids) scan_.unreadable_pids.push_back(pid);
  }

  // /proc/<tid> of a thread of this process other than its leader that has not exited
  // (a thread's own directory, with every per-process entry a process's has), or nullopt
  // when none has; `cannot_tell` when the task list or a thread's stat could not be read.
  // (Should that thread end before its fd and maps are read while others run on, the
  // walk takes the process for gone: a window as narrow as the walk of one process.)
  std::optional<UniqueFd> live_thread(int proc_fd, int pid_fd, pid_t pid, bool& cannot_tell) {
    auto tasks = open_at(pid_fd, "task", O_RDONLY | O_DIRECTORY);
    if (!tasks) {
      cannot_tell = !gone(pid, tasks.error());
      return std::nullopt;
    }
    std::optional<UniqueFd> found;
    std::string stat_text;
    auto listed = for_each_entry(tasks->get(), [&](std::string_view name, unsigned char) {
      pid_t tid = 0;
      if (found || !is_pid_name(name, tid) || tid == pid) return;
      auto dir = open_at(proc_fd, std::string(name).c_str(), O_RDONLY | O_DIRECTORY);
      if (!dir) {
        if (!gone(tid, dir.error())) cannot_tell = true;
        return;
      }
      auto read = read_file_at(dir->get(), "stat", stat_text);
      StatLine task_stat;
      if (!read || !parse_stat_line(stat_text, task_stat)) {
        if (!read && gone(tid, read.error())) return;
        cannot_tell = true;
        return;
      }
      if (task_stat.state != 'Z' && task_stat.state != 'X') found = std::move(*dir);
    });
    if (!listed && !gone(pid, listed.error())) cannot_tell = true;
    return found;
  }

  // False when the fd table could not be read (and the process did not just exit).
  bool scan_fds(int pid_fd, pid_t pid, std::uint32_t index) {
    auto fd_dir = open_at(pid_fd, "fd", O_RDONLY | O_DIRECTORY);
    if (!fd_dir) return gone(pid, fd_dir.error());
    char link[4096];
    bool denied = false;
    auto walked = for_each_entry(fd_dir->get(), [&](std::string_view fd_name, unsigned char) {
      char name_z[32];
      if (fd_name.size() >= sizeof name_z) return;
      std::memcpy(name_z, fd_name.data(), fd_name.size());
      name_z[fd_name.size()] = '\0';
      const auto len = ::readlinkat(fd_dir->get(), name_z, link, sizeof link - 1);
      if (len < 0 && errno == EACCES) denied = true;  // the fd table is listed, not readable
      if (len <= 0 || link[0] != '/') return;  // sockets, pipes, anon inodes; or closed meanwhile
      const std::string_view target(link, static_cast<std::size_t>(len));
      struct stat st {};
      std::int64_t btime = 0;
      if (!stat_cached(fd_dir->get(), name_z, 0, st, &btime)) return;
      const bool memfd = target.starts_with("/memfd:");
      if (!memfd && devices_.count(static_cast<std::uint64_t>(st.st_dev)) == 0) return;
      int fd_number = -1;
      std::from_chars(fd_name.data(), fd_name.data() + fd_name.size(), fd_number);
      const DevIno key{static_cast<std::uint64_t>(st.st_dev),
                       static_cast<std::uint64_t>(st.st_ino)};
      add_ref(scan_.by_file[key], index, fd_number, false);
      if (memfd || st.st_nlink == 0) {
        auto& object = scan_.held_only[key];
        if (object.link.empty()) {
          object.kind = memfd ? IpcKind::kMemfd : IpcKind::kDeleted;
          object.link = std::string(target);
          object.key = key;
        }
        if (!object.stat_known) fill_stat(object, st, btime);
        if (memfd && read_headers_ && !object.header && has_shmcheck_name(target)) {
          read_memfd_header(fd_dir->get(), fd_name, object);
        }
      }
    });
    if (denied) return false;
    return walked.has_value() || gone(pid, walked.error());
  }

  bool scan_maps(int pid_fd, pid_t pid, std::uint32_t index) {
    auto read = read_file_at(pid_fd, "maps", maps_);
    if (!read) return gone(pid, read.error());
    std::string_view rest(maps_);
    while (!rest.empty()) {
      const auto eol = rest.find('\n');
      std::string_view line = rest.substr(0, eol);
      rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
      parse_map_line(pid_fd, line, index);
    }
    return true;
  }

  // "7f..000-7f..000 rw-s 00000000 00:01 1234   /dev/shm/x (deleted)"
  void parse_map_line(int pid_fd, std::string_view line, std::uint32_t index) {
    const std::string_view whole = line;
    std::uint64_t start = 0;
    std::uint64_t end = 0;
    std::uint64_t offset = 0;
    std::uint64_t major = 0;
    std::uint64_t minor = 0;
    std::uint64_t inode = 0;
    if (!parse_uint(line, start, 16) || line.empty() || line.front() != '-') return;
    line.remove_prefix(1);
    if (!parse_uint(line, end, 16)) return;
    skip_spaces(line);
    const auto perms_end = line.find(' ');
    if (perms_end == std::string_view::npos) return;
    line.remove_prefix(perms_end);
    skip_spaces(line);
    if (!parse_uint(line, offset, 16)) return;
    skip_spaces(line);
    if (!parse_uint(line, major, 16) || line.empty() || line.front() != ':') return;
    line.remove_prefix(1);
    if (!parse_uint(line, minor, 16)) return;
    skip_spaces(line);
    if (!parse_uint(line, inode, 10)) return;
    skip_spaces(line);
    const std::string_view path = line;
    // A SysV mapping's inode is its shmid, and shmid 0 is valid.
    if (inode == 0 && !path.starts_with("/SYSV")) return;
    if (path.starts_with("/SYSV")) {
      // A shmid names a segment of the process's own IPC namespace: one attached in
      // another (a container, `unshare -i`) was listed as holding this namespace's
      // segment of the same id. Kept when the namespace cannot be read (fail closed).
      if (!other_ipc_namespace_) {
        const std::string ns = ipc_namespace(pid_fd, "ns/ipc");
        other_ipc_namespace_ =
            !ns.empty() && !own_ipc_namespace_.empty() && ns != own_ipc_namespace_;
      }
      if (!*other_ipc_namespace_) add_ref(scan_.by_shmid[static_cast<int>(inode)], index, -1, true);
      return;
    }
    const auto dev = static_cast<std::uint64_t>(
        ::makedev(static_cast<unsigned>(major), static_cast<unsigned>(minor)));
    const bool memfd = path.starts_with("/memfd:");
    if (!memfd && devices_.count(dev) == 0) return;
    const DevIno key{dev, inode};
    add_ref(scan_.by_file[key], index, -1, true);
    if (memfd || path.ends_with(" (deleted)")) {
      auto& object = scan_.held_only[key];
      if (object.link.empty()) {
        object.kind = memfd ? IpcKind::kMemfd : IpcKind::kDeleted;
        object.link = std::string(path);
        object.key = key;
      }
      object.mapped_bytes = std::max(object.mapped_bytes, end - start);
      if (!object.stat_known) {
        // map_files/<range> names the mapped file itself (needs CAP_SYS_ADMIN; optional).
        const auto range_end = whole.find(' ');
        const std::string range = "map_files/" + std::string(whole.substr(0, range_end));
        struct stat st {};
        std::int64_t btime = 0;
        if (stat_cached(pid_fd, range.c_str(), 0, st, &btime) &&
            static_cast<std::uint64_t>(st.st_ino) == inode) {
          fill_stat(object, st, btime);
        }
      }
    }
  }

  // "ipc:[4026531839]", the IPC namespace of the process whose ns/ipc link `path` is
  // (relative to dirfd); empty when it cannot be read.
  static std::string ipc_namespace(int dirfd, const char* path) {
    char link[64];
    const auto len = ::readlinkat(dirfd, path, link, sizeof link);
    return len > 0 ? std::string(link, static_cast<std::size_t>(len)) : std::string();
  }

  const std::set<std::uint64_t>& devices_;
  bool read_headers_;
  ProcessScan& scan_;
  std::string own_ipc_namespace_;
  std::optional<bool> other_ipc_namespace_;  // the process being walked; read at its first /SYSV
  bool limit_noted_ = false;
  std::string buf_;
  std::string maps_;
};

// hidepid=1/2 (or invisible/noaccess) hides other users' processes from a
// non-root caller: the walk cannot be complete, so verdicts must fail closed.
bool proc_hides_processes(const std::string& proc_dir) {
  if (::geteuid() == 0) return false;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "36 25 0:21 / /proc rw,nosuid - proc proc rw,hidepid=2": field 5 is the mount
    // point; after " - " come the type, the source and the super options.
    const auto sep = line.find(" - ");
    if (sep == std::string::npos || line.compare(sep + 3, 5, "proc ") != 0) continue;
    std::istringstream fields(line.substr(0, sep));
    std::string id, parent, devno, root, mount_point;
    if (!(fields >> id >> parent >> devno >> root >> mount_point) || mount_point != proc_dir) {
      continue;
    }
    const auto pos = line.find("hidepid=", sep);
    if (pos == std::string::npos) continue;
    const std::string_view value = std::string_view(line).substr(pos + 8);
    if (!value.starts_with('0') && !value.starts_with("off")) return true;
  }
  return false;
}

std::string read_link(const std::string& path) {
  std::array<char, 64> link{};
  const auto len = ::readlink(path.c_str(), link.data(), link.size() - 1);
  return len > 0 ? std::string(link.data(), static_cast<std::size_t>(len)) : std::string();
}

}  // namespace

PidNamespaces pid_namespaces(const std::string& proc_dir) {
  return {read_link(proc_dir + "/self/ns/pid"), read_link(proc_dir + "/1/ns/pid")};
}

bool proc_numbers_own_pids(const std::string& proc_dir) {
  // NSpid lists the process's pid in each namespace from the /proc's own down to the
  // process's: one number when they are one namespace. Without it (Linux before 4.1),
  // what /proc/self names must be this process's own pid.
  std::string status;
  if (!read_file_at(AT_FDCWD, (proc_dir + "/self/status").c_str(), status)) return false;
  std::string_view rest(status);
  while (!rest.empty()) {
    const auto eol = rest.find('\n');
    std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol == std::string_view::npos ? rest.size() : eol + 1);
    if (!line.starts_with("NSpid:")) continue;
    line.remove_prefix(6);
    std::size_t numbers = 0;
    std::uint64_t pid = 0;
    for (skip_spaces(line); parse_uint(line, pid); skip_spaces(line)) ++numbers;
    return numbers == 1;
  }
  return read_link(proc_dir + "/self") == std::to_string(::getpid());
}

std::optional<std::string> PidNamespaces::hidden_processes() const {
  if (self.empty()) return "this process's pid namespace cannot be read";
  if (self != kHostPidNamespace) {
    return self + " is not the host's: processes outside it are not seen";
  }
  if (!proc.empty() && proc != self) {
    return "this /proc shows pid namespace " + proc + ", not this process's (" + self + ")";
  }
  return std::nullopt;
}

bool parse_stat_line(std::string_view text, StatLine& out) {
  const auto open = text.find('(');
  const auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open ||
      close + 2 >= text.size()) {
    return false;
  }
  out.comm = std::string(text.substr(open + 1, close - open - 1));
  std::string_view rest = text.substr(close + 2);
  out.state = rest.front();
  // Fields from 3 (state) on; we want 4 (ppid), 9 (flags), 22 (starttime).
  int field = 3;
  while (field < 22) {
    const auto space = rest.find(' ');
    if (space == std::string_view::npos) return false;
    rest.remove_prefix(space + 1);
    ++field;
    std::uint64_t value = 0;
    std::string_view probe = rest;
    if (field == 4 || field == 9 || field == 22) {
      if (!parse_uint(probe, value)) return false;
      if (field == 4) out.ppid = static_cast<pid_t>(value);
      if (field == 9) out.flags = value;
      if (field == 22) out.start_time = value;
    }
  }
  return true;
}

std::int64_t boot_time_unix_s(const std::string& proc_dir) {
  std::ifstream in(proc_dir + "/stat");
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      std::int64_t value = 0;
      in >> value;
      return value;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

long clock_ticks_per_second() {
  static const long ticks = ::sysconf(_SC_CLK_TCK);
  return ticks > 0 ? ticks : 100;
}

ProcessScan scan_processes(const std::string& proc_dir, const std::set<std::uint64_t>& ipc_devices,
                           bool read_headers, bool trust_pid_namespace) {
  ProcessScan scan;
  auto proc_fd = open_at(AT_FDCWD, proc_dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (!proc_fd) {
    scan.problems.push_back({proc_dir, std::move(proc_fd).error()});
    return scan;
  }
  struct statfs fs {};
  if (::fstatfs(proc_fd->get(), &fs) != 0 || fs.f_type != kProcSuperMagic) {
    scan.problems.push_back({proc_dir, core::make_error(core::ErrorCode::kUnsupported, "statfs",
                                                        proc_dir + " is not a proc file system")});
    return scan;
  }
  scan.ran = true;
  if (proc_hides_processes(proc_dir)) {
    scan.problems.push_back(
        {proc_dir, core::make_error(core::ErrorCode::kPermission, "hidepid",
                                    "other users' processes are hidden from this user")});
  }
  // Outside the host's pid namespace (a container, `unshare -p`), processes of other
  // namespaces can hold the objects through a shared /dev/shm and are not in this
  // /proc: a walk that finds no holder proves nothing there.
  if (!trust_pid_namespace) {
    if (const auto why = pid_namespaces(proc_dir).hidden_processes()) {
      scan.problems.push_back(
          {proc_dir, core::make_error(core::ErrorCode::kUnsupported, "pid namespace",
                                      *why + " (--trust-pid-namespace when nothing outside can "
                                             "reach these objects)")});
    }
  }
  Walker walker(ipc_devices, read_headers, scan);
  std::vector<std::pair<pid_t, std::string>> pids;
  auto listed = for_each_entry(proc_fd->get(), [&](std::string_view name, unsigned char) {
    pid_t pid = 0;
    if (is_pid_name(name, pid)) pids.emplace_back(pid, std::string(name));
  });
  if (!listed) {
    scan.problems.push_back({proc_dir, std::move(listed).error()});
    return scan;
  }
  scan.processes.reserve(pids.size());
  for (const auto& [pid, name] : pids) walker.process(proc_fd->get(), pid, name);
  return scan;
}

std::set<pid_t> process_tree_impl(pid_t root, const std::string& proc_dir) {
  std::set<pid_t> tree{root};
  auto proc_fd = open_at(AT_FDCWD, proc_dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (!proc_fd) return tree;
  std::vector<std::pair<pid_t, pid_t>> parent_of;  // (pid, ppid)
  std::string text;
  std::vector<std::string> names;
  (void)for_each_entry(proc_fd->get(), [&](std::string_view name, unsigned char) {
    pid_t pid = 0;
    if (is_pid_name(name, pid)) names.emplace_back(name);
  });
  for (const auto& name : names) {
    const std::string path = name + "/stat";
    if (!read_file_at(proc_fd->get(), path.c_str(), text)) continue;
    StatLine stat;
    if (!parse_stat_line(text, stat)) continue;
    parent_of.emplace_back(static_cast<pid_t>(std::stoi(name)), stat.ppid);
  }
  // Fixed point: pids are not ordered by ancestry once they wrap.
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& [pid, ppid] : parent_of) {
      if (tree.count(ppid) != 0 && tree.insert(pid).second) grew = true;
    }
  }
  return tree;
}

std::vector<Holder> make_holders(const ProcessScan& scan, const std::vector<HolderRef>& refs,
                                 bool sysv) {
  std::vector<Holder> out;
  out.reserve(refs.size());
  for (const auto& ref : refs) {
    const auto& p = scan.processes[ref.process];
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const Holder& h) { return h.process.pid == p.id.pid; });
    if (it == out.end()) {
      Holder h;
      h.process = p.id;
      h.comm = p.comm;
      h.uid = p.uid;
      out.push_back(std::move(h));
      it = out.end() - 1;
    }
    if (it->fd < 0) it->fd = ref.fd;
    if (sysv) {
      it->sysv_attached = true;
    } else {
      it->mapped = it->mapped || ref.mapped;
    }
  }
  return out;
}

}  // namespace shmcheck::probes::detail

namespace shmcheck::probes {
std::set<pid_t> process_tree(pid_t root, const std::string& proc_dir) {
  return detail::process_tree_impl(root, proc_dir);
}
}  // namespace shmcheck::probes
