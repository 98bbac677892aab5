// What `shmcheck run` produces besides its exit code: report files (JSON, JUnit,
// HTML, Markdown; --report-dir for all of them), live Prometheus metrics
// (--metrics-listen, --linger), a push to a Pushgateway (--push-gateway), and the
// progress line on stderr.
//
// The run command owns one RunOutputs for the whole suite: it opens the metrics
// server before the first spec, receives live samples from the supervisor while
// specs run, and writes every report once the suite is done.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "shmcheck/core/result.hpp"
#include "shmcheck/harness/live_sample.hpp"
#include "shmcheck/reports/prometheus_metrics.hpp"
#include "shmcheck/reports/reporter.hpp"

namespace CLI {
class App;
}

namespace shmcheck::harness {

struct OutputOptions {
  std::string json;            // --json FILE
  std::string junit;           // --junit FILE
  std::string html;            // --html FILE
  std::string summary;         // --summary FILE (GITHUB_STEP_SUMMARY is appended to as well)
  std::string report_dir;      // --report-dir DIR: all of them, stable names
  std::string metrics_listen;  // --metrics-listen HOST:PORT
  std::string push_gateway;    // --push-gateway URL
  std::string push_job = "shmcheck";
  std::string linger = "0s";  // --linger DURATION: keep /metrics up after the run
  bool quiet = false;         // --quiet: no progress line
  // --push-label NAME=VALUE, repeatable: added to the push's grouping key.
  std::vector<std::string> push_labels;
  // Not a flag: the spec files of the run, which no report may be written over.
  std::vector<std::string> inputs;
};

// Declares the flags above on the run subcommand.
void add_output_options(CLI::App& cmd, OutputOptions& options);

// Now, in UTC, to the second ("2026-12-02T15:43:18Z"): a run's started_at and
// finished_at, and a report suite's timestamp.
std::string iso_utc_now();

class RunOutputs {
 public:
  // Validates the options and checks that every report can be written, leaving
  // nothing behind. Errors are usage errors (bad address, bad URL, bad duration) or
  // environment errors (a report that cannot be written).
  static core::Result<std::unique_ptr<RunOutputs>> open(const OutputOptions& options);
  // Once the specs are loaded, right before the first run: opens the metrics server,
  // then creates --report-dir. Errors are environment errors (port taken, directory
  // not creatable); on one, nothing was created.
  core::Result<void> start();

  [[nodiscard]] int metrics_port() const noexcept { return server_ ? server_->port() : 0; }
  // True when a report goes to this process's standard output (`--json /dev/stdout`):
  // the run's summary lines then go to stderr, so stdout carries the report alone.
  [[nodiscard]] bool reports_to_stdout() const noexcept { return reports_to_stdout_; }

  // Called by the supervisor every sampling interval (thread-safe).
  void on_sample(const std::string& spec, const LiveSample& sample);
  // Called when a spec has finished.
  void on_result(const probes::RunResult& result);

  // Writes every report, pushes to the gateway, lingers; returns the suite's exit
  // code (worsened to 3 when a report file cannot be written). `replace_only`: for a
  // suite refused before start(): only reports already there are written (replaced, or
  // appended to), so nothing stale is left and nothing new is made.
  int finish(reports::SuiteResult suite, bool replace_only = false);

  // Right after start(): writes every report file (not standard output, a pipe, or
  // $GITHUB_STEP_SUMMARY, which is appended to) with `pending`, the suite as it stands
  // should the harness end before finish() (SIGKILL, the OOM killer). A report
  // directory reused from a passing run kept that PASS for CI to upload when the next
  // harness was killed. A report that cannot be written now is left to finish() to say.
  void write_pending(reports::SuiteResult pending);

 private:
  // Writes `suite` to every report file; the exit code, worsened to 3 when one cannot
  // be written. `replace_only` and `files_only`: see finish() and write_pending().
  int write_reports(reports::SuiteResult& suite, bool replace_only, bool files_only);
  RunOutputs() = default;
  void publish_locked();
  void draw_progress(const std::string& spec, const LiveSample& sample);

  OutputOptions options_;
  std::chrono::nanoseconds linger_{0};
  std::map<std::string, std::string> push_labels_;  // --push-label, validated
  std::unique_ptr<reports::MetricsServer> server_;
  std::mutex mu_;
  std::vector<reports::RunMetricsSnapshot> finished_;
  std::optional<reports::RunMetricsSnapshot> live_;
  bool tty_ = false;
  bool reports_to_stdout_ = false;
  std::chrono::steady_clock::time_point last_plain_line_{};
  bool drew_line_ = false;
};

}  // namespace shmcheck::harness
