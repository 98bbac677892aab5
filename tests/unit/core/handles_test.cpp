#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "shmcheck/core/file_descriptor.hpp"
#include "shmcheck/core/mapping.hpp"

namespace shmcheck::core {
namespace {

bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

// An unnamed memfd owned by the test (nothing to clean up beyond the descriptor).
FileDescriptor test_memfd(std::size_t size) {
  const int fd = ::memfd_create("shmcheck-handles-test", MFD_CLOEXEC);
  EXPECT_GE(fd, 0) << std::strerror(errno);
  if (fd >= 0) {
    EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
  }
  return FileDescriptor(fd);
}

// True while [p, p+len) is mapped in this process.
bool is_mapped(void* p, std::size_t len) { return ::msync(p, len, MS_ASYNC) == 0; }

// A private SysV segment removed when the guard goes out of scope.
struct SysVGuard {
  int id = -1;
  ~SysVGuard() {
    if (id >= 0) ::shmctl(id, IPC_RMID, nullptr);
  }
};

std::size_t nattch(int id) {
  shmid_ds ds{};
  if (::shmctl(id, IPC_STAT, &ds) != 0) return static_cast<std::size_t>(-1);
  return ds.shm_nattch;
}

TEST(FileDescriptor, DefaultIsEmpty) {
  const FileDescriptor fd;
  EXPECT_FALSE(fd.valid());
  EXPECT_EQ(fd.get(), -1);
}

TEST(FileDescriptor, DestructorClosesTheDescriptor) {
  int raw = -1;
  {
    auto fd = FileDescriptor::open("/dev/null", O_RDONLY);
    ASSERT_TRUE(fd) << fd.error().message();
    raw = fd->get();
    EXPECT_TRUE(fd_is_open(raw));
  }
  EXPECT_FALSE(fd_is_open(raw));
}

TEST(FileDescriptor, OpenSetsCloseOnExec) {
  auto fd = FileDescriptor::open("/dev/null", O_RDONLY);
  ASSERT_TRUE(fd) << fd.error().message();
  EXPECT_NE(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(FileDescriptor, OpenOfMissingPathIsNotFound) {
  auto fd = FileDescriptor::open("/nonexistent/shmcheck-handles-test", O_RDONLY);
  ASSERT_FALSE(fd);
  EXPECT_EQ(fd.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(fd.error().sys_errno, ENOENT);
}

TEST(FileDescriptor, MoveConstructionTransfersOwnership) {
  auto a = FileDescriptor::open("/dev/null", O_RDONLY);
  ASSERT_TRUE(a);
  const int raw = a->get();
  FileDescriptor b(std::move(*a));
  EXPECT_FALSE(a->valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(b.get(), raw);
  EXPECT_TRUE(fd_is_open(raw));
}

TEST(FileDescriptor, MoveAssignmentClosesTheOldDescriptor) {
  auto a = FileDescriptor::open("/dev/null", O_RDONLY);
  auto b = FileDescriptor::open("/dev/null", O_RDONLY);
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  const int raw_a = a->get();
  const int raw_b = b->get();
  *b = std::move(*a);
  EXPECT_EQ(b->get(), raw_a);
  EXPECT_FALSE(a->valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_TRUE(fd_is_open(raw_a));
  EXPECT_FALSE(fd_is_open(raw_b));
}

TEST(FileDescriptor, ReleaseGivesUpOwnershipWithoutClosing) {
  int raw = -1;
  {
    auto fd = FileDescriptor::open("/dev/null", O_RDONLY);
    ASSERT_TRUE(fd);
    raw = fd->release();
    EXPECT_FALSE(fd->valid());
  }
  EXPECT_TRUE(fd_is_open(raw));
  ::close(raw);
}

TEST(FileDescriptor, ResetClosesAndAdoptsTheNewDescriptor) {
  auto fd = FileDescriptor::open("/dev/null", O_RDONLY);
  ASSERT_TRUE(fd);
  const int old_raw = fd->get();
  const int new_raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(new_raw, 0);
  fd->reset(new_raw);
  EXPECT_FALSE(fd_is_open(old_raw));
  EXPECT_EQ(fd->get(), new_raw);
  fd->reset();
  EXPECT_FALSE(fd_is_open(new_raw));
  EXPECT_FALSE(fd->valid());
}

TEST(FileDescriptor, CloseReportsSuccessAndEmptiesTheHandle) {
  auto fd = FileDescriptor::open("/dev/null", O_RDONLY);
  ASSERT_TRUE(fd);
  const int raw = fd->get();
  EXPECT_TRUE(fd->close());
  EXPECT_FALSE(fd->valid());
  EXPECT_FALSE(fd_is_open(raw));
  EXPECT_TRUE(fd->close());  // closing an empty handle is a no-op
}

TEST(Mapping, MapSharedIsVisibleThroughASecondMapping) {
  auto fd = test_memfd(4096);
  ASSERT_TRUE(fd.valid());
  auto a = Mapping::map_shared(fd.get(), 4096, Access::kReadWrite);
  auto b = Mapping::map_shared(fd.get(), 4096, Access::kReadOnly);
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(a->kind(), Mapping::Kind::kMmap);
  EXPECT_EQ(a->size(), 4096U);
  static_cast<char*>(a->data())[100] = 'x';
  EXPECT_EQ(static_cast<const char*>(b->data())[100], 'x');
}

TEST(Mapping, DestructorUnmaps) {
  auto fd = test_memfd(4096);
  ASSERT_TRUE(fd.valid());
  void* p = nullptr;
  {
    auto m = Mapping::map_shared(fd.get(), 4096, Access::kReadWrite);
    ASSERT_TRUE(m);
    p = m->data();
    EXPECT_TRUE(is_mapped(p, 4096));
  }
  EXPECT_FALSE(is_mapped(p, 4096));
}

TEST(Mapping, MoveTransfersTheRangeAndEmptiesTheSource) {
  auto fd = test_memfd(4096);
  ASSERT_TRUE(fd.valid());
  auto m = Mapping::map_shared(fd.get(), 4096, Access::kReadWrite);
  ASSERT_TRUE(m);
  void* const p = m->data();
  Mapping moved(std::move(*m));
  EXPECT_FALSE(m->valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(m->data(), nullptr);
  EXPECT_EQ(moved.data(), p);
  EXPECT_TRUE(is_mapped(p, 4096));

  auto other = Mapping::map_shared(fd.get(), 4096, Access::kReadWrite);
  ASSERT_TRUE(other);
  void* const q = other->data();
  moved = std::move(*other);  // the old range goes away
  EXPECT_FALSE(is_mapped(p, 4096));
  EXPECT_EQ(moved.data(), q);
  moved.reset();
  EXPECT_FALSE(moved.valid());
  EXPECT_FALSE(is_mapped(q, 4096));
}

TEST(Mapping, ZeroSizeIsInvalidArgument) {
  auto fd = test_memfd(4096);
  auto m = Mapping::map_shared(fd.get(), 0, Access::kReadWrite);
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, ErrorCode::kInvalidArgument);
}

TEST(Mapping, MapOfBadDescriptorReportsTheCall) {
  auto m = Mapping::map_shared(-1, 4096, Access::kReadWrite);
  ASSERT_FALSE(m);
  EXPECT_STREQ(m.error().call, "mmap");
  EXPECT_EQ(m.error().sys_errno, EBADF);
}

TEST(Mapping, SysVAttachDetachesOnReset) {
  SysVGuard seg;
  seg.id = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  ASSERT_GE(seg.id, 0) << std::strerror(errno);
  {
    auto m = Mapping::attach_sysv(seg.id, 4096, Access::kReadWrite);
    ASSERT_TRUE(m) << m.error().message();
    EXPECT_EQ(m->kind(), Mapping::Kind::kSysV);
    EXPECT_EQ(nattch(seg.id), 1U);
    Mapping moved(std::move(*m));
    EXPECT_EQ(nattch(seg.id), 1U);
    static_cast<char*>(moved.data())[0] = 'y';
    auto again = Mapping::attach_sysv(seg.id, 4096, Access::kReadOnly);
    ASSERT_TRUE(again);
    EXPECT_EQ(static_cast<const char*>(again->data())[0], 'y');
    EXPECT_EQ(nattch(seg.id), 2U);
    again->reset();
    EXPECT_EQ(nattch(seg.id), 1U);
  }
  EXPECT_EQ(nattch(seg.id), 0U);
}

TEST(Mapping, SysVAttachOfRemovedIdFails) {
  auto m = Mapping::attach_sysv(-1, 4096, Access::kReadWrite);
  ASSERT_FALSE(m);
  EXPECT_STREQ(m.error().call, "shmat");
}

}  // namespace
}  // namespace shmcheck::core
