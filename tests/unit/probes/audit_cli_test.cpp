// Drives the real `shmcheck audit` binary: JSON and table output, exit codes,
// --clean dry run vs --yes, --reclaim, unprivileged callers. Sandboxed where
// verdicts are asserted; every assertion is filtered to this test's run id.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sem.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "probe_test_support.hpp"
#include "shmcheck/core/segment.hpp"
#include "shmcheck/core/segment_header.hpp"
#include "shmcheck/core/semaphore.hpp"
#include "shmcheck/probes/run_manifest.hpp"
#include "shmcheck/testing/http.hpp"
#include "shmcheck/testing/server.hpp"

namespace shmcheck::probes {
namespace {

using probe_tests::run_capture;
using probe_tests::shm_exists;
using probe_tests::shmcheck_path;
using testing_ipc::object_name;

std::vector<std::string> audit(std::vector<std::string> extra) {
  // The sandbox's /dev/shm, mqueue and IPC namespace are its own.
  std::vector<std::string> argv{shmcheck_path(), "audit", "--mqueue-dir",
                                probe_tests::kSandboxMqueueDir, "--trust-pid-namespace"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::vector<std::string> as_nobody(std::vector<std::string> argv) {
  argv.insert(argv.begin(),
              {"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"});
  return argv;
}

nlohmann::json parse(const std::string& out) {
  auto j = nlohmann::json::parse(out, nullptr, false);
  if (j.is_discarded()) ADD_FAILURE() << "not JSON:\n" << out;
  return j;
}

TEST(AuditCli, ReportsOrphansAndRemovesThemOnlyWithYes) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = probe_tests::run_of_a_killed_helper();
    ASSERT_FALSE(run.empty());

    const auto listed = run_capture(audit({"--json", "--filter-run", run}));
    ASSERT_TRUE(listed.exit.ok()) << listed.exit.describe();
    const auto j = parse(listed.out);
    const auto& objects = j["inventory"]["objects"];
    std::set<std::string> orphaned_kinds;
    for (const auto& o : objects) {
      EXPECT_EQ(o["run_id"], run);
      EXPECT_EQ(o["verdict"], "orphaned") << o.dump();
      orphaned_kinds.insert(o["kind"].get<std::string>());
    }
    EXPECT_EQ(objects.size(), 4U);  // shm, mapped, sem, mq (SysV objects carry no run id)
    EXPECT_EQ(orphaned_kinds, (std::set<std::string>{"posix_shm", "posix_sem", "posix_mq"}));
    EXPECT_EQ(j["inventory"]["totals"]["by_verdict"]["orphaned"]["count"], 4);
    EXPECT_EQ(j["orphans_remaining"], 4);

    const auto gate = run_capture(audit({"--fail-on-orphans", "--filter-run", run}));
    EXPECT_EQ(gate.exit.code, 1) << gate.exit.describe();
    EXPECT_NE(gate.out.find(object_name(run, "shm")), std::string::npos) << gate.out;
    EXPECT_NE(gate.out.find("Totals by kind"), std::string::npos) << gate.out;

    const auto dry = run_capture(audit({"--clean", "--filter-run", run}));
    EXPECT_TRUE(dry.exit.ok()) << dry.exit.describe();
    EXPECT_NE(dry.out.find("would remove 4 object(s)"), std::string::npos) << dry.out;
    EXPECT_TRUE(shm_exists(object_name(run, "shm")));
    EXPECT_TRUE(shm_exists("/sem." + object_name(run, "sem").substr(1)));

    const auto cleaned = run_capture(audit({"--clean", "--yes", "--json", "--filter-run", run}));
    ASSERT_TRUE(cleaned.exit.ok()) << cleaned.exit.describe();
    const auto c = parse(cleaned.out);
    EXPECT_EQ(c["clean"]["removed"], 4) << c["clean"].dump(2);
    EXPECT_GT(c["clean"]["bytes_freed"].get<std::uint64_t>(), 64U * 1024U);
    EXPECT_FALSE(shm_exists(object_name(run, "shm")));
    EXPECT_FALSE(shm_exists(object_name(run, "mapped")));

    const auto after = run_capture(audit({"--fail-on-orphans", "--filter-run", run}));
    EXPECT_TRUE(after.exit.ok()) << after.exit.describe() << after.out;
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A removal the system refuses (here /dev/shm is remounted read-only) leaves the orphan
// where it was: `--clean --yes` says so and exits 3, as a cleanup step in CI must hear.
// (It exited 0, its one line among the table the only sign.)
TEST(AuditCli, ARemovalTheSystemRefusesExitsWithCode3) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = probe_tests::run_of_a_killed_helper();
    ASSERT_FALSE(run.empty());
    ASSERT_EQ(::mount(nullptr, "/dev/shm", nullptr, MS_REMOUNT | MS_RDONLY, nullptr), 0)
        << std::strerror(errno);
    const auto cleaned =
        run_capture(audit({"--kind", "posix_shm", "--clean", "--yes", "--filter-run", run}));
    EXPECT_EQ(cleaned.exit.code, 3) << cleaned.exit.describe() << cleaned.out << cleaned.err;
    EXPECT_NE(cleaned.out.find("Read-only file system"), std::string::npos) << cleaned.out;
    EXPECT_NE(cleaned.err.find("removal(s) failed; those objects are still there"),
              std::string::npos)
        << cleaned.err;
    EXPECT_TRUE(shm_exists(object_name(run, "shm")));
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// nobody cannot read root's processes, so its /proc walk is incomplete: the kernel's
// lease decides for nobody's own files (held by an unseen root process: in_use; held by
// nothing: orphaned, and removed), and a file nobody is not allowed to lease stays unknown.
TEST(AuditCli, UnprivilegedCallerRemovesOnlyWhatTheKernelProvesNothingHolds) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    // nobody's helper leaks its objects and dies ...
    auto helper = probe_tests::start_helper("leak", run, "nobody");
    ASSERT_TRUE(helper.has_value());
    ASSERT_TRUE(probe_tests::stop_helper(*helper).killed_by(SIGKILL));
    // ... a root process nobody may not read holds one of them ...
    const std::string held = core::segment_name(65534, run, "mapped");
    int ready[2];
    int release[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(release), 0);
    const pid_t holder = shmcheck::testing::fork_child([&] {
      ::close(release[1]);
      const int fd = ::shm_open(held.c_str(), O_RDWR, 0);
      if (fd < 0) return 1;
      char c = 1;
      if (::write(ready[1], &c, 1) != 1) return 2;
      return ::read(release[0], &c, 1) >= 0 ? 0 : 3;
    });
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    // ... and root left one of its own, which nobody may neither open nor lease (0600, root's).
    const std::string roots = object_name(run, "roots");
    const pid_t maker = shmcheck::testing::fork_child(
        [&] { return testing_ipc::create_posix_shm(run, "roots", 8192) >= 0 ? 0 : 1; });
    ASSERT_TRUE(shmcheck::testing::wait_child(maker).ok());

    const auto listed = run_capture(as_nobody(audit({"--json", "--filter-run", run})));
    ASSERT_TRUE(listed.exit.ok()) << listed.exit.describe();
    const auto j = parse(listed.out);
    EXPECT_EQ(j["inventory"]["complete"], false);
    std::map<std::string, std::string> verdicts;
    for (const auto& o : j["inventory"]["objects"]) {
      const auto name = o["name"].get<std::string>();
      verdicts[name] = o["verdict"].get<std::string>();
      if (name == held) {
        EXPECT_EQ(o["open_check"], "open") << o.dump();
      } else if (name == roots) {
        EXPECT_EQ(o["open_check"], "unavailable") << o.dump();
      } else if (o["uid"] == 65534 && o["kind"] != "sysv_shm") {
        EXPECT_EQ(o["open_check"], "not_open") << o.dump();
      }
    }
    EXPECT_EQ(verdicts[held], "in_use");
    EXPECT_EQ(verdicts[roots], "unknown");
    EXPECT_EQ(verdicts[core::segment_name(65534, run, "shm")], "orphaned");
    EXPECT_EQ(verdicts[core::segment_name(65534, run, "sem")], "orphaned");
    EXPECT_EQ(verdicts[core::segment_name(65534, run, "mq")], "orphaned");

    // The table says which verdicts the unreadable processes cost: root's file only.
    const auto table = run_capture(as_nobody(audit({"--filter-run", run})));
    ASSERT_TRUE(table.exit.ok()) << table.exit.describe();
    EXPECT_NE(table.err.find("could not be read"), std::string::npos) << table.err;
    EXPECT_NE(table.err.find("; 1 object(s) no readable process holds are 'unknown'"),
              std::string::npos)
        << table.err;
    // Where none is left unknown, nothing is said.
    const auto mine = run_capture(as_nobody(audit({"--filter-run", run, "--user", "nobody"})));
    ASSERT_TRUE(mine.exit.ok()) << mine.exit.describe();
    EXPECT_EQ(mine.err.find("could not be read"), std::string::npos) << mine.err;

    const auto cleaned =
        run_capture(as_nobody(audit({"--clean", "--yes", "--json", "--filter-run", run})));
    ASSERT_TRUE(cleaned.exit.ok()) << cleaned.exit.describe();
    EXPECT_EQ(parse(cleaned.out)["clean"]["removed"], 3) << cleaned.out;
    EXPECT_TRUE(shm_exists(held));
    EXPECT_TRUE(shm_exists(roots));
    EXPECT_FALSE(shm_exists(core::segment_name(65534, run, "shm")));

    ::close(release[1]);
    EXPECT_TRUE(shmcheck::testing::wait_child(holder, std::chrono::seconds(10)).ok());
    ::shm_unlink(held.c_str());
    ::shm_unlink(roots.c_str());
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(AuditCli, ReclaimRemovesTheObjectsOfADeadHarness) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const auto run = core::new_run_id();
    const std::string dir = "/mnt/reclaim/runs";
    const pid_t harness = shmcheck::testing::fork_child([&] {
      RunManifest m;
      m.run_id = run;
      m.harness = core::self_identity();
      m.created_unix_ns = static_cast<std::int64_t>(::time(nullptr)) * 1'000'000'000;
      m.objects.push_back({"", object_name(run, "control"), IpcKind::kPosixShm, -1});
      if (!write_manifest(m, dir)) return 1;
      if (testing_ipc::create_posix_shm(run, "control", 8192) < 0) return 2;
      ::raise(SIGKILL);
      return 3;
    });
    ASSERT_TRUE(shmcheck::testing::wait_child(harness).killed_by(SIGKILL));
    ASSERT_TRUE(shm_exists(object_name(run, "control")));

    // Filters that would cut only the list printed after the reclaim are refused, and
    // nothing is removed (it removed the run's objects, seeming to ask for none).
    for (const std::vector<std::string>& filter : {std::vector<std::string>{"--kind", "sysv_msg"},
                                                   {"--name-prefix", "nothing"},
                                                   {"--older-than", "30d"},
                                                   {"--user", "nobody"},
                                                   {"--verdict", "in_use"}}) {
      std::vector<std::string> args{"--reclaim", "--yes", "--manifest-dir", dir};
      args.insert(args.end(), filter.begin(), filter.end());
      const auto refused = run_capture(audit(args));
      EXPECT_TRUE(refused.exit.exited && refused.exit.code == 2)
          << filter[0] << ": " << refused.exit.describe();
      EXPECT_NE(refused.err.find("do not apply to it"), std::string::npos) << refused.err;
      EXPECT_TRUE(shm_exists(object_name(run, "control"))) << filter[0];
    }
    // Beside --fail-on-orphans they pick what it counts: accepted (a dry run).
    const auto gate = run_capture(
        audit({"--reclaim", "--manifest-dir", dir, "--fail-on-orphans", "--kind", "sysv_msg"}));
    EXPECT_TRUE(gate.exit.exited && gate.exit.code == 0) << gate.exit.describe() << gate.err;
    EXPECT_TRUE(shm_exists(object_name(run, "control")));

    const auto out = run_capture(
        audit({"--reclaim", "--yes", "--json", "--manifest-dir", dir, "--filter-run", run}));
    ASSERT_TRUE(out.exit.ok()) << out.exit.describe();
    const auto j = parse(out.out);
    EXPECT_EQ(j["reclaim"]["removed"], 1) << j["reclaim"].dump(2);
    ASSERT_EQ(j["reclaim"]["runs"].size(), 1U);
    EXPECT_EQ(j["reclaim"]["runs"][0]["harness"], "dead");
    EXPECT_EQ(j["reclaim"]["runs"][0]["manifest_removed"], true);
    EXPECT_FALSE(shm_exists(object_name(run, "control")));
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

TEST(AuditCli, EnvironmentProblemsExitWithCode3) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    // /dev/shm that the caller cannot list.
    ASSERT_EQ(::chmod("/dev/shm", 0700), 0);
    const auto no_shm = run_capture(as_nobody(audit({})));
    EXPECT_EQ(no_shm.exit.code, 3) << no_shm.exit.describe();
    ASSERT_EQ(::chmod("/dev/shm", 01777), 0);
#if !defined(__SANITIZE_ADDRESS__)
    // No /proc at all. (Not under ASan: its runtime needs /proc itself at exit,
    // so this half runs in the plain build only.)
    // The sandbox's /proc is stacked on the host's: detach both (private mounts).
    ASSERT_EQ(::umount2("/proc", MNT_DETACH), 0);
    while (::umount2("/proc", MNT_DETACH) == 0) {
    }
    const auto no_proc = run_capture(audit({}));
    EXPECT_EQ(no_proc.exit.code, 3) << no_proc.exit.describe();
#endif
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// --reclaim whose manifest directory is refused (another user could change it, or it
// is a symbolic link), or a manifest in it (others could write it), reclaimed nothing
// of those runs and exited 0; it says so and exits 3. A directory that does not exist
// yet (no run has written one) is no problem. A temporary a killed harness left
// (<run>.manifest.tmp.<pid>) is removed once a minute old and its pid gone.
TEST(AuditCli, AReclaimWhoseManifestDirectoryIsRefusedExitsWithCode3) {
  namespace fs = std::filesystem;
  const fs::path base = fs::temp_directory_path() / ("shmcheck-mdir-" + std::to_string(::getpid()));
  fs::create_directories(base / "private");
  fs::permissions(base, fs::perms::owner_all);
  fs::permissions(base / "private", fs::perms::owner_all);
  fs::create_directory(base / "open");
  fs::permissions(base / "open", fs::perms::all);
  fs::create_directory_symlink(base / "private", base / "link");
  for (const auto& [dir, said] :
       {std::pair{base / "open", "is not a private directory of this user"},
        std::pair{base / "link", "is not a directory (a symlink or a file): not trusted"}}) {
    const auto out =
        run_capture({shmcheck_path(), "audit", "--reclaim", "--manifest-dir", dir.string()});
    EXPECT_EQ(out.exit.code, 3) << dir << ": " << out.exit.describe() << out.err;
    EXPECT_NE(out.err.find(said), std::string::npos) << out.err;
    EXPECT_NE(out.err.find("--reclaim could not read its manifest directory"), std::string::npos)
        << out.err;
  }
  // Stale and fresh temporaries of write_manifest, in a directory that is fine.
  const auto run = core::new_run_id();
  const fs::path stale = base / "private" / (run + ".manifest.tmp.999999999");
  const fs::path fresh = base / "private" / (run + ".manifest.tmp.999999998");
  std::ofstream(stale) << "{";
  std::ofstream(fresh) << "{";
  const auto old = fs::file_time_type::clock::now() - std::chrono::minutes(2);
  fs::last_write_time(stale, old);
  for (const auto& fine : {base / "private", base / "not-yet"}) {
    const auto out = run_capture(
        {shmcheck_path(), "audit", "--reclaim", "--yes", "--manifest-dir", fine.string()});
    EXPECT_EQ(out.exit.code, 0) << fine << ": " << out.exit.describe() << out.err;
  }
  EXPECT_FALSE(fs::exists(stale)) << "a killed harness's temporary was left";
  EXPECT_TRUE(fs::exists(fresh)) << "a temporary its writer may be renaming was removed";
  // A manifest others could have written: refused, exit 3.
  const fs::path shared = base / "private" / (run + ".manifest");
  std::ofstream(shared) << R"({"run_id":")" << run
                        << R"(","harness_pid":999999999,"harness_start_time":1,)"
                        << R"("created_unix_ns":1,"objects":[]})";
  fs::permissions(shared, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                              fs::perms::others_read);
  const auto refused = run_capture(
      {shmcheck_path(), "audit", "--reclaim", "--manifest-dir", (base / "private").string()});
  EXPECT_EQ(refused.exit.code, 3) << refused.exit.describe() << refused.err;
  EXPECT_NE(refused.err.find("is not a private file of this user"), std::string::npos)
      << refused.err;
  fs::remove_all(base);
}

// The exporter stops cleanly, exit 0, on SIGTERM, SIGINT and SIGHUP (a closed terminal
// killed it with no word, exit 129), but not on a SIGHUP nohup ignores.
TEST(AuditCli, TheExporterStopsCleanlyOnEveryStopSignal) {
  for (const int sig : {SIGTERM, SIGINT, SIGHUP}) {
    const shmcheck::testing::ReservedPort reserved;
    const int port = reserved.port();
    ASSERT_GT(port, 0);
    const auto log = std::filesystem::temp_directory_path() /
                     ("shmcheck-exporter-" + std::to_string(::getpid()) + ".log");
    auto server = shmcheck::testing::ServerProcess::start(
        {shmcheck_path(), "audit", "--serve", "127.0.0.1:" + std::to_string(port)}, log.string());
    ASSERT_TRUE(server.has_value());
    ASSERT_TRUE(server->wait_ready(port, "/metrics", std::chrono::seconds(30))) << server->log();
    ::kill(server->pid(), sig);
    const int status = server->wait_exit(std::chrono::seconds(30));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << sig << ": " << server->log();
    EXPECT_NE(server->log().find("stopping on SIG"), std::string::npos) << server->log();
    std::filesystem::remove(log);
  }
  // Under nohup (SIGHUP ignored) a hang-up does not stop it.
  const shmcheck::testing::ReservedPort reserved;
  const int port = reserved.port();
  ASSERT_GT(port, 0);
  const auto log = std::filesystem::temp_directory_path() /
                   ("shmcheck-exporter-nohup-" + std::to_string(::getpid()) + ".log");
  auto server = shmcheck::testing::ServerProcess::start(
      {"/usr/bin/nohup", shmcheck_path(), "audit", "--serve", "127.0.0.1:" + std::to_string(port)},
      log.string());
  ASSERT_TRUE(server.has_value());
  ASSERT_TRUE(server->wait_ready(port, "/metrics", std::chrono::seconds(30))) << server->log();
  ::kill(server->pid(), SIGHUP);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // it says so at once
  EXPECT_EQ(server->log().find("stopping on"), std::string::npos)
      << "stopped on a SIGHUP nohup ignores: " << server->log();
  EXPECT_TRUE(server->wait_ready(port, "/metrics", std::chrono::seconds(2))) << server->log();
  ::kill(server->pid(), SIGTERM);
  const int status = server->wait_exit(std::chrono::seconds(30));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << server->log();
  std::filesystem::remove(log);
}

// With the open-file limit at 4..12, the audit either completes (no more processes
// unreadable than without the limit) or exits 3 naming the limit. (Before: a limit reached
// inside the /proc walk made every process after it "unreadable", and the audit exited 0
// with all their objects 'unknown' and no word of why.)
TEST(AuditCli, AScanCutShortByTheOpenFileLimitExitsWithCode3) {
#if defined(__SANITIZE_ADDRESS__)
  // The sanitizers' runtime needs descriptors of its own (UBSan's vptr check then reports
  // every object as invalid): the limit is tested in the plain build.
  GTEST_SKIP() << "the sanitizer runtime cannot run at the open-file limit";
#endif
  const auto baseline = run_capture({shmcheck_path(), "audit", "--json"});
  ASSERT_TRUE(baseline.exit.ok()) << baseline.exit.describe() << baseline.err;
  const auto unreadable = [](const nlohmann::json& j) {
    return j["inventory"]["processes_unreadable"].get<std::size_t>();
  };
  const std::size_t usual = unreadable(parse(baseline.out));
  int limited = 0;
  int complete = 0;
  for (int files = 4; files <= 12; ++files) {
    const auto r = run_capture({"/usr/bin/prlimit", "--nofile=" + std::to_string(files),
                                shmcheck_path(), "audit", "--json"});
    SCOPED_TRACE("RLIMIT_NOFILE " + std::to_string(files) + ": " + r.exit.describe() + "\n" +
                 r.err);
    ASSERT_TRUE(r.exit.exited);
    if (r.exit.code == 3) {
      ++limited;
      EXPECT_NE(r.err.find("Too many open files"), std::string::npos);
      continue;
    }
    ASSERT_EQ(r.exit.code, 0);
    ++complete;
    // Processes that come and go meanwhile may add one or two of their own.
    EXPECT_LE(unreadable(parse(r.out)), usual + 2);
  }
  EXPECT_GE(limited, 2);
  EXPECT_GE(complete, 1);
}

TEST(AuditCli, BadFlagsExitWithUsageCode2) {
  for (const auto& bad : std::vector<std::vector<std::string>>{
           {"--kind", "bogus"},
           {"--verdict", "dead"},
           {"--older-than", "5x"},
           {"--older-than", "90"},
           {"--older-than", "1e9d"},
           {"--serve", "127.0.0.1:0", "--min-interval", "xyz"},
           {"--serve", "127.0.0.1:0", "--min-interval", "5"},
           {"--serve", "127.0.0.1:99999"},
           {"--user", "no-such-user-xyz"},
           {"--yes"},
           {"--no-such-flag"},
           // Flags that would be ignored.
           {"--min-interval", "5s"},
           {"--all-users"},
           {"--manifest-dir", "/tmp"},
           {"--serve", "127.0.0.1:0", "--textfile", "/tmp/x.prom"},
           {"--fail-on-orphans", "--serve", "127.0.0.1:0"},
           {"--fail-on-orphans", "--textfile", "/tmp/x.prom"}}) {
    std::vector<std::string> argv{shmcheck_path(), "audit"};
    argv.insert(argv.end(), bad.begin(), bad.end());
    const auto out = run_capture(argv);
    EXPECT_EQ(out.exit.code, 2) << bad.front() << ": " << out.exit.describe();
  }
}

// Audit's durations are shmcheck's everywhere else (a unit always: 500ms, 90s, 15m, 2h),
// plus days for ages: a bare "90" is refused as `run --duration 90` is (it meant
// seconds here), and sub-second intervals, refused before, are taken.
TEST(AuditCli, DurationsTakeTheUnitsOfEveryOtherFlagAndDays) {
  for (const char* d : {"500ms", "90s", "15m", "2h", "7d", "1.5d"}) {
    const auto out = run_capture({shmcheck_path(), "audit", "--json", "--older-than", d});
    EXPECT_EQ(out.exit.code, 0) << d << ": " << out.exit.describe() << out.err;
  }
  const auto bare = run_capture({shmcheck_path(), "audit", "--older-than", "90"});
  EXPECT_EQ(bare.exit.code, 2);
  EXPECT_NE(bare.err.find("--older-than: duration needs a unit"), std::string::npos) << bare.err;
  const auto huge = run_capture({shmcheck_path(), "audit", "--older-than", "99999999999d"});
  EXPECT_EQ(huge.exit.code, 2);
  EXPECT_NE(huge.err.find("out of range: '99999999999d'"), std::string::npos) << huge.err;
  // The unit given, not the hours it was read as ("unknown duration unit 'dh'").
  const auto doubled = run_capture({shmcheck_path(), "audit", "--older-than", "5dd"});
  EXPECT_EQ(doubled.exit.code, 2);
  EXPECT_NE(doubled.err.find("unknown duration unit 'dd' in '5dd' (use ns, us, ms, s, m, h, d)"),
            std::string::npos)
      << doubled.err;
}

// Any user may name an object with terminal escapes, newlines or bytes that are not
// UTF-8. The table shows them as \xNN (a name must not recolour or rewrite the admin's
// terminal, nor break the table's lines); the JSON carries U+FFFD for the bytes JSON
// cannot (it ended in "internal error", exit 4, for every object on the host).
TEST(AuditCli, NamesThatAreNotPrintableAreEscapedAndTheJsonStillWrites) {
  const std::string prefix = "/shmcheck-printable-" + std::to_string(::getpid()) + "-";
  const std::string name = prefix + "\x1b[31mred\nline\xff";
  const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ::close(fd);
  const auto table = run_capture({shmcheck_path(), "audit", "--name-prefix", prefix});
  const auto json = run_capture({shmcheck_path(), "audit", "--json", "--name-prefix", prefix});
  ::shm_unlink(name.c_str());
  ASSERT_TRUE(table.exit.ok()) << table.exit.describe() << table.err;
  EXPECT_NE(table.out.find(prefix + "\\x1b[31mred\\x0aline\\xff\n"), std::string::npos)
      << table.out;
  EXPECT_EQ(table.out.find('\x1b'), std::string::npos) << table.out;
  ASSERT_TRUE(json.exit.ok()) << json.exit.describe() << json.err;
  const auto objects = parse(json.out)["inventory"]["objects"];
  ASSERT_EQ(objects.size(), 1U) << json.out;
  EXPECT_EQ(objects[0]["name"], prefix + "\x1b[31mred\nline\xef\xbf\xbd");  // U+FFFD
}

TEST(AuditCli, OlderThanHidesYoungObjects) {
  const auto run = core::new_run_id();
  const int fd = testing_ipc::create_posix_shm(run, "young", 8192);
  ASSERT_GE(fd, 0);
  const auto all = run_capture({shmcheck_path(), "audit", "--json", "--filter-run", run});
  const auto old =
      run_capture({shmcheck_path(), "audit", "--json", "--filter-run", run, "--older-than", "1h"});
  ::close(fd);
  ::shm_unlink(object_name(run, "young").c_str());
  ASSERT_TRUE(all.exit.ok());
  ASSERT_TRUE(old.exit.ok());
  EXPECT_EQ(parse(all.out)["inventory"]["objects"].size(), 1U);
  EXPECT_EQ(parse(old.out)["inventory"]["objects"].size(), 0U);
}

// Two names of one file in /dev/shm (a hard link) are two objects of 64 KiB and 64 KiB
// of memory: the totals count its bytes once, and say so, and so does a clean of both.
// (They said 128 KiB.)
TEST(AuditCli, AHardLinkedObjectsBytesCountOnceInTheTotals) {
  const auto run = core::new_run_id();
  const int fd = testing_ipc::create_posix_shm(run, "linked", 64 * 1024);
  ASSERT_GE(fd, 0);
  const std::vector<char> page(64 * 1024, 'x');
  ASSERT_EQ(::pwrite(fd, page.data(), page.size(), 0), static_cast<ssize_t>(page.size()));
  ::close(fd);
  const std::string first = "/dev/shm" + object_name(run, "linked");
  const std::string second = "/dev/shm" + object_name(run, "link2");
  ASSERT_EQ(::link(first.c_str(), second.c_str()), 0) << std::strerror(errno);
  const auto json = run_capture({shmcheck_path(), "audit", "--json", "--filter-run", run});
  const auto table = run_capture({shmcheck_path(), "audit", "--filter-run", run});
  // A dry run of both names would free the file once; of one name, nothing (it said 0
  // for both, as each name saw the other).
  const auto dry_both =
      run_capture({shmcheck_path(), "audit", "--clean", "--json", "--filter-run", run});
  const auto dry_one = run_capture(
      {shmcheck_path(), "audit", "--clean", "--json", "--name-prefix", object_name(run, "link2")});
  // Removing both names frees the file once: the first name freed nothing (it said
  // 64 KiB twice, 128 KiB freed).
  const auto cleaned =
      run_capture({shmcheck_path(), "audit", "--clean", "--yes", "--json", "--filter-run", run});
  ::unlink(second.c_str());
  ::unlink(first.c_str());
  ASSERT_TRUE(cleaned.exit.ok()) << cleaned.exit.describe() << cleaned.out;
  const auto clean = parse(cleaned.out)["clean"];
  EXPECT_EQ(clean["removed"], 2) << clean.dump();
  EXPECT_EQ(clean["bytes_freed"], 64 * 1024) << clean.dump();
  ASSERT_TRUE(dry_both.exit.ok()) << dry_both.exit.describe() << dry_both.out;
  const auto would = parse(dry_both.out)["clean"];
  ASSERT_EQ(would["outcomes"].size(), 2U) << would.dump();
  EXPECT_EQ(would["outcomes"][0]["bytes_freed"].get<std::uint64_t>() +
                would["outcomes"][1]["bytes_freed"].get<std::uint64_t>(),
            64U * 1024)
      << would.dump();
  ASSERT_TRUE(dry_one.exit.ok()) << dry_one.exit.describe() << dry_one.out;
  const auto would_one = parse(dry_one.out)["clean"];
  ASSERT_EQ(would_one["outcomes"].size(), 1U) << would_one.dump();
  EXPECT_EQ(would_one["outcomes"][0]["bytes_freed"], 0) << would_one.dump();
  ASSERT_TRUE(json.exit.ok()) << json.exit.describe();
  const auto totals = parse(json.out)["inventory"]["totals"];
  EXPECT_EQ(totals["count"], 2) << totals.dump();
  EXPECT_EQ(totals["bytes"], 64 * 1024) << totals.dump();
  EXPECT_EQ(totals["sharing_storage"], 1) << totals.dump();
  EXPECT_NE(table.out.find("(1 of them another name of a file listed above, a hard link: its "
                           "bytes counted once)"),
            std::string::npos)
      << table.out;
}

// --filter-run lists the run's SysV objects too, found by the keys the harness derived
// for its manifest's objects, and tags them with the run (it listed only the run's POSIX
// objects: a SysV object has no name to carry the run id).
TEST(AuditCli, FilterRunListsTheRunsSysvObjectsByTheirManifestKeys) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const std::string runtime = "/mnt/runtime";
    ASSERT_EQ(::mkdir(runtime.c_str(), 0700), 0);
    RunManifest m;
    m.run_id = core::new_run_id();
    m.harness = core::self_identity();
    m.created_unix_ns = static_cast<std::int64_t>(::time(nullptr)) * 1'000'000'000;
    const std::string name = object_name(m.run_id, "pool");
    const int semid = ::semget(core::sysv_key_for(name, 0), 1, IPC_CREAT | IPC_EXCL | 0600);
    ASSERT_GE(semid, 0) << std::strerror(errno);
    const int other = ::semget(core::sysv_key_for(object_name(core::new_run_id(), "pool"), 0), 1,
                               IPC_CREAT | IPC_EXCL | 0600);
    ASSERT_GE(other, 0) << std::strerror(errno);
    m.objects.push_back({"", name, IpcKind::kSysvSemaphore, semid});
    ASSERT_TRUE(write_manifest(m, runtime + "/shmcheck/runs"));
    const auto out =
        run_capture(audit({"--json", "--filter-run", m.run_id}), {"XDG_RUNTIME_DIR=" + runtime});
    const auto table =
        run_capture(audit({"--filter-run", m.run_id}), {"XDG_RUNTIME_DIR=" + runtime});
    ::semctl(semid, 0, IPC_RMID);
    ::semctl(other, 0, IPC_RMID);
    ASSERT_TRUE(out.exit.ok()) << out.exit.describe();
    const auto objects = parse(out.out)["inventory"]["objects"];
    ASSERT_EQ(objects.size(), 1U) << objects.dump(1);
    EXPECT_EQ(objects[0]["kind"], "sysv_sem");
    EXPECT_EQ(objects[0]["sysv_id"], semid) << objects[0].dump();
    EXPECT_EQ(objects[0]["run_id"], m.run_id) << objects[0].dump();
    EXPECT_NE(table.out.find("run " + m.run_id + ":"), std::string::npos) << table.out;
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

// A SysV semaphore set's size is a count of semaphores, not bytes: the table says
// "3 sems" (it said "3 B"), the JSON "semaphores": 3.
TEST(AuditCli, ASysvSemaphoreSetIsSizedInSemaphores) {
  if (!probe_tests::sandbox_available()) GTEST_SKIP() << "needs root to create namespaces";
  const auto sandbox = probe_tests::run_in_sandbox([] {
    const int id = ::semget(core::Semaphore::kPrivateKey, 3, IPC_CREAT | 0600);
    ASSERT_GE(id, 0) << std::strerror(errno);
    const auto table = run_capture(audit({"--kind", "sysv_sem"}));
    const auto json = run_capture(audit({"--kind", "sysv_sem", "--json"}));
    ::semctl(id, 0, IPC_RMID);
    ASSERT_TRUE(table.exit.ok()) << table.exit.describe();
    EXPECT_NE(table.out.find(" 3 sems "), std::string::npos) << table.out;
    EXPECT_EQ(table.out.find(" 3 B "), std::string::npos) << table.out;
    const auto objects = parse(json.out)["inventory"]["objects"];
    ASSERT_EQ(objects.size(), 1U) << json.out;
    EXPECT_EQ(objects[0]["semaphores"], 3) << objects[0].dump();
  });
  EXPECT_TRUE(sandbox.ok()) << sandbox.describe();
}

}  // namespace
}  // namespace shmcheck::probes
