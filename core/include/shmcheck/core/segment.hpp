// Segment: a named shared-memory object shmcheck created, mapped, with a header.
//
// Works across processes: the creator makes the object and hands its SegmentRef
// (a one-token string, see SegmentRef::to_string) to other processes, which open()
// it. Three backings:
//   kPosix  shm_open("/shmcheck.<uid>.<run>.<object>", O_CREAT|O_EXCL, 0600) — default
//   kSysV   shmget(key, IPC_CREAT|IPC_EXCL|0600), the key derived from the same name
//           (sysv_key_for); on EEXIST the next derived key is tried. The shmid is in the ref.
//   kMemfd  memfd_create("shmcheck.<uid>.<run>.<object>", MFD_CLOEXEC), fchmod 0600;
//           others open it through /proc/<creator pid>/fd/<fd> while the creator lives.
//
// Ownership: the creator owns the name. Only the creator unlinks (shm_unlink /
// IPC_RMID; a memfd has no name and vanishes with its last descriptor and mapping),
// explicitly with unlink() or in its destructor unless keep_name() was called. Every
// other Segment only unmaps and closes. A failed create() removes whatever it made.
//
// Safety: create() and open() verify the owner (our euid) and the mode (no group or
// other bits, fstat or IPC_STAT); open() also requires the shmcheck magic, the layout
// version and a consistent size, and, when the ref carries a name, that the header
// names the same run and object. Anything else is ErrorCode::kForeign and is not
// mapped read-write: an object someone planted under our name is refused, never used.
//
// Liveness: every holder (creator and openers) keeps flock(LOCK_SH) on its own
// descriptor for as long as the Segment lives (POSIX, memfd); anyone proves "no
// holder" with flock(LOCK_EX|LOCK_NB). SysV has no descriptor: its attachment count
// (shm_nattch) is the evidence. The lock belongs to the open file description, and a
// mapping pins that too: a fork()ed child that inherits a Segment's descriptor or
// mapping keeps the parent's lock alive until it closes/unmaps them or exits (exec
// drops both: descriptors are O_CLOEXEC). open() uses LOCK_NB: an exclusive lock
// means a cleaner is removing the object, and open() reports kNotFound, never blocks.
//
// Space: a POSIX segment's pages are reserved with fallocate at create() when
// /dev/shm is size-limited, so a full /dev/shm is kNoSpace up front, not SIGBUS on
// first touch. A memfd is sealed against shrinking and growing.
//
// Memory ordering: the header (segment_header.hpp) is written completely before its
// magic, which is stored with release; open() loads the magic with acquire, so an
// opener that sees the magic sees the whole header. The payload has no ordering of
// its own: its users place their own atomics in it. A Segment handle is per process
// and move-only; it is not thread-safe to move or destroy while others use it.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "shmcheck/core/file_descriptor.hpp"
#include "shmcheck/core/mapping.hpp"
#include "shmcheck/core/result.hpp"
#include "shmcheck/core/segment_header.hpp"

namespace shmcheck::core {

enum class Backing : std::uint8_t { kPosix, kSysV, kMemfd };

// "posix", "sysv", "memfd".
[[nodiscard]] const char* to_string(Backing backing) noexcept;
[[nodiscard]] std::optional<Backing> backing_from_string(std::string_view text) noexcept;

struct SegmentOptions {
  Backing backing = Backing::kPosix;
  std::string run_id;  // new_run_id(): kRunIdLength lowercase hex characters
  std::string object;  // is_valid_object_name()
  ObjectKind kind = ObjectKind::kRaw;
  std::size_t payload_size = 0;  // at least this many payload bytes (rounded up to pages)
};

// How another process finds a segment. For kPosix the name is the shm_open name;
// for kSysV the shmid is what counts (the name, when present, is checked against
// the header); for kMemfd the creator's pid and fd are what count (the name, when
// present, is checked against the memfd's name).
struct SegmentRef {
  Backing backing = Backing::kPosix;
  std::string name;  // "/shmcheck.<uid>.<run>.<object>" (memfd: without the '/')
  int sysv_id = -1;
  int memfd_pid = 0;
  int memfd_fd = -1;

  // One token, no whitespace, safe on argv:
  //   "posix:/shmcheck.1000.0123456789abcdef.queue"
  //   "sysv:<shmid>:/shmcheck.1000.0123456789abcdef.queue"   (":<name>" optional)
  //   "memfd:<pid>:<fd>:shmcheck.1000.0123456789abcdef.queue" (":<name>" optional)
  [[nodiscard]] std::string to_string() const;
  [[nodiscard]] static Result<SegmentRef> parse(std::string_view text);

  friend bool operator==(const SegmentRef&, const SegmentRef&) = default;
};

// Memory the kernel can still hand out, in bytes: MemAvailable plus SwapFree from
// /proc/meminfo (shared memory pages can be swapped), or less when this process's
// memory cgroup (v2 or v1) allows less; nullopt when neither can be read.
// Segment::create checks a memfd (or a segment on a tmpfs without a size limit) against
// it: their pages come out of memory only when touched.
[[nodiscard]] std::optional<std::uint64_t> available_memory() noexcept;

// The SysV key for name on the given attempt (0, 1, ...): a hash of the name, never
// IPC_PRIVATE. create() walks the attempts on EEXIST.
[[nodiscard]] int sysv_key_for(std::string_view name, unsigned attempt) noexcept;
// True when SysV segment shmid is the caller's and its header names the run and object
// of `name` ("/shmcheck.<uid>.<run>.<object>"). Attaches it read-only for a moment.
[[nodiscard]] bool sysv_segment_holds_name(int shmid, const std::string& name);

class Segment {
 public:
  // How many derived SysV keys create() tries before giving up with kExists.
  static constexpr unsigned kSysVKeyAttempts = 32;

  // Creates the object (O_EXCL, mode 0600), sizes it to whole pages, maps it, writes
  // the header (magic last, release) and takes flock(LOCK_SH). kExists when the name
  // is taken (a SysV name is taken when a segment of ours with a header naming the
  // same run and object sits on one of its keys); nothing is left behind on error.
  [[nodiscard]] static Result<Segment> create(const SegmentOptions& options) noexcept;

  // Opens and maps a segment another process created; see the banner for the checks.
  // kNotFound when it is gone (POSIX unlinked, SysV removed or marked for removal,
  // memfd creator's fd closed), kForeign when it is not ours or not a shmcheck segment
  // (including one whose creator has not finished writing the header yet).
  [[nodiscard]] static Result<Segment> open(const SegmentRef& ref) noexcept;

  Segment(Segment&& other) noexcept;
  Segment& operator=(Segment&& other) noexcept;
  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  // Unmaps, unlinks when this is the creator (unless keep_name()), then closes the
  // descriptor, which drops the flock.
  ~Segment();

  [[nodiscard]] void* payload() const noexcept;
  [[nodiscard]] std::size_t payload_size() const noexcept;
  [[nodiscard]] const SegmentHeader& header() const noexcept;
  [[nodiscard]] SegmentRef ref() const;
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] Backing backing() const noexcept { return backing_; }
  [[nodiscard]] bool is_creator() const noexcept { return creator_; }
  // The holder's descriptor (-1 for SysV): for fstat, or for tests probing the lock.
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] int sysv_id() const noexcept { return sysv_id_; }

  // Removes the name (shm_unlink after checking it still names our inode; IPC_RMID;
  // nothing for memfd). Creator only (kPermission otherwise); idempotent: later calls
  // succeed without doing anything. Mappings stay valid until they are unmapped.
  [[nodiscard]] Result<void> unlink() noexcept;

  // The destructor will leave the name in place (simulates a leak; the caller or the
  // auditor removes it).
  void keep_name() noexcept { keep_name_ = true; }

 private:
  Segment() noexcept = default;
  void destroy() noexcept;

  Backing backing_ = Backing::kPosix;
  std::string name_;
  FileDescriptor fd_;
  Mapping mapping_;
  int sysv_id_ = -1;
  int memfd_pid_ = 0;
  int memfd_fd_ = -1;
  bool creator_ = false;
  bool keep_name_ = false;
  bool unlinked_ = false;
};

// Reads and decodes the header of the segment ref names without becoming a holder
// (no flock; for the auditor). POSIX: open O_RDONLY + pread, no mapping; memfd: the
// same through /proc/<pid>/fd/<fd>; SysV: a transient SHM_RDONLY attach, copy, detach.
// Only decodes: it does not check the owner or mode (the auditor judges those from
// its inventory). kForeign when there is no shmcheck magic.
[[nodiscard]] Result<SegmentHeaderInfo> read_segment_header(const SegmentRef& ref) noexcept;

}  // namespace shmcheck::core
