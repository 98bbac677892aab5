// A full audit at scale: opts.population (10,000 IPC objects, 300 holder processes, the
// population of audit_scale) in private namespaces; per repetition, take_inventory() in
// this process, the `shmcheck audit` command (a process of its own: start-up, the
// inventory, the table of every object to /dev/null) and `shmcheck audit --json`,
// alternating.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "harness_cases.hpp"
#include "shmcheck/core/segment_header.hpp"
#include "shmcheck/probes/inventory.hpp"

namespace shmcheck::bench {
namespace {

constexpr int kMaxRepeat = 64;

// Written by the process in the namespaces, read here after it exited.
struct AuditShared {
  int done = 0;
  double inventory_ms[kMaxRepeat] = {};
  double inventory_cpu_ms[kMaxRepeat] = {};
  double command_ms[kMaxRepeat] = {};
  double json_ms[kMaxRepeat] = {};
  std::uint64_t objects = 0;
  std::uint64_t holders = 0;
  std::uint64_t inventoried = 0;
  std::uint64_t processes_scanned = 0;
  int command_status = 0;
  char error[240] = {};
};

double cpu_ms() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// `shmcheck audit [--json] > /dev/null`; its exit status (-1: could not run it).
int run_audit_command(const std::string& shmcheck, bool json) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) ::dup2(null, STDOUT_FILENO);
    const char* argv[] = {shmcheck.c_str(), "audit", json ? "--json" : nullptr, nullptr};
    ::execv(shmcheck.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  if (pid < 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int measure_in_namespaces(const HarnessOptions& opts, AuditShared& out) {
  AuditPopulation population;
  if (!population.create(opts.population, core::new_run_id())) {
    std::snprintf(out.error, sizeof out.error, "could not create the population (see stderr)");
    return 1;
  }
  out.objects = population.objects();
  out.holders = population.holders();
  const int repeat = std::min(opts.audit_repeat, kMaxRepeat);
  for (int i = 0; i < repeat; ++i) {
    const double cpu0 = cpu_ms();
    const auto t0 = std::chrono::steady_clock::now();
    const auto inventory = probes::take_inventory();
    out.inventory_ms[i] = ms_since(t0);
    out.inventory_cpu_ms[i] = cpu_ms() - cpu0;
    out.inventoried = inventory.objects.size();
    out.processes_scanned = inventory.processes_scanned;
    for (const bool json : {false, true}) {
      const auto t1 = std::chrono::steady_clock::now();
      out.command_status = run_audit_command(opts.shmcheck, json);
      (json ? out.json_ms : out.command_ms)[i] = ms_since(t1);
      if (out.command_status != 0) {
        std::snprintf(out.error, sizeof out.error, "shmcheck audit%s exited %d",
                      json ? " --json" : "", out.command_status);
        return 1;
      }
    }
  }
  out.done = repeat;
  return 0;
}

}  // namespace

void run_audit_cases(Report& report, const HarnessOptions& opts) {
  std::fprintf(stderr, "harness: audit of %d objects, %d holders\n", opts.population.objects,
               opts.population.processes);
  const std::string objects = std::to_string(opts.population.objects);
  const std::string group = "Harness: full audit, " + objects + " objects, " +
                            std::to_string(opts.population.processes) +
                            " holder processes (private namespaces)";
  Figure inventory = make_figure("harness.audit.take_inventory", group,
                                 "take_inventory(), " + objects + " objects", "ms", Better::kLower,
                                 "wall time of probes::take_inventory() in this process");
  Figure cpu =
      make_figure("harness.audit.take_inventory_cpu", group,
                  "take_inventory() CPU time (user + sys)", "ms", Better::kLower,
                  "CLOCK_PROCESS_CPUTIME_ID around take_inventory(): the wall time minus waiting");
  Figure command = make_figure("harness.audit.command", group,
                               "shmcheck audit, " + objects + " objects", "ms", Better::kLower,
                               "wall time of the command (a new process: start-up, inventory, "
                               "the table of every object to /dev/null)");
  Figure json = make_figure("harness.audit.command_json", group,
                            "shmcheck audit --json, " + objects + " objects", "ms", Better::kLower,
                            "the same with --json: every object as a JSON document");

  std::string error;
  if (::geteuid() != 0) {
    error = "needs root: the population lives in private namespaces, never the host's /dev/shm";
  } else {
    SharedRegion region(sizeof(AuditShared));
    auto* shared = new (region.data()) AuditShared{};
    const int rc = run_in_private_namespaces([&] { return measure_in_namespaces(opts, *shared); },
                                             std::chrono::minutes(5), error);
    if (rc != 0 && error.empty()) error = shared->error[0] != '\0' ? shared->error : "failed";
    if (error.empty() && shared->done > 0) {
      const auto values = [&](const double* a) { return std::vector<double>(a, a + shared->done); };
      inventory.summary = summarize(values(shared->inventory_ms));
      cpu.summary = summarize(values(shared->inventory_cpu_ms));
      command.summary = summarize(values(shared->command_ms));
      json.summary = summarize(values(shared->json_ms));
      inventory.ops_per_rep = cpu.ops_per_rep = command.ops_per_rep = json.ops_per_rep =
          shared->inventoried;
      report.set_context("audit population",
                         std::to_string(shared->objects) + " objects made, " +
                             std::to_string(shared->inventoried) + " inventoried, " +
                             std::to_string(shared->holders) + " holders, " +
                             std::to_string(shared->processes_scanned) + " processes scanned");
    } else if (error.empty()) {
      error = "no repetition finished";
    }
  }
  for (Figure* f : {&inventory, &cpu, &command, &json}) {
    f->failure = error;
    report.add(std::move(*f));
  }
  add_limit(report, "harness.audit.limit", group, 1000, "ms", "10,000 objects in under 1 s");
  report.compare("harness.audit.take_inventory", "harness.audit.limit",
                 at_most(1.0, "< 1 s (<= 1x)"));
  report.compare("harness.audit.command", "harness.audit.limit", at_most(1.0, "< 1 s (<= 1x)"));
  report.compare("harness.audit.command_json", "harness.audit.command");
}

}  // namespace shmcheck::bench
