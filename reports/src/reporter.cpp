#include "shmcheck/reports/reporter.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <sstream>

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

core::Result<void> write_report_file(const Reporter& reporter, const SuiteResult& suite,
                                     const std::string& path, bool append) {
  std::ostringstream text;
  reporter.write(suite, text);
  const std::string body = text.str();
  const std::string target = append ? path : path + ".tmp." + std::to_string(::getpid());
  const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC);
  auto fd = core::posix_call("open", [&] { return ::open(target.c_str(), flags, 0644); });
  if (!fd) {
    auto e = std::move(fd).error();
    e.detail = target;
    return e;
  }
  std::size_t done = 0;
  while (done < body.size()) {
    auto n = core::posix_call("write",
                              [&] { return ::write(*fd, body.data() + done, body.size() - done); });
    if (!n) {
      ::close(*fd);
      if (!append) ::unlink(target.c_str());
      auto e = std::move(n).error();
      e.detail = target;
      return e;
    }
    done += static_cast<std::size_t>(*n);
  }
  auto synced = core::posix_call("fsync", [&] { return ::fsync(*fd); });
  ::close(*fd);
  if (!synced) {
    if (!append) ::unlink(target.c_str());
    return std::move(synced).error();
  }
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
