// The GoogleTest leak listener, exercised through a real gtest binary
// (shmcheck_leak_listener_demo) run as a subprocess: a leaking test fails and names
// the object, a clean one passes, and objects other processes create meanwhile
// are never blamed on it. Sandboxed so the leaks vanish with the sandbox.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <unistd.h>

#include <thread>

#include "probe_test_support.hpp"
#include "shmcheck/core/segment_header.hpp"

namespace shmcheck::probes {
namespace {

struct DemoRun {
  probe_tests::Captured result;
  std::string run;
  std::string prefix;
};

DemoRun run_demo(const std::string& filter, const std::string& go_file = "/nonexistent",
                 const std::string& started_file = "/nonexistent") {
  DemoRun d;
  d.run = core::new_run_id();
  d.prefix = "/shmcheck-demo-" + d.run + ".";
  d.result = probe_tests::run_capture(
      {SHMCHECK_LEAK_DEMO, "--gtest_filter=" + filter},
      {"SHMCHECK_DEMO_RUN=" + d.run, "SHMCHECK_DEMO_PREFIX=" + d.prefix,
       "SHMCHECK_DEMO_GO=" + go_file, "SHMCHECK_DEMO_STARTED=" + started_file},
      std::chrono::seconds(40));
  return d;
}

bool contains(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

TEST(LeakListener, FailsATestThatLeavesASegmentBehindAndNamesIt) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto d = run_demo("Demo.LeaksShmcheckSegment");
    EXPECT_TRUE(d.result.exit.exited && d.result.exit.code == 1) << d.result.exit.describe();
    EXPECT_TRUE(contains(d.result.out, "this test leaked 1 IPC object(s)")) << d.result.out;
    EXPECT_TRUE(contains(d.result.out, testing_ipc::object_name(d.run, "leaked"))) << d.result.out;
    EXPECT_TRUE(contains(d.result.out, "attributed by creator pid")) << d.result.out;
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(LeakListener, FailsATestThatLeavesARawObjectMatchingThePrefix) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto d = run_demo("Demo.LeaksPrefixedRawShm");
    EXPECT_TRUE(d.result.exit.exited && d.result.exit.code == 1) << d.result.exit.describe();
    EXPECT_TRUE(contains(d.result.out, d.prefix + "raw")) << d.result.out;
    EXPECT_TRUE(contains(d.result.out, "attributed by name prefix")) << d.result.out;
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(LeakListener, FailsATestWhoseExitedChildLeftASysvSegment) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto d = run_demo("Demo.LeaksSysvShmFromExitedChild");
    EXPECT_TRUE(d.result.exit.exited && d.result.exit.code == 1) << d.result.exit.describe();
    EXPECT_TRUE(contains(d.result.out, "sysv_shm key=0x00000000")) << d.result.out;
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(LeakListener, PassesATestThatCleansUp) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto d = run_demo("Demo.CleansUpAfterItself");
    EXPECT_TRUE(d.result.exit.ok()) << d.result.exit.describe() << "\n" << d.result.out;
    EXPECT_FALSE(contains(d.result.out, "leaked")) << d.result.out;
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(LeakListener, NeverBlamesATestForAnotherProcessesObjects) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const std::string go = "/mnt/go-" + core::new_run_id();
    const std::string started = "/mnt/started-" + core::new_run_id();
    DemoRun d;
    std::thread demo([&] { d = run_demo("Demo.IgnoresOtherProcessesObjects", go, started); });
    // Once the demo test runs (its "before" inventory taken), this unrelated
    // parent process creates objects.
    const bool running = shmcheck::testing::eventually(
        [&] { return ::access(started.c_str(), F_OK) == 0; }, std::chrono::seconds(20));
    EXPECT_TRUE(running);
    const auto other_run = core::new_run_id();
    const int fd = testing_ipc::create_posix_shm(other_run, "other", 8192);
    const int sysv = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    const int marker = ::open(go.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    demo.join();
    EXPECT_GE(fd, 0);
    EXPECT_GE(sysv, 0);
    EXPECT_GE(marker, 0);
    EXPECT_TRUE(d.result.exit.ok()) << d.result.exit.describe() << "\n" << d.result.out;
    EXPECT_FALSE(contains(d.result.out, "leaked")) << d.result.out;
    ::close(marker);
    ::close(fd);
    ::shm_unlink(testing_ipc::object_name(other_run, "other").c_str());
    ::shmctl(sysv, IPC_RMID, nullptr);
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

}  // namespace
}  // namespace shmcheck::probes
