// What disarmed failpoints cost the rings: the same loops (ring_ops) run from two
// binaries built from the same sources, one against shmcheck::core as shipped and
// one against a copy of the core compiled with SHMCHECK_NO_FAILPOINTS (every check a
// constant false), alternately, repetition by repetition.
//   - across two processes (ring_ops --pair): producer and consumer on their own CPUs,
//     as the rings are used; the target (cost <= 2%) applies here;
//   - in one process (ring_ops --time): push + pop of an L1-resident ring, about 20
//     cycles an operation, where the check's few instructions show most (no target:
//     the worst case, reported as measured).
#include <cstdio>
#include <string>
#include <vector>

#include "cases.hpp"

#if !defined(SHMCHECK_RING_OPS) || !defined(SHMCHECK_RING_OPS_NOFP)
#error "bench/CMakeLists.txt passes the paths of ring_ops and ring_ops_nofp"
#endif

namespace shmcheck::bench {
namespace {

// Runs `program subject size ops mode` and reads the number after `key` in its output.
TrialValue ring_ops_trial(const Options& opts, const char* program, const std::string& subject,
                          const std::string& size, std::uint64_t ops, bool pair) {
  const int cpu = pair || opts.cpus.empty() ? -1 : opts.cpus.front();  // --pair pins its roles
  const auto run =
      run_program({program, subject, size, std::to_string(ops), pair ? "--pair" : "--time"}, cpu,
                  opts.deadline);
  if (!run.ok) return trial_failed(run.error);
  const char* key = pair ? "msg_per_s " : "ns_per_op ";
  const auto at = run.out.find(key);
  double value = 0;
  if (at == std::string::npos ||
      std::sscanf(run.out.c_str() + at + std::string(key).size(), "%lf", &value) != 1 ||
      value <= 0) {
    return trial_failed(std::string(program) + " printed no " + key + ": " + run.out);
  }
  TrialValue t;
  t.ok = true;
  if (pair) {
    t.values = {value / 1e6};
    t.seconds = static_cast<double>(ops) / value;
  } else {
    t.values = {value};
    t.seconds = value * static_cast<double>(ops) / 1e9;
  }
  return t;
}

}  // namespace

void run_failpoint_cases(Report& report, const Options& opts) {
  struct Subject {
    const char* key;
    const char* name;
  };
  const std::vector<Subject> subjects = {{"spsc", "SpscRing"}, {"mpmc", "MpmcRing"}};
  for (const bool pair : {true, false}) {
    MeasureBatch batch(report, opts);
    const std::string group =
        pair ? "Disarmed failpoints: 8 B throughput, producer and consumer processes"
             : "Disarmed failpoints: one push + one pop in one process (ns, lower is better)";
    for (const auto& s : subjects) {
      const std::string base =
          std::string("failpoints.") + (pair ? "pair." : "single.") + s.key + ".8";
      const auto figure = [&](const std::string& suffix, const std::string& what,
                              const char* note) {
        return std::vector<Figure>{
            make_figure(base + suffix, group, std::string(s.name) + " 8 B, failpoints " + what,
                        pair ? "M msg/s" : "ns", pair ? Better::kHigher : Better::kLower, note)};
      };
      const std::uint64_t ops = opts.quick ? 200'000 : 2'000'000;
      batch.add(figure(".compiled_out", "compiled out (reference)",
                       "ring_ops_nofp: the core built with SHMCHECK_NO_FAILPOINTS"),
                ops, 4'000'000'000, true, [&opts, s, pair](std::uint64_t n) {
                  return ring_ops_trial(opts, SHMCHECK_RING_OPS_NOFP, s.key, "8", n, pair);
                });
      batch.add(
          figure(".disarmed", "disarmed", "ring_ops: the core as shipped, no failpoint armed"), ops,
          4'000'000'000, true, [&opts, s, pair](std::uint64_t n) {
            return ring_ops_trial(opts, SHMCHECK_RING_OPS, s.key, "8", n, pair);
          });
      if (pair) {
        report.compare(base + ".disarmed", base + ".compiled_out", at_least(0.98, ">= 0.98x"));
      } else {
        report.compare(base + ".disarmed", base + ".compiled_out");
      }
    }
    batch.run();
  }
}

}  // namespace shmcheck::bench
