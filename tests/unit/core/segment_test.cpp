#include "shmcheck/core/segment.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <new>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "shmcheck/testing/process.hpp"

namespace shmcheck::core {
namespace {

using namespace std::chrono_literals;

constexpr std::size_t kPage = 4096;

// Runs fn at scope exit: cleans up what a test planted, even when an ASSERT returns.
class AtExit {
 public:
  explicit AtExit(std::function<void()> fn) : fn_(std::move(fn)) {}
  ~AtExit() {
    if (fn_) fn_();
  }
  AtExit(const AtExit&) = delete;
  AtExit& operator=(const AtExit&) = delete;

 private:
  std::function<void()> fn_;
};

std::string dev_shm_path(const std::string& posix_name) { return "/dev/shm" + posix_name; }

// Writes a complete, valid-looking header for run_id/object into mem (total bytes),
// so that a planted object differs from a real one only where a test says so.
void write_test_header(void* mem, std::size_t total, const std::string& run_id,
                       const std::string& object) {
  auto* h = ::new (mem) SegmentHeader;
  h->layout_version = kLayoutVersion;
  h->kind = ObjectKind::kTest;
  h->creator = self_identity();
  h->created_unix_ns = 1;
  h->total_size = total;
  h->payload_offset = kSegmentHeaderSize;
  h->payload_size = total - kSegmentHeaderSize;
  std::memset(h->run_id, 0, sizeof h->run_id);
  std::memcpy(h->run_id, run_id.data(), run_id.size());
  std::memset(h->object_name, 0, sizeof h->object_name);
  std::memcpy(h->object_name, object.data(), object.size());
  h->magic.store(kSegmentMagic, std::memory_order_release);
}

// True while the object ref names exists (POSIX name present, SysV id not removed
// and not marked for removal, memfd still open at the creator's fd).
bool object_exists(const SegmentRef& ref) {
  switch (ref.backing) {
    case Backing::kPosix: {
      struct stat st {};
      return ::stat(dev_shm_path(ref.name).c_str(), &st) == 0;
    }
    case Backing::kSysV: {
      shmid_ds ds{};
      return ::shmctl(ref.sysv_id, IPC_STAT, &ds) == 0 && (ds.shm_perm.mode & SHM_DEST) == 0;
    }
    case Backing::kMemfd: {
      std::array<char, 512> buf{};
      const std::string path =
          "/proc/" + std::to_string(ref.memfd_pid) + "/fd/" + std::to_string(ref.memfd_fd);
      const auto n = ::readlink(path.c_str(), buf.data(), buf.size());
      return n > 0 && std::string(buf.data(), static_cast<std::size_t>(n)) ==
                          "/memfd:" + ref.name + " (deleted)";
    }
  }
  return false;
}

// Removes a named object the test itself kept or planted.
void remove_object(const SegmentRef& ref) {
  if (ref.backing == Backing::kPosix) ::shm_unlink(ref.name.c_str());
  if (ref.backing == Backing::kSysV && ref.sysv_id >= 0) ::shmctl(ref.sysv_id, IPC_RMID, nullptr);
}

std::size_t sysv_nattch(int id) {
  shmid_ds ds{};
  if (::shmctl(id, IPC_STAT, &ds) != 0) return static_cast<std::size_t>(-1);
  return ds.shm_nattch;
}

// True when someone holds a lock on the file behind path (an exclusive
// non-blocking flock from a fresh descriptor is refused).
bool lock_is_held(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ADD_FAILURE() << "open " << path << ": " << std::strerror(errno);
    return false;
  }
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // drops the probe's own lock, if it got one
  return held;
}

// The path through which this process can reach the object (for lock probes).
std::string holder_path(const Segment& seg) {
  if (seg.backing() == Backing::kPosix) return dev_shm_path(seg.name());
  return "/proc/self/fd/" + std::to_string(seg.fd());
}

class SegmentFixture : public ::testing::Test {
 protected:
  SegmentOptions options(Backing backing, const std::string& object, std::size_t payload = 1000) {
    objects_.insert(object);
    SegmentOptions o;
    o.backing = backing;
    o.run_id = run_id_;
    o.object = object;
    o.kind = ObjectKind::kTest;
    o.payload_size = payload;
    return o;
  }
  std::string name_of(const std::string& object) {
    objects_.insert(object);
    return segment_name(::getuid(), run_id_, object);
  }

  // Audits what this test's run id left behind: anything found is a leak the code
  // under test (or the test) failed to remove. It is removed and the test fails.
  void TearDown() override {
    const std::string prefix = "shmcheck." + std::to_string(::getuid()) + "." + run_id_ + ".";
    if (DIR* dir = ::opendir("/dev/shm")) {
      std::vector<std::string> leaked;
      while (const dirent* e = ::readdir(dir)) {
        if (std::string(e->d_name).starts_with(prefix)) leaked.emplace_back(e->d_name);
      }
      ::closedir(dir);
      for (const auto& name : leaked) {
        ADD_FAILURE() << "leaked POSIX segment /dev/shm/" << name;
        ::shm_unlink(("/" + name).c_str());
      }
    }
    for (const auto& object : objects_) {
      const std::string name = segment_name(::getuid(), run_id_, object);
      for (unsigned attempt = 0; attempt < Segment::kSysVKeyAttempts; ++attempt) {
        const int id = ::shmget(sysv_key_for(name, attempt), 0, 0);
        if (id < 0) continue;
        auto info = read_segment_header(SegmentRef{Backing::kSysV, "", id});
        if (info && info->run_id == run_id_) {
          ADD_FAILURE() << "leaked SysV segment " << id << " for " << name;
          ::shmctl(id, IPC_RMID, nullptr);
        }
      }
    }
  }

  const std::string run_id_ = new_run_id();
  std::set<std::string> objects_;
};

class SegmentTest : public SegmentFixture, public ::testing::WithParamInterface<Backing> {};
class NamedSegmentTest : public SegmentTest {};   // backings with a name: POSIX, SysV
class LockedSegmentTest : public SegmentTest {};  // backings with a holder flock: POSIX, memfd

std::string backing_name(const ::testing::TestParamInfo<Backing>& info) {
  return to_string(info.param);
}

INSTANTIATE_TEST_SUITE_P(AllBackings, SegmentTest,
                         ::testing::Values(Backing::kPosix, Backing::kSysV, Backing::kMemfd),
                         backing_name);
INSTANTIATE_TEST_SUITE_P(Named, NamedSegmentTest,
                         ::testing::Values(Backing::kPosix, Backing::kSysV), backing_name);
INSTANTIATE_TEST_SUITE_P(Locked, LockedSegmentTest,
                         ::testing::Values(Backing::kPosix, Backing::kMemfd), backing_name);

TEST_P(SegmentTest, CreateWritesHeaderAndPageRoundedPayload) {
  auto seg = Segment::create(options(GetParam(), "hdr", 5000));
  ASSERT_TRUE(seg) << seg.error().message();
  EXPECT_TRUE(seg->is_creator());
  EXPECT_EQ(seg->backing(), GetParam());
  const SegmentHeader& h = seg->header();
  EXPECT_EQ(h.magic.load(std::memory_order_acquire), kSegmentMagic);
  EXPECT_EQ(h.layout_version, kLayoutVersion);
  EXPECT_EQ(h.kind, ObjectKind::kTest);
  EXPECT_EQ(h.creator, self_identity());
  EXPECT_STREQ(h.run_id, run_id_.c_str());
  EXPECT_STREQ(h.object_name, "hdr");
  EXPECT_GT(h.created_unix_ns, 0U);
  EXPECT_EQ(h.payload_offset, kSegmentHeaderSize);
  EXPECT_EQ(h.total_size, 2 * kPage);  // 256 + 5000 rounded up to pages
  EXPECT_EQ(seg->payload_size(), 2 * kPage - kSegmentHeaderSize);
  EXPECT_EQ(h.payload_size, seg->payload_size());
  EXPECT_EQ(static_cast<const std::byte*>(seg->payload()) - reinterpret_cast<const std::byte*>(&h),
            static_cast<std::ptrdiff_t>(kSegmentHeaderSize));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(seg->payload()) % kCacheLineSize, 0U);
  std::memset(seg->payload(), 0xab, seg->payload_size());  // the whole payload is writable
  const std::string expected_name =
      GetParam() == Backing::kMemfd ? name_of("hdr").substr(1) : name_of("hdr");
  EXPECT_EQ(seg->name(), expected_name);
}

TEST_P(SegmentTest, ZeroPayloadStillGetsOnePage) {
  auto seg = Segment::create(options(GetParam(), "zero", 0));
  ASSERT_TRUE(seg) << seg.error().message();
  EXPECT_EQ(seg->header().total_size, kPage);
  EXPECT_EQ(seg->payload_size(), kPage - kSegmentHeaderSize);
}

TEST_P(SegmentTest, CreatedObjectIsOursWithMode0600) {
  auto seg = Segment::create(options(GetParam(), "mode"));
  ASSERT_TRUE(seg) << seg.error().message();
  if (GetParam() == Backing::kSysV) {
    shmid_ds ds{};
    ASSERT_EQ(::shmctl(seg->sysv_id(), IPC_STAT, &ds), 0) << std::strerror(errno);
    EXPECT_EQ(ds.shm_perm.mode & 0777U, 0600U);
    EXPECT_EQ(ds.shm_perm.uid, ::geteuid());
    EXPECT_EQ(ds.shm_perm.cuid, ::geteuid());
    EXPECT_EQ(ds.shm_segsz, seg->header().total_size);
  } else {
    struct stat st {};
    ASSERT_EQ(::stat(holder_path(*seg).c_str(), &st), 0) << std::strerror(errno);
    EXPECT_EQ(st.st_mode & 0777U, 0600U);
    EXPECT_EQ(st.st_uid, ::geteuid());
    EXPECT_EQ(static_cast<std::uint64_t>(st.st_size), seg->header().total_size);
    struct statvfs vfs {};
    ASSERT_EQ(::statvfs("/dev/shm", &vfs), 0);
    if (GetParam() == Backing::kPosix && vfs.f_blocks != 0) {
      // On a size-limited /dev/shm the pages are reserved up front (no SIGBUS later).
      EXPECT_GE(static_cast<std::uint64_t>(st.st_blocks) * 512U, seg->header().total_size);
    }
  }
}

TEST_P(SegmentTest, CreatedDescriptorIsCloseOnExec) {
  auto seg = Segment::create(options(GetParam(), "cloexec"));
  ASSERT_TRUE(seg) << seg.error().message();
  if (GetParam() == Backing::kSysV) {
    EXPECT_EQ(seg->fd(), -1);  // SysV has no descriptor to leak
  } else {
    ASSERT_GE(seg->fd(), 0);
    EXPECT_NE(::fcntl(seg->fd(), F_GETFD) & FD_CLOEXEC, 0);
  }
}

TEST_P(SegmentTest, SecondProcessOpensViaRefStringAndSeesData) {
  const testing::Watchdog watchdog(20s, "SecondProcessOpensViaRefStringAndSeesData");
  auto seg = Segment::create(options(GetParam(), "shared"));
  ASSERT_TRUE(seg) << seg.error().message();
  auto* bytes = static_cast<unsigned char*>(seg->payload());
  for (std::size_t i = 0; i < 512; ++i) bytes[i] = static_cast<unsigned char>(i * 7);
  const std::string token = seg->ref().to_string();
  const pid_t creator = ::getpid();

  const int creator_fd = seg->fd();
  const pid_t pid = testing::fork_child([&token, creator, creator_fd] {
    if (creator_fd >= 0) ::close(creator_fd);  // open for real, not through the fork's copy
    auto ref = SegmentRef::parse(token);
    if (!ref) return 10;
    auto opened = Segment::open(*ref);
    if (!opened) {
      std::fprintf(stderr, "child open: %s\n", opened.error().message().c_str());
      return 11;
    }
    if (opened->is_creator()) return 12;
    if (opened->header().creator.pid != creator) return 13;
    const auto* in = static_cast<const unsigned char*>(opened->payload());
    for (std::size_t i = 0; i < 512; ++i) {
      if (in[i] != static_cast<unsigned char>(i * 7)) return 14;
    }
    std::memcpy(static_cast<char*>(opened->payload()) + 1000, "reply", 6);
    return 0;
  });
  const auto exit = testing::wait_child(pid, 15s);
  ASSERT_TRUE(exit.ok()) << exit.describe();
  EXPECT_STREQ(reinterpret_cast<const char*>(bytes) + 1000, "reply");
  EXPECT_TRUE(object_exists(seg->ref()));  // the opener's exit removed nothing
}

TEST_P(SegmentTest, OpenerMapsTheSameBytesInTheSameProcess) {
  auto seg = Segment::create(options(GetParam(), "same"));
  ASSERT_TRUE(seg) << seg.error().message();
  auto other = Segment::open(seg->ref());
  ASSERT_TRUE(other) << other.error().message();
  EXPECT_FALSE(other->is_creator());
  EXPECT_EQ(other->name(), seg->name());
  EXPECT_EQ(other->payload_size(), seg->payload_size());
  EXPECT_NE(other->payload(), seg->payload());  // a second mapping, not an alias
  static_cast<char*>(seg->payload())[7] = 'q';
  EXPECT_EQ(static_cast<const char*>(other->payload())[7], 'q');
}

TEST_P(SegmentTest, CreatorDestructorRemovesTheObject) {
  SegmentRef ref;
  {
    auto seg = Segment::create(options(GetParam(), "gone"));
    ASSERT_TRUE(seg) << seg.error().message();
    ref = seg->ref();
    ASSERT_TRUE(object_exists(ref));
  }
  EXPECT_FALSE(object_exists(ref));
  auto reopened = Segment::open(ref);
  ASSERT_FALSE(reopened);
  if (GetParam() != Backing::kMemfd) {  // a memfd's fd number may be reused by anything
    EXPECT_EQ(reopened.error().code, ErrorCode::kNotFound) << reopened.error().message();
  }
}

TEST_P(SegmentTest, OpenerDestructionLeavesTheObject) {
  auto seg = Segment::create(options(GetParam(), "stay"));
  ASSERT_TRUE(seg) << seg.error().message();
  {
    auto other = Segment::open(seg->ref());
    ASSERT_TRUE(other) << other.error().message();
  }
  EXPECT_TRUE(object_exists(seg->ref()));
  auto again = Segment::open(seg->ref());
  EXPECT_TRUE(again) << again.error().message();
}

TEST_P(SegmentTest, UnlinkIsCreatorOnlyAndIdempotent) {
  auto seg = Segment::create(options(GetParam(), "unl"));
  ASSERT_TRUE(seg) << seg.error().message();
  auto other = Segment::open(seg->ref());
  ASSERT_TRUE(other) << other.error().message();
  auto denied = other->unlink();
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code, ErrorCode::kPermission);
  EXPECT_TRUE(object_exists(seg->ref()));

  EXPECT_TRUE(seg->unlink());
  EXPECT_TRUE(seg->unlink());
  if (GetParam() != Backing::kMemfd) {
    EXPECT_FALSE(object_exists(seg->ref()));
  }
  // Mappings stay usable after the name is gone.
  static_cast<char*>(seg->payload())[0] = 'z';
  EXPECT_EQ(static_cast<const char*>(other->payload())[0], 'z');
}

TEST_P(SegmentTest, MoveTransfersOwnershipOfTheName) {
  SegmentRef ref;
  {
    auto seg = Segment::create(options(GetParam(), "move"));
    ASSERT_TRUE(seg) << seg.error().message();
    ref = seg->ref();
    Segment moved(std::move(*seg));
    EXPECT_FALSE(seg->is_creator());  // NOLINT(bugprone-use-after-move): moved-from state
    EXPECT_TRUE(moved.is_creator());
    {
      Segment sink = std::move(moved);
      EXPECT_TRUE(object_exists(ref));  // nothing removed by the moves
      EXPECT_EQ(sink.header().magic.load(std::memory_order_acquire), kSegmentMagic);
    }
    EXPECT_FALSE(object_exists(ref));  // removed by the owner the name moved to
  }
}

TEST_P(SegmentTest, RefRoundTripsThroughItsString) {
  auto seg = Segment::create(options(GetParam(), "token"));
  ASSERT_TRUE(seg) << seg.error().message();
  const SegmentRef ref = seg->ref();
  const std::string text = ref.to_string();
  EXPECT_TRUE(text.starts_with(std::string(to_string(GetParam())) + ":")) << text;
  EXPECT_EQ(text.find_first_of(" \t\n"), std::string::npos) << text;
  auto parsed = SegmentRef::parse(text);
  ASSERT_TRUE(parsed) << parsed.error().message();
  EXPECT_EQ(*parsed, ref);
  if (GetParam() == Backing::kSysV) {
    EXPECT_EQ(parsed->sysv_id, seg->sysv_id());
  }
  if (GetParam() == Backing::kMemfd) {
    EXPECT_EQ(parsed->memfd_pid, ::getpid());
    EXPECT_EQ(parsed->memfd_fd, seg->fd());
  }
}

TEST_P(SegmentTest, ReadSegmentHeaderReturnsRunObjectAndCreator) {
  auto seg = Segment::create(options(GetParam(), "audit"));
  ASSERT_TRUE(seg) << seg.error().message();
  const std::size_t attached = GetParam() == Backing::kSysV ? sysv_nattch(seg->sysv_id()) : 0;
  auto info = read_segment_header(seg->ref());
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->run_id, run_id_);
  EXPECT_EQ(info->object_name, "audit");
  EXPECT_EQ(info->creator, self_identity());
  EXPECT_EQ(info->kind, ObjectKind::kTest);
  EXPECT_EQ(info->layout_version, kLayoutVersion);
  EXPECT_EQ(info->total_size, seg->header().total_size);
  EXPECT_EQ(info->created_unix_ns, seg->header().created_unix_ns);
  if (GetParam() == Backing::kSysV) {
    EXPECT_EQ(sysv_nattch(seg->sysv_id()), attached);  // no attachment left behind
  }
}

TEST_P(SegmentTest, ReadSegmentHeaderFromAnotherProcessTakesNoHolderLock) {
  const testing::Watchdog watchdog(20s, "ReadSegmentHeaderFromAnotherProcess");
  auto seg = Segment::create(options(GetParam(), "audit2"));
  ASSERT_TRUE(seg) << seg.error().message();
  const std::string token = seg->ref().to_string();
  const std::string run_id = run_id_;
  const pid_t pid = testing::fork_child([&token, &run_id] {
    auto ref = SegmentRef::parse(token);
    if (!ref) return 10;
    auto info = read_segment_header(*ref);
    if (!info) return 11;
    if (info->run_id != run_id || info->object_name != "audit2") return 12;
    if (info->creator.pid != ::getppid()) return 13;
    return 0;
  });
  const auto exit = testing::wait_child(pid, 15s);
  EXPECT_TRUE(exit.ok()) << exit.describe();
}

TEST_P(SegmentTest, OpenRefusesPlantedObjectWithGroupAndOtherBits) {
  // Planted by the test: a complete shmcheck header, correct size, our owner, but
  // mode 0644. open() must refuse it; the control step (chmod 0600) shows the mode
  // was the only reason.
  const std::string name = name_of("planted");
  SegmentRef ref{GetParam(), GetParam() == Backing::kMemfd ? name.substr(1) : name};
  int fd = -1;
  AtExit cleanup([&] {
    if (fd >= 0) ::close(fd);
    remove_object(ref);
  });
  if (GetParam() == Backing::kSysV) {
    ref.name.clear();
    ref.sysv_id = ::shmget(IPC_PRIVATE, kPage, IPC_CREAT | 0644);
    ASSERT_GE(ref.sysv_id, 0) << std::strerror(errno);
    void* p = ::shmat(ref.sysv_id, nullptr, 0);
    ASSERT_NE(p, reinterpret_cast<void*>(-1)) << std::strerror(errno);
    write_test_header(p, kPage, run_id_, "planted");
    ::shmdt(p);
  } else {
    fd = GetParam() == Backing::kPosix
             ? ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644)
             : ::memfd_create(ref.name.c_str(), MFD_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(::fchmod(fd, 0644), 0);
    ASSERT_EQ(::ftruncate(fd, kPage), 0);
    void* p = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_NE(p, MAP_FAILED);
    write_test_header(p, kPage, run_id_, "planted");
    ::munmap(p, kPage);
    ref.memfd_pid = ::getpid();
    ref.memfd_fd = fd;
  }

  auto refused = Segment::open(ref);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kForeign) << refused.error().message();
  if (GetParam() == Backing::kSysV) {
    EXPECT_EQ(sysv_nattch(ref.sysv_id), 0U);  // never attached
  }

  // Control: the same object with mode 0600 is accepted.
  if (GetParam() == Backing::kSysV) {
    shmid_ds ds{};
    ASSERT_EQ(::shmctl(ref.sysv_id, IPC_STAT, &ds), 0);
    ds.shm_perm.mode = 0600;
    ASSERT_EQ(::shmctl(ref.sysv_id, IPC_SET, &ds), 0) << std::strerror(errno);
  } else {
    ASSERT_EQ(::fchmod(fd, 0600), 0);
  }
  auto accepted = Segment::open(ref);
  EXPECT_TRUE(accepted) << accepted.error().message();
}

TEST_P(SegmentTest, OpenRefusesPlantedObjectWithoutMagic) {
  const std::string name = name_of("nomagic");
  SegmentRef ref{GetParam(), GetParam() == Backing::kMemfd ? name.substr(1) : name};
  int fd = -1;
  AtExit cleanup([&] {
    if (fd >= 0) ::close(fd);
    remove_object(ref);
  });
  if (GetParam() == Backing::kSysV) {
    ref.name.clear();
    ref.sysv_id = ::shmget(IPC_PRIVATE, kPage, IPC_CREAT | 0600);
    ASSERT_GE(ref.sysv_id, 0) << std::strerror(errno);
  } else {
    fd = GetParam() == Backing::kPosix
             ? ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)
             : ::memfd_create(ref.name.c_str(), MFD_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(::fchmod(fd, 0600), 0);
    ASSERT_EQ(::ftruncate(fd, kPage), 0);  // zeros: the right size, but no header
    ref.memfd_pid = ::getpid();
    ref.memfd_fd = fd;
  }
  auto refused = Segment::open(ref);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kForeign) << refused.error().message();
  auto info = read_segment_header(ref);
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, ErrorCode::kForeign) << info.error().message();
  if (GetParam() == Backing::kSysV) {
    EXPECT_EQ(sysv_nattch(ref.sysv_id), 0U);
  }
  EXPECT_TRUE(object_exists(ref));  // refused, not removed: it is not ours to remove
}

TEST_P(SegmentTest, OpenRefusesHeaderNamingAnotherObject) {
  auto seg = Segment::create(options(GetParam(), "real"));
  ASSERT_TRUE(seg) << seg.error().message();
  if (GetParam() == Backing::kPosix) {
    // A POSIX name is what is opened, so a mismatching name is a different object.
    SUCCEED();
    return;
  }
  SegmentRef ref = seg->ref();
  ref.name = segment_name(::getuid(), run_id_, "other");
  if (GetParam() == Backing::kMemfd) ref.name = ref.name.substr(1);
  auto refused = Segment::open(ref);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kForeign) << refused.error().message();
}

TEST_P(NamedSegmentTest, CreatingTheSameNameTwiceFailsWithExists) {
  auto first = Segment::create(options(GetParam(), "twice"));
  ASSERT_TRUE(first) << first.error().message();
  auto second = Segment::create(options(GetParam(), "twice"));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kExists) << second.error().message();
  // The failed attempt removed nothing of the first.
  EXPECT_TRUE(object_exists(first->ref()));
  auto opened = Segment::open(first->ref());
  EXPECT_TRUE(opened) << opened.error().message();
}

TEST_P(NamedSegmentTest, KeepNameLeavesTheObjectForTheCaller) {
  SegmentRef ref;
  AtExit cleanup([&] { remove_object(ref); });
  {
    auto seg = Segment::create(options(GetParam(), "leak"));
    ASSERT_TRUE(seg) << seg.error().message();
    ref = seg->ref();
    seg->keep_name();
  }
  ASSERT_TRUE(object_exists(ref));
  auto info = read_segment_header(ref);
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_EQ(info->object_name, "leak");
  remove_object(ref);
  EXPECT_FALSE(object_exists(ref));
}

TEST_P(NamedSegmentTest, FailedCreateLeavesNoName) {
  // 2^62 payload bytes: the name may be created and sized (tmpfs is sparse), but
  // mapping it cannot succeed. Whatever step fails, nothing may be left behind.
  auto seg = Segment::create(options(GetParam(), "huge", std::size_t{1} << 62));
  ASSERT_FALSE(seg);
  EXPECT_NE(seg.error().code, ErrorCode::kExists) << seg.error().message();
  if (GetParam() == Backing::kPosix) {
    // "No room" is a resource limit (exit code 3), not a bug: /dev/shm too small, or
    // no address space for the mapping.
    EXPECT_EQ(seg.error().code, ErrorCode::kNoSpace) << seg.error().message();
    struct stat st {};
    EXPECT_NE(::stat(dev_shm_path(name_of("huge")).c_str(), &st), 0);
  } else {
    const std::string name = name_of("huge");
    for (unsigned attempt = 0; attempt < Segment::kSysVKeyAttempts; ++attempt) {
      EXPECT_LT(::shmget(sysv_key_for(name, attempt), 0, 0), 0) << "attempt " << attempt;
    }
  }
}

// A memfd's pages come out of memory only when touched, so ftruncate and mmap take any
// size: one larger than the memory left is refused up front, kNoSpace (exit code 3),
// instead of growing until the OOM killer ends the run (a 64 GiB ring on a 24 GiB
// machine took 87 s to get there). The same check guards /dev/shm without a size limit.
TEST_P(SegmentTest, ASegmentLargerThanTheMemoryLeftIsNoSpace) {
  const auto avail = available_memory();
  ASSERT_TRUE(avail.has_value()) << "/proc/meminfo unreadable";
  ASSERT_GT(*avail, 0U);
  auto seg = Segment::create(options(GetParam(), "beyond", *avail + (std::size_t{1} << 30)));
  ASSERT_FALSE(seg);
  EXPECT_EQ(seg.error().code, ErrorCode::kNoSpace) << seg.error().message();
}

// A /dev/shm whose size limit is above the memory left (sized at half the RAM, or by a
// container's --shm-size, not by what is free): its free space said yes, and fallocate
// committed the RAM until the OOM killer took a process of its choice (an unrelated
// shell, here). The memory check comes first now. Run in a mount namespace of its own,
// with a tmpfs /dev/shm 2 GiB larger than the memory left; the child volunteers for the
// OOM killer (oom_score_adj 1000), and its namespace's tmpfs goes with it, should the
// check ever be lost again.
TEST(PosixSegment, ASegmentFittingDevShmButNotTheMemoryLeftIsNoSpace) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root for a mount namespace";
  const auto avail = available_memory();
  ASSERT_TRUE(avail.has_value());
  const pid_t child = testing::fork_child([&] {
    std::ofstream("/proc/self/oom_score_adj") << 1000;
    if (::unshare(CLONE_NEWNS) != 0) return 10;
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 11;
    const std::string size = "size=" + std::to_string(*avail + (std::size_t{2} << 30));
    if (::mount("tmpfs", "/dev/shm", "tmpfs", 0, size.c_str()) != 0) return 12;
    SegmentOptions o;
    o.backing = Backing::kPosix;
    o.run_id = "0123456789abcdef";
    o.object = "beyond";
    o.kind = ObjectKind::kTest;
    o.payload_size = *avail + (std::size_t{1} << 30);
    auto seg = Segment::create(o);
    if (seg) return 20;
    if (seg.error().code != ErrorCode::kNoSpace) return 21;
    if (seg.error().message().find("of memory available") == std::string::npos) return 22;
    DIR* dir = ::opendir("/dev/shm");
    if (dir == nullptr) return 13;
    int left = 0;
    while (const dirent* e = ::readdir(dir)) left += e->d_name[0] == '.' ? 0 : 1;
    ::closedir(dir);
    return left == 0 ? 0 : 23;
  });
  const auto exit = testing::wait_child(child, 60s);
  EXPECT_TRUE(exit.ok()) << exit.describe()
                         << " (10-13: namespace set-up; 20: created; 21, 22: another error; 23: "
                            "a name left behind)";
}

TEST_P(NamedSegmentTest, OpenAfterCreatorUnlinkedIsNotFound) {
  auto seg = Segment::create(options(GetParam(), "unlinked"));
  ASSERT_TRUE(seg) << seg.error().message();
  ASSERT_TRUE(seg->unlink());
  auto opened = Segment::open(seg->ref());
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kNotFound) << opened.error().message();
}

TEST_P(LockedSegmentTest, HolderLockIsHeldWhileOpenAndReleasedOnClose) {
  auto seg = Segment::create(options(GetParam(), "lock"));
  ASSERT_TRUE(seg) << seg.error().message();
  // A descriptor of our own to the same file, kept past the segments' lives.
  const int probe = ::open(holder_path(*seg).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(probe, 0) << std::strerror(errno);
  AtExit close_probe([probe] { ::close(probe); });
  const std::string probe_path = "/proc/self/fd/" + std::to_string(probe);
  EXPECT_TRUE(lock_is_held(probe_path));  // the creator holds LOCK_SH

  auto opener = Segment::open(seg->ref());
  ASSERT_TRUE(opener) << opener.error().message();
  { const Segment creator = std::move(*seg); }  // the creator closes (and unlinks)
  EXPECT_TRUE(lock_is_held(probe_path));        // the opener still holds it
  { const Segment last = std::move(*opener); }
  EXPECT_FALSE(lock_is_held(probe_path));  // no holder left: provably unused
}

TEST_P(LockedSegmentTest, OpenerInAnotherProcessHoldsTheLockUntilItCloses) {
  const testing::Watchdog watchdog(20s, "OpenerInAnotherProcessHoldsTheLock");
  auto seg = Segment::create(options(GetParam(), "lock2"));
  ASSERT_TRUE(seg) << seg.error().message();
  const int probe = ::open(holder_path(*seg).c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(probe, 0) << std::strerror(errno);
  AtExit close_probe([probe] { ::close(probe); });
  const std::string probe_path = "/proc/self/fd/" + std::to_string(probe);
  const std::string token = seg->ref().to_string();
  std::array<int, 2> go{-1, -1};
  ASSERT_EQ(::pipe2(go.data(), O_CLOEXEC), 0);
  AtExit close_pipe([&go] {
    if (go[0] >= 0) ::close(go[0]);
    if (go[1] >= 0) ::close(go[1]);
  });

  const int creator_fd = seg->fd();
  void* const creator_base = const_cast<SegmentHeader*>(&seg->header());
  const std::size_t creator_size = seg->header().total_size;
  const pid_t pid = testing::fork_child([&token, &go, creator_fd, creator_base, creator_size] {
    ::close(go[1]);
    // The fork copied the creator's descriptor and mapping; both pin the creator's
    // open file description and with it the creator's flock. Drop both so only the
    // lock the child takes itself counts.
    ::close(creator_fd);
    ::munmap(creator_base, creator_size);
    auto ref = SegmentRef::parse(token);
    if (!ref) return 10;
    auto opened = Segment::open(*ref);
    if (!opened) return 11;
    // Tell the parent we hold the lock, then wait for its go-ahead to close.
    static_cast<std::atomic<int>*>(opened->payload())->store(1, std::memory_order_release);
    char c = 0;
    if (::read(go[0], &c, 1) != 1) return 12;
    return 0;
  });
  ::close(go[0]);
  go[0] = -1;
  auto* flag = static_cast<std::atomic<int>*>(seg->payload());
  ASSERT_TRUE(testing::eventually([flag] { return flag->load(std::memory_order_acquire) == 1; }));
  { const Segment creator = std::move(*seg); }  // only the child holds it now
  EXPECT_TRUE(lock_is_held(probe_path));
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  const auto exit = testing::wait_child(pid, 15s);
  ASSERT_TRUE(exit.ok()) << exit.describe();
  EXPECT_FALSE(lock_is_held(probe_path));
}

// Anyone can write a file that starts with shmcheck's magic. A header whose run id
// carried "\x1b[31mX\nFAKE" recoloured the audit table's terminal and forged a line of
// it: a run id or object name that is not a name is not a header.
TEST(SegmentHeader, ARunIdOrObjectNameThatIsNotANameIsRefused) {
  alignas(SegmentHeader) std::array<unsigned char, kSegmentHeaderSize> bytes{};
  auto* h = new (bytes.data()) SegmentHeader{};
  h->magic.store(kSegmentMagic);
  std::strcpy(h->run_id, "0123456789abcdef");
  std::strcpy(h->object_name, "queue");
  ASSERT_TRUE(decode_segment_header(bytes.data(), bytes.size()));
  std::strcpy(h->run_id, "\x1b[31mX\nFAKE");
  const auto forged = decode_segment_header(bytes.data(), bytes.size());
  ASSERT_FALSE(forged);
  EXPECT_EQ(forged.error().code, ErrorCode::kCorrupt);
  std::strcpy(h->run_id, "0123456789abcdef");
  std::strcpy(h->object_name, "q\tueue");
  EXPECT_FALSE(decode_segment_header(bytes.data(), bytes.size()));
}

TEST(SegmentSysV, AttachCountTracksHolders) {
  const std::string run_id = new_run_id();
  SegmentOptions o;
  o.backing = Backing::kSysV;
  o.run_id = run_id;
  o.object = "nattch";
  auto seg = Segment::create(o);
  ASSERT_TRUE(seg) << seg.error().message();
  const int id = seg->sysv_id();
  EXPECT_EQ(sysv_nattch(id), 1U);
  {
    auto other = Segment::open(seg->ref());
    ASSERT_TRUE(other) << other.error().message();
    EXPECT_EQ(sysv_nattch(id), 2U);
  }
  EXPECT_EQ(sysv_nattch(id), 1U);
  seg->keep_name();
  AtExit remove([id] { ::shmctl(id, IPC_RMID, nullptr); });
  { const Segment last = std::move(*seg); }
  EXPECT_EQ(sysv_nattch(id), 0U);  // the evidence an auditor uses: no holders left
}

TEST(SegmentSysV, KeyCollisionWithAForeignSegmentMovesToTheNextKey) {
  const std::string run_id = new_run_id();
  const std::string name = segment_name(::getuid(), run_id, "collide");
  // Plant a header-less segment on the first derived key.
  const int planted = ::shmget(sysv_key_for(name, 0), kPage, IPC_CREAT | IPC_EXCL | 0600);
  ASSERT_GE(planted, 0) << std::strerror(errno);
  AtExit remove([planted] { ::shmctl(planted, IPC_RMID, nullptr); });

  SegmentOptions o;
  o.backing = Backing::kSysV;
  o.run_id = run_id;
  o.object = "collide";
  auto seg = Segment::create(o);
  ASSERT_TRUE(seg) << seg.error().message();
  EXPECT_NE(seg->sysv_id(), planted);
  shmid_ds ds{};
  ASSERT_EQ(::shmctl(seg->sysv_id(), IPC_STAT, &ds), 0);
  EXPECT_EQ(ds.shm_perm.__key, sysv_key_for(name, 1));
  // Still one name: a second create finds our segment behind the collision.
  auto second = Segment::create(o);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kExists);
  // The planted segment was neither used nor removed.
  shmid_ds planted_ds{};
  EXPECT_EQ(::shmctl(planted, IPC_STAT, &planted_ds), 0);
  EXPECT_EQ(planted_ds.shm_nattch, 0U);
}

TEST(SegmentPosix, CreateLeavesAPlantedNameAlone) {
  const std::string run_id = new_run_id();
  const std::string name = segment_name(::getuid(), run_id, "squat");
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  AtExit cleanup([fd, &name] {
    ::close(fd);
    ::shm_unlink(name.c_str());
  });
  ASSERT_EQ(::fchmod(fd, 0644), 0);
  ASSERT_EQ(::write(fd, "squatter", 8), 8);

  SegmentOptions o;
  o.run_id = run_id;
  o.object = "squat";
  auto seg = Segment::create(o);
  ASSERT_FALSE(seg);
  EXPECT_EQ(seg.error().code, ErrorCode::kExists) << seg.error().message();
  struct stat st {};
  ASSERT_EQ(::stat(dev_shm_path(name).c_str(), &st), 0);  // not unlinked by the failed create
  EXPECT_EQ(st.st_mode & 0777U, 0644U);                   // not chmod'ed
  EXPECT_EQ(st.st_size, 8);                               // not truncated
}

TEST(SegmentMemfd, OpenRefusesAnFdThatIsNotAMemfd) {
  const testing::Watchdog watchdog(10s, "OpenRefusesAnFdThatIsNotAMemfd");
  std::array<int, 2> p{-1, -1};
  ASSERT_EQ(::pipe2(p.data(), O_CLOEXEC), 0);
  AtExit cleanup([&p] {
    ::close(p[0]);
    ::close(p[1]);
  });
  // A FIFO at the fd: must be refused without blocking in open().
  auto refused = Segment::open(SegmentRef{Backing::kMemfd, "", -1, ::getpid(), p[0]});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kForeign) << refused.error().message();
  auto info = read_segment_header(SegmentRef{Backing::kMemfd, "", -1, ::getpid(), p[0]});
  ASSERT_FALSE(info);
  EXPECT_EQ(info.error().code, ErrorCode::kForeign);
}

TEST(SegmentMemfd, OpenAfterCreatorExitedIsNotFound) {
  const testing::Watchdog watchdog(20s, "OpenAfterCreatorExitedIsNotFound");
  std::array<int, 2> p{-1, -1};
  ASSERT_EQ(::pipe2(p.data(), O_CLOEXEC), 0);
  AtExit cleanup([&p] {
    if (p[0] >= 0) ::close(p[0]);
    if (p[1] >= 0) ::close(p[1]);
  });
  const std::string run_id = new_run_id();
  const pid_t pid = testing::fork_child([&p, &run_id] {
    SegmentOptions o;
    o.backing = Backing::kMemfd;
    o.run_id = run_id;
    o.object = "orphan";
    auto seg = Segment::create(o);
    if (!seg) return 10;
    const std::string token = seg->ref().to_string();
    const auto n = static_cast<ssize_t>(token.size());
    return ::write(p[1], token.data(), token.size()) == n ? 0 : 11;
  });
  ::close(p[1]);
  p[1] = -1;
  std::array<char, 256> buf{};
  const auto n = ::read(p[0], buf.data(), buf.size());
  const auto exit = testing::wait_child(pid, 15s);
  ASSERT_TRUE(exit.ok()) << exit.describe();
  ASSERT_GT(n, 0);
  auto ref = SegmentRef::parse(std::string_view(buf.data(), static_cast<std::size_t>(n)));
  ASSERT_TRUE(ref) << ref.error().message();
  EXPECT_EQ(ref->memfd_pid, pid);
  auto opened = Segment::open(*ref);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kNotFound) << opened.error().message();
}

TEST(SegmentCreate, RejectsBadRunIdAndObjectName) {
  SegmentOptions o;
  o.object = "ok";
  o.run_id = "not-hex";
  auto bad_run = Segment::create(o);
  ASSERT_FALSE(bad_run);
  EXPECT_EQ(bad_run.error().code, ErrorCode::kInvalidArgument);
  o.run_id = "0123456789ABCDEF";  // upper case is not what new_run_id() makes
  EXPECT_FALSE(Segment::create(o));
  o.run_id = new_run_id();
  for (const char* object : {"", "a/b", "a.b", "-x", "has space"}) {
    o.object = object;
    auto bad_object = Segment::create(o);
    ASSERT_FALSE(bad_object) << object;
    EXPECT_EQ(bad_object.error().code, ErrorCode::kInvalidArgument) << object;
  }
}

TEST(SegmentRefText, ParsesEachForm) {
  auto posix = SegmentRef::parse("posix:/shmcheck.1000.0123456789abcdef.queue");
  ASSERT_TRUE(posix);
  EXPECT_EQ(posix->backing, Backing::kPosix);
  EXPECT_EQ(posix->name, "/shmcheck.1000.0123456789abcdef.queue");

  auto sysv = SegmentRef::parse("sysv:42");
  ASSERT_TRUE(sysv);
  EXPECT_EQ(sysv->backing, Backing::kSysV);
  EXPECT_EQ(sysv->sysv_id, 42);
  EXPECT_TRUE(sysv->name.empty());
  auto sysv_named = SegmentRef::parse("sysv:0:/shmcheck.1000.0123456789abcdef.q");
  ASSERT_TRUE(sysv_named);
  EXPECT_EQ(sysv_named->sysv_id, 0);
  EXPECT_EQ(sysv_named->name, "/shmcheck.1000.0123456789abcdef.q");

  auto memfd = SegmentRef::parse("memfd:123:7");
  ASSERT_TRUE(memfd);
  EXPECT_EQ(memfd->backing, Backing::kMemfd);
  EXPECT_EQ(memfd->memfd_pid, 123);
  EXPECT_EQ(memfd->memfd_fd, 7);
  auto memfd_named = SegmentRef::parse("memfd:123:7:shmcheck.1000.0123456789abcdef.q");
  ASSERT_TRUE(memfd_named);
  EXPECT_EQ(memfd_named->name, "shmcheck.1000.0123456789abcdef.q");
  EXPECT_EQ(memfd_named->to_string(), "memfd:123:7:shmcheck.1000.0123456789abcdef.q");
}

TEST(SegmentRefText, RejectsMalformedTokens) {
  for (const char* text :
       {"", "posix", "posix:", "posix:noslash", "posix:/a/b", "posix:/a b", "nfs:/x",
        "sysv:", "sysv:abc", "sysv:-1", "sysv:1:", "sysv:1x", "memfd:", "memfd:1", "memfd:0:3",
        "memfd:1:-3", "memfd:1:3:", "memfd:1:3:/slash", "memfd:x:3"}) {
    auto ref = SegmentRef::parse(text);
    EXPECT_FALSE(ref) << "'" << text << "' parsed";
    if (!ref) {
      EXPECT_EQ(ref.error().code, ErrorCode::kInvalidArgument);
    }
  }
}

TEST(SegmentBacking, NamesRoundTrip) {
  for (const Backing b : {Backing::kPosix, Backing::kSysV, Backing::kMemfd}) {
    EXPECT_EQ(backing_from_string(to_string(b)), b);
  }
  EXPECT_FALSE(backing_from_string("POSIX").has_value());
  EXPECT_FALSE(backing_from_string("").has_value());
}

TEST(SegmentSysV, DerivedKeysAreStableDistinctAndNeverPrivate) {
  const std::string name = "/shmcheck.1000.0123456789abcdef.q";
  EXPECT_EQ(sysv_key_for(name, 0), sysv_key_for(name, 0));
  EXPECT_NE(sysv_key_for(name, 0), sysv_key_for(name, 1));
  EXPECT_NE(sysv_key_for(name, 0), sysv_key_for("/shmcheck.1000.0123456789abcdef.r", 0));
  for (unsigned a = 0; a < 1000; ++a) EXPECT_NE(sysv_key_for(name, a), IPC_PRIVATE);
}

}  // namespace
}  // namespace shmcheck::core
