#include "shmcheck/core/process_identity.hpp"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include "shmcheck/testing/process.hpp"

namespace shmcheck::core {
namespace {

// The state letter of /proc/<pid>/stat ('?' when it cannot be read).
char state_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  return close == std::string::npos || close + 2 >= text.size() ? '?' : text[close + 2];
}

TEST(Liveness, ThisProcessIsAliveAndAnotherStartTimeIsNot) {
  const auto self = self_identity();
  EXPECT_EQ(liveness(self), Liveness::kAlive);
  EXPECT_EQ(liveness(ProcessIdentity{self.pid, 0, self.start_time + 1}), Liveness::kDead);
  EXPECT_EQ(liveness(ProcessIdentity{0, 0, 0}), Liveness::kDead);
}

TEST(Liveness, AZombieIsDeadAndAReapedChildToo) {
  const pid_t child = testing::fork_child([] { return 0; });
  const auto id = identity_of(child);
  ASSERT_TRUE(id.has_value());
  ASSERT_TRUE(testing::eventually([&] { return state_of(child) == 'Z'; }));
  EXPECT_EQ(liveness(*id), Liveness::kDead);
  EXPECT_EQ(thread_group_liveness(child), Liveness::kDead);
  EXPECT_TRUE(testing::wait_child(child).ok());
  EXPECT_EQ(liveness(*id), Liveness::kDead);
}

// A main thread that calls pthread_exit leaves its process running on its other
// threads, with every fd and mapping it had, while /proc/<pid>/stat shows the leader
// as a zombie: the auditor took such a process for dead and removed the SysV segment
// it had created and still used. It is dead once its last thread ends.
TEST(Liveness, AProcessWhoseLeaderExitedLivesWhileAnotherThreadRuns) {
  int release[2];
  ASSERT_EQ(::pipe(release), 0);
  const pid_t child = testing::fork_child([&] {
    ::close(release[1]);
    std::thread([fd = release[0]] {
      char c = 0;
      (void)!::read(fd, &c, 1);
    }).detach();
    // The main thread ends alone, as pthread_exit ends it (the raw exit system call:
    // pthread_exit would unwind through fork_child's frames). The process ends, with
    // status 0, when the other thread does.
    ::syscall(SYS_exit, 0);
    return 1;
  });
  ::close(release[0]);
  const auto id = identity_of(child);
  ASSERT_TRUE(id.has_value());
  ASSERT_TRUE(testing::eventually([&] { return state_of(child) == 'Z'; }));
  EXPECT_EQ(thread_group_liveness(child), Liveness::kAlive);
  EXPECT_EQ(liveness(*id), Liveness::kAlive);

  ::close(release[1]);
  EXPECT_TRUE(testing::eventually([&] { return liveness(*id) == Liveness::kDead; }));
  EXPECT_TRUE(testing::wait_child(child).ok());
}

}  // namespace
}  // namespace shmcheck::core
