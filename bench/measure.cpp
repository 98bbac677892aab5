#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>

#include "cases.hpp"

namespace shmcheck::bench {

void MeasureBatch::add(std::vector<Figure> templates, std::uint64_t ops, std::uint64_t max_ops,
                       bool calibrate, TrialFn trial) {
  Case c{std::move(templates), ops, max_ops, calibrate, std::move(trial), {}, {}};
  c.values.resize(c.templates.size());
  cases_.push_back(std::move(c));
}

void MeasureBatch::run() {
  for (auto& c : cases_) {
    if (!c.calibrate) continue;
    std::fprintf(stderr, "  sizing %s ...\n", c.templates.front().label.c_str());
    const TrialValue probe = c.trial(c.ops);
    if (!probe.ok) {
      c.failure = probe.error.empty() ? "trial failed" : probe.error;
    } else if (probe.seconds > 0) {
      const double scaled = static_cast<double>(c.ops) * opts_.trial_seconds / probe.seconds;
      c.ops = std::clamp(static_cast<std::uint64_t>(scaled), c.ops, std::max(c.ops, c.max_ops));
    }
  }
  for (int rep = 0; rep < opts_.repetitions; ++rep) {
    std::fprintf(stderr, "  repetition %d/%d of %zu cases ...\n", rep + 1, opts_.repetitions,
                 cases_.size());
    for (auto& c : cases_) {
      if (!c.failure.empty()) continue;
      const TrialValue t = c.trial(c.ops);
      if (!t.ok) {
        c.failure = t.error.empty() ? "trial failed" : t.error;
      } else if (t.values.size() != c.templates.size()) {
        c.failure = "trial returned " + std::to_string(t.values.size()) + " values, expected " +
                    std::to_string(c.templates.size());
      } else {
        for (std::size_t i = 0; i < c.templates.size(); ++i) c.values[i].push_back(t.values[i]);
      }
    }
  }
  const std::string batch =
      cases_.empty() || cases_.front().templates.empty() ? "" : cases_.front().templates.front().id;
  for (auto& c : cases_) {
    for (std::size_t i = 0; i < c.templates.size(); ++i) {
      Figure f = std::move(c.templates[i]);
      f.ops_per_rep = c.ops;
      f.batch = batch;
      if (c.failure.empty()) {
        f.summary = summarize(c.values[i]);
      } else {
        f.failure = c.failure;
      }
      report_.add(std::move(f));
    }
  }
  cases_.clear();
}

std::uint32_t ring_capacity(const Options& opts, std::uint32_t message_size) {
  if (opts.capacity != 0) return opts.capacity;
  // About 32 KiB of payload: well inside L1/L2 on both sides. Bigger rings were
  // measured to collapse 64 B throughput several times on these VMs (DESIGN.md).
  const std::uint32_t slots = (32U * 1024U) / std::max<std::uint32_t>(message_size, 1U);
  return std::clamp<std::uint32_t>(std::bit_floor(slots), 64U, 4096U);
}

}  // namespace shmcheck::bench
