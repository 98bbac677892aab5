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

// Measures a set of cases side by side: run() sizes every case first (when asked:
// a first untimed trial with `ops` scales the rest to opts.trial_seconds, within
// [ops, max_ops]), then runs repetition 1 of every case, then repetition 2, ... so
// a drift of the machine (load, where the host puts the vCPUs) hits every case
// alike and ratios between cases stay meaningful. Adds one Figure per template (in
// the order of TrialValue::values), cases in the order they were added.
class MeasureBatch {
 public:
  MeasureBatch(Report& report, const Options& opts) : report_(report), opts_(opts) {}
  void add(std::vector<Figure> templates, std::uint64_t ops, std::uint64_t max_ops, bool calibrate,
           TrialFn trial);
  void run();

 private:
  struct Case {
    std::vector<Figure> templates;
    std::uint64_t ops;
    std::uint64_t max_ops;
    bool calibrate;
    TrialFn trial;
    std::string failure;
    std::vector<std::vector<double>> values;
  };
  Report& report_;
  const Options& opts_;
  std::vector<Case> cases_;
};

// Ring / queue capacity in messages for a message size (power of two).
[[nodiscard]] std::uint32_t ring_capacity(const Options& opts, std::uint32_t message_size);

void run_throughput_cases(Report& report, const Options& opts);
void run_latency_cases(Report& report, const Options& opts);
void run_mutex_cases(Report& report, const Options& opts);
void run_semaphore_cases(Report& report, const Options& opts);
void run_failpoint_cases(Report& report, const Options& opts);

}  // namespace shmcheck::bench
