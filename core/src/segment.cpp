#include "shmcheck/core/segment.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <limits>
#include <new>
#include <optional>
#include <string_view>
#include <utility>

#include "shmcheck/core/posix_call.hpp"
#include "system_limits.hpp"

namespace shmcheck::core {
namespace {

constexpr mode_t kSegmentMode = 0600;
constexpr mode_t kGroupOtherBits = 0077;
constexpr std::string_view kMemfdLinkPrefix = "/memfd:";
constexpr std::string_view kMemfdLinkSuffix = " (deleted)";

std::size_t page_size() noexcept {
  static const long kPage = ::sysconf(_SC_PAGESIZE);
  return kPage > 0 ? static_cast<std::size_t>(kPage) : 4096U;
}

bool is_run_id(std::string_view run_id) noexcept {
  if (run_id.size() != kRunIdLength) return false;
  for (const char c : run_id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A name inside a ref token: printable, no whitespace, no ':' (the separator).
bool is_token_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 255) return false;
  for (const char c : name) {
    if (c <= ' ' || c == ':' || c == 0x7f) return false;
  }
  return true;
}

Error with_detail(Error err, std::string detail) {
  err.detail = std::move(detail);
  return err;
}

// Owner must be us; no group or other bits. Both mean "someone else's object".
Result<void> check_owner_mode(uid_t owner, mode_t mode, const std::string& what) {
  if (owner != ::geteuid()) {
    return make_error(ErrorCode::kForeign, "owner check",
                      what + ": owned by uid " + std::to_string(owner) + ", not by us");
  }
  if ((mode & kGroupOtherBits) != 0) {
    std::array<char, 8> octal{};
    (void)std::to_chars(octal.data(), octal.data() + octal.size() - 1, mode & 0777U, 8);
    return make_error(ErrorCode::kForeign, "mode check",
                      what + ": mode 0" + octal.data() + " grants group/other access");
  }
  return {};
}

Result<struct stat> fstat_fd(int fd) noexcept {
  struct stat st {};
  SHMCHECK_TRY(posix_call("fstat", [&] { return ::fstat(fd, &st); }));
  return st;
}

// fstat checks of a segment descriptor: a regular file of ours, no group/other bits,
// and (for the creator) exactly 0600.
Result<struct stat> verify_fd(int fd, const std::string& what, bool exact_mode) {
  auto st = fstat_fd(fd);
  if (!st) return std::move(st).error();
  if (!S_ISREG(st->st_mode)) {
    return make_error(ErrorCode::kForeign, "fstat", what + ": not a regular shared-memory file");
  }
  SHMCHECK_TRY(check_owner_mode(st->st_uid, st->st_mode, what));
  if (exact_mode && (st->st_mode & 0777U) != kSegmentMode) {
    return make_error(ErrorCode::kForeign, "mode check", what + ": mode is not 0600");
  }
  return st;
}

// Takes the holder's shared lock. Non-blocking: the only exclusive locker is a
// cleaner proving the object orphaned right before removing it, so a conflict
// means the object is going away.
Result<void> take_holder_lock(int fd, const std::string& what) {
  auto r = posix_call("flock", [fd] { return ::flock(fd, LOCK_SH | LOCK_NB); });
  if (!r) {
    if (r.error().sys_errno == EWOULDBLOCK) {
      return make_error(ErrorCode::kNotFound, "flock",
                        what + ": being removed (exclusive lock held)", EWOULDBLOCK);
    }
    return with_detail(std::move(r).error(), what);
  }
  return {};
}

// Reads the header bytes with pread (no mapping, no lock).
Result<void> pread_header(int fd, void* out, const std::string& what) {
  auto n = posix_call("pread", [&] { return ::pread(fd, out, kSegmentHeaderSize, 0); });
  if (!n) return with_detail(std::move(n).error(), what);
  if (static_cast<std::size_t>(*n) != kSegmentHeaderSize) {
    return make_error(ErrorCode::kForeign, "pread", what + ": short header");
  }
  return {};
}

// Layout checks after the magic: version, offsets and sizes agree with the object's
// size, and the header names the run and object the ref names (when it names one).
Result<void> check_layout(const void* bytes, std::size_t object_size, std::string_view ref_name,
                          const std::string& what) {
  auto info = decode_segment_header(bytes, object_size);
  if (!info) return with_detail(std::move(info).error(), what);
  const auto* h = static_cast<const SegmentHeader*>(bytes);
  if (h->layout_version != kLayoutVersion) {
    return make_error(ErrorCode::kCorrupt, "layout check",
                      what + ": layout version " + std::to_string(h->layout_version));
  }
  if (h->payload_offset != kSegmentHeaderSize || h->total_size != object_size ||
      h->payload_size != h->total_size - h->payload_offset) {
    return make_error(ErrorCode::kCorrupt, "layout check",
                      what + ": sizes do not match the object");
  }
  if (!ref_name.empty()) {
    auto parsed = parse_segment_name(ref_name);
    if (!parsed || parsed->run_id != info->run_id || parsed->object != info->object_name) {
      return make_error(
          ErrorCode::kForeign, "name check",
          what + ": header names run " + info->run_id + " object " + info->object_name);
    }
  }
  return {};
}

// The number at the start of `text` (after blanks), or nullopt ("max", empty).
std::optional<std::uint64_t> leading_number(std::string_view text) noexcept {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  std::uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end == text.data()) return std::nullopt;
  return v;
}

// What this process's memory cgroup still allows (limit - usage), v2 or v1; nullopt
// without a limit or when it cannot be read.
std::optional<std::uint64_t> cgroup_memory_left() noexcept {
  const auto cgroups = detail::read_small_file("/proc/self/cgroup");
  if (!cgroups) return std::nullopt;
  const auto left = [](const std::string& limit_path,
                       const std::string& usage_path) -> std::optional<std::uint64_t> {
    const auto limit_text = detail::read_small_file(limit_path);
    const auto usage_text = detail::read_small_file(usage_path);
    if (!limit_text || !usage_text) return std::nullopt;
    const auto limit = leading_number(*limit_text);
    const auto usage = leading_number(*usage_text);
    // v1 spells "no limit" as a number near 2^63.
    if (!limit || !usage || *limit >= (std::uint64_t{1} << 62)) return std::nullopt;
    return *limit > *usage ? *limit - *usage : 0;
  };
  std::string_view rest = *cgroups;
  while (!rest.empty()) {
    const auto eol = rest.find('\n');
    const std::string_view line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
    const auto colon = line.rfind(':');
    if (colon == std::string_view::npos) continue;
    const std::string path(line.substr(colon + 1));
    if (line.starts_with("0::")) {
      if (auto l = left("/sys/fs/cgroup" + path + "/memory.max",
                        "/sys/fs/cgroup" + path + "/memory.current")) {
        return l;
      }
    } else if (line.find(":memory:") != std::string_view::npos) {
      const std::string base = "/sys/fs/cgroup/memory";
      // Inside a container the memory mount is often the cgroup itself.
      for (const std::string& dir : {base + path, base}) {
        if (auto l = left(dir + "/memory.limit_in_bytes", dir + "/memory.usage_in_bytes")) return l;
      }
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::uint64_t> available_memory() noexcept {
  std::optional<std::uint64_t> avail;
  if (const auto meminfo = detail::read_small_file("/proc/meminfo")) {
    const auto kib_of = [&](std::string_view key) -> std::optional<std::uint64_t> {
      const auto at = meminfo->find(key);
      if (at == std::string::npos) return std::nullopt;
      return leading_number(std::string_view(*meminfo).substr(at + key.size()));
    };
    // Shared memory pages can be swapped out: free swap counts too.
    if (const auto mem = kib_of("MemAvailable:"))
      avail = (*mem + kib_of("SwapFree:").value_or(0)) * 1024;
  }
  if (const auto left = cgroup_memory_left()) avail = avail ? std::min(*avail, *left) : *left;
  return avail;
}

namespace {

// kNoSpace when `total` bytes of shared memory pages are more than the memory left
// (available_memory). A memory-backed segment takes its pages from RAM (or swap)
// whatever a file system's size limit says: /dev/shm is sized at half the RAM or at a
// container's --shm-size, not at what is free.
Result<void> check_memory_left(std::size_t total, const std::string& what) {
  const auto avail = available_memory();
  if (avail && total > *avail) {
    return make_error(ErrorCode::kNoSpace, "segment create",
                      what + ": " + std::to_string(total) + " bytes needed, " +
                          std::to_string(*avail) + " of memory available",
                      ENOMEM);
  }
  return {};
}

// Reserves the pages of a POSIX segment now, so that a full /dev/shm is kNoSpace
// at create time instead of SIGBUS on first touch in the middle of a run. Only on a
// size-limited tmpfs (f_blocks != 0), and only when the space is there. Memory comes
// first: a segment of a memory-backed file system (tmpfs, a memfd, ramfs) larger than
// the memory left is refused, with or without a size limit. Without one it would grow
// until the OOM killer ended the harness (a 64 GiB memfd ring on a 24 GiB machine, 87 s
// later); with one larger than the memory left, fallocate itself committed the RAM and
// the OOM killer took whatever it chose (a 23.9 GiB segment on this 24 GiB machine's
// 24 GiB /dev/shm killed an unrelated shell).
Result<void> reserve_pages(int fd, std::size_t total, const std::string& what) {
  struct statfs fs {};
  SHMCHECK_TRY(posix_call("fstatfs", [&] { return ::fstatfs(fd, &fs); }));
  if (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC || fs.f_type == HUGETLBFS_MAGIC) {
    SHMCHECK_TRY(check_memory_left(total, what));
  }
  struct statvfs vfs {};
  SHMCHECK_TRY(posix_call("fstatvfs", [&] { return ::fstatvfs(fd, &vfs); }));
  if (vfs.f_blocks == 0) return {};
  const auto free_bytes = static_cast<unsigned long long>(vfs.f_bavail) * vfs.f_frsize;
  if (total > free_bytes) {
    return make_error(ErrorCode::kNoSpace, "segment create",
                      what + ": " + std::to_string(total) + " bytes needed, " +
                          std::to_string(free_bytes) + " free",
                      ENOSPC);
  }
  auto r =
      posix_call("fallocate", [&] { return ::fallocate(fd, 0, 0, static_cast<off_t>(total)); });
  if (!r) return with_detail(std::move(r).error(), what);
  return {};
}

Result<std::uint64_t> realtime_ns() noexcept {
  timespec ts{};
  SHMCHECK_TRY(posix_call("clock_gettime", [&] { return ::clock_gettime(CLOCK_REALTIME, &ts); }));
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

// Fills the header in fresh (zeroed) memory: every field first, magic last with release.
Result<void> write_header(void* mem, const SegmentOptions& options, std::size_t total) {
  auto now = realtime_ns();
  if (!now) return std::move(now).error();
  auto* h = ::new (mem) SegmentHeader;
  h->layout_version = kLayoutVersion;
  h->kind = options.kind;
  h->creator = self_identity();
  h->created_unix_ns = *now;
  h->total_size = total;
  h->payload_offset = kSegmentHeaderSize;
  h->payload_size = total - kSegmentHeaderSize;
  std::memset(h->run_id, 0, sizeof h->run_id);
  std::memcpy(h->run_id, options.run_id.data(), options.run_id.size());
  std::memset(h->object_name, 0, sizeof h->object_name);
  std::memcpy(h->object_name, options.object.data(), options.object.size());
  h->magic.store(kSegmentMagic, std::memory_order_release);
  return {};
}

std::string proc_fd_path(int pid, int fd) {
  return "/proc/" + std::to_string(pid) + "/fd/" + std::to_string(fd);
}

// The memfd link text "/memfd:<name> (deleted)" of path; kForeign when path does
// not lead to a memfd (or to the memfd called expected_name, when given).
Result<void> check_memfd_link(const std::string& path, std::string_view expected_name) {
  std::array<char, 512> buf{};
  auto n = posix_call("readlink", [&] { return ::readlink(path.c_str(), buf.data(), buf.size()); });
  if (!n) return with_detail(std::move(n).error(), path);
  const std::string_view link(buf.data(), static_cast<std::size_t>(*n));
  if (!link.starts_with(kMemfdLinkPrefix)) {
    return make_error(ErrorCode::kForeign, "memfd check", path + " is not a memfd");
  }
  if (!expected_name.empty()) {
    std::string want(kMemfdLinkPrefix);
    want += expected_name;
    want += kMemfdLinkSuffix;
    if (link != want) {
      return make_error(ErrorCode::kForeign, "memfd check",
                        path + " is " + std::string(link) + ", not " + want);
    }
  }
  return {};
}

// IPC_STAT; a removed id (EINVAL, EIDRM) is kNotFound, no read permission kForeign.
Result<shmid_ds> sysv_stat(int shmid) noexcept {
  shmid_ds ds{};
  auto r = posix_call("shmctl(IPC_STAT)", [&] { return ::shmctl(shmid, IPC_STAT, &ds); });
  if (!r) {
    auto err = std::move(r).error();
    if (err.sys_errno == EINVAL || err.sys_errno == EIDRM) err.code = ErrorCode::kNotFound;
    if (err.sys_errno == EACCES || err.sys_errno == EPERM) err.code = ErrorCode::kForeign;
    err.detail = "shmid " + std::to_string(shmid);
    return err;
  }
  return ds;
}

Result<void> check_sysv_shm_owner(const shmid_ds& ds, const std::string& what) {
  SHMCHECK_TRY(check_owner_mode(ds.shm_perm.uid, ds.shm_perm.mode, what));
  if (ds.shm_perm.cuid != ::geteuid()) {
    return make_error(ErrorCode::kForeign, "owner check", what + ": created by another uid");
  }
  return {};
}

}  // namespace

bool sysv_segment_holds_name(int shmid, const std::string& name) {
  auto ds = sysv_stat(shmid);
  if (!ds || !check_sysv_shm_owner(*ds, name)) return false;
  if (ds->shm_segsz < kSegmentHeaderSize) return false;
  auto m = Mapping::attach_sysv(shmid, ds->shm_segsz, Access::kReadOnly);
  if (!m) return false;
  auto info = decode_segment_header(m->data(), m->size());
  auto parsed = parse_segment_name(name);
  return info && parsed && info->run_id == parsed->run_id && info->object_name == parsed->object;
}

namespace {

// True when the segment on key is ours and its header names the same run and
// object as name: then name is taken (kExists), not merely a key collision.
bool sysv_key_holds_name(int key, const std::string& name) {
  auto id = posix_call("shmget", [&] { return ::shmget(key, 0, 0); });
  return id && sysv_segment_holds_name(*id, name);
}

// The name a ref without one stands for; the header's strings are NUL-terminated
// (check_layout decoded them).
std::string name_from_header(const SegmentHeader& h) {
  return segment_name(::geteuid(), h.run_id, h.object_name);
}

bool parse_int(std::string_view text, int& out) noexcept {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && ec == std::errc{} && ptr == text.data() + text.size() && out >= 0;
}

}  // namespace

const char* to_string(Backing backing) noexcept {
  switch (backing) {
    case Backing::kPosix:
      return "posix";
    case Backing::kSysV:
      return "sysv";
    case Backing::kMemfd:
      return "memfd";
  }
  return "unknown";
}

std::optional<Backing> backing_from_string(std::string_view text) noexcept {
  if (text == "posix") return Backing::kPosix;
  if (text == "sysv") return Backing::kSysV;
  if (text == "memfd") return Backing::kMemfd;
  return std::nullopt;
}

int sysv_key_for(std::string_view name, unsigned attempt) noexcept {
  const auto h = XXH3_64bits_withSeed(name.data(), name.size(), attempt);
  const auto key = static_cast<int>(h & 0x7fff'ffffULL);
  return key == IPC_PRIVATE ? 1 : key;
}

std::string SegmentRef::to_string() const {
  std::string out = core::to_string(backing);
  out += ':';
  switch (backing) {
    case Backing::kPosix:
      out += name;
      return out;
    case Backing::kSysV:
      out += std::to_string(sysv_id);
      break;
    case Backing::kMemfd:
      out += std::to_string(memfd_pid);
      out += ':';
      out += std::to_string(memfd_fd);
      break;
  }
  if (!name.empty()) {
    out += ':';
    out += name;
  }
  return out;
}

Result<SegmentRef> SegmentRef::parse(std::string_view text) {
  const auto bad = [&](const char* why) {
    return make_error(ErrorCode::kInvalidArgument, "parse segment ref",
                      std::string(why) + ": '" + std::string(text) + "'");
  };
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return bad("expected <backing>:...");
  const auto backing = backing_from_string(text.substr(0, colon));
  if (!backing) return bad("unknown backing");
  std::string_view rest = text.substr(colon + 1);
  SegmentRef ref;
  ref.backing = *backing;
  // Splits off the next ':'-separated field of rest.
  const auto next_field = [&rest]() {
    const auto c = rest.find(':');
    const auto field = rest.substr(0, c);
    rest = c == std::string_view::npos ? std::string_view{} : rest.substr(c + 1);
    return field;
  };
  switch (ref.backing) {
    case Backing::kPosix:
      if (!is_token_name(rest) || rest.front() != '/' ||
          rest.find('/', 1) != std::string_view::npos) {
        return bad("a POSIX name is '/' and one path component");
      }
      ref.name = std::string(rest);
      return ref;
    case Backing::kSysV: {
      const bool has_name = rest.find(':') != std::string_view::npos;
      if (!parse_int(next_field(), ref.sysv_id)) return bad("bad shmid");
      if (has_name) {
        if (!is_token_name(rest)) return bad("bad name");
        ref.name = std::string(rest);
      }
      return ref;
    }
    case Backing::kMemfd: {
      if (!parse_int(next_field(), ref.memfd_pid) || ref.memfd_pid == 0) return bad("bad pid");
      const bool has_name = rest.find(':') != std::string_view::npos;
      if (!parse_int(next_field(), ref.memfd_fd)) return bad("bad fd");
      if (has_name) {
        if (!is_token_name(rest) || rest.find('/') != std::string_view::npos)
          return bad("bad name");
        ref.name = std::string(rest);
      }
      return ref;
    }
  }
  return bad("unknown backing");
}

Result<Segment> Segment::create(const SegmentOptions& options) noexcept {
  if (!is_run_id(options.run_id)) {
    return make_error(ErrorCode::kInvalidArgument, "segment create",
                      "run id '" + options.run_id + "' is not 16 lowercase hex characters");
  }
  if (!is_valid_object_name(options.object)) {
    return make_error(ErrorCode::kInvalidArgument, "segment create",
                      "object name '" + options.object + "'");
  }
  const std::size_t page = page_size();
  if (options.payload_size > std::numeric_limits<std::size_t>::max() - kSegmentHeaderSize - page) {
    return make_error(ErrorCode::kInvalidArgument, "segment create", "payload size too large");
  }
  const std::size_t total = (kSegmentHeaderSize + options.payload_size + page - 1) / page * page;
  // The owner's uid, as the harness's manifest names it (getuid here and geteuid there
  // differed under setuid: the manifest's name derived another SysV key, and a reclaim
  // took the segment for gone and left it).
  const std::string name = segment_name(::geteuid(), options.run_id, options.object);

  // seg owns what exists as soon as it exists: any early return below destroys seg,
  // which unlinks the name (creator_) and closes/unmaps.
  Segment seg;
  seg.backing_ = options.backing;
  seg.creator_ = true;

  if (options.backing == Backing::kSysV) {
    // SysV pages come out of memory when touched, as a memfd's do.
    SHMCHECK_TRY(check_memory_left(total, name));
    int shmid = -1;
    for (unsigned attempt = 0; attempt < kSysVKeyAttempts && shmid < 0; ++attempt) {
      const int key = sysv_key_for(name, attempt);
      auto id = posix_call(
          "shmget", [&] { return ::shmget(key, total, IPC_CREAT | IPC_EXCL | kSegmentMode); });
      if (id) {
        shmid = *id;
      } else if (id.error().code != ErrorCode::kExists) {
        return detail::with_sysv_limits(std::move(id).error(), name, /*semaphore=*/false);
      } else if (sysv_key_holds_name(key, name)) {
        return make_error(ErrorCode::kExists, "shmget", name + ": exists", EEXIST);
      }
      // else: an unrelated segment sits on this key; try the next derived key.
    }
    if (shmid < 0) {
      return make_error(ErrorCode::kExists, "shmget", name + ": every derived key is taken",
                        EEXIST);
    }
    seg.sysv_id_ = shmid;
    seg.name_ = name;
    auto ds = sysv_stat(shmid);
    if (!ds) return std::move(ds).error();
    SHMCHECK_TRY(check_sysv_shm_owner(*ds, name));
    if ((ds->shm_perm.mode & 0777U) != kSegmentMode || ds->shm_segsz != total) {
      return make_error(ErrorCode::kForeign, "IPC_STAT", name + ": mode or size not as created");
    }
    auto m = Mapping::attach_sysv(shmid, total, Access::kReadWrite);
    if (!m) return with_detail(std::move(m).error(), name);
    seg.mapping_ = std::move(*m);
  } else {
    if (options.backing == Backing::kPosix) {
      auto fd = posix_call("shm_open", [&] {
        return ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, kSegmentMode);
      });
      if (!fd) return with_detail(std::move(fd).error(), name);
      seg.fd_.reset(*fd);
      seg.name_ = name;
    } else {
      const std::string memfd_name = name.substr(1);
      auto fd = posix_call("memfd_create", [&] {
        return ::memfd_create(memfd_name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
      });
      if (!fd) return with_detail(std::move(fd).error(), memfd_name);
      seg.fd_.reset(*fd);
      seg.name_ = memfd_name;
      seg.memfd_pid_ = static_cast<int>(::getpid());
      seg.memfd_fd_ = *fd;
    }
    const int fd = seg.fd_.get();
    // The umask may have taken bits away (a memfd starts at 0777): set 0600 exactly.
    SHMCHECK_TRY(posix_call("fchmod", [fd] { return ::fchmod(fd, kSegmentMode); }));
    SHMCHECK_TRY(verify_fd(fd, seg.name_, /*exact_mode=*/true));
    SHMCHECK_TRY(take_holder_lock(fd, seg.name_));
    SHMCHECK_TRY(
        posix_call("ftruncate", [&] { return ::ftruncate(fd, static_cast<off_t>(total)); }));
    SHMCHECK_TRY(reserve_pages(fd, total, seg.name_));
    if (options.backing == Backing::kMemfd) {
      // Nobody may resize it under the mappings (a shrink would SIGBUS every holder).
      SHMCHECK_TRY(posix_call("fcntl(F_ADD_SEALS)", [fd] {
        return ::fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
      }));
    }
    auto m = Mapping::map_shared(fd, total, Access::kReadWrite);
    if (!m) return with_detail(std::move(m).error(), seg.name_);
    seg.mapping_ = std::move(*m);
  }
  SHMCHECK_TRY(write_header(seg.mapping_.data(), options, total));
  return seg;
}

Result<Segment> Segment::open(const SegmentRef& ref) noexcept {
  Segment seg;
  seg.backing_ = ref.backing;
  seg.name_ = ref.name;
  alignas(SegmentHeader) std::array<unsigned char, kSegmentHeaderSize> head{};

  if (ref.backing == Backing::kSysV) {
    const std::string what = "shmid " + std::to_string(ref.sysv_id);
    if (ref.sysv_id < 0) return make_error(ErrorCode::kInvalidArgument, "segment open", what);
    auto ds = sysv_stat(ref.sysv_id);
    if (!ds) return std::move(ds).error();
    SHMCHECK_TRY(check_sysv_shm_owner(*ds, what));
    if ((ds->shm_perm.mode & SHM_DEST) != 0) {
      return make_error(ErrorCode::kNotFound, "segment open", what + ": marked for removal");
    }
    if (ds->shm_segsz < kSegmentHeaderSize) {
      return make_error(ErrorCode::kForeign, "segment open", what + ": too small for a header");
    }
    // Owner and mode are ours, so attaching cannot touch someone else's object; a
    // segment without our magic is detached again (m's destructor) and refused.
    auto m = Mapping::attach_sysv(ref.sysv_id, ds->shm_segsz, Access::kReadWrite);
    if (!m) return with_detail(std::move(m).error(), what);
    SHMCHECK_TRY(check_layout(m->data(), m->size(), ref.name, what));
    seg.sysv_id_ = ref.sysv_id;
    seg.mapping_ = std::move(*m);
    if (seg.name_.empty()) seg.name_ = name_from_header(seg.header());
    return seg;
  }

  std::string what;
  if (ref.backing == Backing::kPosix) {
    what = ref.name;
    if (!is_token_name(ref.name) || ref.name.front() != '/') {
      return make_error(ErrorCode::kInvalidArgument, "segment open",
                        "POSIX name '" + ref.name + "'");
    }
    auto fd = posix_call("shm_open", [&] {
      return ::shm_open(ref.name.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0);
    });
    if (!fd) return with_detail(std::move(fd).error(), what);
    seg.fd_.reset(*fd);
  } else {
    what = proc_fd_path(ref.memfd_pid, ref.memfd_fd);
    if (ref.memfd_pid <= 0 || ref.memfd_fd < 0) {
      return make_error(ErrorCode::kInvalidArgument, "segment open", what);
    }
    // Checked before opening (never open() a FIFO or device someone left at that fd)
    // and again on our own descriptor (the creator's fd number may be reused between).
    SHMCHECK_TRY(check_memfd_link(what, ref.name));
    auto fd = FileDescriptor::open(what.c_str(), O_RDWR | O_NONBLOCK | O_NOCTTY);
    if (!fd) return std::move(fd).error();
    seg.fd_ = std::move(*fd);
    SHMCHECK_TRY(check_memfd_link(proc_fd_path(::getpid(), seg.fd_.get()), ref.name));
    seg.memfd_pid_ = ref.memfd_pid;
    seg.memfd_fd_ = ref.memfd_fd;
  }
  const int fd = seg.fd_.get();
  auto st = verify_fd(fd, what, /*exact_mode=*/false);
  if (!st) return std::move(st).error();
  if (st->st_size < static_cast<off_t>(kSegmentHeaderSize)) {
    return make_error(ErrorCode::kForeign, "segment open", what + ": too small for a header");
  }
  const auto size = static_cast<std::size_t>(st->st_size);
  SHMCHECK_TRY(pread_header(fd, head.data(), what));
  SHMCHECK_TRY(check_layout(head.data(), size, ref.name, what));
  SHMCHECK_TRY(take_holder_lock(fd, what));
  auto m = Mapping::map_shared(fd, size, Access::kReadWrite);
  if (!m) return with_detail(std::move(m).error(), what);
  seg.mapping_ = std::move(*m);
  if (seg.name_.empty()) seg.name_ = name_from_header(seg.header()).substr(1);  // memfd: no '/'
  return seg;
}

Segment::Segment(Segment&& other) noexcept
    : backing_(other.backing_),
      name_(std::move(other.name_)),
      fd_(std::move(other.fd_)),
      mapping_(std::move(other.mapping_)),
      sysv_id_(std::exchange(other.sysv_id_, -1)),
      memfd_pid_(std::exchange(other.memfd_pid_, 0)),
      memfd_fd_(std::exchange(other.memfd_fd_, -1)),
      creator_(std::exchange(other.creator_, false)),
      keep_name_(std::exchange(other.keep_name_, false)),
      unlinked_(std::exchange(other.unlinked_, false)) {}

Segment& Segment::operator=(Segment&& other) noexcept {
  if (this != &other) {
    destroy();
    backing_ = other.backing_;
    name_ = std::move(other.name_);
    fd_ = std::move(other.fd_);
    mapping_ = std::move(other.mapping_);
    sysv_id_ = std::exchange(other.sysv_id_, -1);
    memfd_pid_ = std::exchange(other.memfd_pid_, 0);
    memfd_fd_ = std::exchange(other.memfd_fd_, -1);
    creator_ = std::exchange(other.creator_, false);
    keep_name_ = std::exchange(other.keep_name_, false);
    unlinked_ = std::exchange(other.unlinked_, false);
  }
  return *this;
}

Segment::~Segment() { destroy(); }

void Segment::destroy() noexcept {
  // Unlink before closing: the name never exists without its creator's lock.
  if (creator_ && !keep_name_ && !unlinked_) (void)unlink();
  mapping_.reset();
  fd_.reset();
  creator_ = false;
  sysv_id_ = -1;
}

void* Segment::payload() const noexcept {
  return static_cast<std::byte*>(mapping_.data()) + kSegmentHeaderSize;
}

std::size_t Segment::payload_size() const noexcept {
  return mapping_.size() > kSegmentHeaderSize ? mapping_.size() - kSegmentHeaderSize : 0;
}

const SegmentHeader& Segment::header() const noexcept {
  assert(mapping_.valid() && "Segment::header() on an empty (moved-from) segment");
  return *std::launder(static_cast<const SegmentHeader*>(mapping_.data()));
}

SegmentRef Segment::ref() const {
  return SegmentRef{backing_, name_, sysv_id_, memfd_pid_, memfd_fd_};
}

Result<void> Segment::unlink() noexcept {
  if (!creator_) {
    return make_error(ErrorCode::kPermission, "segment unlink", name_ + ": not the creator");
  }
  if (unlinked_) return {};
  switch (backing_) {
    case Backing::kPosix: {
      // Remove the name only while it still names our inode: if someone removed it
      // and another object took the name, that object is not ours to remove. Looked
      // up by path (glibc keeps POSIX shm in /dev/shm), not opened: the unlink must
      // work with the open-file limit reached, when a failed create is cleaned up.
      const std::string path = "/dev/shm" + name_;
      struct stat now {};
      auto probe = posix_call("lstat", [&] { return ::lstat(path.c_str(), &now); });
      if (!probe) {
        if (probe.error().code == ErrorCode::kNotFound) unlinked_ = true;
        return with_detail(std::move(probe).error(), name_);
      }
      auto ours = fstat_fd(fd_.get());
      if (!ours) return std::move(ours).error();
      if (now.st_dev != ours->st_dev || now.st_ino != ours->st_ino) {
        unlinked_ = true;
        return make_error(ErrorCode::kForeign, "segment unlink",
                          name_ + ": the name now belongs to another object");
      }
      auto r = posix_call("shm_unlink", [&] { return ::shm_unlink(name_.c_str()); });
      if (!r) return with_detail(std::move(r).error(), name_);
      break;
    }
    case Backing::kSysV: {
      auto r =
          posix_call("shmctl(IPC_RMID)", [&] { return ::shmctl(sysv_id_, IPC_RMID, nullptr); });
      if (!r) {
        auto err = std::move(r).error();
        if (err.sys_errno == EINVAL || err.sys_errno == EIDRM) {
          err.code = ErrorCode::kNotFound;
          unlinked_ = true;
        }
        return with_detail(std::move(err), name_);
      }
      break;
    }
    case Backing::kMemfd:
      break;  // no name: the object goes with its last descriptor and mapping
  }
  unlinked_ = true;
  return {};
}

Result<SegmentHeaderInfo> read_segment_header(const SegmentRef& ref) noexcept {
  alignas(SegmentHeader) std::array<unsigned char, kSegmentHeaderSize> head{};
  if (ref.backing == Backing::kSysV) {
    const std::string what = "shmid " + std::to_string(ref.sysv_id);
    auto ds = sysv_stat(ref.sysv_id);
    if (!ds) return std::move(ds).error();
    if (ds->shm_segsz < kSegmentHeaderSize) {
      return make_error(ErrorCode::kForeign, "read header", what + ": too small for a header");
    }
    auto m = Mapping::attach_sysv(ref.sysv_id, ds->shm_segsz, Access::kReadOnly);
    if (!m) return with_detail(std::move(m).error(), what);
    // Acquire on the magic before copying the rest (pairs with the creator's release).
    const auto* live = static_cast<const SegmentHeader*>(m->data());
    if (live->magic.load(std::memory_order_acquire) != kSegmentMagic) {
      return make_error(ErrorCode::kForeign, "read header", what + ": no shmcheck magic");
    }
    std::memcpy(head.data(), m->data(), head.size());
    return decode_segment_header(head.data(), head.size());
  }
  std::string path;
  if (ref.backing == Backing::kPosix) {
    auto fd = posix_call("shm_open", [&] {
      return ::shm_open(ref.name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0);
    });
    if (!fd) return with_detail(std::move(fd).error(), ref.name);
    const FileDescriptor owned(*fd);
    path = ref.name;
    auto st = fstat_fd(owned.get());
    if (!st) return std::move(st).error();
    if (!S_ISREG(st->st_mode) || st->st_size < static_cast<off_t>(kSegmentHeaderSize)) {
      return make_error(ErrorCode::kForeign, "read header", path + ": no room for a header");
    }
    SHMCHECK_TRY(pread_header(owned.get(), head.data(), path));
  } else {
    path = proc_fd_path(ref.memfd_pid, ref.memfd_fd);
    SHMCHECK_TRY(check_memfd_link(path, ref.name));
    auto fd = FileDescriptor::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY);
    if (!fd) return std::move(fd).error();
    auto st = fstat_fd(fd->get());
    if (!st) return std::move(st).error();
    if (!S_ISREG(st->st_mode) || st->st_size < static_cast<off_t>(kSegmentHeaderSize)) {
      return make_error(ErrorCode::kForeign, "read header", path + ": no room for a header");
    }
    SHMCHECK_TRY(pread_header(fd->get(), head.data(), path));
  }
  auto info = decode_segment_header(head.data(), head.size());
  if (!info) return with_detail(std::move(info).error(), path);
  return info;
}

}  // namespace shmcheck::core
