// Verdicts for one object of every kind: left behind by a process killed with
// SIGKILL (orphaned, except kinds that carry no proof), and held by a live process
// (in_use). Runs in a sandbox (own pid/mount/IPC namespaces, private /dev/shm) so
// the verdicts can be exact while other tests run on the host.
#include "shmcheck/probes/inventory.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/fuse.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <utime.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "probe_test_support.hpp"
#include "shmcheck/core/segment_header.hpp"
#include "shmcheck/probes/cleaner.hpp"

namespace shmcheck::probes {
namespace {

using probe_tests::find_named;
using probe_tests::find_run;
using probe_tests::find_sysv;
using probe_tests::sandbox_options;
using testing_ipc::object_name;

TEST(InventoryVerdicts, ObjectsLeftByAKilledProcessAreOrphaned) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    auto helper = probe_tests::start_helper("leak", run);
    ASSERT_TRUE(helper.has_value());
    const auto died = probe_tests::stop_helper(*helper);
    ASSERT_TRUE(died.killed_by(SIGKILL)) << died.describe();

    const auto inv = take_inventory(sandbox_options());
    ASSERT_TRUE(inv.complete()) << probe_tests::problems_text(inv);
    ASSERT_TRUE(inv.mqueue_available);

    const auto* shm = find_named(inv, IpcKind::kPosixShm, object_name(run, "shm"));
    ASSERT_NE(shm, nullptr);
    EXPECT_EQ(shm->verdict, Verdict::kOrphaned) << shm->reason;
    ASSERT_TRUE(shm->header.has_value());
    EXPECT_EQ(shm->header->run_id, run);
    EXPECT_EQ(shm->header->object_name, "shm");
    EXPECT_EQ(shm->run_id, run);
    ASSERT_TRUE(shm->creator.has_value());
    EXPECT_EQ(shm->creator->pid, helper->report.pid);
    EXPECT_EQ(shm->creator_liveness, core::Liveness::kDead);
    EXPECT_EQ(shm->nominal_size, 64U * 1024U);
    EXPECT_GT(shm->bytes_allocated, 0U);
    EXPECT_EQ(shm->mode, 0600U);
    EXPECT_TRUE(shm->holders.empty());

    const auto* mapped = find_named(inv, IpcKind::kPosixShm, object_name(run, "mapped"));
    ASSERT_NE(mapped, nullptr);
    EXPECT_EQ(mapped->verdict, Verdict::kOrphaned) << mapped->reason;

    const auto* sem = find_named(inv, IpcKind::kPosixSemaphore, object_name(run, "sem"));
    ASSERT_NE(sem, nullptr);
    EXPECT_EQ(sem->verdict, Verdict::kOrphaned) << sem->reason;
    EXPECT_EQ(sem->run_id, run);

    const auto* mq = find_named(inv, IpcKind::kPosixMqueue, object_name(run, "mq"));
    ASSERT_NE(mq, nullptr);
    EXPECT_EQ(mq->verdict, Verdict::kOrphaned) << mq->reason;
    EXPECT_EQ(mq->nominal_size, 5U);  // one 5-byte message queued

    const auto* sysv_shm = find_sysv(inv, IpcKind::kSysvShm, helper->report.sysv_shm);
    ASSERT_NE(sysv_shm, nullptr);
    EXPECT_EQ(sysv_shm->verdict, Verdict::kOrphaned) << sysv_shm->reason;
    EXPECT_EQ(sysv_shm->attach_count, 0U);
    ASSERT_TRUE(sysv_shm->creator.has_value());
    EXPECT_EQ(sysv_shm->creator->pid, helper->report.pid);
    EXPECT_EQ(sysv_shm->mode, 0600U);

    // No attachment evidence exists for these: never called orphaned.
    const auto* sysv_sem = find_sysv(inv, IpcKind::kSysvSemaphore, helper->report.sysv_sem);
    ASSERT_NE(sysv_sem, nullptr);
    EXPECT_EQ(sysv_sem->verdict, Verdict::kUnknown) << sysv_sem->reason;
    const auto* sysv_msg = find_sysv(inv, IpcKind::kSysvMqueue, helper->report.sysv_msg);
    ASSERT_NE(sysv_msg, nullptr);
    EXPECT_EQ(sysv_msg->verdict, Verdict::kUnknown) << sysv_msg->reason;

    // memfd and unlinked memory die with their last holder.
    EXPECT_EQ(find_run(inv, IpcKind::kMemfd, run), nullptr);
    EXPECT_EQ(find_run(inv, IpcKind::kDeleted, run), nullptr);
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(InventoryVerdicts, ObjectsHeldByALiveProcessAreInUse) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    auto helper = probe_tests::start_helper("hold", run);
    ASSERT_TRUE(helper.has_value());
    const pid_t holder = helper->report.pid;
    const auto inv = take_inventory(sandbox_options());
    ASSERT_TRUE(inv.complete()) << probe_tests::problems_text(inv);

    const auto held_by_helper = [&](const IpcObject* o) {
      for (const auto& h : o->holders) {
        if (h.process.pid == holder) return h;
      }
      ADD_FAILURE() << o->name << " is not held by the helper " << holder;
      return Holder{};
    };

    const auto* shm = find_named(inv, IpcKind::kPosixShm, object_name(run, "shm"));
    ASSERT_NE(shm, nullptr);
    EXPECT_EQ(shm->verdict, Verdict::kInUse) << shm->reason;
    EXPECT_GE(held_by_helper(shm).fd, 0);
    EXPECT_TRUE(held_by_helper(shm).mapped);
    EXPECT_EQ(shm->creator_liveness, core::Liveness::kAlive);

    // Mapped, fd closed: held through /proc/<pid>/maps alone.
    const auto* mapped = find_named(inv, IpcKind::kPosixShm, object_name(run, "mapped"));
    ASSERT_NE(mapped, nullptr);
    EXPECT_EQ(mapped->verdict, Verdict::kInUse) << mapped->reason;
    EXPECT_EQ(held_by_helper(mapped).fd, -1);
    EXPECT_TRUE(held_by_helper(mapped).mapped);

    // sem_open maps the file and closes the fd; glibc created it through a
    // sem.XXXXXX temporary: matched by (device, inode), not by path.
    const auto* sem = find_named(inv, IpcKind::kPosixSemaphore, object_name(run, "sem"));
    ASSERT_NE(sem, nullptr);
    EXPECT_EQ(sem->verdict, Verdict::kInUse) << sem->reason;
    EXPECT_TRUE(held_by_helper(sem).mapped);

    const auto* mq = find_named(inv, IpcKind::kPosixMqueue, object_name(run, "mq"));
    ASSERT_NE(mq, nullptr);
    EXPECT_EQ(mq->verdict, Verdict::kInUse) << mq->reason;
    EXPECT_GE(held_by_helper(mq).fd, 0);

    const auto* sysv_shm = find_sysv(inv, IpcKind::kSysvShm, helper->report.sysv_shm);
    ASSERT_NE(sysv_shm, nullptr);
    EXPECT_EQ(sysv_shm->verdict, Verdict::kInUse) << sysv_shm->reason;
    EXPECT_EQ(sysv_shm->attach_count, 1U);
    EXPECT_TRUE(held_by_helper(sysv_shm).sysv_attached);

    const auto* sysv_sem = find_sysv(inv, IpcKind::kSysvSemaphore, helper->report.sysv_sem);
    ASSERT_NE(sysv_sem, nullptr);
    EXPECT_EQ(sysv_sem->verdict, Verdict::kUnknown) << sysv_sem->reason;
    const auto* sysv_msg = find_sysv(inv, IpcKind::kSysvMqueue, helper->report.sysv_msg);
    ASSERT_NE(sysv_msg, nullptr);
    EXPECT_EQ(sysv_msg->verdict, Verdict::kInUse) << sysv_msg->reason;  // last sender alive

    const auto* memfd = find_run(inv, IpcKind::kMemfd, run);
    ASSERT_NE(memfd, nullptr);
    EXPECT_EQ(memfd->verdict, Verdict::kInUse) << memfd->reason;
    ASSERT_TRUE(memfd->header.has_value());
    EXPECT_EQ(memfd->header->run_id, run);
    EXPECT_EQ(memfd->run_id, run);

    const auto* deleted = find_run(inv, IpcKind::kDeleted, run);
    ASSERT_NE(deleted, nullptr);
    EXPECT_EQ(deleted->verdict, Verdict::kInUse) << deleted->reason;
    EXPECT_TRUE(held_by_helper(deleted).mapped);
    EXPECT_EQ(find_named(inv, IpcKind::kPosixShm, object_name(run, "deleted")), nullptr);

    // Without the /proc walk, the shmcheck holder's flock(LOCK_SH) alone proves
    // use; a semaphore (no header, no flock protocol) is proved held by the kernel,
    // which refuses an exclusive lease on a file someone has mapped.
    auto no_walk = sandbox_options();
    no_walk.scan_processes = false;
    const auto blind = take_inventory(no_walk);
    const auto* locked = find_named(blind, IpcKind::kPosixShm, object_name(run, "shm"));
    ASSERT_NE(locked, nullptr);
    EXPECT_TRUE(locked->flock_held);
    EXPECT_EQ(locked->open_check, OpenCheck::kNotChecked);
    EXPECT_EQ(locked->verdict, Verdict::kInUse) << locked->reason;
    const auto* unlocked = find_named(blind, IpcKind::kPosixSemaphore, object_name(run, "sem"));
    ASSERT_NE(unlocked, nullptr);
    EXPECT_FALSE(unlocked->flock_held);
    EXPECT_EQ(unlocked->open_check, OpenCheck::kOpen);
    EXPECT_EQ(unlocked->verdict, Verdict::kInUse) << unlocked->reason;
    const auto* queue = find_named(blind, IpcKind::kPosixMqueue, object_name(run, "mq"));
    ASSERT_NE(queue, nullptr);
    EXPECT_EQ(queue->verdict, Verdict::kInUse) << queue->reason;

    // Asked for deleted objects only, a live semaphore (mapped under glibc's temporary
    // name, shown " (deleted)", its file linked as sem.<name>) is not one of them.
    auto deleted_only = sandbox_options();
    deleted_only.kinds = {IpcKind::kDeleted};
    const auto only = take_inventory(deleted_only);
    ASSERT_NE(find_run(only, IpcKind::kDeleted, run), nullptr);
    for (const auto& o : only.objects) {
      EXPECT_EQ(o.kind, IpcKind::kDeleted) << o.name;
      EXPECT_FALSE(o.device == sem->device && o.inode == sem->inode)
          << o.name << ": the live semaphore " << sem->name << " listed as deleted";
    }

    const auto stopped = probe_tests::stop_helper(*helper);
    EXPECT_TRUE(stopped.ok()) << stopped.describe();
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A SysV semaphore set records no users, but a process blocked in semop on it is one:
// in use (it was `unknown`, "no proof either way"), and so never taken for a dead
// run's orphan by a reclaim.
TEST(InventoryVerdicts, ASysvSemaphoreWithAProcessBlockedOnItIsInUse) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const int semid = ::semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);
    ASSERT_GE(semid, 0);
    const auto before = take_inventory(sandbox_options());
    const auto* idle = find_sysv(before, IpcKind::kSysvSemaphore, semid);
    ASSERT_NE(idle, nullptr);
    EXPECT_EQ(idle->verdict, Verdict::kUnknown) << idle->reason;
    const pid_t waiter = probe_tests::block_in_semop(semid, 1);
    ASSERT_GT(waiter, 0);
    const auto inv = take_inventory(sandbox_options());
    const auto* used = find_sysv(inv, IpcKind::kSysvSemaphore, semid);
    ASSERT_NE(used, nullptr);
    EXPECT_EQ(used->verdict, Verdict::kInUse) << used->reason;
    EXPECT_EQ(used->waiters, 1U);
    EXPECT_EQ(used->reason, "1 process(es) blocked in semop on it");
    ::semctl(semid, 0, IPC_RMID);
    const auto waiter_exit = shmcheck::testing::wait_child(waiter, std::chrono::seconds(10));
    EXPECT_TRUE(waiter_exit.ok()) << waiter_exit.describe();
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(InventoryVerdicts, SysvShmMarkedForRemovalButAttachedIsPendingDestroy) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const int id = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    ASSERT_GE(id, 0);
    void* p = ::shmat(id, nullptr, 0);
    ASSERT_NE(p, reinterpret_cast<void*>(-1));
    ASSERT_EQ(::shmctl(id, IPC_RMID, nullptr), 0);
    const auto inv = take_inventory(sandbox_options());
    const auto* o = find_sysv(inv, IpcKind::kSysvShm, id);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->verdict, Verdict::kPendingDestroy) << o->reason;
    EXPECT_TRUE(o->sysv_dest);
    EXPECT_EQ(o->mode, 0600U);
    ::shmdt(p);
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(InventoryVerdicts, WithUnreadableProcessesTheKernelLeaseDecidesElseUnknown) {
  // A /proc that lists processes whose fd tables cannot be read: the real /proc seen by
  // a non-root caller in the sandbox (root's processes are unreadable to nobody). For
  // nobody's own files the kernel's exclusive lease decides; a file nobody is not allowed to
  // lease is unknown (fail closed).
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    // Made by processes that have exited: no creator alive.
    const pid_t maker = shmcheck::testing::fork_child([&] {
      for (const char* name : {"orphan", "held"}) {
        const int fd = testing_ipc::create_posix_shm(run, name, 8192);
        if (fd < 0 || ::fchown(fd, 65534, 65534) != 0) return 1;
      }
      return testing_ipc::create_posix_shm(run, "roots", 8192) >= 0 ? 0 : 2;
    });
    ASSERT_TRUE(shmcheck::testing::wait_child(maker).ok());
    // Root maps "held" (fd closed), unseen by nobody's walk.
    const int fd = ::shm_open(object_name(run, "held").c_str(), O_RDWR, 0);
    ASSERT_GE(fd, 0);
    void* mapped = ::mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_NE(mapped, MAP_FAILED);
    ::close(fd);

    // The names carry the uid of their maker (root), not nobody's.
    const std::string orphan_name = object_name(run, "orphan");
    const std::string held_name = object_name(run, "held");
    const std::string roots_name = object_name(run, "roots");
    const pid_t child = shmcheck::testing::fork_child([&] {
      // Not a holder itself: the fork inherited root's mapping.
      if (::munmap(mapped, 8192) != 0) return 9;
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) return 10;
      const auto inv = take_inventory(sandbox_options());
      if (inv.complete() || inv.processes_unreadable == 0) return 11;
      const auto* orphan = find_named(inv, IpcKind::kPosixShm, orphan_name);
      const auto* held = find_named(inv, IpcKind::kPosixShm, held_name);
      const auto* roots = find_named(inv, IpcKind::kPosixShm, roots_name);
      if (orphan == nullptr || held == nullptr || roots == nullptr) return 12;
      if (orphan->open_check != OpenCheck::kNotOpen || orphan->verdict != Verdict::kOrphaned) {
        return 13;
      }
      if (held->open_check != OpenCheck::kOpen || held->verdict != Verdict::kInUse) return 14;
      if (roots->open_check != OpenCheck::kUnavailable || roots->verdict != Verdict::kUnknown) {
        return 15;
      }
      return 0;
    });
    const auto exit = shmcheck::testing::wait_child(child);
    EXPECT_TRUE(exit.ok()) << exit.describe();
    // And as root, where every process can be read, "roots" is orphaned and "held" is
    // held by this very process.
    const auto inv = take_inventory(sandbox_options());
    const auto* roots = find_named(inv, IpcKind::kPosixShm, object_name(run, "roots"));
    ASSERT_NE(roots, nullptr);
    EXPECT_EQ(roots->verdict, Verdict::kOrphaned) << roots->reason;
    const auto* held = find_named(inv, IpcKind::kPosixShm, object_name(run, "held"));
    ASSERT_NE(held, nullptr);
    EXPECT_EQ(held->verdict, Verdict::kInUse) << held->reason;
    ::munmap(mapped, 8192);
    for (const char* name : {"orphan", "held", "roots"}) {
      ::shm_unlink(object_name(run, name).c_str());
    }
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A thread that unshared its file table (unshare(CLONE_FILES)) keeps fds that
// /proc/<pid>/fd does not list: the kernel's refused lease kept the object in use, but
// the reason said "a process the /proc walk cannot see". The holder is now named, from
// /proc/<pid>/task/<tid>/fd.
TEST(InventoryVerdicts, AThreadWithItsOwnFileTableIsNamedAsTheHolder) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    const auto name = object_name(run, "threaded");
    const pid_t maker = shmcheck::testing::fork_child(
        [&] { return testing_ipc::create_posix_shm(run, "threaded", 8192) >= 0 ? 0 : 1; });
    ASSERT_TRUE(shmcheck::testing::wait_child(maker).ok());
    int ready[2];
    int release[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(release), 0);
    const pid_t holder = shmcheck::testing::fork_child([&] {
      ::close(release[1]);
      std::thread t([&] {
        if (::unshare(CLONE_FILES) != 0) return;
        const int fd = ::shm_open(name.c_str(), O_RDWR, 0);  // this thread's table only
        char c = fd >= 0 ? 1 : 0;
        (void)::write(ready[1], &c, 1);
        (void)::read(release[0], &c, 1);
      });
      t.join();
      return 0;
    });
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ASSERT_EQ(c, 1) << "the thread could not open the object";
    const auto inv = take_inventory(sandbox_options());
    const auto* o = find_named(inv, IpcKind::kPosixShm, name);
    ASSERT_NE(o, nullptr);
    EXPECT_EQ(o->verdict, Verdict::kInUse) << o->reason;
    ASSERT_EQ(o->holders.size(), 1U) << o->reason;
    EXPECT_EQ(o->holders[0].process.pid, holder);
    EXPECT_GE(o->holders[0].fd, 0);
    EXPECT_TRUE(o->reason.starts_with("held by " + std::to_string(holder))) << o->reason;
    ::close(release[1]);
    const auto holder_exit = shmcheck::testing::wait_child(holder, std::chrono::seconds(10));
    EXPECT_TRUE(holder_exit.ok()) << holder_exit.describe();
    ::shm_unlink(name.c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(InventoryVerdicts, AHolderTheProcWalkCannotSeeKeepsTheObjectInUse) {
  // A holder in another pid namespace (a container sharing /dev/shm) is in no /proc
  // this auditor can walk: simulated by walking an empty /proc, which reads as
  // complete. Only the kernel's refused lease knows the object is held.
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    const pid_t maker = shmcheck::testing::fork_child([&] {
      const bool made = testing_ipc::create_posix_shm(run, "elsewhere", 8192) >= 0 &&
                        testing_ipc::create_posix_shm(run, "left", 8192) >= 0;
      return made ? 0 : 1;
    });
    ASSERT_TRUE(shmcheck::testing::wait_child(maker).ok());
    // The unseen holder (this process: the walk below is of an empty /proc).
    const int fd = ::shm_open(object_name(run, "elsewhere").c_str(), O_RDWR, 0);
    ASSERT_GE(fd, 0);
    char empty_proc[] = "/tmp/shmcheck-empty-proc.XXXXXX";
    ASSERT_NE(::mkdtemp(empty_proc), nullptr);
    auto options = sandbox_options();
    options.proc_dir = empty_proc;
    const auto inv = take_inventory(options);
    EXPECT_EQ(inv.processes_unreadable, 0U);
    const auto* elsewhere = find_named(inv, IpcKind::kPosixShm, object_name(run, "elsewhere"));
    ASSERT_NE(elsewhere, nullptr);
    EXPECT_TRUE(elsewhere->holders.empty());
    EXPECT_EQ(elsewhere->open_check, OpenCheck::kOpen);
    EXPECT_EQ(elsewhere->verdict, Verdict::kInUse) << elsewhere->reason;
    const auto* left = find_named(inv, IpcKind::kPosixShm, object_name(run, "left"));
    ASSERT_NE(left, nullptr);
    EXPECT_EQ(left->open_check, OpenCheck::kNotOpen);
    EXPECT_EQ(left->verdict, Verdict::kOrphaned) << left->reason;

    // The cleaner asks again, on the file it would remove, and keeps the held one.
    CleanOptions clean;
    clean.dry_run = false;
    clean.inventory = options;
    IpcObject stale = *elsewhere;
    stale.verdict = Verdict::kOrphaned;  // as a snapshot taken before the holder came
    const auto report = clean_orphans({*left, stale}, clean);
    ASSERT_EQ(report.outcomes.size(), 2U);
    EXPECT_EQ(report.outcomes[0].status, CleanStatus::kRemoved) << report.outcomes[0].detail;
    EXPECT_EQ(report.outcomes[1].status, CleanStatus::kNowHeld) << report.outcomes[1].detail;
    EXPECT_EQ(::access(("/dev/shm" + object_name(run, "elsewhere")).c_str(), F_OK), 0);
    EXPECT_NE(::access(("/dev/shm" + object_name(run, "left")).c_str(), F_OK), 0);
    ::close(fd);
    ::shm_unlink(object_name(run, "elsewhere").c_str());
    ::rmdir(empty_proc);
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A process whose main thread called pthread_exit runs on in its other threads, its
// leader a zombie in /proc/<pid>/stat: the walk skipped it and the liveness check took
// it for dead, so the SysV segment it created and still used was orphaned and removed,
// and a memfd only it held was not listed. Read through a live thread, it is in use.
TEST(InventoryVerdicts, AProcessWhoseMainThreadExitedStillHoldsWhatItHeld) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    int ready[2];
    int release[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(release), 0);
    const pid_t owner = shmcheck::testing::fork_child([&] {
      ::close(ready[0]);
      ::close(release[1]);
      const int id = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
      const int memfd = ::memfd_create("threads-left", MFD_CLOEXEC);
      if (id < 0 || memfd < 0) return 40;
      std::thread([id, fd = release[0]] {
        char c = 0;
        (void)!::read(fd, &c, 1);
        ::shmctl(id, IPC_RMID, nullptr);
      }).detach();
      (void)!::write(ready[1], &id, sizeof id);
      // The main thread ends alone (the raw exit system call, as pthread_exit does but
      // without unwinding through fork_child's frames).
      ::syscall(SYS_exit, 0);
      return 41;
    });
    ::close(ready[1]);
    ::close(release[0]);
    int id = -1;
    ASSERT_EQ(::read(ready[0], &id, sizeof id), static_cast<ssize_t>(sizeof id));
    ::close(ready[0]);
    ASSERT_TRUE(shmcheck::testing::eventually([&] {
      std::ifstream in("/proc/" + std::to_string(owner) + "/stat");
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      return text.find(") Z ") != std::string::npos;
    }));
    const auto inv = take_inventory(sandbox_options());
    ::close(release[1]);
    EXPECT_TRUE(shmcheck::testing::wait_child(owner).ok());
    const auto* segment = find_sysv(inv, IpcKind::kSysvShm, id);
    ASSERT_NE(segment, nullptr);
    EXPECT_EQ(segment->verdict, Verdict::kInUse) << segment->reason;
    const auto memfd = std::find_if(inv.objects.begin(), inv.objects.end(), [](const auto& o) {
      return o.kind == IpcKind::kMemfd && o.name.find("threads-left") != std::string::npos;
    });
    ASSERT_NE(memfd, inv.objects.end()) << "the memfd its thread holds is not listed";
    EXPECT_EQ(memfd->verdict, Verdict::kInUse) << memfd->reason;
    ASSERT_FALSE(memfd->holders.empty());
    EXPECT_EQ(memfd->holders.front().process.pid, owner);
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// /proc/sysvipc gives a segment's creator in the reader's pid namespace. Read with a
// /proc of another namespace (`unshare -p` without remounting it), that number names
// another process there, or none: a live creator was taken for dead and its segment
// removed. Such a creator's liveness is unknown, and so is the segment.
TEST(InventoryVerdicts, ASysvCreatorNumberedInAnotherPidNamespaceIsNotJudged) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    ASSERT_EQ(::unshare(CLONE_NEWPID), 0);  // children only; /proc stays the sandbox's
    int ready[2];
    int release[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(release), 0);
    // Forked plainly: fork_child's check of its parent fails in a new pid namespace,
    // where getppid() is 0. Ending with the sandbox needs nothing more: its init's
    // death ends every process of its pid namespace and of those below it.
    const auto audit = [&] {
      const pid_t creator = shmcheck::testing::fork_child([&] {
        const int id = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
        (void)!::write(ready[1], &id, sizeof id);
        char c = 0;
        (void)!::read(release[0], &c, 1);
        return 0;
      });
      int id = -1;
      if (::read(ready[0], &id, sizeof id) != static_cast<ssize_t>(sizeof id) || id < 0) return 40;
      const auto inv = take_inventory(sandbox_options());
      (void)!::write(release[1], "x", 1);
      (void)shmcheck::testing::wait_child(creator);
      ::shmctl(id, IPC_RMID, nullptr);
      const auto* o = find_sysv(inv, IpcKind::kSysvShm, id);
      if (o == nullptr) return 41;
      if (o->verdict != Verdict::kUnknown || o->reason.find("pid namespace") == std::string::npos) {
        std::fprintf(stderr, "verdict %s: %s\n", std::string(to_string(o->verdict)).c_str(),
                     o->reason.c_str());
        return 42;
      }
      return 0;
    };
    const pid_t auditor = ::fork();
    ASSERT_GE(auditor, 0);
    if (auditor == 0) ::_exit(audit());
    const auto audited = shmcheck::testing::wait_child(auditor);
    EXPECT_TRUE(audited.ok()) << audited.describe();
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(InventoryVerdicts, GlibcSemaphoreTemporaryIsListedAsASemaphore) {
  // sem_open(O_CREAT) writes /dev/shm/sem.XXXXXX and link()s it to the final
  // name; a process killed in between leaves the temporary behind. A semaphore named
  // with 6 characters looks the same: "maybe" (it was called a temporary outright).
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const int fd = ::open("/dev/shm/sem.Ab3dE9", O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 32), 0);
    ::close(fd);
    const auto inv = take_inventory(sandbox_options());
    const auto* o = find_named(inv, IpcKind::kPosixSemaphore, "/Ab3dE9");
    ASSERT_NE(o, nullptr);
    EXPECT_TRUE(o->maybe_glibc_temporary);
    EXPECT_EQ(o->path, "/dev/shm/sem.Ab3dE9");
    EXPECT_EQ(o->verdict, Verdict::kOrphaned) << o->reason;
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(InventoryDiff, AppearedObjectIsAttributedToItsRunOnly) {
  // On the real host: other tests create objects meanwhile, so only our run's
  // objects are asserted on.
  const auto run = core::new_run_id();
  const auto other_run = core::new_run_id();
  const auto before = take_inventory();
  const int fd = testing_ipc::create_posix_shm(run, "diffed", 8192);
  ASSERT_GE(fd, 0);
  const int other = testing_ipc::create_posix_shm(other_run, "other", 8192);
  ASSERT_GE(other, 0);
  const auto after = take_inventory();
  ::close(fd);
  ::close(other);
  ::shm_unlink(object_name(run, "diffed").c_str());
  ::shm_unlink(object_name(other_run, "other").c_str());
  const auto removed = take_inventory();

  const auto d = diff(before, after);
  RunAttribution attribution;
  attribution.run_ids.insert(run);
  const auto ours = d.appeared_from(attribution);
  ASSERT_EQ(ours.size(), 1U);
  EXPECT_EQ(ours.front().name, object_name(run, "diffed"));
  EXPECT_EQ(attribute(ours.front(), attribution), AttributionReason::kHeaderRunId);

  RunAttribution by_prefix;
  by_prefix.name_prefixes.push_back(object_name(other_run, ""));
  const auto others = d.appeared_from(by_prefix);
  ASSERT_EQ(others.size(), 1U);
  EXPECT_EQ(others.front().name, object_name(other_run, "other"));

  RunAttribution by_creator;
  by_creator.creator_pids.insert(::getpid());
  std::size_t mine = 0;
  for (const auto& o : d.appeared) {
    if (o.run_id == run || o.run_id == other_run) {
      EXPECT_EQ(attribute(o, by_creator), AttributionReason::kCreatorPid);
      ++mine;
    }
  }
  EXPECT_EQ(mine, 2U);

  const auto gone = diff(after, removed);
  bool disappeared = false;
  for (const auto& o : gone.disappeared)
    disappeared = disappeared || o.name == object_name(run, "diffed");
  EXPECT_TRUE(disappeared);
}

TEST(InventoryNames, KindAndVerdictNamesRoundTrip) {
  for (std::size_t i = 0; i < kIpcKindCount; ++i) {
    const auto kind = static_cast<IpcKind>(i);
    EXPECT_EQ(ipc_kind_from_string(to_string(kind)), kind);
  }
  for (std::size_t i = 0; i < kVerdictCount; ++i) {
    const auto verdict = static_cast<Verdict>(i);
    EXPECT_EQ(verdict_from_string(to_string(verdict)), verdict);
  }
  EXPECT_FALSE(ipc_kind_from_string("shm").has_value());
  EXPECT_FALSE(verdict_from_string("dead").has_value());
}

// ---- a stuck network or FUSE file system does not hang the /proc walk ----------------

// A FUSE server of one file, "f" (the root is node 1, "f" node 2, no attribute caching),
// that stops answering once `hang` exists: what a dead sshfs or a hard NFS mount with its
// server gone looks like to a stat. Runs until killed.
[[noreturn]] void serve_fuse(const char* mount_point, const char* hang) {
  const int dev = ::open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (dev < 0) ::_exit(20);
  const std::string opts = "fd=" + std::to_string(dev) + ",rootmode=40000,user_id=0,group_id=0";
  if (::mount("stuck", mount_point, "fuse.stuck", MS_NOSUID | MS_NODEV, opts.c_str()) != 0) {
    ::_exit(21);
  }
  const auto reply = [dev](std::uint64_t unique, int error, const void* data, std::size_t len) {
    std::vector<char> out(sizeof(fuse_out_header) + len);
    auto* h = reinterpret_cast<fuse_out_header*>(out.data());
    h->len = static_cast<std::uint32_t>(out.size());
    h->error = error;
    h->unique = unique;
    if (len != 0) std::memcpy(out.data() + sizeof *h, data, len);
    (void)!::write(dev, out.data(), out.size());
  };
  const auto attr = [](fuse_attr& a, std::uint64_t node) {
    a = {};
    a.ino = node;
    a.mode = node == 1 ? (S_IFDIR | 0755) : (S_IFREG | 0644);
    a.nlink = 1;
    a.size = node == 1 ? 0 : 4096;
    a.blksize = 4096;
  };
  static std::vector<char> buf(1 << 20);
  for (;;) {
    const ssize_t n = ::read(dev, buf.data(), buf.size());
    if (n <= 0) ::_exit(0);
    const auto* in = reinterpret_cast<const fuse_in_header*>(buf.data());
    const char* arg = buf.data() + sizeof *in;
    if (in->opcode != FUSE_INIT && ::access(hang, F_OK) == 0) continue;  // no answer, ever
    switch (in->opcode) {
      case FUSE_INIT: {
        const auto* init = reinterpret_cast<const fuse_init_in*>(arg);
        fuse_init_out o{};
        o.major = FUSE_KERNEL_VERSION;
        o.minor = std::min<std::uint32_t>(init->minor, FUSE_KERNEL_MINOR_VERSION);
        o.max_write = 65536;
        o.max_readahead = init->max_readahead;
        reply(in->unique, 0, &o, sizeof o);
        break;
      }
      case FUSE_LOOKUP: {
        if (std::strcmp(arg, "f") != 0) {
          reply(in->unique, -ENOENT, nullptr, 0);
          break;
        }
        fuse_entry_out e{};
        e.nodeid = 2;
        e.generation = 1;
        attr(e.attr, 2);
        reply(in->unique, 0, &e, sizeof e);
        break;
      }
      case FUSE_GETATTR: {
        fuse_attr_out a{};
        attr(a.attr, in->nodeid);
        reply(in->unique, 0, &a, sizeof a);
        break;
      }
      case FUSE_OPEN:
      case FUSE_OPENDIR: {
        fuse_open_out o{};
        reply(in->unique, 0, &o, sizeof o);
        break;
      }
      case FUSE_FORGET:
      case FUSE_BATCH_FORGET:
        break;
      default:
        reply(in->unique, -ENOSYS, nullptr, 0);
    }
  }
}

// A process holding a file of a FUSE server that stopped answering: the inventory's
// stat of that fd (through /proc/<pid>/fd) asked the server and waited for good,
// unkillable, in request_wait_answer. It reads what the kernel has cached now.
TEST(InventoryWalk, AFileOnAStuckFuseMountDoesNotHangTheProcWalk) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  if (::access("/dev/fuse", R_OK | W_OK) != 0) GTEST_SKIP() << "no /dev/fuse";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const char* mount_point = "/mnt/stuck";
    const char* hang = "/mnt/hang";
    ASSERT_EQ(::mkdir(mount_point, 0755), 0);
    const pid_t server =
        shmcheck::testing::fork_child([&]() -> int { serve_fuse(mount_point, hang); });
    const pid_t holder = shmcheck::testing::fork_child([&] {
      for (int i = 0; i < 500; ++i) {
        if (const int fd = ::open("/mnt/stuck/f", O_RDONLY); fd >= 0) {
          ::pause();  // holds fd until killed
          return 0;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return 30;
    });
    // Any of its fds (fd 3 was not always the one: ctest leaves the test others).
    ASSERT_TRUE(shmcheck::testing::eventually([&] {
      std::error_code ec;
      const std::filesystem::path fds = "/proc/" + std::to_string(holder) + "/fd";
      for (const auto& fd : std::filesystem::directory_iterator(fds, ec)) {
        std::error_code link_ec;
        if (std::filesystem::read_symlink(fd.path(), link_ec) == "/mnt/stuck/f") return true;
      }
      return false;
    }));
    std::ofstream(hang) << "now\n";
    std::atomic<bool> done{false};
    std::thread audit([&] {
      (void)take_inventory(sandbox_options());
      done = true;
    });
    const bool returned =
        shmcheck::testing::eventually([&] { return done.load(); }, std::chrono::seconds(20));
    EXPECT_TRUE(returned) << "the inventory waits for the stuck FUSE server";
    ::kill(server, SIGKILL);  // ends any request still waiting (the connection goes)
    audit.join();
    ::kill(holder, SIGKILL);
    (void)shmcheck::testing::wait_child(holder);
    (void)shmcheck::testing::wait_child(server);
    ::umount2(mount_point, MNT_DETACH);
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A shmid names a segment of its IPC namespace: a process attached to segment N of
// another namespace (a container, `unshare -i`) was listed as holding this namespace's
// segment N, a process a user might kill for nothing.
TEST(InventoryWalk, ASysvAttachmentInAnotherIpcNamespaceHoldsNothingHere) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const int id = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
    ASSERT_GE(id, 0);
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    const pid_t other = shmcheck::testing::fork_child([&] {
      ::close(ready[0]);
      if (::unshare(CLONE_NEWIPC) != 0) return 40;
      // The same id in the new namespace (shm_next_id is per namespace).
      std::ofstream("/proc/sys/kernel/shm_next_id") << id << "\n";
      const int same = ::shmget(IPC_PRIVATE, 4096, IPC_CREAT | 0600);
      if (same != id) return 41;
      if (::shmat(same, nullptr, 0) == reinterpret_cast<void*>(-1)) return 42;
      (void)!::write(ready[1], "x", 1);
      ::pause();
      return 0;
    });
    ::close(ready[1]);
    char byte = 0;
    ASSERT_EQ(::read(ready[0], &byte, 1), 1) << "the other namespace's segment was not made";
    ::close(ready[0]);
    const auto inv = take_inventory(sandbox_options());
    ::kill(other, SIGKILL);
    (void)shmcheck::testing::wait_child(other);
    ::shmctl(id, IPC_RMID, nullptr);
    const auto* o = find_sysv(inv, IpcKind::kSysvShm, id);
    ASSERT_NE(o, nullptr);
    EXPECT_TRUE(o->holders.empty()) << o->reason << ": " << o->holders.front().process.pid
                                    << " holds it, in another IPC namespace";
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// Under a seccomp profile that refuses statx with EPERM (profiles older than statx do),
// the inventory falls back to fstatat: every entry was skipped, and it saw nothing.
TEST(InventoryWalk, AnInventoryWhereStatxIsRefusedStillSeesEveryObject) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    const int fd = testing_ipc::create_posix_shm(run, "seen", 4096);
    ASSERT_GE(fd, 0);
    const pid_t child = shmcheck::testing::fork_child([&] {
      sock_filter filter[] = {
          BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_statx, 0, 1),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
      sock_fprog program{static_cast<unsigned short>(std::size(filter)), filter};
      if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
          ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) != 0) {
        return 50;
      }
      struct statx x {};
      if (::statx(AT_FDCWD, "/dev/shm", 0, STATX_BASIC_STATS, &x) == 0 || errno != EPERM) return 51;
      const auto inv = take_inventory(sandbox_options());
      const auto* o = find_named(inv, IpcKind::kPosixShm, object_name(run, "seen"));
      if (o == nullptr) return 52;
      // Held by the parent's open fd, seen through /proc as without the filter.
      return o->verdict == Verdict::kInUse ? 0 : 53;
    });
    const auto exit = shmcheck::testing::wait_child(child);
    EXPECT_TRUE(exit.ok()) << exit.describe();
    ::close(fd);
    ::shm_unlink(object_name(run, "seen").c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A file's age is from its birth time, where tmpfs keeps one: `touch -d 2001-01-01` (as
// cp -a, rsync -a and tar do) made a new file 25 years old, for --older-than and the
// cleaner; a write to an old one made it young.
TEST(InventoryWalk, AnObjectsAgeIsFromItsBirthTimeNotItsModificationTime) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    // Not shmcheck's (its header has the creation time): a file of another program.
    const std::string name = "/backdated-" + core::new_run_id();
    const std::string path = "/dev/shm" + name;
    const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ::close(fd);
    const utimbuf long_ago{978307200, 978307200};  // 2001-01-01
    ASSERT_EQ(::utime(path.c_str(), &long_ago), 0) << std::strerror(errno);
    struct statx x {};
    ASSERT_EQ(::statx(AT_FDCWD, path.c_str(), 0, STATX_BTIME, &x), 0);
    if ((x.stx_mask & STATX_BTIME) == 0) GTEST_SKIP() << "this tmpfs keeps no birth time";
    const auto inv = take_inventory(sandbox_options());
    const auto* o = find_named(inv, IpcKind::kPosixShm, name);
    ASSERT_NE(o, nullptr);
    EXPECT_LT(o->age_s, 60) << "created " << o->created_unix_s;
    EXPECT_EQ(o->modified_unix_s, 978307200);
    ::unlink(path.c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

}  // namespace
}  // namespace shmcheck::probes
