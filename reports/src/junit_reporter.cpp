// JUnit XML, valid against the Jenkins JUnit schema (junit-10.xsd) and read by
// GitLab and GitHub reporters: one <testsuite> per spec; one <testcase> per
// expectation, per unexpected worker death and per stall; a run that could not
// be carried out at all (bad spec, environment) is one <testcase> with <error>.
// The seed and the command that reproduces the run are properties and system-out.
#include <algorithm>
#include <array>
#include <cstdio>
#include <ostream>

#include "shmcheck/reports/reporter.hpp"
#include "shmcheck/reports/xml.hpp"

namespace shmcheck::reports {
namespace {

std::string seconds_attr(double s) {
  std::array<char, 32> buf{};
  std::snprintf(buf.data(), buf.size(), "%.3f", s < 0 ? 0.0 : s);
  return buf.data();
}

struct Case {
  std::string name;
  std::string kind;  // "", "failure", "error"
  std::string type;
  std::string message;
  std::string body;
};

std::string describe_process(const probes::WorkerOutcome& w, const probes::ProcessOutcome& p) {
  std::string out = w.role + "[" + std::to_string(w.index) + "] incarnation " +
                    std::to_string(p.incarnation) + " (pid " + std::to_string(p.pid) + ") ";
  if (p.signal)
    out += "was killed by signal " + std::to_string(*p.signal);
  else if (p.exit_code)
    out += "exited with " + std::to_string(*p.exit_code);
  out += "; cause: " + std::string(probes::to_string(p.cause));
  if (!p.op.empty() && p.op != "none")
    out += "; in flight: " + p.op + " #" + std::to_string(p.op_seq);
  return out;
}

std::vector<Case> cases_of(const probes::RunResult& run) {
  std::vector<Case> cases;
  if (run.verdict == probes::RunVerdict::kError) {
    cases.push_back({"run", "error", "run_error",
                     run.error.empty() ? "the run could not be carried out" : run.error,
                     "exit code " + std::to_string(run.exit_code)});
  }
  for (const auto& e : run.expectations) {
    Case c{"expect " + e.name, "", "", "", ""};
    if (!e.pass) {
      c.kind = "failure";
      c.type = "expectation";
      c.message = "expected " + e.name + " " + e.expected + ", got " + e.actual;
      c.body = c.message + "\nreproduce: " + run.repro;
    }
    cases.push_back(std::move(c));
  }
  for (const auto& w : run.workers) {
    for (const auto& p : w.processes) {
      if (!probes::is_unexpected(p.cause)) continue;
      cases.push_back({"worker " + w.role + "[" + std::to_string(w.index) + "] incarnation " +
                           std::to_string(p.incarnation),
                       "failure", std::string(probes::to_string(p.cause)), describe_process(w, p),
                       describe_process(w, p) + "\nreproduce: " + run.repro});
    }
  }
  // A stall the spec expects (`stalled: N`, met) is the finding it asked for: a passing
  // case. It was a failure, and a CI system failed a job shmcheck had passed (exit 0).
  const bool stalls_expected = std::ranges::any_of(
      run.expectations, [](const auto& e) { return e.name == "stalled" && e.pass; });
  for (std::size_t i = 0; i < run.stalls.size(); ++i) {
    const auto& s = run.stalls[i];
    std::string body = s.description;
    for (const auto& w : s.workers) body += "\n  " + w;
    if (stalls_expected) {
      cases.push_back({"stall " + std::to_string(i + 1) + " (expected)", "", "", "", ""});
    } else {
      cases.push_back(
          {"stall " + std::to_string(i + 1), "failure", "stalled", s.description, body});
    }
  }
  return cases;
}

class JunitReporter final : public Reporter {
 public:
  [[nodiscard]] std::string_view format() const override { return "junit"; }
  [[nodiscard]] std::string_view file_name() const override { return "junit.xml"; }

  void write(const SuiteResult& suite, std::ostream& out) const override {
    std::size_t tests = 0;
    std::size_t failures = 0;
    std::size_t errors = 0;
    std::vector<std::vector<Case>> per_run;
    for (const auto& run : suite.runs) {
      per_run.push_back(cases_of(run));
      for (const auto& c : per_run.back()) {
        ++tests;
        failures += c.kind == "failure" ? 1 : 0;
        errors += c.kind == "error" ? 1 : 0;
      }
    }
    out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    out << "<testsuites name=\"" << xml_escape(suite.name) << "\" tests=\"" << tests
        << "\" failures=\"" << failures << "\" errors=\"" << errors << "\" time=\""
        << seconds_attr(suite.total_s) << "\">\n";
    for (std::size_t i = 0; i < suite.runs.size(); ++i) {
      write_suite(suite, suite.runs[i], per_run[i], i, out);
    }
    out << "</testsuites>\n";
  }

 private:
  static void write_suite(const SuiteResult& suite, const probes::RunResult& run,
                          const std::vector<Case>& cases, std::size_t id, std::ostream& out) {
    std::size_t failures = 0;
    std::size_t errors = 0;
    for (const auto& c : cases) {
      failures += c.kind == "failure" ? 1 : 0;
      errors += c.kind == "error" ? 1 : 0;
    }
    const std::string classname = "shmcheck." + run.spec_name;
    out << "  <testsuite name=\"" << xml_escape(run.spec_name) << "\" tests=\"" << cases.size()
        << "\" failures=\"" << failures << "\" errors=\"" << errors << "\" skipped=\"0\" time=\""
        << seconds_attr(run.durations.total_s) << "\" timestamp=\"" << xml_escape(run.started_at)
        << "\" hostname=\"" << xml_escape(suite.hostname) << "\" id=\"" << id
        << "\" package=\"shmcheck\" file=\"" << xml_escape(run.spec_file) << "\">\n";
    out << "    <properties>\n";
    const auto prop = [&](const std::string& name, const std::string& value) {
      out << "      <property name=\"" << xml_escape(name) << "\" value=\"" << xml_escape(value)
          << "\"/>\n";
    };
    if (run.started()) {  // a spec that never ran has no seed and no run
      prop("seed", std::to_string(run.seed));
      prop("run_id", run.run_id);
    }
    prop("repro", run.repro);
    prop("spec_file", run.spec_file);
    prop("verdict", std::string(probes::to_string(run.verdict)));
    prop("exit_code", std::to_string(run.exit_code));
    prop("faults_scheduled", std::to_string(run.fault_schedule.size()));
    if (!run.ended_early.empty()) prop("ended_early", run.ended_early);
    out << "    </properties>\n";
    for (const auto& c : cases) {
      out << "    <testcase name=\"" << xml_escape(c.name) << "\" classname=\""
          << xml_escape(classname) << "\" time=\"0\"";
      if (c.kind.empty()) {
        out << "/>\n";
        continue;
      }
      out << ">\n      <" << c.kind << " type=\"" << xml_escape(c.type) << "\" message=\""
          << xml_escape(c.message) << "\">" << xml_escape(c.body) << "</" << c.kind << ">\n";
      out << "    </testcase>\n";
    }
    std::string system_out = "spec: " + run.spec_file + "\n" +
                             (run.started() ? "seed: " + std::to_string(run.seed) + "\n" : "") +
                             "reproduce: " + run.repro + "\n" +
                             (run.started() ? "fault schedule:\n" : "");
    for_each_capped(
        run.fault_schedule.size(), kReportEdgeRows,
        [&](std::size_t i) {
          const auto& f = run.fault_schedule[i];
          system_out += "  " + f.kind + " " + f.role + "[" + std::to_string(f.index) + "]";
          if (!f.failpoint.empty())
            system_out += " at " + f.failpoint + " #" + std::to_string(f.occurrence);
          if (f.at_s) system_out += " at t=" + seconds_attr(*f.at_s) + "s";
          if (f.restart) system_out += " (restart)";
          system_out += ": " + describe_outcome(f) + "\n";
        },
        [&](std::size_t skipped) {
          system_out += "  ... " + std::to_string(skipped) + " more (the JSON report has all " +
                        std::to_string(run.fault_schedule.size()) + ")\n";
        });
    out << "    <system-out>" << xml_escape(system_out) << "</system-out>\n";
    out << "  </testsuite>\n";
  }
};

}  // namespace

std::unique_ptr<Reporter> make_junit_reporter() { return std::make_unique<JunitReporter>(); }

}  // namespace shmcheck::reports
