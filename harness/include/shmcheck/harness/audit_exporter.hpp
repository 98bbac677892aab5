// `shmcheck audit --serve HOST:PORT` and `--textfile FILE`: the auditor as a
// Prometheus exporter. --serve takes a fresh inventory per scrape (at most once
// per --min-interval) until SIGTERM/SIGINT; --textfile writes one scan in
// node_exporter's textfile-collector format, atomically, and exits.
#pragma once

#include <chrono>
#include <string>

#include "shmcheck/probes/inventory.hpp"

namespace shmcheck::harness {

struct AuditExporterOptions {
  std::string serve;     // HOST:PORT, "" for none
  std::string textfile;  // FILE, "" for none
  std::chrono::nanoseconds min_interval{std::chrono::seconds(5)};
  probes::InventoryOptions inventory;
};

// Returns an exit code (cli.hpp).
int run_audit_exporter(const AuditExporterOptions& options);

}  // namespace shmcheck::harness
