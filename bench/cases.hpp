// The benchmark cases of ring_bench and the shared machinery to repeat a trial,
// size it to a time budget and turn it into Figures.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "report.hpp"

namespace shmcheck::bench {

struct Options {
  bool quick = false;
  int repetitions = 5;
  double trial_seconds = 0.25;  // each timed trial is sized to about this long
  std::uint32_t capacity = 0;   // ring / queue capacity in messages; 0: per message size
  std::uint64_t latency_samples = 50'000;
  // Paced sends, one every this many ns: far above the round trip, so a stall's
  // backlog drains instead of compounding on a loaded machine.
  double latency_interval_ns = 10'000;
  std::vector<int> cpus;                       // role i runs on cpus[i % size]; empty: unpinned
  std::chrono::milliseconds deadline{60'000};  // per trial; roles are SIGKILLed after it
};

// The result of one trial: one value per figure the trial feeds.
struct TrialValue {
  bool ok = false;
  std::vector<double> values;
  double seconds = 0;  // timed wall time, for sizing
  std::string error;
};

[[nodiscard]] inline TrialValue trial_failed(std::string why) {
  TrialValue t;
  t.error = std::move(why);
  return t;
}

using TrialFn = std::function<TrialValue(std::uint64_t ops)>;

// Runs trial(ops) opts.repetitions times and adds one Figure per template (in
// order of TrialValue::values). When calibrate is set, a first untimed trial
// with `ops` sizes the rest to opts.trial_seconds, within [ops, max_ops].
void measure(Report& report, const Options& opts, std::vector<Figure> templates, std::uint64_t ops,
             std::uint64_t max_ops, bool calibrate, const TrialFn& trial);

// Ring / queue capacity in messages for a message size (power of two).
[[nodiscard]] std::uint32_t ring_capacity(const Options& opts, std::uint32_t message_size);

void run_throughput_cases(Report& report, const Options& opts);
void run_latency_cases(Report& report, const Options& opts);
void run_mutex_cases(Report& report, const Options& opts);
void run_semaphore_cases(Report& report, const Options& opts);

}  // namespace shmcheck::bench
