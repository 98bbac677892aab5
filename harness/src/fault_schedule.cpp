#include "shmcheck/harness/fault_schedule.hpp"

#include <signal.h>

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>

namespace shmcheck::harness {
namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

std::string format_duration(std::chrono::nanoseconds d) {
  const auto ns = d.count();
  if (ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + "s";
  if (ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
  if (ns % 1'000 == 0) return std::to_string(ns / 1'000) + "us";
  return std::to_string(ns) + "ns";
}

constexpr std::array<std::pair<std::string_view, int>, 10> kSignals{{
    {"SIGKILL", SIGKILL},
    {"SIGTERM", SIGTERM},
    {"SIGABRT", SIGABRT},
    {"SIGSEGV", SIGSEGV},
    {"SIGBUS", SIGBUS},
    {"SIGINT", SIGINT},
    {"SIGQUIT", SIGQUIT},
    {"SIGSTOP", SIGSTOP},
    {"SIGCONT", SIGCONT},
    {"SIGUSR1", SIGUSR1},
}};

// Uniform in [lo, hi] (inclusive) for nanosecond counts.
std::int64_t draw_between(Prng& rng, std::int64_t lo, std::int64_t hi) {
  if (hi <= lo) return lo;
  const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
  return lo + static_cast<std::int64_t>(rng.below(span));
}

}  // namespace

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Prng::Prng(std::uint64_t seed) noexcept {
  std::uint64_t state = seed;
  for (auto& s : s_) s = splitmix64(state);
}

std::uint64_t Prng::next() noexcept {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::uint64_t Prng::below(std::uint64_t bound) noexcept {
  if (bound == 0) return 0;
  // Rejection sampling: drop the top partial bucket so every residue is equally likely.
  const std::uint64_t limit = UINT64_MAX - (UINT64_MAX % bound);
  for (;;) {
    const std::uint64_t x = next();
    if (x < limit) return x % bound;
  }
}

const char* to_string(FaultKind kind) noexcept {
  switch (kind) {
    case FaultKind::kKillAtFailpoint:
      return "kill_at_failpoint";
    case FaultKind::kExitAtFailpoint:
      return "exit_at_failpoint";
    case FaultKind::kKillAtTime:
      return "kill_at_time";
    case FaultKind::kPause:
      return "pause";
  }
  return "unknown";
}

int signal_from_name(std::string_view name) noexcept {
  for (const auto& [n, sig] : kSignals) {
    if (n == name || n.substr(3) == name) return sig;
  }
  return 0;
}

std::string signal_name(int sig) {
  for (const auto& [n, s] : kSignals) {
    if (s == sig) return std::string(n);
  }
  return "signal " + std::to_string(sig);
}

std::string ScheduledFault::describe() const {
  std::string who = role + "#" + std::to_string(worker);
  switch (kind) {
    case FaultKind::kKillAtFailpoint:
      return "kill " + who + " at " + std::string(core::to_string(*failpoint)) + " hit " +
             std::to_string(occurrence) + " (SIGKILL)" + (restart ? ", restart" : "");
    case FaultKind::kExitAtFailpoint:
      return "exit " + who + " at " + std::string(core::to_string(*failpoint)) + " hit " +
             std::to_string(occurrence) + " with code " + std::to_string(exit_code) +
             (restart ? ", restart" : "");
    case FaultKind::kKillAtTime:
      return "kill " + who + " at t=" + format_duration(at) + " (" + signal_name(signal) + ")" +
             (restart ? ", restart" : "");
    case FaultKind::kPause:
      return "pause " + who + " at t=" + format_duration(at) + " for " + format_duration(duration);
  }
  return "unknown fault";
}

nlohmann::json ScheduledFault::to_json() const {
  nlohmann::json j = {{"rule", rule},       {"kind", to_string(kind)}, {"worker", worker},
                      {"role", role},       {"restart", restart},      {"description", describe()}};
  if (failpoint) {
    j["failpoint"] = std::string(core::to_string(*failpoint));
    j["occurrence"] = occurrence;
  }
  if (kind == FaultKind::kKillAtTime || kind == FaultKind::kPause) j["at_ns"] = at.count();
  if (kind == FaultKind::kPause) j["duration_ns"] = duration.count();
  if (kind == FaultKind::kKillAtTime || kind == FaultKind::kKillAtFailpoint) {
    j["signal"] = signal_name(signal);
  }
  if (kind == FaultKind::kExitAtFailpoint) j["exit_code"] = exit_code;
  return j;
}

std::string FaultSchedule::arm_string_for(std::size_t worker) const {
  std::string out;
  for (const auto& f : faults) {
    if (f.worker != worker || !f.failpoint) continue;
    if (f.kind != FaultKind::kKillAtFailpoint && f.kind != FaultKind::kExitAtFailpoint) continue;
    if (!out.empty()) out += ';';
    out += std::string(core::to_string(*f.failpoint)) + "=" + std::to_string(f.occurrence) + ":";
    out += f.kind == FaultKind::kKillAtFailpoint ? std::string("kill")
                                                 : "exit=" + std::to_string(f.exit_code);
  }
  return out;
}

std::string FaultSchedule::describe() const {
  std::string out;
  if (faults.empty()) return "  (no faults)\n";
  for (std::size_t i = 0; i < faults.size(); ++i) {
    out += "  [" + std::to_string(i) + "] " + faults[i].describe() + "\n";
  }
  return out;
}

nlohmann::json FaultSchedule::to_json() const {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& f : faults) list.push_back(f.to_json());
  return {{"seed", seed}, {"faults", std::move(list)}};
}

FaultSchedule expand_fault_schedule(std::uint64_t seed, std::span<const WorkerPlan> workers,
                                    std::span<const FaultRule> rules,
                                    std::chrono::nanoseconds run_length) {
  FaultSchedule schedule;
  schedule.seed = seed;
  Prng rng(seed);
  const std::int64_t length = std::max<std::int64_t>(run_length.count(), 1);

  for (const auto& rule : rules) {
    std::vector<std::size_t> candidates;
    for (std::size_t w = 0; w < workers.size(); ++w) {
      if (rule.target == "any" || workers[w].role == rule.target) candidates.push_back(w);
    }
    if (candidates.empty()) continue;
    // The instance is an index among the matching workers; out of range expands to nothing.
    if (rule.instance && *rule.instance >= candidates.size()) continue;
    const auto pick = [&]() -> std::size_t {
      if (rule.instance) return candidates[*rule.instance];
      return candidates[rng.below(candidates.size())];
    };
    const auto base = [&](std::size_t worker) {
      ScheduledFault f;
      f.rule = rule.rule_index;
      f.kind = rule.kind;
      f.worker = worker;
      f.role = workers[worker].role;
      f.signal = rule.signal;
      f.exit_code = rule.exit_code;
      f.restart = rule.restart;
      return f;
    };

    switch (rule.kind) {
      case FaultKind::kKillAtFailpoint:
      case FaultKind::kExitAtFailpoint: {
        if (!rule.failpoint) break;
        auto f = base(pick());
        f.failpoint = rule.failpoint;
        f.occurrence = std::max<std::uint64_t>(rule.after, 1);
        f.signal = SIGKILL;
        schedule.faults.push_back(std::move(f));
        break;
      }
      case FaultKind::kKillAtTime: {
        if (rule.every && rule.every->count() > 0) {
          const std::int64_t period = rule.every->count();
          const std::int64_t jitter = std::min(rule.jitter.count(), period / 2);
          for (std::int64_t t = period; t < length; t += period) {
            const std::int64_t when = std::clamp(draw_between(rng, t - jitter, t + jitter),
                                                 std::int64_t{0}, length - 1);
            auto f = base(pick());
            f.at = std::chrono::nanoseconds(when);
            schedule.faults.push_back(std::move(f));
          }
        } else {
          // Without `at`, one kill somewhere in the middle 80% of the run.
          const std::int64_t when =
              rule.at ? rule.at->count() : draw_between(rng, length / 10, length * 9 / 10);
          auto f = base(pick());
          f.at = std::chrono::nanoseconds(when);
          schedule.faults.push_back(std::move(f));
        }
        break;
      }
      case FaultKind::kPause: {
        const std::int64_t when =
            rule.at ? rule.at->count() : draw_between(rng, length / 10, length * 6 / 10);
        auto f = base(pick());
        f.at = std::chrono::nanoseconds(when);
        f.duration = rule.duration;
        f.signal = SIGSTOP;
        f.restart = false;
        schedule.faults.push_back(std::move(f));
        break;
      }
    }
  }
  // Failpoint faults first (they are armed at spawn), timed ones in firing order;
  // stable so equal instants keep rule order.
  std::stable_sort(schedule.faults.begin(), schedule.faults.end(),
                   [](const ScheduledFault& a, const ScheduledFault& b) {
                     const bool ta = a.kind == FaultKind::kKillAtTime || a.kind == FaultKind::kPause;
                     const bool tb = b.kind == FaultKind::kKillAtTime || b.kind == FaultKind::kPause;
                     if (ta != tb) return !ta;
                     return ta && a.at < b.at;
                   });
  return schedule;
}

}  // namespace shmcheck::harness
