// check_plan_size, apart from the rest of fault_schedule.cpp: the spec loader calls it,
// and the loader's library (shmcheck::spec, which the libFuzzer target links alone)
// does not take the schedule's dependencies.
#include <algorithm>
#include <cstdint>
#include <string>

#include "shmcheck/harness/fault_schedule.hpp"
#include "shmcheck/harness/spec_loader.hpp"

namespace shmcheck::harness {

std::optional<PlanTooLarge> check_plan_size(std::span<const std::uint64_t> firings,
                                            std::chrono::nanoseconds run_length) {
  std::uint64_t total = 0;
  for (const std::uint64_t n : firings) {
    total = n > UINT64_MAX - total ? UINT64_MAX : total + n;
  }
  if (total <= kMaxPlannedFaults) return std::nullopt;
  const auto largest = std::ranges::max_element(firings) - firings.begin();
  PlanTooLarge refusal;
  refusal.rule = static_cast<std::size_t>(largest);
  refusal.why =
      "this fault fires " + std::to_string(firings[refusal.rule]) + " times in the run (" +
      format_duration(run_length) + ")" +
      (firings[refusal.rule] < total ? ", the spec's faults " + std::to_string(total) + " in all"
                                     : std::string()) +
      "; a run plans at most " + std::to_string(kMaxPlannedFaults) +
      ", each held and listed in the reports: fire it less often, cap it with "
      "'max', or shorten the run";
  return refusal;
}

}  // namespace shmcheck::harness
