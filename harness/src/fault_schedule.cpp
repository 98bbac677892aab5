#include "shmcheck/harness/fault_schedule.hpp"

#include <signal.h>
#include <string.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>
#include <string_view>
#include <utility>

#include "shmcheck/harness/spec_loader.hpp"
#include "shmcheck/reports/reporter.hpp"

namespace shmcheck::harness {
namespace {

constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

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

const char* to_string(FaultType type) noexcept {
  switch (type) {
    case FaultType::kKillAtFailpoint:
      return "kill_at_failpoint";
    case FaultType::kExitAtFailpoint:
      return "exit_at_failpoint";
    case FaultType::kPauseAtFailpoint:
      return "pause_at_failpoint";
    case FaultType::kKillAtTime:
      return "kill_at_time";
    case FaultType::kPauseAtTime:
      return "pause_at_time";
  }
  return "unknown";
}

bool is_failpoint_fault(FaultType type) noexcept {
  return type == FaultType::kKillAtFailpoint || type == FaultType::kExitAtFailpoint ||
         type == FaultType::kPauseAtFailpoint;
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
  // Not a fault's signal (SIGHUP ends a run too): glibc's abbreviation.
  if (const char* abbrev = ::sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

namespace {

// An instant of the schedule: as the spec would say it when it is whole milliseconds,
// else to the microsecond ("t=393.081ms" for a jittered firing, not "t=393080671ns").
std::string format_instant(std::chrono::nanoseconds at) {
  if (at.count() % 1'000'000 == 0) return format_duration(at);
  char buf[32];
  const double s = std::chrono::duration<double>(at).count();
  if (s < 1) {
    std::snprintf(buf, sizeof buf, "%.3fms", s * 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.6fs", s);
  }
  return buf;
}

}  // namespace

std::string ScheduledFault::describe() const {
  const std::string who = role + "[" + std::to_string(role_index) + "]";
  const std::string tail = restart ? ", restart" : "";
  const auto where = [&] {
    return " at " + std::string(core::to_string(*failpoint)) + " hit " + std::to_string(occurrence);
  };
  switch (type) {
    case FaultType::kKillAtFailpoint:
      return "kill " + who + where() + " (" + signal_name(signal) + ")" + tail;
    case FaultType::kExitAtFailpoint:
      return "exit " + who + where() + " with code " + std::to_string(exit_code) + tail;
    case FaultType::kPauseAtFailpoint:
      return "pause " + who + where() + " for " + format_duration(duration);
    case FaultType::kKillAtTime:
      return "kill " + who + " at t=" + format_instant(at) + " (" + signal_name(signal) + ")" +
             tail;
    case FaultType::kPauseAtTime:
      return "pause " + who + " at t=" + format_instant(at) + " for " + format_duration(duration);
  }
  return "unknown fault";
}

nlohmann::json ScheduledFault::to_json() const {
  nlohmann::json j = {{"rule", rule}, {"type", to_string(type)}, {"worker", worker},
                      {"role", role}, {"restart", restart},      {"description", describe()}};
  if (failpoint) {
    j["failpoint"] = std::string(core::to_string(*failpoint));
    j["occurrence"] = occurrence;
  }
  if (!is_failpoint_fault(type)) j["at_ns"] = at.count();
  if (type == FaultType::kPauseAtTime || type == FaultType::kPauseAtFailpoint) {
    j["duration_ns"] = duration.count();
  }
  if (type == FaultType::kKillAtTime || type == FaultType::kKillAtFailpoint) {
    j["signal"] = signal_name(signal);
  }
  if (type == FaultType::kExitAtFailpoint) j["exit_code"] = exit_code;
  return j;
}

std::string FaultSchedule::arm_string_for(std::size_t worker) const {
  std::string out;
  for (const auto& f : faults) {
    if (f.worker != worker || !f.failpoint || !is_failpoint_fault(f.type)) continue;
    if (!out.empty()) out += ';';
    out += std::string(core::to_string(*f.failpoint)) + "=" + std::to_string(f.occurrence) + ":";
    switch (f.type) {
      case FaultType::kKillAtFailpoint:
        out += f.signal == SIGKILL ? "kill" : "kill=" + std::to_string(f.signal);
        break;
      case FaultType::kExitAtFailpoint:
        out += "exit=" + std::to_string(f.exit_code);
        break;
      default:
        out += "pause";
        break;
    }
  }
  return out;
}

std::string FaultSchedule::describe(std::size_t edge) const {
  std::string out;
  if (faults.empty()) return "  (no faults)\n";
  reports::for_each_capped(
      faults.size(), edge,
      [&](std::size_t i) { out += "  [" + std::to_string(i) + "] " + faults[i].describe() + "\n"; },
      [&](std::size_t skipped) {
        out += "  ... " + std::to_string(skipped) + " more (--json lists every one)\n";
      });
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
    // A failpoint fault on "any" worker picks among those whose role passes the
    // failpoint: a consumer is never killed at ring.push.before_commit.
    std::vector<Role> reaching;
    if (rule.failpoint && rule.target == "any") {
      reaching = roles_reaching(core::to_string(*rule.failpoint));
    }
    const auto passes = [&](const std::string& role) {
      if (reaching.empty()) return true;
      const auto r = role_from_string(role);
      return r && std::ranges::find(reaching, *r) != reaching.end();
    };
    std::vector<std::size_t> candidates;
    for (std::size_t w = 0; w < workers.size(); ++w) {
      if ((rule.target == "any" && passes(workers[w].role)) || workers[w].role == rule.target) {
        candidates.push_back(w);
      }
    }
    if (candidates.empty()) continue;
    const auto make = [&]() {
      ScheduledFault f;
      f.rule = rule.rule_index;
      f.type = rule.type;
      f.worker = candidates[rng.below(candidates.size())];
      f.role = workers[f.worker].role;
      f.role_index = workers[f.worker].role_index;
      f.signal = rule.signal;
      f.exit_code = rule.exit_code;
      f.duration = rule.duration;
      f.restart = rule.restart;
      return f;
    };

    if (is_failpoint_fault(rule.type)) {
      if (!rule.failpoint) continue;
      auto f = make();
      f.failpoint = rule.failpoint;
      f.occurrence = std::max<std::uint64_t>(rule.after, 1);
      if (rule.type == FaultType::kPauseAtFailpoint) f.restart = false;
      schedule.faults.push_back(std::move(f));
      continue;
    }
    // Timed: firings at start, start+every, ... inside the run, each +- jitter.
    const std::int64_t period = rule.every.count();
    std::int64_t t = first_firing(rule.start, rule.every).count();
    // Neither start nor period: once, at a seeded instant in the first 60% of the run.
    if (fires_at_a_seeded_instant(rule.start, rule.every)) {
      // length * 6 wraps past 48 years: in 128 bits, the same instants as ever below that.
      t = draw_between(rng, length / 10,
                       static_cast<std::int64_t>(static_cast<__int128>(length) * 6 / 10));
    }
    // The loader keeps jitter within half a period: firings stay in order, each in its
    // own period (a rule built in code gets the same bound).
    const std::int64_t jitter =
        period > 0 ? std::min(rule.jitter.count(), period / 2) : rule.jitter.count();
    std::uint32_t fired = 0;
    while (t < length && (rule.max == 0 || fired < rule.max)) {
      constexpr std::int64_t kLast = std::numeric_limits<std::int64_t>::max();
      const std::int64_t latest = t > kLast - jitter ? kLast : t + jitter;
      const std::int64_t when =
          std::clamp(draw_between(rng, t - jitter, latest), std::int64_t{0}, length - 1);
      auto f = make();
      f.at = std::chrono::nanoseconds(when);
      if (rule.type == FaultType::kPauseAtTime) {
        f.signal = SIGSTOP;
        f.restart = false;
      }
      schedule.faults.push_back(std::move(f));
      ++fired;
      // The next firing is past the run when the period is at least what is left of it
      // (asked this way, as `t + period` wrapped for a period of 292 years and stayed
      // inside the run for ever).
      if (period <= 0 || period >= length - t) break;
      t += period;
    }
  }
  // Failpoint faults first (they are armed at spawn), timed ones in firing order;
  // stable so equal instants keep rule order.
  std::stable_sort(schedule.faults.begin(), schedule.faults.end(),
                   [](const ScheduledFault& a, const ScheduledFault& b) {
                     const bool ta = !is_failpoint_fault(a.type);
                     const bool tb = !is_failpoint_fault(b.type);
                     if (ta != tb) return !ta;
                     return ta && a.at < b.at;
                   });
  schedule.faults.shrink_to_fit();  // a long soak plans hundreds of thousands
  return schedule;
}

}  // namespace shmcheck::harness
