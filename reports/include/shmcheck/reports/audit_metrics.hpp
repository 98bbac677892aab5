// Prometheus metrics of a host's IPC objects (from `shmcheck audit`): how many
// objects and bytes per kind and verdict, and how the scan went. Every kind x
// verdict pair of a kind the scan listed is exported, zeros included, so dashboards
// and alerts see a series before the first leak rather than after; a kind it could
// not list (its source unreadable, /dev/mqueue not mounted, or left out by --kind) has
// no series rather than a false zero, and shmcheck_audit_source_up says which.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <vector>

#include "shmcheck/probes/inventory.hpp"

namespace shmcheck::reports {

struct AuditScanStats {
  std::uint64_t scans = 0;        // inventories taken so far
  std::uint64_t scan_errors = 0;  // inventories with problems (unreadable sources)
};

[[nodiscard]] std::vector<prometheus::MetricFamily> audit_metric_families(
    const probes::Inventory& inventory, const AuditScanStats& stats);

// A Collectable that takes a fresh inventory when scraped, at most once per
// min_interval (scrapes in between get the cached families).
class AuditCollector final : public prometheus::Collectable {
 public:
  using Scanner = std::function<probes::Inventory()>;
  AuditCollector(Scanner scanner, std::chrono::nanoseconds min_interval);
  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  Scanner scanner_;
  std::chrono::nanoseconds min_interval_;
  mutable std::mutex mu_;
  mutable std::chrono::steady_clock::time_point last_scan_{};
  mutable bool scanned_ = false;
  mutable AuditScanStats stats_;
  mutable std::vector<prometheus::MetricFamily> cached_;
};

}  // namespace shmcheck::reports
