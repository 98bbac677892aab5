#include "shmcheck/reports/reporter.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <optional>
#include <ostream>
#include <sstream>
#include <streambuf>
#include <string_view>
#include <utility>
#include <vector>

#include "shmcheck/core/posix_call.hpp"
#include "shmcheck/core/segment_header.hpp"

namespace shmcheck::reports {

int suite_exit_code(const std::vector<probes::RunResult>& runs) noexcept {
  int worst = 0;
  for (const auto& r : runs) worst = std::max(worst, r.exit_code);
  return worst;
}

std::string_view suite_verdict(const SuiteResult& suite) noexcept {
  switch (suite.exit_code) {
    case 0:
      return "pass";
    case 1:
      return "fail";
    default:
      return "error";
  }
}

std::vector<std::unique_ptr<Reporter>> all_reporters() {
  std::vector<std::unique_ptr<Reporter>> out;
  out.push_back(make_json_reporter());
  out.push_back(make_junit_reporter());
  out.push_back(make_html_reporter());
  out.push_back(make_markdown_reporter());
  return out;
}

namespace {

// An output buffer over a file descriptor: 64 KiB per write(2), the first failure kept
// (the stream then goes bad and writes nothing more). So a report of any size is
// written as it is rendered, never held whole in memory.
class FdBuffer final : public std::streambuf {
 public:
  explicit FdBuffer(int fd) : fd_(fd), buffer_(64 * 1024) {
    setp(buffer_.data(), buffer_.data() + buffer_.size());
  }

  // Writes what is buffered; the first write error, if any.
  core::Result<void> finish() {
    if (!drain()) return *error_;
    return {};
  }

 protected:
  int_type overflow(int_type ch) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  int sync() override { return drain() ? 0 : -1; }

 private:
  bool drain() {
    if (error_) return false;
    const char* from = pbase();
    while (from < pptr()) {
      auto n = core::posix_call(
          "write", [&] { return ::write(fd_, from, static_cast<std::size_t>(pptr() - from)); });
      if (!n && (n.error().sys_errno == EAGAIN || n.error().sys_errno == EWOULDBLOCK)) {
        // A descriptor of ours another program left non-blocking (standard output
        // under some CI wrappers): wait until it takes more.
        pollfd ready{fd_, POLLOUT, 0};
        if (::poll(&ready, 1, -1) >= 0 || errno == EINTR) continue;
      }
      if (!n) {
        error_ = std::move(n).error();
        return false;
      }
      from += *n;
    }
    setp(buffer_.data(), buffer_.data() + buffer_.size());
    return true;
  }

  int fd_;
  std::vector<char> buffer_;
  std::optional<core::Error> error_;
};

// Where and how an output reaches `path`.
struct OutputTarget {
  std::string path;       // the file to replace, or to write in place
  bool in_place = false;  // write it where it is: no temporary file, no rename
  int fd = -1;            // >= 0: write through this descriptor of ours (standard output)
};

// The descriptor a path names when it is one of this process's own: "-" and
// /dev/stdout are 1, /dev/stderr 2, /dev/fd/N and /proc/self/fd/N are N. Such a report
// is written through the descriptor, as `>` and `>>` set it up: opening the path again
// would have truncated (or, replaced by a rename, unlinked) the file the shell
// redirected standard output to, losing what was written there before and after
// (`{ echo before; shmcheck run s.yaml --json -; } >> ci.log` kept only the JSON).
std::optional<int> own_descriptor(const std::string& path) {
  if (path == "-" || path == "/dev/stdout") return STDOUT_FILENO;
  if (path == "/dev/stderr") return STDERR_FILENO;
  const std::string self_fd = "/proc/" + std::to_string(::getpid()) + "/fd/";
  for (const std::string_view prefix :
       {std::string_view("/dev/fd/"), std::string_view("/proc/self/fd/"),
        std::string_view(self_fd)}) {
    if (!path.starts_with(prefix)) continue;
    const std::string_view digits = std::string_view(path).substr(prefix.size());
    int fd = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), fd);
    if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty()) return fd;
  }
  return std::nullopt;
}

// A regular file, or none yet, is replaced atomically: a temporary file beside it,
// renamed over it. Anything else that exists is written in place: a rename would
// replace the node itself (as root, `--json /dev/full` replaced the device with a
// regular file, and `--json /dev/stdout` would have replaced the link). A symbolic link
// to a regular file is followed, so its target is replaced and the link kept; a dangling
// one is written through (which creates its target). Only links of the caller or of
// root are followed (as the kernel's protected_symlinks does in /tmp): another user's
// link at the report's path is replaced, never followed, or a link planted in /tmp
// would have had root overwrite whatever it points to.
OutputTarget output_target(const std::string& path) {
  if (const auto fd = own_descriptor(path)) return {path, true, *fd};
  struct stat st {};
  struct stat link {};
  const bool is_link = ::lstat(path.c_str(), &link) == 0 && S_ISLNK(link.st_mode);
  if (is_link && link.st_uid != ::geteuid() && link.st_uid != 0) return {path, false};
  if (::stat(path.c_str(), &st) != 0) return {path, is_link};
  if (!S_ISREG(st.st_mode)) return {path, true};
  if (!is_link) return {path, false};
  char* real = ::realpath(path.c_str(), nullptr);
  if (real == nullptr) return {path, true};
  OutputTarget target{real, false};
  std::free(real);  // NOLINT(cppcoreguidelines-no-malloc): realpath's allocation
  return target;
}

// A temporary file beside an output: its name is unpredictable and it is created
// O_EXCL|O_NOFOLLOW, for in a shared directory (/tmp) a link planted at a guessable name
// would otherwise have had root truncate and write the file it points to.
// "<path>.tmp.<pid>.<random>": the pid says whose it is, so one left by a writer killed
// mid-report can be told from one being written now (remove_stale_temporaries).
std::string temporary_beside(const std::string& path) {
  return path + ".tmp." + std::to_string(::getpid()) + "." + core::new_run_id();
}

// Temporaries of `path` that a killed writer left: named as temporary_beside names them,
// ours, a regular file, their writer's pid gone and untouched for 10 s (a writer of
// another pid namespace sharing the directory is still writing within that). A report
// directory kept each SIGKILLed write's fragment for good, beside the reports.
void remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const std::string prefix = target.filename().string() + ".tmp.";
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (!name.starts_with(prefix)) continue;
    // Exactly "<pid>.<run id: kRunIdLength lowercase hex>": a user's "summary.md.tmp.20240101.bak"
    // is no temporary of ours.
    const std::string_view rest = std::string_view(name).substr(prefix.size());
    const auto dot = rest.find('.');
    pid_t pid = 0;
    const auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
    if (dot == std::string_view::npos || rest.size() - dot - 1 != core::kRunIdLength ||
        !std::ranges::all_of(rest.substr(dot + 1), hex) ||
        std::from_chars(rest.data(), rest.data() + dot, pid).ptr != rest.data() + dot || pid <= 0 ||
        pid == ::getpid()) {
      continue;
    }
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != ::geteuid())
      continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
    if (::time(nullptr) - st.st_mtime < 10) continue;
    ::unlink(it->path().c_str());
  }
}
constexpr int kCreateTemporary = O_WRONLY | O_CREAT | O_CLOEXEC | O_EXCL | O_NOFOLLOW;

// Whether the file at `path` is empty or its last byte ends a line (read on a
// descriptor of its own: the appending one is write-only). Unreadable: taken as yes.
bool ends_a_line(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return true;
  struct stat st {};
  char last = '\n';
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    if (::pread(fd, &last, 1, st.st_size - 1) != 1) last = '\n';
  }
  ::close(fd);
  return last == '\n';
}

}  // namespace

// A new output is rendered straight into a temporary file beside its target, then
// fsynced and renamed over it: readers see the old file or the whole new one, and an
// output of any size costs its 64 KiB buffer. An appended one (GITHUB_STEP_SUMMARY, a
// file the caller owns) is rendered first, so a renderer that fails adds nothing to it.
// A device, pipe or socket (/dev/stdout) is written in place (see output_target).
core::Result<void> write_output_file(const std::string& path, bool append,
                                     const std::function<void(std::ostream&)>& render) {
  std::string rendered;
  if (append) {
    std::ostringstream text;
    render(text);
    rendered = std::move(text).str();
  }
  const OutputTarget where = append ? OutputTarget{path, true} : output_target(path);
  const bool atomic = !where.in_place;
  if (atomic) remove_stale_temporaries(where.path);
  const std::string target = atomic ? temporary_beside(where.path) : where.path;
  const int flags =
      atomic ? kCreateTemporary : O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  auto fd = where.fd >= 0
                ? core::posix_call("dup", [&] { return ::fcntl(where.fd, F_DUPFD_CLOEXEC, 0); })
                : core::posix_call("open", [&] { return ::open(target.c_str(), flags, 0644); });
  if (!fd) {
    auto e = std::move(fd).error();
    e.detail = target;
    return e;
  }
  // From here on, a failure removes the temporary file (never the caller's).
  auto fail = [&](core::Error e) -> core::Result<void> {
    ::close(*fd);
    if (atomic) ::unlink(target.c_str());
    if (e.detail.empty()) e.detail = target;
    return e;
  };
  FdBuffer buffer(*fd);
  {
    std::ostream out(&buffer);
    try {
      if (append) {
        // Another step's text may end mid-line: "previous step## shmcheck: FAIL" was no
        // heading. A line of its own.
        if (!ends_a_line(target)) out << '\n';
        out << rendered;
      } else {
        render(out);
      }
    } catch (...) {
      (void)fail({});
      throw;
    }
  }
  if (auto written = buffer.finish(); !written) return fail(std::move(written).error());
  struct stat st {};
  const bool regular = ::fstat(*fd, &st) == 0 && S_ISREG(st.st_mode);
  if (regular) {  // a pipe or a terminal has nothing to sync (EINVAL)
    if (auto synced = core::posix_call("fsync", [&] { return ::fsync(*fd); }); !synced) {
      return fail(std::move(synced).error());
    }
  }
  ::close(*fd);
  if (atomic) {
    auto renamed =
        core::posix_call("rename", [&] { return ::rename(target.c_str(), where.path.c_str()); });
    if (!renamed) {
      ::unlink(target.c_str());
      auto e = std::move(renamed).error();
      e.detail = where.path;
      return e;
    }
  }
  return {};
}

core::Result<void> check_output_file(const std::string& path) {
  const OutputTarget where = output_target(path);
  if (where.fd >= 0) {
    const int mode = ::fcntl(where.fd, F_GETFL);
    if (mode == -1)
      return core::make_error(core::error_code_from_errno(EBADF), "fcntl", path, EBADF);
    if ((mode & O_ACCMODE) == O_RDONLY) {
      return core::make_error(core::error_code_from_errno(EBADF), "write", path, EBADF);
    }
    return {};
  }
  if (where.in_place) {
    struct stat st {};
    if (::stat(where.path.c_str(), &st) != 0) return {};  // a dangling link: written through
    if (S_ISDIR(st.st_mode)) {
      return core::make_error(core::error_code_from_errno(EISDIR), "open", where.path, EISDIR);
    }
    auto ok = core::posix_call("access", [&] { return ::access(where.path.c_str(), W_OK); });
    if (!ok) return core::make_error(ok.error().code, "open", where.path, ok.error().sys_errno);
    return {};
  }
  const std::string probe = temporary_beside(where.path);
  auto fd = core::posix_call("open", [&] { return ::open(probe.c_str(), kCreateTemporary, 0644); });
  if (!fd) {
    // A report replaces its file from a temporary beside it: say where that failed
    // (`--json /proc/version` read "open /proc/version: No such file or directory").
    const auto dir = std::filesystem::path(where.path).parent_path().string();
    return core::make_error(
        fd.error().code, "open",
        where.path + "; cannot create a file in " + (dir.empty() ? "." : dir) + " to replace it",
        fd.error().sys_errno);
  }
  ::close(*fd);
  ::unlink(probe.c_str());
  return {};
}

bool names_own_descriptor(const std::string& path) { return own_descriptor(path).has_value(); }

core::Result<void> write_report_file(const Reporter& reporter, const SuiteResult& suite,
                                     const std::string& path, bool append) {
  return write_output_file(path, append, [&](std::ostream& out) { reporter.write(suite, out); });
}

std::string format_seconds(double seconds) {
  std::array<char, 32> buf{};
  const double a = std::fabs(seconds);
  if (a == 0) return "0 s";
  if (a < 1e-6)
    std::snprintf(buf.data(), buf.size(), "%.0f ns", seconds * 1e9);
  else if (a < 1e-3)
    std::snprintf(buf.data(), buf.size(), "%.3g us", seconds * 1e6);
  else if (a < 1)
    std::snprintf(buf.data(), buf.size(), "%.3g ms", seconds * 1e3);
  else
    std::snprintf(buf.data(), buf.size(), "%.3g s", seconds);
  return buf.data();
}

std::string format_rate(double per_second) {
  std::array<char, 32> buf{};
  const double a = std::fabs(per_second);
  if (a >= 1e9)
    std::snprintf(buf.data(), buf.size(), "%.3g G/s", per_second / 1e9);
  else if (a >= 1e6)
    std::snprintf(buf.data(), buf.size(), "%.3g M/s", per_second / 1e6);
  else if (a >= 1e3)
    std::snprintf(buf.data(), buf.size(), "%.3g k/s", per_second / 1e3);
  else
    std::snprintf(buf.data(), buf.size(), "%.3g /s", per_second);
  return buf.data();
}

std::string describe(probes::FaultStatus status) {
  std::string out(probes::to_string(status));
  std::replace(out.begin(), out.end(), '_', ' ');
  return out;
}

std::string describe_outcome(const probes::ScheduledFault& fault) {
  std::string out = describe(fault.status);
  if (!fault.note.empty()) out += ": " + fault.note;
  return out;
}

}  // namespace shmcheck::reports
