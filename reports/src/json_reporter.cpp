// JSON: the machine-readable record of a suite. One document:
// {"format": "shmcheck-suite", "format_version": 1, "name", "verdict", "exit_code",
//  "started_at", "total_s", "hostname", "runs": [<RunResult JSON, probes/run_result.hpp>]}
#include <ostream>

#include "shmcheck/reports/reporter.hpp"

namespace shmcheck::reports {
namespace {

class JsonReporter final : public Reporter {
 public:
  [[nodiscard]] std::string_view format() const override { return "json"; }
  [[nodiscard]] std::string_view file_name() const override { return "shmcheck.json"; }
  // Streamed run by run (probes::write_json): a long soak's runs hold thousands of
  // crashes and timeline events, and their document would cost ~5x the runs themselves.
  // The bytes are those of the whole document dumped with an indent of 2.
  void write(const SuiteResult& suite, std::ostream& out) const override {
    const nlohmann::json head = {
        {"format", "shmcheck-suite"},
        {"format_version", 1},
        {"name", suite.name},
        {"verdict", suite_verdict(suite)},
        {"exit_code", suite.exit_code},
        {"started_at", suite.started_at},
        {"total_s", suite.total_s},
        {"hostname", suite.hostname},
        {"runs", nullptr},  // its place among the sorted keys; streamed below
    };
    out << '{';
    for (auto it = head.begin(); it != head.end(); ++it) {
      out << (it == head.begin() ? "\n  " : ",\n  ") << nlohmann::json(it.key()).dump() << ": ";
      if (it.key() == "runs") {
        probes::write_json(out, suite.runs, 1);
      } else {
        probes::write_pretty_json(out, it.value(), 1);
      }
    }
    out << "\n}\n";
  }
};

}  // namespace

std::unique_ptr<Reporter> make_json_reporter() { return std::make_unique<JsonReporter>(); }

}  // namespace shmcheck::reports
