// A small gtest binary with shmcheck's LeakListener installed, run as a
// subprocess by leak_listener_test.cpp. Its tests leak on purpose (or not):
//   SHMCHECK_DEMO_RUN    run id used for object names
//   SHMCHECK_DEMO_PREFIX name prefix the listener is configured with
//   SHMCHECK_DEMO_STARTED a file path IgnoresOtherProcesses creates once running
//   SHMCHECK_DEMO_GO     a file path; IgnoresOtherProcesses waits for it to appear
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include "ipc_objects.hpp"
#include "shmcheck/gtest/leak_listener.hpp"

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read before threads
  return v != nullptr ? v : "";
}

TEST(Demo, LeaksShmcheckSegment) {
  // Header creator = this process: attributed through the process tree.
  const int fd = shmcheck::testing_ipc::create_posix_shm(env("SHMCHECK_DEMO_RUN"), "leaked", 8192);
  ASSERT_GE(fd, 0);
  ::close(fd);
}

TEST(Demo, LeaksPrefixedRawShm) {
  // No header: only the configured name prefix attributes it.
  const std::string name = env("SHMCHECK_DEMO_PREFIX") + "raw";
  const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, 4096), 0);
  ::close(fd);
}

TEST(Demo, LeaksSysvShmFromExitedChild) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::_exit(::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600) >= 0 ? 0 : 1);
  }
  shmcheck::gtest::installed_leak_listener()->note_process(child);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(Demo, CleansUpAfterItself) {
  const std::string run = env("SHMCHECK_DEMO_RUN");
  const int fd = shmcheck::testing_ipc::create_posix_shm(run, "clean", 8192);
  ASSERT_GE(fd, 0);
  ::close(fd);
  ASSERT_EQ(::shm_unlink(shmcheck::testing_ipc::object_name(run, "clean").c_str()), 0);
  const int id = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
  ASSERT_GE(id, 0);
  ASSERT_EQ(::shmctl(id, IPC_RMID, nullptr), 0);
}

TEST(Demo, IgnoresOtherProcessesObjects) {
  // Another process (our parent) creates objects while this test runs.
  // The listener has taken its "before" inventory: tell the parent to go ahead.
  const std::string started = env("SHMCHECK_DEMO_STARTED");
  ASSERT_FALSE(started.empty());
  const int marker = ::open(started.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  ASSERT_GE(marker, 0);
  ::close(marker);
  const std::string go = env("SHMCHECK_DEMO_GO");
  ASSERT_FALSE(go.empty());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  struct stat st {};
  while (::stat(go.c_str(), &st) != 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "parent never created " << go;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  shmcheck::gtest::LeakListenerOptions options;
  options.name_prefixes.push_back(env("SHMCHECK_DEMO_PREFIX"));
  shmcheck::gtest::install_leak_listener(std::move(options));
  return RUN_ALL_TESTS();
}
