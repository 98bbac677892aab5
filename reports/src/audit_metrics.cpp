#include "shmcheck/reports/audit_metrics.hpp"

#include <array>
#include <map>

namespace shmcheck::reports {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

ClientMetric gauge(std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  return m;
}

ClientMetric counter(double value) {
  ClientMetric m;
  m.counter.value = value;
  return m;
}

}  // namespace

std::vector<MetricFamily> audit_metric_families(const probes::Inventory& inv,
                                                const AuditScanStats& stats) {
  std::map<std::pair<std::size_t, std::size_t>, std::pair<std::uint64_t, std::uint64_t>> totals;
  const std::vector<bool> counted = probes::counted_bytes(inv.objects);
  for (std::size_t i = 0; i < inv.objects.size(); ++i) {
    const probes::IpcObject& o = inv.objects[i];
    auto& t = totals[{static_cast<std::size_t>(o.kind), static_cast<std::size_t>(o.verdict)}];
    ++t.first;
    if (counted[i]) t.second += o.bytes_allocated;
  }
  MetricFamily objects{"shmcheck_ipc_objects",
                       "IPC objects on this host, by kind and verdict.",
                       MetricType::Gauge,
                       {}};
  MetricFamily bytes{"shmcheck_ipc_bytes",
                     "Bytes allocated by IPC objects, by kind and verdict.",
                     MetricType::Gauge,
                     {}};
  for (std::size_t k = 0; k < probes::kIpcKindCount; ++k) {
    if (!inv.listed(static_cast<probes::IpcKind>(k))) continue;
    for (std::size_t v = 0; v < probes::kVerdictCount; ++v) {
      const auto it = totals.find({k, v});
      const std::vector<ClientMetric::Label> labels = {
          {"kind", std::string(probes::to_string(static_cast<probes::IpcKind>(k)))},
          {"state", std::string(probes::to_string(static_cast<probes::Verdict>(v)))}};
      objects.metric.push_back(
          gauge(labels, it == totals.end() ? 0.0 : static_cast<double>(it->second.first)));
      bytes.metric.push_back(
          gauge(labels, it == totals.end() ? 0.0 : static_cast<double>(it->second.second)));
    }
  }
  MetricFamily sources{"shmcheck_audit_source_up",
                       "Whether the last scan could read a source of IPC objects (1) or not (0): "
                       "the kinds it lists have no shmcheck_ipc_objects series while it is 0.",
                       MetricType::Gauge,
                       {}};
  // The sources the asked kinds are listed from (--kind sysv_shm reads no /dev/shm: a 0
  // for it would have been a false alarm); /proc always, for every verdict.
  for (std::size_t s = 0; s < probes::kIpcSourceCount; ++s) {
    const auto source = static_cast<probes::IpcSource>(s);
    bool needed = source == probes::IpcSource::kProc;
    for (std::size_t k = 0; k < probes::kIpcKindCount && !needed; ++k) {
      const auto kind = static_cast<probes::IpcKind>(k);
      needed = inv.asked(kind) && probes::lists_from(kind, source);
    }
    if (needed) {
      sources.metric.push_back(gauge({{"source", std::string(probes::to_string(source))}},
                                     inv.available(source) ? 1.0 : 0.0));
    }
  }
  std::vector<MetricFamily> out = {std::move(objects), std::move(bytes), std::move(sources)};
  out.push_back({"shmcheck_audit_scan_duration_seconds",
                 "Wall time of the last inventory.",
                 MetricType::Gauge,
                 {gauge({}, static_cast<double>(inv.scan_ns) / 1e9)}});
  out.push_back({"shmcheck_audit_processes_unreadable",
                 "Processes whose fds or maps could not be read in the last scan (their objects "
                 "are unknown).",
                 MetricType::Gauge,
                 {gauge({}, static_cast<double>(inv.processes_unreadable))}});
  out.push_back({"shmcheck_audit_last_scan_timestamp_seconds",
                 "Unix time of the last inventory.",
                 MetricType::Gauge,
                 {gauge({}, static_cast<double>(inv.taken_unix_ns) / 1e9)}});
  out.push_back({"shmcheck_audit_scans_total",
                 "Inventories taken by this exporter.",
                 MetricType::Counter,
                 {counter(static_cast<double>(stats.scans))}});
  out.push_back({"shmcheck_audit_scan_errors_total",
                 "Inventories that could not read every source (/dev/shm, /proc, /proc/sysvipc).",
                 MetricType::Counter,
                 {counter(static_cast<double>(stats.scan_errors))}});
  return out;
}

AuditCollector::AuditCollector(Scanner scanner, std::chrono::nanoseconds min_interval)
    : scanner_(std::move(scanner)), min_interval_(min_interval) {}

std::vector<MetricFamily> AuditCollector::Collect() const {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (!scanned_ || now - last_scan_ >= min_interval_) {
    const auto inv = scanner_();
    ++stats_.scans;
    if (!inv.problems.empty()) ++stats_.scan_errors;
    cached_ = audit_metric_families(inv, stats_);
    last_scan_ = now;
    scanned_ = true;
  }
  return cached_;
}

}  // namespace shmcheck::reports
