// Prometheus metrics for runs and for the auditor, with prometheus-cpp.
//
// The harness (never a worker: workers only write stats blocks in shared memory)
// builds a RunMetricsSnapshot from the stats blocks it aggregates, turns it into
// metric families, and publishes them through one of:
//   MetricsServer  — /metrics on HOST:PORT while the run goes (port 0 picks one);
//   push_metrics() — PUT to a Pushgateway at the end of a short CI job;
//   write_textfile() — node_exporter's textfile collector format, atomically.
// Families are rebuilt from absolute values on every update (counters never go
// backwards because the stats blocks only grow), so a scrape always sees one
// consistent snapshot. Names follow Prometheus practice: prefix shmcheck_, base
// units, _total counters, no pid or object-name labels.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "shmcheck/core/result.hpp"
#include "shmcheck/probes/run_result.hpp"

namespace prometheus {
class Exposer;
}

namespace shmcheck::reports {

// One spec's live (or final) state, in the units the metrics use.
struct RunMetricsSnapshot {
  std::string spec;
  std::vector<probes::RoleStats> roles;             // cumulative, per role
  std::vector<probes::RingCounters> rings;          // the rings' own counters
  std::map<std::string, std::uint64_t> violations;  // kind -> count (lost, torn, ...)
  // kind -> messages a crash affected, explained and so not violations (recovered, ...)
  std::map<std::string, std::uint64_t> crash_effects;
  std::map<std::string, std::uint64_t> faults;   // kind -> injected (kill, pause, exit)
  std::map<std::string, std::uint64_t> workers;  // state -> workers (running, paused, exited)
  double progress_ratio = 0;                     // 0..1 of the planned duration/ops
  double elapsed_s = 0;
  std::optional<int> exit_code;  // set once the spec has finished
};

// The final state of a finished run, as metrics.
[[nodiscard]] RunMetricsSnapshot snapshot_of(const probes::RunResult& run);

[[nodiscard]] std::vector<prometheus::MetricFamily> run_metric_families(
    const std::vector<RunMetricsSnapshot>& runs);

// Every label name run_metric_families() puts on a series, histograms' "le" included.
// The Pushgateway sets a grouping label on every series it is pushed with, over one of
// the same name: a push grouped by one of these would merge (HTTP 400) or mislabel
// series, so --push-label refuses them.
[[nodiscard]] const std::vector<std::string>& run_metric_label_names();

// Text exposition format 0.0.4.
[[nodiscard]] std::string to_text(const std::vector<prometheus::MetricFamily>& families);

// Holds the latest families; a scrape copies them under a mutex.
class MetricsCollector final : public prometheus::Collectable {
 public:
  void publish(std::vector<prometheus::MetricFamily> families);
  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  mutable std::mutex mu_;
  std::vector<prometheus::MetricFamily> families_;
};

// /metrics on HOST:PORT (e.g. "127.0.0.1:0"). Errors: kInvalidArgument for an address
// that cannot be served (bad form, a host that does not resolve or is not of this
// machine, IPv6 with the HTTP server this build links); kExists when the port is taken
// (errno EADDRINUSE) or cannot be bound otherwise.
class MetricsServer {
 public:
  static core::Result<std::unique_ptr<MetricsServer>> listen(const std::string& host_port);
  // listen's checks of the address, holding nothing: its form, IPv6 support, that the
  // host resolves to an IPv4 address this machine can bind (port 0 is bound for that,
  // and closed). kInvalidArgument when one fails.
  static core::Result<void> check_address(const std::string& host_port);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  [[nodiscard]] int port() const noexcept { return port_; }
  void publish(std::vector<prometheus::MetricFamily> families) {
    collector_->publish(std::move(families));
  }
  // Serves another collectable beside the published families (e.g. the auditor's).
  void register_collectable(const std::shared_ptr<prometheus::Collectable>& collectable);
  // Number of /metrics scrapes answered so far.
  [[nodiscard]] std::uint64_t scrapes() const noexcept;

 private:
  MetricsServer() = default;
  std::shared_ptr<MetricsCollector> collector_;
  std::vector<std::shared_ptr<prometheus::Collectable>> extra_;  // kept alive while served
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
  std::uint32_t wake_address_ = 0;  // IPv4, network order: where ~MetricsServer connects
};

// Parses "http://HOST:PORT[/]" (https too). kInvalidArgument otherwise.
struct GatewayAddress {
  std::string scheme_host;  // "http://127.0.0.1"
  std::string port;         // "9091"
};
[[nodiscard]] core::Result<GatewayAddress> parse_gateway_url(const std::string& url);

// Pushes (PUT: replaces the group) to job=<job> grouped by `grouping` labels.
// A grouping value that is not a plain URL path segment (letters, digits, '_', '-',
// '.', ':'; not empty, '.' or '..') goes as the gateway's base64url form
// (/<name>@base64/<value>), so any value arrives as given.
// Gives up after `deadline`. kTimedOut / kNotFound (unreachable) / kOther (HTTP
// status in the detail) on failure.
[[nodiscard]] core::Result<void> push_metrics(
    const std::string& url, const std::string& job,
    const std::map<std::string, std::string>& grouping,
    std::vector<prometheus::MetricFamily> families,
    std::chrono::milliseconds deadline = std::chrono::seconds(10));

// Whether `value` goes into a push's URL path as it is: letters, digits, '_', '-', '.'
// and ':', and not empty, "." or ".." (path steps). The job must be one.
[[nodiscard]] bool plain_path_segment(const std::string& value);

// The grouping labels as prometheus-cpp's Gateway puts them into the push's URL path
// (/<name>/<value> each, unescaped): values that are not plain path segments renamed
// <name>@base64 with their base64url encoding. Exposed for its unit test.
[[nodiscard]] std::map<std::string, std::string> gateway_grouping_path(
    const std::map<std::string, std::string>& grouping);

// node_exporter textfile collector: writes PATH.tmp then renames onto PATH.
[[nodiscard]] core::Result<void> write_textfile(
    const std::string& path, const std::vector<prometheus::MetricFamily>& families);

}  // namespace shmcheck::reports
