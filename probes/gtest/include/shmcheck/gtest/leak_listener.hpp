// LeakListener: a GoogleTest event listener that takes an IPC inventory before and
// after every test and fails the test that leaked objects, naming each one.
//
// One line in a gtest main (after InitGoogleTest):
//   ::testing::UnitTest::GetInstance()->listeners().Append(new shmcheck::gtest::LeakListener);
// (gtest owns the listener). Or link shmcheck::gtest_main, whose main() does that.
//
// Tests run in parallel with other processes that create IPC objects, so an object
// that appeared during a test is blamed on it only with positive evidence that it
// came from this test process or its descendants:
//  - its creator (shmcheck header creator, SysV cpid) or a holder is this process,
//    a live descendant of it, or a pid passed to note_process();
//  - or its run id / name matches a configured run id / name prefix.
// Objects without such evidence are never blamed: a POSIX object made by a child
// that already exited and left no header is caught only through a name prefix.
// Per process; not thread-safe against tests that run concurrently in threads.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "shmcheck/probes/inventory.hpp"

namespace shmcheck::gtest {

struct LeakListenerOptions {
  std::vector<std::string> name_prefixes;  // e.g. "/myproject." (leading '/' optional)
  std::set<std::string> run_ids;           // shmcheck run ids owned by this test binary
  bool attribute_process_tree = true;      // creator/holder in this process tree
  probes::InventoryOptions inventory;      // roots; kinds to watch (empty: all)
};

class LeakListener : public ::testing::EmptyTestEventListener {
 public:
  LeakListener();
  explicit LeakListener(LeakListenerOptions options);

  void OnTestStart(const ::testing::TestInfo& info) override;
  void OnTestEnd(const ::testing::TestInfo& info) override;

  // A process this test binary forked (recorded so its objects are attributed after
  // it has exited). Cleared at every test start.
  void note_process(pid_t pid);
  void add_name_prefix(std::string prefix);

  // The objects the last finished test was blamed for (for tests of the listener).
  [[nodiscard]] const std::vector<probes::IpcObject>& last_leaks() const noexcept {
    return last_leaks_;
  }

 private:
  LeakListenerOptions options_;
  std::optional<probes::Inventory> before_;
  std::set<pid_t> noted_;
  std::vector<probes::IpcObject> last_leaks_;
};

// The listener installed in this process by install_leak_listener(), if any.
LeakListener* installed_leak_listener() noexcept;
// Appends a LeakListener to gtest's listeners (gtest owns it) and returns it.
LeakListener& install_leak_listener(LeakListenerOptions options = {});

}  // namespace shmcheck::gtest
