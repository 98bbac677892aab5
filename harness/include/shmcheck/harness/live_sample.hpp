// LiveSample: the progress of the spec being run, taken by the supervisor every
// sampling interval from the workers' slots and stats blocks (shared memory, read
// with relaxed loads: counters only grow, a sample may be a few ops stale) and
// handed to the run's outputs (progress line, live /metrics).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "shmcheck/probes/run_result.hpp"

namespace shmcheck::harness {

struct LiveSample {
  double elapsed_s = 0;
  double planned_s = 0;  // 0 when the spec is ops-bound
  double progress_ratio = 0;
  std::vector<probes::RoleStats> roles;          // cumulative per role
  std::vector<probes::RingCounters> rings;       // the rings' own counters, so far
  std::map<std::string, std::uint64_t> workers;  // state (running, paused, exited) -> count
  std::map<std::string, std::uint64_t> faults;   // kind (kill, exit, pause) -> injected so far
  // Seen so far: abandoned slots and owner-died acquisitions, what crashes leave for the
  // survivors to recover (not violations: the check decides those after the run).
  std::uint64_t crash_effects = 0;
};

using LiveSampleSink = std::function<void(const LiveSample&)>;

}  // namespace shmcheck::harness
