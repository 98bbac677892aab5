// FaultSchedule: the exact list of faults one run injects, expanded from a seed.
//
// A spec declares fault rules ("kill a producer at ring.push.before_commit on its
// 10000th hit", "kill any worker every 250ms +- 100ms", "pause a consumer for
// 200ms"); expand_fault_schedule() turns them, the worker list and a seed into
// concrete faults (which worker, which occurrence, which instant). The same seed,
// rules and workers always give the same schedule, on every machine and libstdc++:
// the only randomness is SplitMix64 -> xoshiro256** below, with integer-only draws
// (never std::uniform_*_distribution, whose output is implementation-defined).
//
// Plain values, harness-process only (not placed in shared memory).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "shmcheck/core/failpoint.hpp"

namespace shmcheck::harness {

// xoshiro256** seeded through SplitMix64 (Vigna's reference algorithms).
class Prng {
 public:
  explicit Prng(std::uint64_t seed) noexcept;
  std::uint64_t next() noexcept;
  // Uniform in [0, bound) without modulo bias; bound 0 returns 0.
  std::uint64_t below(std::uint64_t bound) noexcept;

 private:
  std::uint64_t s_[4];
};

std::uint64_t splitmix64(std::uint64_t& state) noexcept;

// What a scheduled fault does (the spec's FaultKind says how it was declared).
enum class FaultType : std::uint8_t {
  kKillAtFailpoint,   // the worker raises SIGKILL on the Nth hit of a failpoint
  kExitAtFailpoint,   // the worker _exit()s on the Nth hit of a failpoint, holding what it holds
  kPauseAtFailpoint,  // the worker raises SIGSTOP on the Nth hit; SIGCONT `duration` later
  kKillAtTime,        // the supervisor sends `signal` at `at`
  kPauseAtTime,       // the supervisor sends SIGSTOP at `at`, SIGCONT at `at + duration`
};
[[nodiscard]] const char* to_string(FaultType type) noexcept;
[[nodiscard]] bool is_failpoint_fault(FaultType type) noexcept;

// One worker process slot of the run (restarts reuse the slot with a new incarnation).
struct WorkerPlan {
  std::string role;            // "producer", "locker", ...
  std::size_t group = 0;       // index of the spec's `processes` entry
  std::size_t role_index = 0;  // its number among its role's workers: "consumer[1]"
};

// A fault as the spec declares it (filled from the spec model).
struct FaultRule {
  FaultType type = FaultType::kKillAtTime;
  std::string target = "any";                  // a role name or "any"
  std::optional<core::FailpointId> failpoint;  // *AtFailpoint
  std::uint64_t after = 1;                     // occurrence of the failpoint (1-based)
  std::chrono::nanoseconds start{-1};          // timed: first firing (negative: not given)
  std::chrono::nanoseconds every{0};           // timed: period; 0 = once
  std::chrono::nanoseconds jitter{0};          // timed: uniform +- around each firing
  std::uint32_t max = 0;                       // timed: firings at most (0 = unlimited)
  std::chrono::nanoseconds duration{0};        // pauses: SIGCONT after this
  int signal = 9;                              // kills: SIGKILL
  int exit_code = 0;                           // kExitAtFailpoint
  bool restart = false;
  std::size_t rule_index = 0;  // position in the spec's `faults`
};

struct ScheduledFault {
  std::size_t rule = 0;  // rule_index it came from
  FaultType type = FaultType::kKillAtTime;
  std::size_t worker = 0;      // global worker index
  std::size_t role_index = 0;  // its number among its role's workers (WorkerPlan)
  std::string role;
  std::optional<core::FailpointId> failpoint;
  std::uint64_t occurrence = 0;
  std::chrono::nanoseconds at{0};        // since the run's start
  std::chrono::nanoseconds duration{0};  // pause length
  int signal = 9;
  int exit_code = 0;
  bool restart = false;

  // "kill producer[1] at ring.push.before_commit hit 10000, restart"
  [[nodiscard]] std::string describe() const;
  [[nodiscard]] nlohmann::json to_json() const;
};

struct FaultSchedule {
  std::uint64_t seed = 0;
  std::vector<ScheduledFault> faults;  // failpoint faults first, then timed ones by `at`

  // The failpoint arming string for one worker's first incarnation, in the syntax of
  // core::arm_failpoints_from_string ("ring.push.before_commit=10000:kill"); empty if none.
  [[nodiscard]] std::string arm_string_for(std::size_t worker) const;
  // One fault per line; past 2 * edge faults, the first and last `edge` and a line
  // counting the others.
  [[nodiscard]] std::string describe(std::size_t edge = SIZE_MAX) const;
  [[nodiscard]] nlohmann::json to_json() const;
};

// A timed rule given neither `start` (a negative start: not given; 0 is the run's
// start, as written) nor `every` fires once, at a seeded instant inside the run.
[[nodiscard]] constexpr bool fires_at_a_seeded_instant(std::chrono::nanoseconds start,
                                                       std::chrono::nanoseconds every) noexcept {
  return start.count() < 0 && every.count() == 0;
}

// A timed rule's first firing before jitter: at `start` when given, else one period in
// (see fires_at_a_seeded_instant when neither is). The loader refuses a rule whose first
// firing is not inside the spec's duration; expand_fault_schedule plans firings from it.
[[nodiscard]] constexpr std::chrono::nanoseconds first_firing(
    std::chrono::nanoseconds start, std::chrono::nanoseconds every) noexcept {
  return start.count() >= 0 ? start : every;
}

// How many times a timed rule fires in a run of `run_length`, as expand_fault_schedule
// plans it: first_firing, then every `every`, before the end, at most `max` (0: no
// cap); once when neither start nor every is given.
[[nodiscard]] constexpr std::uint64_t timed_firings(std::chrono::nanoseconds start,
                                                    std::chrono::nanoseconds every,
                                                    std::uint32_t max,
                                                    std::chrono::nanoseconds run_length) noexcept {
  const auto first = first_firing(start, every);
  const bool planned = !fires_at_a_seeded_instant(start, every);
  std::uint64_t n = 1;
  if (planned && first >= run_length) {
    n = 0;
  } else if (planned && every.count() > 0) {
    n = static_cast<std::uint64_t>((run_length - first - std::chrono::nanoseconds(1)) / every) + 1;
  }
  return max == 0 ? n : std::min<std::uint64_t>(n, max);
}

// A run plans at most this many faults: each is held (some 300 bytes) and listed in
// every report. A kill `every: 1ns` planned a billion for one second, and the harness
// took 13 GiB before it ran out of memory. A day's soak killing every 100 ms plans 864 k.
inline constexpr std::uint64_t kMaxPlannedFaults = 1'000'000;

// A plan past kMaxPlannedFaults: the rule planning the most firings, and why the plan
// is refused (for the `every` of that rule).
struct PlanTooLarge {
  std::size_t rule = 0;
  std::string why;
};
// `firings[i]`: what rule i plans in a run of `run_length` (timed_firings; one for a
// failpoint rule). nullopt when the plan fits.
[[nodiscard]] std::optional<PlanTooLarge> check_plan_size(std::span<const std::uint64_t> firings,
                                                          std::chrono::nanoseconds run_length);

// Expands rules over the workers for a run of `run_length` (timed faults land in
// [0, run_length)). Failpoint rules pick one worker of the target (seeded); timed
// rules pick a worker per firing. Rules whose target matches no worker expand to nothing.
[[nodiscard]] FaultSchedule expand_fault_schedule(std::uint64_t seed,
                                                  std::span<const WorkerPlan> workers,
                                                  std::span<const FaultRule> rules,
                                                  std::chrono::nanoseconds run_length);

// Signal names used in specs and reports ("SIGKILL" <-> 9). 0 when unknown.
[[nodiscard]] int signal_from_name(std::string_view name) noexcept;
[[nodiscard]] std::string signal_name(int sig);

}  // namespace shmcheck::harness
