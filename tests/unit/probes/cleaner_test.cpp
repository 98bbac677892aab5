// The cleaner removes proved orphans only, and re-verifies each one right before
// removal. Sandboxed: exact outcomes while other tests run on the host.
#include "shmcheck/probes/cleaner.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <mqueue.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "probe_test_support.hpp"
#include "shmcheck/core/segment.hpp"
#include "shmcheck/core/segment_header.hpp"

namespace shmcheck::probes {
namespace {

using probe_tests::find_named;
using probe_tests::sandbox_options;
using probe_tests::shm_exists;
using testing_ipc::object_name;

CleanOptions clean_options(bool dry_run) {
  CleanOptions options;
  options.dry_run = dry_run;
  options.inventory = sandbox_options();
  return options;
}

// A SysV segment made (not attached) by a process that has exited; -1 on failure.
int sysv_segment_of_a_dead_creator() {
  int ids[2];
  if (::pipe(ids) != 0) return -1;
  const pid_t maker = shmcheck::testing::fork_child([&] {
    const int id = ::shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
    return ::write(ids[1], &id, sizeof id) == sizeof id ? 0 : 1;
  });
  int id = -1;
  if (!shmcheck::testing::wait_child(maker).ok() ||
      ::read(ids[0], &id, sizeof id) != static_cast<ssize_t>(sizeof id)) {
    id = -1;
  }
  ::close(ids[0]);
  ::close(ids[1]);
  return id;
}

// A shmcheck segment made by a process that has exited: an orphan.
void make_orphan(const std::string& run, const std::string& object, uid_t owner = 0) {
  const pid_t maker = shmcheck::testing::fork_child([&] {
    const int fd = testing_ipc::create_posix_shm(run, object, 16384);
    if (fd < 0) return 1;
    if (owner != 0 && ::fchown(fd, owner, owner) != 0) return 2;
    return 0;
  });
  ASSERT_TRUE(shmcheck::testing::wait_child(maker).ok());
}

std::uint64_t inode_of(const std::string& name) {
  struct stat st {};
  return ::stat(("/dev/shm" + name).c_str(), &st) == 0 ? st.st_ino : 0;
}

// A fresh directory under the sandbox's /mnt for run manifests: <prefix>-XXXXXX/runs
// (not created: write_manifest makes it private); "" on failure.
std::string new_manifest_dir(const std::string& prefix) {
  std::string base = "/mnt/" + prefix + "-XXXXXX";
  if (::mkdtemp(base.data()) == nullptr) return "";
  return base + "/runs";
}

// The manifest of a run whose harness is dead (a pid not in the sandbox's /proc),
// written 5 s ago.
RunManifest dead_run_manifest(const std::string& run_id) {
  RunManifest m;
  m.run_id = run_id;
  m.harness = {999999, 1, 0};
  m.created_unix_ns = static_cast<std::int64_t>(::time(nullptr) - 5) * 1'000'000'000;
  return m;
}

IpcObject snapshot_of(const std::string& name) {
  const auto inv = take_inventory(sandbox_options());
  const auto* o = find_named(inv, IpcKind::kPosixShm, name);
  if (o == nullptr) {
    ADD_FAILURE() << name << " not in the inventory";
    return {};
  }
  return *o;
}

TEST(Cleaner, RemovesAProvedOrphanOnlyWhenNotADryRun) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    make_orphan(run, "orphan");
    const auto name = object_name(run, "orphan");
    const auto o = snapshot_of(name);
    ASSERT_EQ(o.verdict, Verdict::kOrphaned) << o.reason;

    const auto dry = clean_orphans({o}, clean_options(true));
    ASSERT_EQ(dry.outcomes.size(), 1U);
    EXPECT_EQ(dry.outcomes[0].status, CleanStatus::kWouldRemove) << dry.outcomes[0].detail;
    EXPECT_EQ(dry.removed, 0U);
    EXPECT_TRUE(shm_exists(name));

    const auto real = clean_orphans({o}, clean_options(false));
    ASSERT_EQ(real.outcomes.size(), 1U);
    EXPECT_EQ(real.outcomes[0].status, CleanStatus::kRemoved) << real.outcomes[0].detail;
    EXPECT_EQ(real.removed, 1U);
    EXPECT_GE(real.bytes_freed, 16384U - 4096U);
    EXPECT_FALSE(shm_exists(name));
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(Cleaner, LeavesAnObjectSwappedInUnderTheNameBeforeRemoval) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    make_orphan(run, "swapped");
    const auto name = object_name(run, "swapped");
    const auto o = snapshot_of(name);
    ASSERT_EQ(o.verdict, Verdict::kOrphaned) << o.reason;

    std::uint64_t swapped_inode = 0;
    auto options = clean_options(false);
    options.before_remove = [&](const IpcObject& checked) {
      // Between the last check and the removal, someone replaces the object.
      ASSERT_EQ(checked.name, name);
      ASSERT_EQ(::shm_unlink(name.c_str()), 0);
      const int fd = ::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
      ASSERT_GE(fd, 0);
      ::close(fd);
      swapped_inode = inode_of(name);
    };
    const auto report = clean_orphans({o}, options);
    ASSERT_EQ(report.outcomes.size(), 1U);
    EXPECT_EQ(report.outcomes[0].status, CleanStatus::kChanged) << report.outcomes[0].detail;
    EXPECT_EQ(report.removed, 0U);
    ASSERT_NE(swapped_inode, 0U);
    EXPECT_EQ(inode_of(name), swapped_inode) << "the swapped-in object must stay under its name";
    ::shm_unlink(name.c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(Cleaner, RefusesAnObjectReplacedSinceTheSnapshot) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    make_orphan(run, "replaced");
    const auto name = object_name(run, "replaced");
    const auto o = snapshot_of(name);
    ASSERT_EQ(::shm_unlink(name.c_str()), 0);
    make_orphan(run, "replaced");
    const auto report = clean_orphans({o}, clean_options(false));
    ASSERT_EQ(report.outcomes.size(), 1U);
    EXPECT_EQ(report.outcomes[0].status, CleanStatus::kChanged) << report.outcomes[0].detail;
    EXPECT_TRUE(shm_exists(name));
    ::shm_unlink(name.c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// The cleaner removes a file under an exclusive lease: an open() of it meanwhile waits
// for the lease. The lease break it causes must not end the cleaner (the kernel's
// default notification, SIGIO, would terminate it), and must stop the removal: the
// open looked the name up before the cleaner moved it aside, and would get a file
// removed under it, its writes lost to everyone else. The name goes back, and the open
// gets the file it named. The cleaner runs in a child: the sandbox's first process is
// its pid namespace's init, which no default-fatal signal from inside the namespace ends.
TEST(Cleaner, AnOpenDuringTheRemovalKeepsTheFileItOpens) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    make_orphan(run, "opened");
    const auto name = object_name(run, "opened");
    const auto o = snapshot_of(name);
    ASSERT_EQ(o.verdict, Verdict::kOrphaned) << o.reason;

    // Forked before the cleaner opens the file: a child forked while the lease is held
    // would share the leased open file description and wait on itself.
    int go[2];
    ASSERT_EQ(::pipe(go), 0);
    const pid_t opener = shmcheck::testing::fork_child([&] {
      ::close(go[1]);
      char c = 0;
      if (::read(go[0], &c, 1) != 1) return 2;
      const int fd = ::shm_open(name.c_str(), O_RDWR, 0);  // waits for the lease
      struct stat st {};
      if (fd < 0 || ::fstat(fd, &st) != 0) return 3;
      return st.st_nlink == 1 ? 0 : 1;  // 1: it got a file removed under it
    });
    ::close(go[0]);
    const pid_t cleaner = shmcheck::testing::fork_child([&] {
      bool breaking = false;
      auto options = clean_options(false);
      options.before_remove = [&](const IpcObject&) {
        const char c = 1;
        if (::write(go[1], &c, 1) != 1) return;
        // The opener's wait shows in /proc/locks as a lease being broken.
        breaking = shmcheck::testing::eventually(
            [] {
              std::ifstream locks("/proc/locks");
              std::string line;
              while (std::getline(locks, line)) {
                if (line.find("LEASE") != std::string::npos &&
                    line.find("BREAK") != std::string::npos) {
                  return true;
                }
              }
              return false;
            },
            std::chrono::seconds(5));
      };
      const auto report = clean_orphans({o}, options);
      if (!breaking) return 2;  // the opener never waited on the lease
      return report.outcomes.size() == 1 && report.outcomes[0].status == CleanStatus::kNowHeld ? 0
                                                                                               : 1;
    });
    ::close(go[1]);
    const auto cleaned = shmcheck::testing::wait_child(cleaner, std::chrono::seconds(10));
    EXPECT_TRUE(cleaned.ok()) << cleaned.describe();
    const auto opened = shmcheck::testing::wait_child(opener, std::chrono::seconds(10));
    EXPECT_TRUE(opened.ok()) << opened.describe();
    EXPECT_TRUE(shm_exists(name));
    ::shm_unlink(name.c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A cleaner killed between its rename and its unlink leaves the file under a quarantine
// name, which no run manifest lists: every reclaim removes it again on a fresh proof,
// and keeps one that something holds (a live cleaner mid-removal holds its lease). Only
// names a cleaner makes are taken (a user's own ".shmcheck-clean.notes" was removed), and
// not when the reclaim is of some runs only.
TEST(Cleaner, ReclaimRemovesWhatAKilledCleanerLeftUnderAQuarantineName) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const std::string left = "/" + std::string(kQuarantinePrefix) + "99999.a1b2c3d4e5f6";
    const std::string held = "/" + std::string(kQuarantinePrefix) + "99998.0a0b0c0d0e0f";
    const std::string users = "/" + std::string(kQuarantinePrefix) + "notes";
    for (const auto& name : {left, held, users}) {
      const int fd = ::open(("/dev/shm" + name).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::ftruncate(fd, 8192), 0);
      ::close(fd);
    }
    const int holder = ::open(("/dev/shm" + held).c_str(), O_RDWR);
    ASSERT_GE(holder, 0);

    const auto some_runs =
        reclaim_dead_runs("/nonexistent/shmcheck/runs", clean_options(false), {"0123456789abcdef"});
    EXPECT_TRUE(some_runs.quarantine.outcomes.empty());
    EXPECT_TRUE(shm_exists(left));
    const auto report = reclaim_dead_runs("/nonexistent/shmcheck/runs", clean_options(false));
    EXPECT_TRUE(report.runs.empty());
    ASSERT_EQ(report.quarantine.outcomes.size(), 2U);
    EXPECT_EQ(report.quarantine.removed, 1U);
    EXPECT_EQ(report.removed, 1U);
    for (const auto& outcome : report.quarantine.outcomes) {
      const auto expected =
          outcome.object.name == left ? CleanStatus::kRemoved : CleanStatus::kNotOrphaned;
      EXPECT_EQ(outcome.status, expected) << outcome.object.name << ": " << outcome.detail;
    }
    EXPECT_FALSE(shm_exists(left));
    EXPECT_TRUE(shm_exists(held));
    EXPECT_TRUE(shm_exists(users));
    ::close(holder);
    ::unlink(("/dev/shm" + held).c_str());
    ::unlink(("/dev/shm" + users).c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A child mapping `name` until told (release closed) or for `hold_ms` (-1: until
// told); returns once the mapping is in place.
pid_t hold_mapped(const std::string& name, int ready[2], int release[2], int hold_ms) {
  const pid_t holder = shmcheck::testing::fork_child([=] {
    ::close(release[1]);  // or the poll below never sees EOF
    const int fd = ::shm_open(name.c_str(), O_RDWR, 0);
    if (fd < 0) return 1;
    void* p = ::mmap(nullptr, 16384, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);  // held by the mapping alone
    if (p == MAP_FAILED) return 2;
    char c = 1;
    if (::write(ready[1], &c, 1) != 1) return 3;
    pollfd pfd{release[0], POLLIN, 0};
    return ::poll(&pfd, 1, hold_ms) >= 0 ? 0 : 4;
  });
  char c = 0;
  EXPECT_EQ(::read(ready[0], &c, 1), 1);
  return holder;
}

TEST(Cleaner, NeverRemovesALiveObject) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    make_orphan(run, "live");
    const auto name = object_name(run, "live");
    const auto stale = snapshot_of(name);  // judged orphaned before a holder came
    ASSERT_EQ(stale.verdict, Verdict::kOrphaned) << stale.reason;

    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    int release[2];
    ASSERT_EQ(::pipe(release), 0);
    const pid_t holder = hold_mapped(name, ready, release, -1);

    const auto report = clean_orphans({stale}, clean_options(false));
    ASSERT_EQ(report.outcomes.size(), 1U);
    EXPECT_EQ(report.outcomes[0].status, CleanStatus::kNowHeld) << report.outcomes[0].detail;
    EXPECT_TRUE(report.outcomes[0].detail.starts_with("held by " + std::to_string(holder) + " ("))
        << report.outcomes[0].detail << ": the refused lease names the holder the walk finds";
    EXPECT_TRUE(shm_exists(name));

    const auto fresh = snapshot_of(name);
    EXPECT_EQ(fresh.verdict, Verdict::kInUse) << fresh.reason;
    const auto again = clean_orphans({fresh}, clean_options(false));
    EXPECT_EQ(again.outcomes[0].status, CleanStatus::kNotOrphaned);
    EXPECT_TRUE(shm_exists(name));

    ::close(release[1]);
    const auto holder_exit = shmcheck::testing::wait_child(holder, std::chrono::seconds(10));
    EXPECT_TRUE(holder_exit.ok()) << holder_exit.describe();
    ::shm_unlink(name.c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A queue is removed in the mqueue mount it was verified in. mq_unlink acts on the
// caller's IPC namespace: with --mqueue-dir naming another namespace's mount, the
// cleaner proved that namespace's queue orphaned and removed this one's, of the same
// name, held open by a live process.
TEST(Cleaner, AQueueIsRemovedInTheMountItWasVerifiedInNotByName) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const std::string name = "/shmcheck-mqns-" + core::new_run_id();
    const mqd_t held = ::mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600,
                                 nullptr);  // this namespace's, in use
    ASSERT_NE(held, static_cast<mqd_t>(-1)) << std::strerror(errno);
    ASSERT_EQ(::mkdir("/mnt/other-mqueue", 0700), 0);
    int ready[2];
    int release[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(release), 0);
    // Another IPC namespace, its mqueue mounted where only /proc/PID/root reaches it,
    // with an orphan of the same name.
    const pid_t other = shmcheck::testing::fork_child([&] {
      if (::unshare(CLONE_NEWIPC | CLONE_NEWNS) != 0 ||
          ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
          ::mount("mqueue", "/mnt/other-mqueue", "mqueue", 0, nullptr) != 0) {
        return 1;
      }
      const mqd_t q = ::mq_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600, nullptr);
      if (q == static_cast<mqd_t>(-1) || ::mq_close(q) != 0) return 2;
      ::close(release[1]);  // so that the parent's close is an end of file here
      char c = 1;
      if (::write(ready[1], &c, 1) != 1) return 3;
      (void)::read(release[0], &c, 1);
      return 0;
    });
    ::close(ready[1]);
    ::close(release[0]);
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    const std::string other_dir = "/proc/" + std::to_string(other) + "/root/mnt/other-mqueue";
    CleanOptions options = clean_options(false);
    options.inventory.mqueue_dir = other_dir;
    const auto inv = take_inventory(options.inventory);
    const auto* o = find_named(inv, IpcKind::kPosixMqueue, name);
    ASSERT_NE(o, nullptr) << probe_tests::problems_text(inv);
    ASSERT_EQ(o->verdict, Verdict::kOrphaned) << o->reason;

    const auto report = clean_orphans({*o}, options);
    ASSERT_EQ(report.outcomes.size(), 1U);
    EXPECT_EQ(report.outcomes[0].status, CleanStatus::kRemoved) << report.outcomes[0].detail;
    struct stat st {};
    EXPECT_NE(::stat((other_dir + name).c_str(), &st), 0) << "the verified orphan is still there";
    EXPECT_EQ(::stat((std::string(probe_tests::kSandboxMqueueDir) + name).c_str(), &st), 0)
        << "removed this namespace's queue, held open by a live process";

    ::close(release[1]);
    const auto other_exit = shmcheck::testing::wait_child(other, std::chrono::seconds(10));
    EXPECT_TRUE(other_exit.ok()) << other_exit.describe();
    ::mq_close(held);
    ::mq_unlink(name.c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// With a settle, a holder met by the re-check is waited out: one that lets go within
// it (another auditor's inventory looks at each object for a moment) no longer keeps
// the orphan; one that stays keeps it, as without. Every try is a full re-check.
TEST(Cleaner, ASettleWaitsOutAPassingHolderButNotAStayingOne) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    make_orphan(run, "passing");
    const auto name = object_name(run, "passing");
    const auto orphan = snapshot_of(name);
    ASSERT_EQ(orphan.verdict, Verdict::kOrphaned) << orphan.reason;
    int ready[2];
    int release[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(release), 0);
    auto settling = clean_options(false);
    settling.settle = std::chrono::milliseconds(400);

    // Staying: kept, with a settle as without.
    const pid_t staying = hold_mapped(name, ready, release, 60'000);
    const auto once = clean_orphans({orphan}, clean_options(false));
    EXPECT_EQ(once.outcomes[0].status, CleanStatus::kNowHeld) << once.outcomes[0].detail;
    const auto kept = clean_orphans({orphan}, settling);
    EXPECT_EQ(kept.outcomes[0].status, CleanStatus::kNowHeld) << kept.outcomes[0].detail;
    EXPECT_TRUE(shm_exists(name));
    ::close(release[1]);
    EXPECT_TRUE(shmcheck::testing::wait_child(staying, std::chrono::seconds(10)).ok());

    // Passing: lets go 300 ms into a 2 s settle, and the orphan is removed.
    ASSERT_EQ(::pipe(release), 0);
    settling.settle = std::chrono::seconds(2);
    const pid_t passing = hold_mapped(name, ready, release, 300);
    const auto removed = clean_orphans({orphan}, settling);
    EXPECT_EQ(removed.outcomes[0].status, CleanStatus::kRemoved) << removed.outcomes[0].detail;
    EXPECT_EQ(removed.removed, 1U);
    EXPECT_FALSE(shm_exists(name));
    EXPECT_TRUE(shmcheck::testing::wait_child(passing, std::chrono::seconds(10)).ok());
    ::close(release[1]);
    ::shm_unlink(name.c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// Turns CAP_LEASE in this process's effective set off or on (it stays permitted).
bool lease_capability(bool on) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  const auto bit = 1U << CAP_LEASE;
  data[0].effective = on ? data[0].effective | bit : data[0].effective & ~bit;
  return ::syscall(SYS_capset, &header, data) == 0;
}

// Where the kernel will not be asked (root without CAP_LEASE, another user's file), a
// fresh /proc walk decides: it finds a holder by name, and once the holder is gone it
// does not take the cleaner's own descriptor of the check for one.
TEST(Cleaner, WithoutALeaseAFreshWalkDecidesLeavingOutTheCleanersOwnLook) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    make_orphan(run, "no-lease", 65534);
    const auto name = object_name(run, "no-lease");
    const auto orphan = snapshot_of(name);
    ASSERT_EQ(orphan.verdict, Verdict::kOrphaned) << orphan.reason;
    auto options = clean_options(false);
    options.all_users = true;
    ASSERT_TRUE(lease_capability(false));

    int ready[2];
    int release[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(release), 0);
    const pid_t holder = hold_mapped(name, ready, release, -1);
    const auto held = clean_orphans({orphan}, options);
    EXPECT_EQ(held.outcomes[0].status, CleanStatus::kNowHeld) << held.outcomes[0].detail;
    EXPECT_TRUE(held.outcomes[0].detail.starts_with("held by " + std::to_string(holder) + " ("))
        << held.outcomes[0].detail;
    EXPECT_TRUE(shm_exists(name));
    ::close(release[1]);
    EXPECT_TRUE(shmcheck::testing::wait_child(holder, std::chrono::seconds(10)).ok());

    const auto removed = clean_orphans({orphan}, options);
    EXPECT_EQ(removed.outcomes[0].status, CleanStatus::kRemoved) << removed.outcomes[0].detail;
    EXPECT_FALSE(shm_exists(name));
    EXPECT_TRUE(lease_capability(true));
    ::shm_unlink(name.c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// Outside the host's pid namespace, processes of other namespaces can share /dev/shm
// without being in this /proc: a helper ran the audit under `unshare -p --mount-proc`
// without CAP_LEASE, and `--clean --yes` removed a file a host process held. A walk
// there proves nothing: POSIX files wait for a lease. The sandbox is such a namespace;
// trusting it (its /dev/shm and IPC namespace are its own) gives the walk its word
// back.
TEST(Cleaner, OutsideTheHostsPidNamespaceAWalkProvesNothing) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    make_orphan(run, "ns", 65534);
    const auto name = object_name(run, "ns");
    ASSERT_TRUE(lease_capability(false));

    auto untrusted = sandbox_options();
    untrusted.trust_pid_namespace = false;
    const auto inv = take_inventory(untrusted);
    EXPECT_FALSE(inv.complete());
    EXPECT_TRUE(std::ranges::any_of(inv.problems, [](const InventoryProblem& p) {
      return p.error.message().find("is not the host's") != std::string::npos;
    }));
    const auto* posix = find_named(inv, IpcKind::kPosixShm, name);
    ASSERT_NE(posix, nullptr);
    EXPECT_EQ(posix->verdict, Verdict::kUnknown) << posix->reason;

    // The cleaner's own walk is no proof either, even for an object judged elsewhere.
    const auto trusted = take_inventory(sandbox_options());
    const auto* orphan = find_named(trusted, IpcKind::kPosixShm, name);
    ASSERT_NE(orphan, nullptr);
    ASSERT_EQ(orphan->verdict, Verdict::kOrphaned) << orphan->reason;
    auto options = clean_options(false);
    options.all_users = true;
    options.inventory.trust_pid_namespace = false;
    const auto kept = clean_orphans({*orphan}, options);
    EXPECT_EQ(kept.outcomes[0].status, CleanStatus::kIncomplete) << kept.outcomes[0].detail;
    EXPECT_TRUE(shm_exists(name));
    EXPECT_TRUE(lease_capability(true));
    ::shm_unlink(name.c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A SysV segment whose creator is outside the reader's pid namespace has cpid 0 in
// /proc/sysvipc/shm, which was read as a dead creator: an unattached segment of a live
// process outside (a container auditing a host's segment) was orphaned. It is unknown.
TEST(Inventory, ASysvSegmentWhoseCreatorThisPidNamespaceCannotSeeIsUnknown) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    int ids[2];
    int release[2];
    ASSERT_EQ(::pipe(ids), 0);
    ASSERT_EQ(::pipe(release), 0);
    const pid_t creator = shmcheck::testing::fork_child([&] {
      const int id = ::shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
      if (::write(ids[1], &id, sizeof id) != sizeof id) return 1;
      char c = 0;
      ::close(release[1]);
      (void)::read(release[0], &c, 1);  // alive until released
      return 0;
    });
    int id = -1;
    ASSERT_EQ(::read(ids[0], &id, sizeof id), static_cast<ssize_t>(sizeof id));
    // The reader: a pid namespace nested in the sandbox's, with a /proc of its own.
    const pid_t reader = shmcheck::testing::fork_child([&] {
      if (::unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) return 10;
      const pid_t inner = ::fork();
      if (inner < 0) return 11;
      if (inner == 0) {
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            ::mount("proc", "/proc", "proc", 0, nullptr) != 0) {
          ::_exit(12);
        }
        auto options = sandbox_options();
        options.trust_pid_namespace = true;  // the walk's word is not what is tested
        const auto inv = take_inventory(options);
        const auto* o = probe_tests::find_sysv(inv, IpcKind::kSysvShm, id);
        if (o == nullptr) ::_exit(13);
        std::fprintf(stderr, "verdict %s: %s\n", std::string(to_string(o->verdict)).c_str(),
                     o->reason.c_str());
        ::_exit(o->verdict == Verdict::kUnknown ? 0 : 14);
      }
      int status = 0;
      if (::waitpid(inner, &status, 0) != inner || !WIFEXITED(status)) return 15;
      return WEXITSTATUS(status);
    });
    const auto read = shmcheck::testing::wait_child(reader, std::chrono::seconds(10));
    EXPECT_TRUE(read.ok()) << read.describe();
    ::close(release[1]);
    EXPECT_TRUE(shmcheck::testing::wait_child(creator, std::chrono::seconds(10)).ok());
    ::shmctl(id, IPC_RMID, nullptr);
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(Cleaner, NeverRemovesAnotherUsersObjectWithoutAllUsers) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    make_orphan(run, "foreign", 65534);
    const auto name = object_name(run, "foreign");
    const auto o = snapshot_of(name);
    ASSERT_EQ(o.verdict, Verdict::kOrphaned) << o.reason;
    ASSERT_EQ(o.uid, 65534U);

    const auto report = clean_orphans({o}, clean_options(false));
    EXPECT_EQ(report.outcomes[0].status, CleanStatus::kNotOwner) << report.outcomes[0].detail;
    EXPECT_TRUE(shm_exists(name));

    auto all = clean_options(true);
    all.all_users = true;  // root + all_users: allowed (dry run here)
    const auto dry = clean_orphans({o}, all);
    EXPECT_EQ(dry.outcomes[0].status, CleanStatus::kWouldRemove) << dry.outcomes[0].detail;
    EXPECT_TRUE(shm_exists(name));
    ::shm_unlink(name.c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(Cleaner, NeverRemovesUnknownOrPendingObjects) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const int semid = ::semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ASSERT_GE(semid, 0);
    const auto inv = take_inventory(sandbox_options());
    const auto* sem = probe_tests::find_sysv(inv, IpcKind::kSysvSemaphore, semid);
    ASSERT_NE(sem, nullptr);
    ASSERT_EQ(sem->verdict, Verdict::kUnknown);
    const auto report = clean_orphans({*sem}, clean_options(false));
    EXPECT_EQ(report.outcomes[0].status, CleanStatus::kNotOrphaned);
    EXPECT_EQ(::semctl(semid, 0, IPC_RMID), 0) << "the semaphore set must still exist";
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(Cleaner, RemovesAnUnattachedSysvSegmentOfADeadCreator) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const int id = sysv_segment_of_a_dead_creator();
    ASSERT_GE(id, 0);
    const auto inv = take_inventory(sandbox_options());
    const auto* o = probe_tests::find_sysv(inv, IpcKind::kSysvShm, id);
    ASSERT_NE(o, nullptr);
    ASSERT_EQ(o->verdict, Verdict::kOrphaned) << o->reason;

    // Attached meanwhile: IPC_STAT re-check keeps it.
    void* p = ::shmat(id, nullptr, 0);
    ASSERT_NE(p, reinterpret_cast<void*>(-1));
    const auto held = clean_orphans({*o}, clean_options(false));
    EXPECT_EQ(held.outcomes[0].status, CleanStatus::kNowHeld) << held.outcomes[0].detail;
    ASSERT_EQ(::shmdt(p), 0);

    // Detached again: an orphan as before, whoever attached last (as a POSIX file
    // nobody holds, whoever opened it last). Removed.
    const auto report = clean_orphans({*o}, clean_options(false));
    EXPECT_EQ(report.outcomes[0].status, CleanStatus::kRemoved) << report.outcomes[0].detail;
    struct shmid_ds ds {};
    EXPECT_NE(::shmctl(id, IPC_STAT, &ds), 0);
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(Reclaim, RemovesTheObjectsOfADeadHarnessAndItsManifest) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    const std::string dir = new_manifest_dir("manifests");
    ASSERT_FALSE(dir.empty());

    // The "harness": writes the manifest first, creates objects, dies by SIGKILL.
    int ids[2];
    ASSERT_EQ(::pipe(ids), 0);
    const pid_t harness = shmcheck::testing::fork_child([&] {
      RunManifest m;
      m.run_id = run;
      m.harness = core::self_identity();
      m.created_unix_ns = static_cast<std::int64_t>(::time(nullptr)) * 1'000'000'000;
      const int semid = ::semget(core::sysv_key_for(object_name(run, "slots"), 0), 1,
                                 IPC_CREAT | IPC_EXCL | 0600);
      m.objects.push_back(
          {"posix:" + object_name(run, "ring"), object_name(run, "ring"), IpcKind::kPosixShm, -1});
      m.objects.push_back({"sysv_sem:" + std::to_string(semid), object_name(run, "slots"),
                           IpcKind::kSysvSemaphore, semid});
      if (!write_manifest(m, dir)) return 1;
      if (testing_ipc::create_posix_shm(run, "ring", 16384) < 0) return 2;
      if (::write(ids[1], &semid, sizeof semid) != sizeof semid) return 3;
      ::raise(SIGKILL);
      return 4;
    });
    EXPECT_TRUE(shmcheck::testing::wait_child(harness).killed_by(SIGKILL));
    int semid = -1;
    ASSERT_EQ(::read(ids[0], &semid, sizeof semid), static_cast<ssize_t>(sizeof semid));

    // A live harness's run is never touched.
    RunManifest live;
    live.run_id = core::new_run_id();
    live.harness = core::self_identity();
    live.created_unix_ns = static_cast<std::int64_t>(::time(nullptr)) * 1'000'000'000;
    make_orphan(live.run_id, "kept");
    live.objects.push_back({"", object_name(live.run_id, "kept"), IpcKind::kPosixShm, -1});
    ASSERT_TRUE(write_manifest(live, dir));

    const auto dry = reclaim_dead_runs(dir, clean_options(true));
    EXPECT_EQ(dry.removed, 0U);
    EXPECT_TRUE(shm_exists(object_name(run, "ring")));
    for (const auto& r : dry.runs) {  // not "kept": a dry run only says what it would do
      if (r.manifest.run_id == run) {
        EXPECT_EQ(r.detail, "2 object(s) would be removed");
      }
    }

    const auto report = reclaim_dead_runs(dir, clean_options(false));
    EXPECT_TRUE(report.problems.empty());
    ASSERT_EQ(report.runs.size(), 2U);
    EXPECT_EQ(report.removed, 2U);
    for (const auto& r : report.runs) {
      if (r.manifest.run_id == run) {
        EXPECT_EQ(r.harness, core::Liveness::kDead);
        EXPECT_TRUE(r.manifest_removed) << r.detail;
      } else {
        EXPECT_EQ(r.harness, core::Liveness::kAlive);
        EXPECT_FALSE(r.manifest_removed);
        EXPECT_TRUE(r.clean.outcomes.empty());
      }
    }
    EXPECT_FALSE(shm_exists(object_name(run, "ring")));
    struct semid_ds ds {};
    EXPECT_NE(::semctl(semid, 0, IPC_STAT, &ds), 0) << "the run's semaphore set must be gone";
    EXPECT_TRUE(shm_exists(object_name(live.run_id, "kept")));
    EXPECT_FALSE(read_manifest(manifest_path(dir, run)).has_value());
    EXPECT_TRUE(read_manifest(manifest_path(dir, live.run_id)).has_value());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// The attack a helper found: another user plants /tmp/shmcheck-<uid>/runs before this
// user's first run, with a manifest of a "dead harness" naming a live SysV semaphore
// set (a kind that records no users, so only a manifest can prove it orphaned). The
// reclaim removed it. Now the directory is not trusted: nothing is removed, and the
// refusal is a problem the audit reports.
TEST(Reclaim, AManifestDirectoryAnotherUserPlantedIsNotTrusted) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const std::string dir = new_manifest_dir("planted");
    ASSERT_FALSE(dir.empty());
    ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0);
    const int semid = ::semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ASSERT_GE(semid, 0);
    const std::string path = dir + "/deadbeefdeadbeef.manifest";
    std::ofstream(path) << R"({"run_id":"deadbeefdeadbeef","harness_pid":999999,)"
                        << R"("harness_start_time":1,"created_unix_ns":1,"objects":[)"
                        << R"({"name":"","kind":"sysv_sem","sysv_id":)" << semid << "}]}";
    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    for (const auto& p : {std::filesystem::path(dir).parent_path().string(), dir, path}) {
      ASSERT_EQ(::chown(p.c_str(), 54400, 54400), 0) << p;
    }

    const auto report = reclaim_dead_runs(dir, clean_options(false));
    EXPECT_EQ(report.removed, 0U);
    EXPECT_TRUE(report.runs.empty());
    ASSERT_EQ(report.problems.size(), 1U);
    EXPECT_EQ(report.problems[0].error.code, core::ErrorCode::kForeign)
        << report.problems[0].error.message();
    struct semid_ds ds {};
    EXPECT_EQ(::semctl(semid, 0, IPC_STAT, &ds), 0) << "the semaphore set must be left alone";
    ::semctl(semid, 0, IPC_RMID);
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// Two containers of a pod share the IPC namespace (and may share /tmp) but not the pid
// namespace: one's reclaim found the other's live harness missing from its /proc,
// took it for dead, and removed the run's SysV semaphore set (a kind only the manifest
// proves orphaned). A harness of another pid namespace is now of unknown liveness.
TEST(Reclaim, AHarnessOfAnotherPidNamespaceIsNotTakenForDead) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const std::string dir = new_manifest_dir("other-ns");
    ASSERT_FALSE(dir.empty());
    RunManifest m = dead_run_manifest(core::new_run_id());
    const int semid = ::semget(core::sysv_key_for(object_name(m.run_id, "slots"), 0), 1,
                               IPC_CREAT | IPC_EXCL | 0600);
    ASSERT_GE(semid, 0);
    m.pid_namespace = "pid:[4026531836]";  // the host's: not this sandbox's
    m.objects.push_back({"", object_name(m.run_id, "slots"), IpcKind::kSysvSemaphore, semid});
    ASSERT_TRUE(write_manifest(m, dir));

    const auto report = reclaim_dead_runs(dir, clean_options(false));
    EXPECT_EQ(report.removed, 0U);
    ASSERT_EQ(report.runs.size(), 1U);
    EXPECT_EQ(report.runs[0].harness, core::Liveness::kUnknown) << report.runs[0].detail;
    EXPECT_NE(report.runs[0].detail.find("pid namespace pid:[4026531836]"), std::string::npos)
        << report.runs[0].detail;
    struct semid_ds ds {};
    EXPECT_EQ(::semctl(semid, 0, IPC_STAT, &ds), 0) << "the semaphore set must be left alone";

    // Written in this namespace, the same dead harness is proved dead: removed.
    m.pid_namespace.clear();  // write_manifest records the writer's
    ASSERT_TRUE(write_manifest(m, dir));
    const auto same = reclaim_dead_runs(dir, clean_options(false));
    ASSERT_EQ(same.runs.size(), 1U);
    EXPECT_EQ(same.runs[0].harness, core::Liveness::kDead) << same.runs[0].detail;
    EXPECT_EQ(same.removed, 1U);
    EXPECT_NE(::semctl(semid, 0, IPC_STAT, &ds), 0) << "the run's semaphore set must be gone";
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A manifest proves a SysV object its run's only by the key the harness derives from
// the run-unique name: ids are reused, and a manifest whose set was removed (its
// harness killed before it removed the manifest) named whatever set took the id next.
// A set made before the harness recorded its id (-1) is found by that key, unless two
// sets carry the run's keys (which is the run's cannot be told: both are left). And a
// manifest speaks for its own run only: one filed under another run's name is refused.
TEST(Reclaim, ASysvObjectIsTheRunsOnlyByTheKeyItsNameDerives) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const std::string dir = new_manifest_dir("manifests");
    ASSERT_FALSE(dir.empty());
    // Another program's set under the id a stale manifest recorded. (Idle: one with a
    // process blocked on it is in use, and kept whatever the manifest says.)
    const int unrelated = ::semget(IPC_PRIVATE, 1, IPC_CREAT | 0600);
    ASSERT_GE(unrelated, 0);
    auto stale = dead_run_manifest(core::new_run_id());
    stale.objects.push_back(
        {"", object_name(stale.run_id, "slots"), IpcKind::kSysvSemaphore, unrelated});
    ASSERT_TRUE(write_manifest(stale, dir));
    // A set its harness made and died before recording.
    auto unrecorded = dead_run_manifest(core::new_run_id());
    const int made = ::semget(core::sysv_key_for(object_name(unrecorded.run_id, "pool"), 0), 1,
                              IPC_CREAT | IPC_EXCL | 0600);
    ASSERT_GE(made, 0);
    unrecorded.objects.push_back(
        {"", object_name(unrecorded.run_id, "pool"), IpcKind::kSysvSemaphore, -1});
    ASSERT_TRUE(write_manifest(unrecorded, dir));
    // Two sets on an unrecorded run's keys: another program's on the first, the run's
    // on the next.
    auto twice = dead_run_manifest(core::new_run_id());
    int on_keys[2] = {-1, -1};
    for (unsigned attempt = 0; attempt < 2; ++attempt) {
      on_keys[attempt] = ::semget(core::sysv_key_for(object_name(twice.run_id, "pool"), attempt), 1,
                                  IPC_CREAT | IPC_EXCL | 0600);
      ASSERT_GE(on_keys[attempt], 0);
    }
    twice.objects.push_back({"", object_name(twice.run_id, "pool"), IpcKind::kSysvSemaphore, -1});
    ASSERT_TRUE(write_manifest(twice, dir));
    // A live run's manifest, and a dead one's filed under the live run's name (written
    // as the harness writes one, its pid namespace this one: its harness is dead here).
    auto live = dead_run_manifest(core::new_run_id());
    live.harness = core::self_identity();
    ASSERT_TRUE(write_manifest(live, dir));
    const std::string side = new_manifest_dir("side");
    ASSERT_FALSE(side.empty());
    ASSERT_TRUE(write_manifest(dead_run_manifest(live.run_id), side));
    const auto misfiled = dir + "/" + core::new_run_id() + ".manifest";
    ASSERT_EQ(::rename(manifest_path(side, live.run_id).c_str(), misfiled.c_str()), 0);

    const auto report = reclaim_dead_runs(dir, clean_options(false));
    EXPECT_EQ(report.removed, 1U);
    struct semid_ds ds {};
    EXPECT_EQ(::semctl(unrelated, 0, IPC_STAT, &ds), 0) << "another program's set was removed";
    EXPECT_NE(::semctl(made, 0, IPC_STAT, &ds), 0) << "the unrecorded set of a dead run is left";
    for (const int id : on_keys) {
      EXPECT_EQ(::semctl(id, 0, IPC_STAT, &ds), 0) << "one of two sets on the run's keys removed";
    }
    EXPECT_TRUE(read_manifest(manifest_path(dir, twice.run_id)).has_value())
        << "the manifest of a run whose objects were left was removed";
    ASSERT_EQ(report.problems.size(), 1U);
    EXPECT_NE(report.problems[0].error.message().find("names run " + live.run_id),
              std::string::npos)
        << report.problems[0].error.message();
    EXPECT_TRUE(read_manifest(manifest_path(dir, live.run_id)).has_value())
        << "a live run's manifest was removed";
    struct stat st {};
    EXPECT_EQ(::stat(misfiled.c_str(), &st), 0);

    ::semctl(unrelated, 0, IPC_RMID);
    for (const int id : on_keys) ::semctl(id, 0, IPC_RMID);
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A segment made on the run's second key (another program's segment held the first)
// by a harness killed before it recorded the id: of the two objects on the run's keys,
// the one whose header names the run is the run's, and only it is removed.
TEST(Reclaim, OfTwoSegmentsOnTheRunsKeysTheOneWhoseHeaderNamesTheRunIsReclaimed) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const std::string dir = new_manifest_dir("manifests");
    ASSERT_FALSE(dir.empty());
    RunManifest m = dead_run_manifest(core::new_run_id());
    const std::string name = object_name(m.run_id, "ring");
    m.objects.push_back({"", name, IpcKind::kSysvShm, -1});
    ASSERT_TRUE(write_manifest(m, dir));
    const int unrelated = ::shmget(core::sysv_key_for(name, 0), 4096, IPC_CREAT | IPC_EXCL | 0600);
    ASSERT_GE(unrelated, 0);
    int ids[2];
    ASSERT_EQ(::pipe(ids), 0);
    const pid_t harness = shmcheck::testing::fork_child([&] {
      core::SegmentOptions options;
      options.backing = core::Backing::kSysV;
      options.run_id = m.run_id;
      options.object = "ring";
      options.payload_size = 4096;
      auto seg = core::Segment::create(options);
      if (!seg) return 1;
      const int id = seg->sysv_id();
      if (::write(ids[1], &id, sizeof id) != sizeof id) return 2;
      ::raise(SIGKILL);  // dies with it unrecorded, as a killed harness
      return 3;
    });
    EXPECT_TRUE(shmcheck::testing::wait_child(harness).killed_by(SIGKILL));
    int ours = -1;
    ASSERT_EQ(::read(ids[0], &ours, sizeof ours), static_cast<ssize_t>(sizeof ours));
    ASSERT_NE(ours, unrelated);

    const auto report = reclaim_dead_runs(dir, clean_options(false));
    EXPECT_EQ(report.removed, 1U);
    struct shmid_ds ds {};
    EXPECT_NE(::shmctl(ours, IPC_STAT, &ds), 0) << "the run's segment was left";
    EXPECT_EQ(::shmctl(unrelated, IPC_STAT, &ds), 0) << "another program's segment was removed";
    ::shmctl(unrelated, IPC_RMID, nullptr);
    ::shmctl(ours, IPC_RMID, nullptr);
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A dead harness's object that someone holds for a moment (another run's inventory
// opens each shmcheck object to read its header) is reclaimed with a settle: the
// inventory is taken again until the holder has let go. Without one it was kept
// (in_use), with its manifest, until the next reclaim.
TEST(Reclaim, ADeadRunsObjectHeldForAMomentIsReclaimedWithASettle) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const std::string dir = new_manifest_dir("manifests");
    ASSERT_FALSE(dir.empty());
    // A dead harness's run with one POSIX object; returns the object's name.
    const auto dead_run = [&] {
      const auto run = core::new_run_id();
      const pid_t harness = shmcheck::testing::fork_child([&] {
        RunManifest m;
        m.run_id = run;
        m.harness = core::self_identity();
        m.created_unix_ns = static_cast<std::int64_t>(::time(nullptr)) * 1'000'000'000;
        m.objects.push_back({"posix:" + object_name(run, "ring"), object_name(run, "ring"),
                             IpcKind::kPosixShm, -1});
        if (!write_manifest(m, dir)) return 1;
        if (testing_ipc::create_posix_shm(run, "ring", 16384) < 0) return 2;
        ::raise(SIGKILL);
        return 3;
      });
      EXPECT_TRUE(shmcheck::testing::wait_child(harness).killed_by(SIGKILL));
      return object_name(run, "ring");
    };
    auto settling = clean_options(false);
    settling.settle = std::chrono::seconds(2);
    for (const bool settle : {false, true}) {
      SCOPED_TRACE(settle ? "with a settle" : "without");
      const std::string name = dead_run();
      int ready[2];
      int release[2];
      ASSERT_EQ(::pipe(ready), 0);
      ASSERT_EQ(::pipe(release), 0);
      // Without a settle, held until after the reclaim; with one, let go 300 ms in.
      const pid_t holder = hold_mapped(name, ready, release, settle ? 300 : -1);
      const auto report = reclaim_dead_runs(dir, settle ? settling : clean_options(false));
      ASSERT_EQ(report.runs.size(), 1U);
      EXPECT_EQ(report.runs[0].manifest_removed, settle) << report.runs[0].detail;
      EXPECT_EQ(shm_exists(name), !settle);
      ::close(release[1]);
      EXPECT_TRUE(shmcheck::testing::wait_child(holder, std::chrono::seconds(10)).ok());
      ::shm_unlink(name.c_str());
      (void)remove_manifest(report.runs[0].manifest.run_id, dir);
    }
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

}  // namespace
}  // namespace shmcheck::probes
