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
  void write(const SuiteResult& suite, std::ostream& out) const override {
    nlohmann::json doc = {
        {"format", "shmcheck-suite"},
        {"format_version", 1},
        {"name", suite.name},
        {"verdict", suite_verdict(suite)},
        {"exit_code", suite.exit_code},
        {"started_at", suite.started_at},
        {"total_s", suite.total_s},
        {"hostname", suite.hostname},
        {"runs", nlohmann::json::array()},
    };
    for (const auto& run : suite.runs) doc["runs"].push_back(probes::to_json(run));
    // Replace invalid UTF-8 from worker output instead of throwing mid-report.
    out << doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  }
};

}  // namespace

std::unique_ptr<Reporter> make_json_reporter() { return std::make_unique<JsonReporter>(); }

}  // namespace shmcheck::reports
