#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>

#include "cases.hpp"

namespace shmcheck::bench {

void measure(Report& report, const Options& opts, std::vector<Figure> templates, std::uint64_t ops,
             std::uint64_t max_ops, bool calibrate, const TrialFn& trial) {
  std::fprintf(stderr, "  measuring %s ...\n", templates.front().label.c_str());
  std::string failure;
  if (calibrate) {
    const TrialValue probe = trial(ops);
    if (!probe.ok) {
      failure = probe.error;
    } else if (probe.seconds > 0) {
      const double scaled = static_cast<double>(ops) * opts.trial_seconds / probe.seconds;
      ops = std::clamp(static_cast<std::uint64_t>(scaled), ops, std::max(ops, max_ops));
    }
  }
  std::vector<std::vector<double>> per_figure(templates.size());
  for (int rep = 0; rep < opts.repetitions && failure.empty(); ++rep) {
    const TrialValue t = trial(ops);
    if (!t.ok) {
      failure = t.error.empty() ? "trial failed" : t.error;
      break;
    }
    if (t.values.size() != templates.size()) {
      failure = "trial returned " + std::to_string(t.values.size()) + " values, expected " +
                std::to_string(templates.size());
      break;
    }
    for (std::size_t i = 0; i < templates.size(); ++i) per_figure[i].push_back(t.values[i]);
  }
  for (std::size_t i = 0; i < templates.size(); ++i) {
    Figure f = std::move(templates[i]);
    f.ops_per_rep = ops;
    if (failure.empty()) {
      f.summary = summarize(per_figure[i]);
    } else {
      f.failure = failure;
    }
    report.add(std::move(f));
  }
}

std::uint32_t ring_capacity(const Options& opts, std::uint32_t message_size) {
  if (opts.capacity != 0) return opts.capacity;
  // About 32 KiB of payload: well inside L1/L2 on both sides. Bigger rings were
  // measured to collapse 64 B throughput several times on these VMs (DESIGN.md).
  const std::uint32_t slots = (32U * 1024U) / std::max<std::uint32_t>(message_size, 1U);
  return std::clamp<std::uint32_t>(std::bit_floor(slots), 64U, 4096U);
}

}  // namespace shmcheck::bench
