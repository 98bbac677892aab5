#include "shmcheck/probes/run_manifest.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "inventory_detail.hpp"
#include "shmcheck/core/process_identity.hpp"
#include "shmcheck/core/segment_header.hpp"
#include "unique_fd.hpp"

namespace shmcheck::probes {
namespace {

using core::ErrorCode;
using core::make_error;

constexpr std::string_view kSuffix = ".manifest";

// A manifest is evidence for removing objects (--reclaim): only this user's own
// private directory and files count. Someone else's /tmp/shmcheck-<uid>, planted
// before this user ever ran shmcheck, could otherwise name any object to remove.
core::Result<void> check_private(int fd, const std::string& path, bool directory) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return make_error(core::error_code_from_errno(errno), "fstat", path, errno);
  }
  const bool kind_ok = directory ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
  if (!kind_ok || st.st_uid != ::geteuid() || (st.st_mode & 0077U) != 0) {
    std::array<char, 8> mode{};
    std::snprintf(mode.data(), mode.size(), "%03o", st.st_mode & 0777U);
    return make_error(ErrorCode::kForeign, directory ? "manifest dir" : "manifest",
                      path + " is not a private " + (directory ? "directory" : "file") +
                          " of this user (owner uid " + std::to_string(st.st_uid) + ", mode " +
                          mode.data() + "): not trusted");
  }
  return {};
}

// Opens a directory of the manifest path, never through a symbolic link: one is
// refused as not trusted, saying so (it read "openat: Not a directory").
core::Result<detail::UniqueFd> open_directory(const std::string& path) {
  auto fd = detail::open_at(AT_FDCWD, path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (fd) return fd;
  const int err = fd.error().sys_errno;
  if (err != ELOOP && err != ENOTDIR) return std::move(fd).error();
  return make_error(ErrorCode::kForeign, "manifest dir",
                    path + " is not a directory (a symlink or a file): not trusted");
}

core::Result<void> make_private_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error(core::error_code_from_errno(errno), "mkdir", path, errno);
  }
  // Refuse a directory (or symlink, or file) someone else planted in a shared /tmp.
  auto fd = open_directory(path);
  if (!fd) return std::move(fd).error();
  return check_private(fd->get(), path, /*directory=*/true);
}

// Opens dir (no symlink) after checking it is this user's and private, and that its
// parent (…/shmcheck, /tmp/shmcheck-<uid>, or a --manifest-dir's) is this user's or
// root's and writable by no one else, who could otherwise swap the directory.
core::Result<detail::UniqueFd> open_private_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path path = fs::absolute(dir, ec).lexically_normal();
  if (!path.has_filename()) path = path.parent_path();  // "runs/": the same directory
  if (const auto parent = path.parent_path(); parent != path) {
    auto pfd = open_directory(parent.string());
    if (!pfd) return std::move(pfd).error();
    struct stat st {};
    if (::fstat(pfd->get(), &st) != 0) {
      return make_error(core::error_code_from_errno(errno), "fstat", parent.string(), errno);
    }
    if ((st.st_uid != ::geteuid() && st.st_uid != 0) || (st.st_mode & 0022U) != 0) {
      return make_error(ErrorCode::kForeign, "manifest dir",
                        parent.string() + " can be changed by another user (owner uid " +
                            std::to_string(st.st_uid) + "): not trusted");
    }
  }
  auto fd = open_directory(path.string());
  if (!fd) return std::move(fd).error();
  SHMCHECK_TRY(check_private(fd->get(), path.string(), /*directory=*/true));
  return fd;
}

bool valid_run_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (const char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string manifest_dir() {
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");  // NOLINT(concurrency-mt-unsafe): read-only use
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/shmcheck/runs";
  return "/tmp/shmcheck-" + std::to_string(::geteuid()) + "/runs";
}

core::Result<void> ensure_manifest_dir(const std::string& dir) {
  const auto slash = dir.rfind('/');
  if (slash == std::string::npos || slash == 0) return make_private_dir(dir);
  // The parent is ours too (…/shmcheck or /tmp/shmcheck-<uid>); the grandparent is not.
  SHMCHECK_TRY(make_private_dir(dir.substr(0, slash)));
  return make_private_dir(dir);
}

std::string manifest_path(const std::string& dir, const std::string& run_id) {
  return dir + "/" + run_id + std::string(kSuffix);
}

core::Result<void> write_manifest(const RunManifest& manifest, const std::string& dir) {
  if (!valid_run_id(manifest.run_id)) {
    return make_error(ErrorCode::kInvalidArgument, "write_manifest", "bad run id");
  }
  SHMCHECK_TRY(ensure_manifest_dir(dir));
  nlohmann::json j;
  j["run_id"] = manifest.run_id;
  j["harness_pid"] = manifest.harness.pid;
  j["harness_start_time"] = manifest.harness.start_time;
  j["created_unix_ns"] = manifest.created_unix_ns;
  j["pid_namespace"] = manifest.pid_namespace.empty() ? detail::pid_namespaces("/proc").self
                                                      : manifest.pid_namespace;
  j["objects"] = nlohmann::json::array();
  for (const auto& o : manifest.objects) {
    j["objects"].push_back(
        {{"ref", o.ref}, {"name", o.name}, {"kind", to_string(o.kind)}, {"sysv_id", o.sysv_id}});
  }
  const std::string text = j.dump(2) + "\n";
  const std::string path = manifest_path(dir, manifest.run_id);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  auto fd = detail::open_at(AT_FDCWD, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
  if (!fd) return std::move(fd).error();
  std::size_t done = 0;
  while (done < text.size()) {
    auto n = core::posix_call(
        "write", [&] { return ::write(fd->get(), text.data() + done, text.size() - done); });
    if (!n) {
      ::unlink(tmp.c_str());
      return std::move(n).error();
    }
    done += static_cast<std::size_t>(*n);
  }
  // fsync: the manifest must survive the harness being killed right after.
  if (auto synced = core::posix_call("fsync", [&] { return ::fsync(fd->get()); }); !synced) {
    ::unlink(tmp.c_str());
    return std::move(synced).error();
  }
  fd->reset();
  if (auto renamed =
          core::posix_call("rename", [&] { return ::rename(tmp.c_str(), path.c_str()); });
      !renamed) {
    ::unlink(tmp.c_str());
    return std::move(renamed).error();
  }
  return {};
}

core::Result<RunManifest> read_manifest(const std::string& path) {
  std::string text;
  {
    auto fd = detail::open_at(AT_FDCWD, path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (!fd) return std::move(fd).error();
    SHMCHECK_TRY(check_private(fd->get(), path, /*directory=*/false));
    SHMCHECK_TRY(detail::read_fd(fd->get(), text));
  }
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(ErrorCode::kCorrupt, "read_manifest", path + ": not JSON");
  }
  RunManifest m;
  try {
    m.run_id = j.at("run_id").get<std::string>();
    m.harness.pid = j.at("harness_pid").get<std::int32_t>();
    m.harness.start_time = j.at("harness_start_time").get<std::uint64_t>();
    m.created_unix_ns = j.at("created_unix_ns").get<std::int64_t>();
    m.pid_namespace = j.value("pid_namespace", std::string{});
    for (const auto& o : j.at("objects")) {
      ManifestObject mo;
      mo.ref = o.value("ref", std::string{});
      mo.name = o.value("name", std::string{});
      const auto kind = ipc_kind_from_string(o.value("kind", std::string{"posix_shm"}));
      if (!kind) return make_error(ErrorCode::kCorrupt, "read_manifest", path + ": unknown kind");
      mo.kind = *kind;
      mo.sysv_id = o.value("sysv_id", -1);
      m.objects.push_back(std::move(mo));
    }
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kCorrupt, "read_manifest", path + ": " + e.what());
  }
  if (!valid_run_id(m.run_id))
    return make_error(ErrorCode::kCorrupt, "read_manifest", path + ": bad run id");
  // A manifest speaks for its own run only: its file is <run_id>.manifest (reclaim
  // removes a run's manifest by its run id: one that named another run had that run's
  // manifest removed, a live one's), and every object it lists is named for the run.
  if (std::filesystem::path(path).filename().string() != m.run_id + std::string(kSuffix)) {
    return make_error(ErrorCode::kCorrupt, "read_manifest",
                      path + ": names run " + m.run_id + ", whose manifest is " + m.run_id +
                          std::string(kSuffix));
  }
  for (const auto& o : m.objects) {
    // "/shmcheck.<uid>.<run id>.<object>"; the object part as the harness wrote it.
    const std::string_view rest =
        std::string_view(o.name).substr(std::min(o.name.size(), 1 + core::kNamePrefix.size()));
    const auto dot = rest.find('.');
    const bool of_run =
        o.name.starts_with("/" + std::string(core::kNamePrefix)) && dot != std::string_view::npos &&
        dot > 0 &&
        std::ranges::all_of(rest.substr(0, dot), [](char c) { return c >= '0' && c <= '9'; }) &&
        rest.substr(dot + 1).starts_with(m.run_id + ".") &&
        rest.size() > dot + 1 + m.run_id.size() + 1;
    if (!of_run) {
      return make_error(ErrorCode::kCorrupt, "read_manifest",
                        path + ": lists " + o.name + ", not an object of run " + m.run_id);
    }
  }
  // The creation time bounds which objects the manifest may name (created after it).
  if (m.created_unix_ns <= 0)
    return make_error(ErrorCode::kCorrupt, "read_manifest", path + ": no creation time");
  return m;
}

core::Result<std::vector<std::string>> list_manifests(const std::string& dir) {
  auto fd = open_private_dir(dir);
  if (!fd) return std::move(fd).error();
  std::vector<std::string> out;
  SHMCHECK_TRY(detail::for_each_entry(fd->get(), [&](std::string_view name, unsigned char) {
    if (name.ends_with(kSuffix)) out.push_back(dir + "/" + std::string(name));
  }));
  return out;
}

core::Result<std::vector<std::string>> remove_stale_temporaries(const std::string& dir,
                                                                bool dry_run) {
  constexpr std::string_view kTemporary = ".manifest.tmp.";
  auto fd = open_private_dir(dir);
  if (!fd) return std::move(fd).error();
  const auto now = std::chrono::system_clock::now();
  std::vector<std::string> out;
  SHMCHECK_TRY(detail::for_each_entry(fd->get(), [&](std::string_view name, unsigned char) {
    const auto at = name.find(kTemporary);
    if (at == std::string_view::npos || !valid_run_id(name.substr(0, at))) return;
    const std::string_view digits = name.substr(at + kTemporary.size());
    pid_t pid = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
    if (ec != std::errc() || end != digits.data() + digits.size() || pid <= 0) return;
    const std::string file(name);
    struct stat st {};
    if (::fstatat(fd->get(), file.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        st.st_uid != ::geteuid()) {
      return;
    }
    const auto written = std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtime));
    if (now - written < std::chrono::minutes(1)) return;  // a writer may be at it
    const auto start = core::process_start_time(pid);
    if (start || start.error().code != ErrorCode::kNotFound) return;  // its writer may live
    if (!dry_run && ::unlinkat(fd->get(), file.c_str(), 0) != 0) return;
    out.push_back(dir + "/" + file);
  }));
  return out;
}

core::Result<void> remove_manifest(const std::string& run_id, const std::string& dir) {
  if (!valid_run_id(run_id))
    return make_error(ErrorCode::kInvalidArgument, "remove_manifest", "bad run id");
  const std::string path = manifest_path(dir, run_id);
  auto r = core::posix_call("unlink", [&] { return ::unlink(path.c_str()); });
  if (!r) return std::move(r).error();
  return {};
}

}  // namespace shmcheck::probes
