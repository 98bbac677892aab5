#include "shmcheck/harness/audit_exporter.hpp"

#include <prometheus/exposer.h>
#include <signal.h>

#include <cstdio>
#include <memory>

#include "shmcheck/harness/cli.hpp"
#include "shmcheck/harness/fault_schedule.hpp"
#include "shmcheck/reports/audit_metrics.hpp"
#include "shmcheck/reports/prometheus_metrics.hpp"

namespace shmcheck::harness {

int run_audit_exporter(const AuditExporterOptions& options) {
  const auto scan = [inv_options = options.inventory] {
    return probes::take_inventory(inv_options);
  };
  if (!options.textfile.empty()) {
    reports::AuditScanStats stats{1, 0};
    const auto inv = scan();
    if (!inv.problems.empty()) stats.scan_errors = 1;
    if (auto ok =
            reports::write_textfile(options.textfile, reports::audit_metric_families(inv, stats));
        !ok) {
      std::fprintf(stderr, "shmcheck audit: cannot write %s: %s\n", options.textfile.c_str(),
                   ok.error().brief().c_str());
      return kExitEnvironment;
    }
    if (options.serve.empty()) return kExitPass;
  }
  if (options.serve.empty()) return kExitPass;

  // Block the stop signals before any thread starts so that only sigwait sees them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  // A closed terminal: stop as cleanly (it died of it, exit 129). Not under nohup: a
  // blocked signal is never discarded, so sigwait would have taken the SIGHUP nohup
  // meant to be ignored.
  struct sigaction hup {};
  if (::sigaction(SIGHUP, nullptr, &hup) == 0 && hup.sa_handler != SIG_IGN)
    sigaddset(&stop, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto server = reports::MetricsServer::listen(options.serve);
  if (!server) {
    std::fprintf(stderr, "shmcheck audit: %s\n", server.error().brief().c_str());
    return server.error().code == core::ErrorCode::kInvalidArgument ? kExitUsage : kExitEnvironment;
  }
  // The server's own collector stays empty; the audit collector rescans per scrape.
  auto collector = std::make_shared<reports::AuditCollector>(scan, options.min_interval);
  (*server)->register_collectable(collector);
  std::fprintf(
      stderr,
      "shmcheck audit: serving metrics on http://%s:%d/metrics (rescan at most every %.1f s)\n",
      options.serve.substr(0, options.serve.rfind(':')).c_str(), (*server)->port(),
      std::chrono::duration<double>(options.min_interval).count());
  int sig = 0;
  sigwait(&stop, &sig);
  std::fprintf(stderr, "shmcheck audit: stopping on %s\n", signal_name(sig).c_str());
  return kExitPass;
}

}  // namespace shmcheck::harness
