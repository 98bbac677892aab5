#include "shmcheck/reports/reporter.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <optional>
#include <ostream>
#include <sstream>
#include <streambuf>
#include <utility>
#include <vector>

#include "shmcheck/core/posix_call.hpp"

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

}  // namespace

// A new report is rendered straight into a temporary file beside `path`, then fsynced
// and renamed over it: readers see the old file or the whole new one, and a report of
// any size costs its 64 KiB buffer. An appended one (GITHUB_STEP_SUMMARY, a file the
// caller owns) is rendered first, so a renderer that fails adds nothing to it.
core::Result<void> write_report_file(const Reporter& reporter, const SuiteResult& suite,
                                     const std::string& path, bool append) {
  std::string rendered;
  if (append) {
    std::ostringstream text;
    reporter.write(suite, text);
    rendered = std::move(text).str();
  }
  const std::string target = append ? path : path + ".tmp." + std::to_string(::getpid());
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  auto fd = core::posix_call("open", [&] { return ::open(target.c_str(), flags, 0644); });
  if (!fd) {
    auto e = std::move(fd).error();
    e.detail = target;
    return e;
  }
  // From here on, a failure removes the temporary file (never the caller's).
  auto fail = [&](core::Error e) -> core::Result<void> {
    ::close(*fd);
    if (!append) ::unlink(target.c_str());
    if (e.detail.empty()) e.detail = target;
    return e;
  };
  FdBuffer buffer(*fd);
  {
    std::ostream out(&buffer);
    try {
      if (append) {
        out << rendered;
      } else {
        reporter.write(suite, out);
      }
    } catch (...) {
      (void)fail({});
      throw;
    }
  }
  if (auto written = buffer.finish(); !written) return fail(std::move(written).error());
  if (auto synced = core::posix_call("fsync", [&] { return ::fsync(*fd); }); !synced) {
    return fail(std::move(synced).error());
  }
  ::close(*fd);
  if (!append) {
    auto renamed =
        core::posix_call("rename", [&] { return ::rename(target.c_str(), path.c_str()); });
    if (!renamed) {
      ::unlink(target.c_str());
      auto e = std::move(renamed).error();
      e.detail = path;
      return e;
    }
  }
  return {};
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

}  // namespace shmcheck::reports
