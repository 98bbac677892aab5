#include "shmcheck/harness/run_outputs.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string_view>
#include <thread>
#include <vector>

#include "shmcheck/core/printable.hpp"
#include "shmcheck/harness/cli.hpp"
#include "shmcheck/harness/spec_loader.hpp"
#include "shmcheck/harness/supervisor.hpp"

namespace shmcheck::harness {
namespace {

constexpr auto kPlainLineEvery = std::chrono::seconds(5);

std::uint64_t total_ops(const std::vector<probes::RoleStats>& roles) {
  std::uint64_t n = 0;
  for (const auto& r : roles) n += r.stats.total_ops();
  return n;
}

std::uint64_t sum(const std::map<std::string, std::uint64_t>& m) {
  std::uint64_t n = 0;
  for (const auto& [k, v] : m) n += v;
  return n;
}

// `dir` absolute, without "." or ".." steps or a trailing '/', so that walking up its
// parents meets each directory once ("" when there is no current directory).
std::filesystem::path absolute_dir(const std::string& dir) {
  std::error_code ec;
  auto p = std::filesystem::absolute(dir, ec).lexically_normal();
  if (ec) return {};
  if (!p.has_filename() && p.has_relative_path()) p = p.parent_path();
  return p;
}

// True when a and b name one file: the same path once symbolic links and "." / ".."
// are resolved, or (existing) the same device and inode ("/dev/stdout" and the file
// standard output was redirected to, a hard link).
// Where writing `path` lands: absolute, symlinks followed, also one whose target does
// not exist yet (weakly_canonical leaves a dangling link, and a relative path that does
// not exist, as it is: "a.json" and "./a.json" compared unequal).
std::filesystem::path landing(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path p = fs::absolute(path, ec);
  for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {
    const fs::path target = fs::read_symlink(p, ec);
    if (ec) break;
    p = target.is_absolute() ? target : p.parent_path() / target;
  }
  const auto canonical = fs::weakly_canonical(p, ec);
  return ec ? p.lexically_normal() : canonical;
}

bool same_file(const std::string& a, const std::string& b) {
  if (landing(a) == landing(b)) return true;
  struct stat sa {};
  struct stat sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

// Removes what make_report_dir created: `dir` and its parents up to `outermost`, each
// only while empty (rmdir), so nothing written there meanwhile is lost.
void unmake_report_dir(const std::string& dir, const std::filesystem::path& outermost) {
  namespace fs = std::filesystem;
  if (outermost.empty()) return;
  std::error_code ec;
  for (fs::path p = absolute_dir(dir); !p.empty(); p = p.parent_path()) {
    if (!fs::remove(p, ec) || p == outermost || p == p.parent_path()) break;
  }
}

// Creates `dir` and its missing parents and checks that a report can be written in it.
// Returns the outermost directory it created ("" when `dir` was there); on an error
// it leaves nothing it created.
core::Result<std::filesystem::path> make_report_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path outermost;
  for (fs::path p = absolute_dir(dir); !p.empty() && !fs::exists(p, ec); p = p.parent_path()) {
    outermost = p;
    if (p == p.parent_path()) break;
  }
  fs::create_directories(dir, ec);
  if (ec) {
    unmake_report_dir(dir, outermost);
    return core::make_error(core::error_code_from_errno(ec.value()), "--report-dir", dir,
                            ec.value());
  }
  const auto probe = fs::path(dir) / "shmcheck.json";
  if (auto ok = reports::check_output_file(probe.string()); !ok) {
    unmake_report_dir(dir, outermost);
    return core::make_error(ok.error().code, "--report-dir", probe.string(), ok.error().sys_errno);
  }
  return outermost;
}

// Whether `path` can be appended to: an existing file (not a directory) we may write,
// or one write_output_file could create.
core::Result<void> check_appendable(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return reports::check_output_file(path);
  if (S_ISDIR(st.st_mode))
    return core::make_error(core::error_code_from_errno(EISDIR), "open", path, EISDIR);
  if (::access(path.c_str(), W_OK) != 0) {
    const int err = errno;
    return core::make_error(core::error_code_from_errno(err), "open", path, err);
  }
  return {};
}

// --push-label NAME=VALUE: Prometheus label names ([a-zA-Z_][a-zA-Z0-9_]*, not "__"
// reserved), each once, neither a grouping label shmcheck sets itself nor a label of its
// series. The value is any UTF-8, empty too (the push sends it base64url-encoded where
// it must).
core::Result<std::map<std::string, std::string>> parse_push_labels(
    const std::vector<std::string>& given) {
  std::map<std::string, std::string> labels;
  for (const auto& item : given) {
    const auto bad = [&](const std::string& why) {
      return core::make_error(core::ErrorCode::kInvalidArgument, "--push-label",
                              "'" + item + "': " + why);
    };
    const auto eq = item.find('=');
    if (eq == std::string::npos) return bad("expected NAME=VALUE");
    const std::string name = item.substr(0, eq);
    const auto name_char = [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
    };
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])) != 0 ||
        !std::ranges::all_of(name, name_char)) {
      return bad("a label name is letters, digits and '_', not starting with a digit");
    }
    if (name.starts_with("__")) return bad("label names starting with '__' are reserved");
    if (name == "job" || name == "spec" || name == "suite") {
      return bad("'" + name + "' is set by shmcheck (job by --push-job; spec, or suite, by " +
                 "the run)");
    }
    // The gateway sets a grouping label on every series pushed, over the series' own.
    if (std::ranges::find(reports::run_metric_label_names(), name) !=
        reports::run_metric_label_names().end()) {
      return bad("'" + name + "' is a label of shmcheck's metrics, which the gateway would " +
                 "overwrite in every series");
    }
    const std::string value = item.substr(eq + 1);
    for (std::size_t i = 0; i < value.size();) {
      const auto n = core::utf8_sequence_length(value, i);
      if (n == 0) return bad("the value is not UTF-8 (Prometheus label values are)");
      i += n;
    }
    if (!labels.emplace(name, value).second) return bad("'" + name + "' given twice");
  }
  return labels;
}

}  // namespace

std::string iso_utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void add_output_options(CLI::App& cmd, OutputOptions& o) {
  // An empty path (a CI script's unset $OUT) wrote nothing and said nothing.
  const auto path = non_empty_path();
  cmd.add_option("--json", o.json, "Write the results as JSON to FILE ('-': standard output)")
      ->check(path);
  cmd.add_option("--junit", o.junit, "Write JUnit XML to FILE (one testsuite per spec)")
      ->check(path);
  cmd.add_option("--html", o.html, "Write a self-contained HTML report to FILE")->check(path);
  cmd.add_option("--summary", o.summary,
                 "Write a Markdown summary to FILE (also appended to $GITHUB_STEP_SUMMARY when "
                 "set)")
      ->check(path);
  cmd.add_option("--report-dir", o.report_dir,
                 "Write every report into DIR: shmcheck.json, junit.xml, report.html, summary.md")
      ->check(path);
  auto* listen = cmd.add_option(
      "--metrics-listen", o.metrics_listen,
      "Serve Prometheus /metrics on HOST:PORT while the run goes (port 0 picks one)");
  listen->check(non_empty_value());
  // Without what they modify they would do nothing, silently: a usage error instead.
  cmd.add_option("--linger", o.linger, "Keep /metrics up this long after the run (e.g. 5s)")
      ->needs(listen)
      ->check(non_empty_value());
  auto* gateway = cmd.add_option("--push-gateway", o.push_gateway,
                                 "Push the final metrics to this Pushgateway URL");
  gateway->check(non_empty_value());
  cmd.add_option("--push-job", o.push_job, "Job name for --push-gateway (default: shmcheck)")
      ->needs(gateway)
      ->check(non_empty_value());
  cmd.add_option("--push-label", o.push_labels,
                 "Add NAME=VALUE to the push's grouping key, e.g. instance=$(hostname) "
                 "(repeatable): runners pushing the same specs keep a group each")
      ->needs(gateway)
      ->allow_extra_args(false);
  cmd.add_flag("-q,--quiet", o.quiet, "No progress line");
}

core::Result<std::unique_ptr<RunOutputs>> RunOutputs::open(const OutputOptions& options) {
  std::unique_ptr<RunOutputs> out(new RunOutputs());
  out->options_ = options;
  // A report file of '-' is standard output; a report there (same device and inode as
  // descriptor 1) sends the summary lines to stderr.
  struct stat out_st {};
  const bool have_stdout = ::fstat(STDOUT_FILENO, &out_st) == 0;
  for (auto* path :
       {&out->options_.json, &out->options_.junit, &out->options_.html, &out->options_.summary}) {
    if (*path == "-") *path = "/dev/stdout";
    struct stat st {};
    if (have_stdout && !path->empty() && ::stat(path->c_str(), &st) == 0 &&
        st.st_dev == out_st.st_dev && st.st_ino == out_st.st_ino) {
      out->reports_to_stdout_ = true;
    }
  }
  // A report to a standard output that was closed went to the /dev/null kept in its
  // place, and the run said nothing.
  if (out->reports_to_stdout_ && stdout_was_closed()) {
    return core::make_error(core::error_code_from_errno(EBADF), "report",
                            "standard output (-), closed when shmcheck started", EBADF);
  }
  // The report directory first, made and checked, then taken away again when open()
  // returns: a bad spec or flag found later must not leave an empty report directory
  // behind; start() makes it for good. Meanwhile a report file named inside it checks
  // as it will be written (`--report-dir out --junit out/j.xml` with out missing was
  // refused: "cannot create a file in out").
  struct MadeForNow {
    std::string dir;
    std::filesystem::path outermost;
    MadeForNow() = default;
    MadeForNow(const MadeForNow&) = delete;
    MadeForNow& operator=(const MadeForNow&) = delete;
    ~MadeForNow() { unmake_report_dir(dir, outermost); }
  } report_dir;
  if (!options.report_dir.empty()) {
    // "a/b/../c" is a/c: what make_report_dir creates is what unmake_report_dir walks.
    auto& dir = out->options_.report_dir;
    dir = std::filesystem::path(dir).lexically_normal().string();
    auto made = make_report_dir(dir);
    if (!made) return std::move(made).error();
    report_dir.dir = dir;
    report_dir.outermost = *made;
  }
  // A report that cannot be written fails the command now, not after the run.
  struct File {
    const char* flag;  // a literal: an error's call
    std::string_view format;
    const std::string* path;
  };
  const File files[] = {{"--json", "json", &out->options_.json},
                        {"--junit", "junit", &out->options_.junit},
                        {"--html", "html", &out->options_.html},
                        {"--summary", "markdown", &out->options_.summary}};
  for (const auto& [flag, format, path] : files) {
    if (path->empty()) continue;
    if (auto ok = reports::check_output_file(*path); !ok) {
      return core::make_error(ok.error().code, flag, ok.error().detail, ok.error().sys_errno);
    }
  }
  // $GITHUB_STEP_SUMMARY is appended to after the run: a path that cannot take it was
  // found only then, and turned a passing run into exit 3.
  if (const char* step = std::getenv("GITHUB_STEP_SUMMARY");  // NOLINT(concurrency-mt-unsafe)
      step != nullptr && *step != '\0') {
    if (auto ok = check_appendable(step); !ok) {
      return core::make_error(ok.error().code, "$GITHUB_STEP_SUMMARY", ok.error().detail,
                              ok.error().sys_errno);
    }
  }
  // Two reports of different formats into one file: the later replaced the earlier
  // (`--json r --junit r` left only the XML; `--json - --junit -` mixed both on stdout),
  // and nothing said so. The same format twice (--report-dir's shmcheck.json and --json
  // naming it) writes the same bytes: allowed.
  struct Target {
    const char* flag;
    std::string_view format;
    std::string path;
  };
  std::vector<Target> targets;
  for (const auto& [flag, format, path] : files) {
    if (!path->empty()) targets.push_back({flag, format, *path});
  }
  const auto reporters = reports::all_reporters();
  if (!out->options_.report_dir.empty()) {
    for (const auto& r : reporters) {
      targets.push_back(
          {"--report-dir", r->format(),
           (std::filesystem::path(out->options_.report_dir) / r->file_name()).string()});
    }
  }
  for (std::size_t j = 0; j < targets.size(); ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      if (targets[i].format == targets[j].format || !same_file(targets[i].path, targets[j].path)) {
        continue;
      }
      return core::make_error(core::ErrorCode::kInvalidArgument, targets[j].flag,
                              targets[j].path + ": " + targets[i].flag + " writes its " +
                                  std::string(targets[i].format) +
                                  " report there; each report needs a file of its own");
    }
  }
  // Nor over a spec of the run (`--json spec.yaml` replaced the spec with its report),
  // nor where $GITHUB_STEP_SUMMARY is appended to after the run: the same file as
  // --summary got the summary twice, its earlier content gone; as --json, a JSON
  // document with Markdown after it.
  for (const auto& target : targets) {
    for (const auto& input : options.inputs) {
      if (!same_file(target.path, input)) continue;
      return core::make_error(core::ErrorCode::kInvalidArgument, target.flag,
                              target.path + ": a spec of this run" +
                                  (input == target.path ? "" : " (" + input + ")") +
                                  "; a report written there would replace it");
    }
    if (const char* step = std::getenv("GITHUB_STEP_SUMMARY");  // NOLINT(concurrency-mt-unsafe)
        step != nullptr && *step != '\0' && same_file(target.path, step)) {
      const bool summary = target.format == "markdown";
      return core::make_error(
          core::ErrorCode::kInvalidArgument, target.flag,
          target.path +
              ": $GITHUB_STEP_SUMMARY names it, and the run appends its summary there "
              "by itself; " +
              (summary ? "drop --summary (writing the file too replaced what the job's earlier "
                         "steps put there)"
                       : "each report needs a file of its own"));
    }
  }
  auto linger = parse_duration(options.linger);
  if (!linger) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "--linger",
                            "not a duration: '" + options.linger + "' (e.g. 5s, 500ms)");
  }
  out->linger_ = *linger;
  if (!options.push_gateway.empty()) {
    if (auto url = reports::parse_gateway_url(options.push_gateway); !url)
      return std::move(url).error();
    // The job is a path segment of the push's URL (/metrics/job/<job>/...): a '/' or
    // '?' in it was found only after the run, as the gateway's HTTP 400, and "." and
    // "..", path steps, as 400 and 404.
    if (!reports::plain_path_segment(options.push_job)) {
      const bool step = options.push_job == "." || options.push_job == "..";
      return core::make_error(core::ErrorCode::kInvalidArgument, "--push-job",
                              "'" + options.push_job + "': " +
                                  (step ? "a job name cannot be '.' or '..'"
                                        : "a job name is letters, digits, '_', '-', '.' and ':'"));
    }
    auto labels = parse_push_labels(options.push_labels);
    if (!labels) return std::move(labels).error();
    out->push_labels_ = std::move(*labels);
  }
  if (!options.metrics_listen.empty()) {
    if (auto ok = reports::MetricsServer::check_address(options.metrics_listen); !ok) {
      return std::move(ok).error();
    }
  }
  out->tty_ = !options.quiet && ::isatty(STDERR_FILENO) == 1;
  return out;
}

core::Result<void> RunOutputs::start() {
  if (!options_.metrics_listen.empty()) {
    auto server = reports::MetricsServer::listen(options_.metrics_listen);
    if (!server) return std::move(server).error();
    server_ = std::move(*server);
  }
  if (!options_.report_dir.empty()) {
    if (auto made = make_report_dir(options_.report_dir); !made) {
      server_.reset();
      return std::move(made).error();
    }
  }
  if (server_) {
    std::fprintf(stderr, "shmcheck: serving metrics on http://%s:%d/metrics\n",
                 options_.metrics_listen.substr(0, options_.metrics_listen.rfind(':')).c_str(),
                 server_->port());
  }
  return {};
}

void RunOutputs::publish_locked() {
  if (!server_) return;
  auto all = finished_;
  if (live_) all.push_back(*live_);
  server_->publish(reports::run_metric_families(all));
}

void RunOutputs::on_sample(const std::string& spec, const LiveSample& sample) {
  std::lock_guard lock(mu_);
  reports::RunMetricsSnapshot snap;
  snap.spec = spec;
  snap.roles = sample.roles;
  snap.rings = sample.rings;
  snap.workers = sample.workers;
  snap.faults = sample.faults;
  snap.progress_ratio = sample.progress_ratio;
  snap.elapsed_s = sample.elapsed_s;
  live_ = std::move(snap);
  publish_locked();
  if (!options_.quiet) draw_progress(spec, sample);
}

void RunOutputs::draw_progress(const std::string& spec, const LiveSample& s) {
  const double rate = s.elapsed_s > 0 ? static_cast<double>(total_ops(s.roles)) / s.elapsed_s : 0;
  char line[256];
  if (s.planned_s > 0) {
    std::snprintf(line, sizeof line, "%s: %.1f/%.1f s  %s  faults %llu  recovered %llu",
                  spec.c_str(), s.elapsed_s, s.planned_s, reports::format_rate(rate).c_str(),
                  static_cast<unsigned long long>(sum(s.faults)),
                  static_cast<unsigned long long>(s.crash_effects));
  } else {
    std::snprintf(line, sizeof line, "%s: %.1f s (%.0f%%)  %s  faults %llu  recovered %llu",
                  spec.c_str(), s.elapsed_s, 100 * s.progress_ratio,
                  reports::format_rate(rate).c_str(),
                  static_cast<unsigned long long>(sum(s.faults)),
                  static_cast<unsigned long long>(s.crash_effects));
  }
  if (tty_) {
    // Redrawn in place: carriage return, the line, clear to end of line.
    std::fprintf(stderr, "\r%s\033[K", line);
    drew_line_ = true;
  } else {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_plain_line_ < kPlainLineEvery) return;
    last_plain_line_ = now;
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

void RunOutputs::on_result(const probes::RunResult& result) {
  std::lock_guard lock(mu_);
  if (drew_line_) {
    std::fputs("\r\033[K", stderr);
    drew_line_ = false;
  }
  auto final = reports::snapshot_of(result);
  // A run cut short (a signal) was never checked, and its result holds no figures; its
  // last live sample does: the counters so far and how far it got. Its final /metrics
  // and push had no ops at all, and a progress of 1.
  if (!result.error.empty() && live_ && live_->spec == result.spec_name) {
    final.roles = live_->roles;
    final.rings = live_->rings;
    final.progress_ratio = live_->progress_ratio;
  }
  live_.reset();
  finished_.push_back(std::move(final));
  publish_locked();
}

int RunOutputs::write_reports(reports::SuiteResult& suite, bool replace_only, bool files_only) {
  suite.exit_code = reports::suite_exit_code(suite.runs);
  if (suite.started_at.empty()) suite.started_at = iso_utc_now();
  if (suite.hostname.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    suite.hostname = host;
  }
  int code = suite.exit_code;
  const auto write = [&](const reports::Reporter& r, const std::string& path, bool append = false) {
    if (path.empty()) return;
    std::error_code ec;
    if (replace_only && !std::filesystem::exists(path, ec)) return;
    if (files_only) {
      // A regular file, or one to be made; not one of this process's descriptors
      // (/dev/stdout, /dev/fd/3), even redirected to a file, nor a file that is standard
      // output: written through, never truncated, the final report would follow the
      // pending one there (two JSON or XML documents in one file).
      struct stat st {};
      if (append || reports::names_own_descriptor(path)) return;
      if (::stat(path.c_str(), &st) == 0 &&
          (!S_ISREG(st.st_mode) || same_file(path, "/dev/stdout"))) {
        return;
      }
      (void)reports::write_report_file(r, suite, path, false);
      return;
    }
    if (auto ok = reports::write_report_file(r, suite, path, append); !ok) {
      std::fprintf(stderr, "shmcheck run: cannot write %s report: %s\n",
                   std::string(r.format()).c_str(), ok.error().brief().c_str());
      // A passing run without its report is an environment error; a failed one keeps
      // its verdict (a CI that retries exit 3 would have retried a real failure).
      if (code == kExitPass) code = kExitEnvironment;
    }
  };
  const auto json = reports::make_json_reporter();
  const auto junit = reports::make_junit_reporter();
  const auto html = reports::make_html_reporter();
  const auto markdown = reports::make_markdown_reporter();
  write(*json, options_.json);
  write(*junit, options_.junit);
  write(*html, options_.html);
  write(*markdown, options_.summary);
  if (!options_.report_dir.empty()) {
    for (const auto& r : reports::all_reporters()) {
      write(*r, (std::filesystem::path(options_.report_dir) / r->file_name()).string());
    }
  }
  if (const char* step = std::getenv("GITHUB_STEP_SUMMARY");
      step != nullptr && *step != '\0') {  // NOLINT
    write(*markdown, step, /*append=*/true);
  }
  return code;
}

void RunOutputs::write_pending(reports::SuiteResult pending) {
  (void)write_reports(pending, /*replace_only=*/false, /*files_only=*/true);
}

int RunOutputs::finish(reports::SuiteResult suite, bool replace_only) {
  const int code = write_reports(suite, replace_only, /*files_only=*/false);
  std::vector<reports::RunMetricsSnapshot> final_metrics;
  {
    std::lock_guard lock(mu_);
    final_metrics = finished_;
  }
  if (!options_.push_gateway.empty()) {
    std::map<std::string, std::string> grouping = push_labels_;
    if (suite.runs.size() == 1)
      grouping["spec"] = suite.runs.front().spec_name;
    else
      grouping["suite"] = suite.name;
    auto pushed = reports::push_metrics(options_.push_gateway, options_.push_job, grouping,
                                        reports::run_metric_families(final_metrics));
    if (!pushed) {
      // The verdict is the run's, not the gateway's: report and carry on.
      std::fprintf(stderr, "shmcheck run: metrics not pushed: %s\n",
                   pushed.error().brief().c_str());
    } else if (!options_.quiet) {
      std::fprintf(stderr, "shmcheck: pushed metrics to %s (job %s)\n",
                   options_.push_gateway.c_str(), options_.push_job.c_str());
    }
  }
  // Until the linger is over, or a signal (Ctrl-C, SIGTERM) says to go: slept through
  // whole, a linger of minutes ignored both and only SIGKILL ended it. A signal during
  // the run skips it.
  if (server_ && linger_.count() > 0 && interrupt_signal() == 0) {
    if (!options_.quiet) {
      std::fprintf(stderr, "shmcheck: keeping /metrics up for %.1f s\n",
                   std::chrono::duration<double>(linger_).count());
    }
    const auto until = std::chrono::steady_clock::now() + linger_;
    while (interrupt_signal() == 0 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          until - std::chrono::steady_clock::now(), std::chrono::milliseconds(20)));
    }
    if (const int sig = interrupt_signal(); sig != 0 && !options_.quiet) {
      std::fprintf(stderr, "shmcheck: /metrics down early on signal %d\n", sig);
    }
  }
  return code;
}

}  // namespace shmcheck::harness
