#include "shmcheck/probes/run_manifest.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "shmcheck/core/segment_header.hpp"

namespace shmcheck::probes {
namespace {

class RunManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/shmcheck-manifest-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    dir_ = base_ + "/shmcheck/runs";
  }
  void TearDown() override { std::filesystem::remove_all(base_); }
  std::string base_;
  std::string dir_;
};

TEST_F(RunManifestTest, WrittenManifestReadsBackIdentically) {
  RunManifest m;
  m.run_id = core::new_run_id();
  m.harness = core::self_identity();
  m.created_unix_ns = 1234567890123;
  const std::string q = "/shmcheck.0." + m.run_id + ".q";
  m.objects.push_back({"posix:" + q, q, IpcKind::kPosixShm, -1});
  m.objects.push_back({"sysv:42", "/shmcheck.0." + m.run_id + ".s", IpcKind::kSysvSemaphore, 42});
  ASSERT_TRUE(write_manifest(m, dir_));

  struct stat st {};
  ASSERT_EQ(::stat(dir_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0700U);

  ASSERT_EQ(::stat(manifest_path(dir_, m.run_id).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777U, 0600U);

  const auto back = read_manifest(manifest_path(dir_, m.run_id));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->run_id, m.run_id);
  EXPECT_EQ(back->harness, m.harness);
  EXPECT_EQ(back->created_unix_ns, m.created_unix_ns);
  ASSERT_EQ(back->objects.size(), 2U);
  EXPECT_EQ(back->objects[1].ref, "sysv:42");
  EXPECT_EQ(back->objects[1].kind, IpcKind::kSysvSemaphore);
  EXPECT_EQ(back->objects[1].sysv_id, 42);

  const auto listed = list_manifests(dir_);
  ASSERT_TRUE(listed.has_value());
  ASSERT_EQ(listed->size(), 1U);
  EXPECT_EQ(listed->front(), manifest_path(dir_, m.run_id));

  ASSERT_TRUE(remove_manifest(m.run_id, dir_));
  EXPECT_FALSE(read_manifest(manifest_path(dir_, m.run_id)).has_value());
}

// A manifest speaks for its run only: its objects are named for it (whatever their
// object part, as the harness writes them), and its file is <run id>.manifest.
TEST_F(RunManifestTest, AManifestListsOnlyItsOwnRunsObjectsUnderItsOwnName) {
  RunManifest m;
  m.run_id = core::new_run_id();
  m.harness = core::self_identity();
  m.created_unix_ns = 1;
  for (const char* object : {"control", "queue", "-pool", "a.b"}) {
    m.objects.push_back(
        {"", core::segment_name(::geteuid(), m.run_id, object), IpcKind::kPosixShm, -1});
  }
  ASSERT_TRUE(write_manifest(m, dir_));
  const auto back = read_manifest(manifest_path(dir_, m.run_id));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->objects.size(), 4U);

  const auto other = core::new_run_id();
  for (const std::string& stranger : {core::segment_name(0, other, "queue"),
                                      std::string("/important"), "/shmcheck.x." + m.run_id + ".q",
                                      "/shmcheck.0." + m.run_id + ".", "/shmcheck.0." + m.run_id}) {
    auto bad = m;
    bad.objects.push_back({"", stranger, IpcKind::kPosixShm, -1});
    ASSERT_TRUE(write_manifest(bad, dir_));
    const auto refused = read_manifest(manifest_path(dir_, m.run_id));
    ASSERT_FALSE(refused.has_value()) << stranger;
    EXPECT_NE(refused.error().message().find("not an object of run " + m.run_id), std::string::npos)
        << refused.error().message();
  }
  // Filed under another run's name.
  ASSERT_TRUE(write_manifest(m, dir_));
  const auto misfiled = dir_ + "/" + other + ".manifest";
  ASSERT_EQ(::rename(manifest_path(dir_, m.run_id).c_str(), misfiled.c_str()), 0);
  const auto wrong_file = read_manifest(misfiled);
  ASSERT_FALSE(wrong_file.has_value());
  EXPECT_NE(wrong_file.error().message().find("names run " + m.run_id), std::string::npos);
}

TEST_F(RunManifestTest, RefusesADirectoryOthersCanWrite) {
  std::filesystem::create_directories(dir_);
  ASSERT_EQ(::chmod(dir_.c_str(), 0777), 0);
  RunManifest m;
  m.run_id = core::new_run_id();
  const auto written = write_manifest(m, dir_);
  ASSERT_FALSE(written.has_value());
  EXPECT_EQ(written.error().code, core::ErrorCode::kForeign);
}

TEST_F(RunManifestTest, RejectsRunIdsThatAreNotPlainNames) {
  RunManifest m;
  m.run_id = "../escape";
  EXPECT_FALSE(write_manifest(m, dir_).has_value());
}

TEST_F(RunManifestTest, MalformedManifestIsAnErrorNotACrash) {
  std::filesystem::create_directories(dir_);
  const auto path = dir_ + "/bad.manifest";
  std::ofstream(path) << "{\"run_id\": 5";
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  const auto r = read_manifest(path);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, core::ErrorCode::kCorrupt);
  std::ofstream(path, std::ios::trunc)
      << R"({"run_id":"abc","harness_pid":"x","harness_start_time":1,"objects":[]})";
  EXPECT_FALSE(read_manifest(path).has_value());
}

// A manifest names the objects `audit --reclaim` removes, so only this user's own
// private directories and files are trusted: a /tmp/shmcheck-<uid>/runs planted by
// another user before this one's first run named a live SysV semaphore, and root's
// reclaim removed it. A symlink or a file others could have written is refused too.
TEST_F(RunManifestTest, OnlyThisUsersPrivateDirectoryAndFilesAreTrusted) {
  RunManifest m;
  m.run_id = core::new_run_id();
  m.harness = core::self_identity();
  m.created_unix_ns = 1234567890123;
  ASSERT_TRUE(write_manifest(m, dir_));
  const auto path = manifest_path(dir_, m.run_id);
  ASSERT_TRUE(read_manifest(path).has_value());
  ASSERT_TRUE(list_manifests(dir_).has_value());
  const auto refused = [](const auto& result, core::ErrorCode code) {
    return !result.has_value() && result.error().code == code;
  };

  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  EXPECT_TRUE(refused(read_manifest(path), core::ErrorCode::kForeign));
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);

  const auto link = dir_ + "/link.manifest";
  ASSERT_EQ(::symlink(path.c_str(), link.c_str()), 0);
  EXPECT_FALSE(read_manifest(link).has_value());
  ASSERT_EQ(::unlink(link.c_str()), 0);

  ASSERT_EQ(::chmod(dir_.c_str(), 0755), 0);
  EXPECT_TRUE(refused(list_manifests(dir_), core::ErrorCode::kForeign));
  ASSERT_EQ(::chmod(dir_.c_str(), 0700), 0);
  const auto parent = base_ + "/shmcheck";
  ASSERT_EQ(::chmod(parent.c_str(), 0777), 0);
  EXPECT_TRUE(refused(list_manifests(dir_), core::ErrorCode::kForeign));
  EXPECT_TRUE(refused(list_manifests(dir_ + "/"), core::ErrorCode::kForeign));  // same dir
  ASSERT_EQ(::chmod(parent.c_str(), 0755), 0);  // others may read it, not change it
  ASSERT_TRUE(list_manifests(dir_).has_value());
  ASSERT_EQ(::chmod(parent.c_str(), 0700), 0);

  if (::geteuid() == 0) {  // another owner: needs root to hand a file over
    ASSERT_EQ(::chown(path.c_str(), 54400, 54400), 0);
    EXPECT_TRUE(refused(read_manifest(path), core::ErrorCode::kForeign));
    ASSERT_EQ(::chown(path.c_str(), 0, 0), 0);
    ASSERT_EQ(::chown(parent.c_str(), 54400, 54400), 0);
    EXPECT_TRUE(refused(list_manifests(dir_), core::ErrorCode::kForeign));
    ASSERT_EQ(::chown(parent.c_str(), 0, 0), 0);
  }

  // No creation time: nothing bounds the objects it may name (a creation time of 0
  // let a forged manifest name objects of any age).
  std::ofstream(path, std::ios::trunc)
      << R"({"run_id":"abc","harness_pid":1,"harness_start_time":1,"created_unix_ns":0,)"
      << R"("objects":[]})";
  EXPECT_TRUE(refused(read_manifest(path), core::ErrorCode::kCorrupt));
}

TEST(RunManifestDir, FollowsXdgRuntimeDirElseTmp) {
  const char* old = std::getenv("XDG_RUNTIME_DIR");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
  EXPECT_EQ(manifest_dir(), "/run/user/4242/shmcheck/runs");
  ::unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(manifest_dir(), "/tmp/shmcheck-" + std::to_string(::geteuid()) + "/runs");
  if (old != nullptr) ::setenv("XDG_RUNTIME_DIR", saved.c_str(), 1);
}

}  // namespace
}  // namespace shmcheck::probes
