// audit_scale: how long a full IPC inventory takes at scale (issue 3, "Scale").
//
// Creates 10,000 IPC objects (POSIX shm with and without shmcheck headers, named
// semaphores, SysV shm/sem/msg) and ~300 sleeping processes that hold some of them
// (fds with flock, mappings, SysV attachments), runs take_inventory() several
// times, prints the timings and the verdict counts, then removes everything.
//
// As root it runs in private pid/mount/IPC namespaces with its own /dev/shm, so
// 10,000 objects never reach the host's /dev/shm (other tests audit it meanwhile);
// --host runs on the real host namespaces instead (it still removes all it made).
//   audit_scale [--objects N] [--processes N] [--repeat N] [--host]
// Not a test: it measures, it asserts nothing. The population and the namespaces are
// bench/audit_population.hpp (harness_bench times the same audit for scripts/bench).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "audit_population.hpp"
#include "shmcheck/core/segment_header.hpp"
#include "shmcheck/probes/inventory.hpp"

namespace {

struct Config {
  shmcheck::bench::PopulationConfig population;
  int repeat = 7;
  bool host = false;
};

double cpu_ms() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

int measure(const Config& cfg) {
  const std::string run = shmcheck::core::new_run_id();
  shmcheck::bench::AuditPopulation population;
  auto t0 = std::chrono::steady_clock::now();
  const bool ok = population.create(cfg.population, run);
  std::printf("created %zu objects and %zu holder processes in %.0f ms\n", population.objects(),
              population.holders(), ms_since(t0));
  if (!ok) return 3;

  // Wall time, and the CPU time this process spent (user + kernel): on a shared,
  // loaded machine the wall time also counts waiting for a CPU.
  std::vector<double> times;
  std::vector<double> cpu_times;
  shmcheck::probes::Inventory last;
  for (int i = 0; i < cfg.repeat; ++i) {
    const double cpu0 = cpu_ms();
    t0 = std::chrono::steady_clock::now();
    last = shmcheck::probes::take_inventory();
    times.push_back(ms_since(t0));
    cpu_times.push_back(cpu_ms() - cpu0);
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu_times.begin(), cpu_times.end());
  std::size_t verdicts[shmcheck::probes::kVerdictCount] = {};
  std::size_t headers = 0;
  for (const auto& o : last.objects) {
    ++verdicts[static_cast<std::size_t>(o.verdict)];
    headers += o.header ? 1U : 0U;
  }
  std::printf(
      "inventory: %zu objects (%zu with shmcheck headers), %zu processes scanned, %zu unreadable\n",
      last.objects.size(), headers, last.processes_scanned, last.processes_unreadable);
  std::printf("verdicts: in_use %zu, orphaned %zu, pending_destroy %zu, unknown %zu\n", verdicts[0],
              verdicts[1], verdicts[2], verdicts[3]);
  std::printf("full audit wall time over %d runs: min %.1f ms, median %.1f ms, max %.1f ms\n",
              cfg.repeat, times.front(), times[times.size() / 2], times.back());
  std::printf("full audit CPU time (user+sys) over %d runs: min %.1f ms, median %.1f ms\n",
              cfg.repeat, cpu_times.front(), cpu_times[cpu_times.size() / 2]);

  t0 = std::chrono::steady_clock::now();
  population.destroy();
  std::printf("removed everything in %.0f ms\n", ms_since(t0));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--objects" && has_value) {
      cfg.population.objects = std::atoi(argv[++i]);
    } else if (arg == "--processes" && has_value) {
      cfg.population.processes = std::atoi(argv[++i]);
    } else if (arg == "--repeat" && has_value) {
      cfg.repeat = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--host") {
      cfg.host = true;
    } else {
      std::fprintf(stderr,
                   "usage: audit_scale [--objects N] [--processes N] [--repeat N] [--host]\n");
      return 2;
    }
  }
  std::printf("audit_scale: %d objects, %d holder processes, %s\n", cfg.population.objects,
              cfg.population.processes, cfg.host ? "host namespaces" : "private namespaces");
  std::fflush(stdout);
  if (cfg.host || ::geteuid() != 0) return measure(cfg);
  std::string error;
  const int rc = shmcheck::bench::run_in_private_namespaces([&] { return measure(cfg); },
                                                            std::chrono::minutes(10), error);
  if (rc < 0) {
    std::fprintf(stderr, "audit_scale: %s (use --host when not root)\n", error.c_str());
    return 3;
  }
  return rc;
}
