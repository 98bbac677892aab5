// Reporter: renders the results of one `shmcheck run` (a suite of one or more
// specs) into one format. One implementation per file, behind this small
// interface (google/benchmark's reporters are the model); the CLI picks them by
// flag (--json, --junit, --html, --summary, --report-dir).
//
// Reporters are pure: they read a SuiteResult and write text to a stream. They
// never touch shared memory or the run's processes. write_report_file() writes
// atomically (temporary file, fsync, rename) so a CI system never reads half a file.
#pragma once

#include <cstddef>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "shmcheck/core/result.hpp"
#include "shmcheck/probes/run_result.hpp"

namespace shmcheck::reports {

struct SuiteResult {
  std::string name = "shmcheck";
  std::vector<probes::RunResult> runs;
  int exit_code = 0;  // worst of the runs (the process's exit code)
  std::string started_at;
  double total_s = 0;
  std::string hostname;
};

// Worst exit code of the runs (4 > 3 > 2 > 1 > 0), and the suite's verdict word.
[[nodiscard]] int suite_exit_code(const std::vector<probes::RunResult>& runs) noexcept;
[[nodiscard]] std::string_view suite_verdict(const SuiteResult& suite) noexcept;

class Reporter {
 public:
  virtual ~Reporter() = default;
  Reporter() = default;
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  // "json", "junit", "html", "markdown".
  [[nodiscard]] virtual std::string_view format() const = 0;
  // The stable file name used by --report-dir: "shmcheck.json", "junit.xml", ...
  [[nodiscard]] virtual std::string_view file_name() const = 0;
  virtual void write(const SuiteResult& suite, std::ostream& out) const = 0;
};

[[nodiscard]] std::unique_ptr<Reporter> make_json_reporter();
[[nodiscard]] std::unique_ptr<Reporter> make_junit_reporter();
[[nodiscard]] std::unique_ptr<Reporter> make_html_reporter();
[[nodiscard]] std::unique_ptr<Reporter> make_markdown_reporter();
// All of them, in the order --report-dir writes them.
[[nodiscard]] std::vector<std::unique_ptr<Reporter>> all_reporters();

// Writes what `render` prints to `path`: a regular file (or a new one) is replaced
// atomically (a temporary file beside it, renamed over it; on failure the old file
// stays), through a symbolic link if `path` is one; a device, pipe or socket
// (/dev/stdout) is written in place. append=true appends instead (GITHUB_STEP_SUMMARY).
[[nodiscard]] core::Result<void> write_output_file(
    const std::string& path, bool append, const std::function<void(std::ostream&)>& render);
// Whether write_output_file(path) could write there now, without writing: a new or
// regular file by creating and removing a temporary file beside it, a device or pipe by
// access(W_OK) (never opened: a FIFO's open would wait for a reader). `shmcheck run`
// asks before running, so a report it could not write fails the command at once, not
// after a run whose result it would lose.
[[nodiscard]] core::Result<void> check_output_file(const std::string& path);
// Whether `path` names one of this process's own descriptors ("-", /dev/stdout,
// /dev/stderr, /dev/fd/N, /proc/self/fd/N), which a report is written through, where
// the shell left it, never replaced.
[[nodiscard]] bool names_own_descriptor(const std::string& path);
// write_output_file of the reporter's rendering of the suite.
[[nodiscard]] core::Result<void> write_report_file(const Reporter& reporter,
                                                   const SuiteResult& suite,
                                                   const std::string& path, bool append = false);

// Human-friendly numbers shared by the text formats: "212 us", "1.2 M/s", "3.4 s".
// Visits the indexes [0, n), but past 2 * edge of them only the first and the last
// `edge`, calling gap(skipped) once between them. The per-event lists of a long soak
// (crashes, scheduled faults: hundreds of thousands in an hour of frequent kills) stay
// bounded where people read them (HTML tables, JUnit output, the console); the JSON
// report keeps every entry.
inline constexpr std::size_t kReportEdgeRows = 50;
template <class Visit, class Gap>
void for_each_capped(std::size_t n, std::size_t edge, Visit&& visit, Gap&& gap) {
  const bool capped = edge < n && n - edge > edge;  // n > 2 * edge, without overflow
  for (std::size_t i = 0; i < n; ++i) {
    if (capped && i == edge) {
      gap(n - 2 * edge);
      i = n - edge;
      if (i == n) break;  // edge 0: the gap alone
    }
    visit(i);
  }
}

[[nodiscard]] std::string format_seconds(double seconds);
[[nodiscard]] std::string format_rate(double per_second);

// A fault status for people: "fired", "not reached", "not due".
[[nodiscard]] std::string describe(probes::FaultStatus status);
// What became of a planned fault, for people: "fired", "not reached: the run ended
// first: ...", "skipped: its worker was paused when it came due".
[[nodiscard]] std::string describe_outcome(const probes::ScheduledFault& fault);

}  // namespace shmcheck::reports
