// Markdown summary for people reading CI (GITHUB_STEP_SUMMARY): one table row per
// spec, then what failed and how to reproduce it.
#include <algorithm>
#include <ostream>
#include <sstream>

#include "shmcheck/core/printable.hpp"
#include "shmcheck/reports/reporter.hpp"

namespace shmcheck::reports {
namespace {

// Pipes and newlines would break a table cell; markup would be rendered as HTML, and
// backticks as code. Control bytes and bytes that are not UTF-8 (a refused spec's file
// name) are written as \xNN first, as on the console (core::printable, which leaves
// text it made, such as a spec error's message, as it is).
std::string cell(std::string_view raw) {
  const std::string text = core::printable(raw);
  std::string out;
  for (const char c : text) {
    if (c == '|')
      out += "\\|";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '&')
      out += "&amp;";
    else if (c == '`')
      out += "\\`";  // else the text up to the next one is rendered as code
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out.push_back(c);
  }
  return out;
}

std::string verdict_word(probes::RunVerdict v) {
  switch (v) {
    case probes::RunVerdict::kPass:
      return "PASS";
    case probes::RunVerdict::kFail:
      return "FAIL";
    case probes::RunVerdict::kError:
      return "ERROR";
  }
  return "ERROR";
}

// The schedule's fired faults, as the metrics count them: a run cut short by a signal
// has no workers' outcomes, and its row said 0 faults beside 3 fired.
std::uint64_t injected_faults(const probes::RunResult& run) {
  return static_cast<std::uint64_t>(std::ranges::count(
      run.fault_schedule, probes::FaultStatus::kFired, &probes::ScheduledFault::status));
}

class MarkdownReporter final : public Reporter {
 public:
  [[nodiscard]] std::string_view format() const override { return "markdown"; }
  [[nodiscard]] std::string_view file_name() const override { return "summary.md"; }

  void write(const SuiteResult& suite, std::ostream& out) const override {
    std::size_t passed = 0;
    for (const auto& r : suite.runs) passed += r.verdict == probes::RunVerdict::kPass ? 1 : 0;
    out << "## shmcheck: "
        << (suite.exit_code == 0   ? "PASS"
            : suite.exit_code == 1 ? "FAIL"
                                   : "ERROR")
        << " (" << passed << " of " << suite.runs.size() << " specs passed, exit code "
        << suite.exit_code << ")\n\n";
    out << "| spec | verdict | seed | throughput | p99 latency | faults | lost | duplicated | torn "
           "| "
           "leaked |\n";
    out << "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
    for (const auto& run : suite.runs) {
      probes::HistogramSnapshot latency;
      for (const auto& r : run.roles) latency.merge(r.stats.latency);
      // As the `throughput` expectation counts: a message pushed and popped is one.
      const double rate =
          run.durations.run_s > 0
              ? static_cast<double>(probes::throughput_ops(run)) / run.durations.run_s
              : 0;
      const auto& ic = run.integrity;
      const auto count = [&](std::uint64_t probes::IntegrityCounts::*field) {
        return ic ? std::to_string(ic->counts.*field) : std::string("-");
      };
      // A spec that never ran has no figures: "-", not zeros.
      const auto ran = [&](const auto& value) {
        std::ostringstream text;
        if (run.started()) {
          text << value;
        } else {
          text << "-";
        }
        return text.str();
      };
      out << "| " << cell(run.spec_name) << " | " << verdict_word(run.verdict) << " | "
          << ran(run.seed) << " | " << ran(format_rate(rate)) << " | "
          << (latency.count > 0 ? format_seconds(latency.quantile_seconds(0.99)) : "-") << " | "
          << ran(injected_faults(run)) << " | " << count(&probes::IntegrityCounts::lost) << " | "
          << count(&probes::IntegrityCounts::duplicated) << " | "
          << count(&probes::IntegrityCounts::torn) << " | " << ran(run.leaks.leaked_objects)
          << " |\n";
    }
    for (const auto& run : suite.runs) {
      if (run.verdict == probes::RunVerdict::kPass && !run.ended_early.empty()) {
        out << "\n" << cell(run.spec_name) << " ended early: " << cell(run.ended_early) << "\n";
      }
    }
    for (const auto& run : suite.runs) {
      if (run.verdict == probes::RunVerdict::kPass) continue;
      out << "\n### " << cell(run.spec_name) << ": " << verdict_word(run.verdict) << "\n\n";
      if (!run.error.empty()) out << "- error: " << cell(run.error) << "\n";
      if (!run.ended_early.empty()) out << "- ended early: " << cell(run.ended_early) << "\n";
      for (const auto& e : run.expectations) {
        if (e.pass) continue;
        out << "- `" << cell(e.name) << "`: expected " << cell(e.expected) << ", got "
            << cell(e.actual) << "\n";
      }
      for (const auto& w : run.workers) {
        for (const auto& p : w.processes) {
          if (!probes::is_unexpected(p.cause)) continue;
          out << "- worker " << cell(w.role) << "[" << w.index << "] incarnation " << p.incarnation
              << ": " << probes::to_string(p.cause) << "\n";
        }
      }
      for (const auto& s : run.stalls) out << "- stall: " << cell(s.description) << "\n";
      if (!run.repro.empty()) out << "\nReproduce:\n\n```sh\n" << run.repro << "\n```\n";
    }
    return;
  }
};

}  // namespace

std::unique_ptr<Reporter> make_markdown_reporter() { return std::make_unique<MarkdownReporter>(); }

}  // namespace shmcheck::reports
