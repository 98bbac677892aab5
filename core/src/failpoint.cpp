#include "shmcheck/core/failpoint.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <string>
#include <utility>
#include <vector>

namespace shmcheck::core {
namespace {

constexpr std::array<FailpointInfo, kFailpointCount> kFailpoints{{
#define SHMCHECK_FAILPOINT_INFO(id, name, what) {FailpointId::id, name, what},
    SHMCHECK_FAILPOINTS(SHMCHECK_FAILPOINT_INFO)
#undef SHMCHECK_FAILPOINT_INFO
}};

// Armed while setting up, read on the hot path: arms[0, count) are written before the
// release store of `count` that publishes them.
struct ArmState {
  std::atomic<bool> armed{false};
  std::atomic<std::uint64_t> hits{0};
  std::array<FailpointArm, kMaxFailpointArms> arms{};
  std::atomic<std::size_t> count{0};
};

std::array<ArmState, kFailpointCount> g_state{};
std::atomic<FailpointObserver> g_observer{nullptr};

std::size_t index_of(FailpointId id) noexcept { return static_cast<std::size_t>(id); }

void sleep_ns(std::uint64_t ns) noexcept {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000ULL), static_cast<long>(ns % 1'000'000'000ULL)};
  while (::nanosleep(&ts, &ts) == -1 && errno == EINTR) {
  }
}

// One arm of a failpoint acting on its hit: the observer first, then the action.
void act(FailpointId id, std::uint64_t n, const FailpointArm& arm) noexcept {
  if (auto* observer = g_observer.load(std::memory_order_acquire)) observer(id, n, arm.action);
  switch (arm.action) {
    case FailpointAction::kKill: {
      // An injected crash is no bug to debug: it leaves no core file (under `ulimit -c
      // unlimited` every SIGABRT, SIGSEGV or SIGBUS kill wrote one into the working
      // directory). The limit comes back if the process catches the signal and goes on.
      rlimit saved{};
      const bool lowered = ::getrlimit(RLIMIT_CORE, &saved) == 0 && saved.rlim_cur != 0;
      if (lowered) {
        const rlimit none{0, saved.rlim_max};
        (void)::setrlimit(RLIMIT_CORE, &none);
      }
      ::raise(arm.signal);  // a signal the process catches or ignores lets it go on
      if (lowered) (void)::setrlimit(RLIMIT_CORE, &saved);
      break;
    }
    case FailpointAction::kExit:
      ::_exit(arm.exit_code);
    case FailpointAction::kPause:
      ::raise(SIGSTOP);
      break;
    case FailpointAction::kDelay:
      sleep_ns(arm.delay_ns);
      break;
  }
}

bool parse_u64(std::string_view text, std::uint64_t& out) noexcept {
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc{} && ptr == end && !text.empty();
}

// "250us" -> ns. Units: ns, us, ms, s.
bool parse_duration_ns(std::string_view text, std::uint64_t& out) noexcept {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  std::uint64_t value = 0;
  if (!parse_u64(text.substr(0, digits), value)) return false;
  const auto unit = text.substr(digits);
  std::uint64_t scale = 0;
  if (unit == "ns")
    scale = 1;
  else if (unit == "us")
    scale = 1'000;
  else if (unit == "ms")
    scale = 1'000'000;
  else if (unit == "s")
    scale = 1'000'000'000;
  else
    return false;
  if (value > UINT64_MAX / scale) return false;
  out = value * scale;
  return true;
}

}  // namespace

std::span<const FailpointInfo> all_failpoints() noexcept { return kFailpoints; }

std::string_view to_string(FailpointId id) noexcept {
  const auto i = index_of(id);
  return i < kFailpointCount ? kFailpoints[i].name : std::string_view("unknown");
}

std::optional<FailpointId> failpoint_from_name(std::string_view name) noexcept {
  for (const auto& fp : kFailpoints) {
    if (fp.name == name) return fp.id;
  }
  return std::nullopt;
}

void arm_failpoint(FailpointId id, const FailpointArm& arm) noexcept {
  auto& st = g_state[index_of(id)];
  st.arms[0] = arm;
  st.count.store(1, std::memory_order_release);
  st.hits.store(0, std::memory_order_relaxed);
  st.armed.store(true, std::memory_order_release);
  detail::g_failpoints_armed.store(true, std::memory_order_release);
}

Result<void> add_failpoint_arm(FailpointId id, const FailpointArm& arm) noexcept {
  auto& st = g_state[index_of(id)];
  if (!st.armed.load(std::memory_order_relaxed)) {
    arm_failpoint(id, arm);
    return {};
  }
  const std::size_t count = st.count.load(std::memory_order_relaxed);
  if (count == kMaxFailpointArms) {
    return make_error(ErrorCode::kLimit, "failpoint arm",
                      std::string(to_string(id)) + ": more than " +
                          std::to_string(kMaxFailpointArms) + " occurrences armed");
  }
  st.arms[count] = arm;
  st.count.store(count + 1, std::memory_order_release);
  return {};
}

void disarm_all_failpoints() noexcept {
  detail::g_failpoints_armed.store(false, std::memory_order_release);
  for (auto& st : g_state) {
    st.armed.store(false, std::memory_order_relaxed);
    st.hits.store(0, std::memory_order_relaxed);
    st.count.store(0, std::memory_order_relaxed);
  }
}

void set_failpoint_observer(FailpointObserver observer) noexcept {
  g_observer.store(observer, std::memory_order_release);
}

std::uint64_t failpoint_hits(FailpointId id) noexcept {
  return g_state[index_of(id)].hits.load(std::memory_order_relaxed);
}

Result<void> arm_failpoints_from_string(std::string_view spec) {
  if (!kFailpointsCompiledIn && !spec.empty()) {
    return make_error(ErrorCode::kUnsupported, "failpoints",
                      "this build has them compiled out (SHMCHECK_NO_FAILPOINTS)");
  }
  // Every item is parsed before anything is armed.
  std::vector<std::pair<FailpointId, FailpointArm>> arms;
  std::array<std::size_t, kFailpointCount> per_point{};
  while (!spec.empty()) {
    const auto semi = spec.find(';');
    const auto item = spec.substr(0, semi);
    spec = semi == std::string_view::npos ? std::string_view{} : spec.substr(semi + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    const auto colon = item.find(':');
    if (eq == std::string_view::npos || colon == std::string_view::npos || colon < eq) {
      return make_error(ErrorCode::kInvalidArgument, "failpoint spec", std::string(item));
    }
    const auto id = failpoint_from_name(item.substr(0, eq));
    if (!id) return make_error(ErrorCode::kInvalidArgument, "unknown failpoint", std::string(item));
    FailpointArm arm;
    if (!parse_u64(item.substr(eq + 1, colon - eq - 1), arm.occurrence) || arm.occurrence == 0) {
      return make_error(ErrorCode::kInvalidArgument, "failpoint occurrence", std::string(item));
    }
    const auto action = item.substr(colon + 1);
    if (action.starts_with("kill")) {
      arm.action = FailpointAction::kKill;
      std::uint64_t sig = SIGKILL;
      if (action.size() > 4 && (action[4] != '=' || !parse_u64(action.substr(5), sig) || sig == 0 ||
                                sig >= static_cast<std::uint64_t>(NSIG))) {
        return make_error(ErrorCode::kInvalidArgument, "failpoint signal", std::string(item));
      }
      arm.signal = static_cast<int>(sig);
    } else if (action == "pause") {
      arm.action = FailpointAction::kPause;
    } else if (action.starts_with("exit")) {
      arm.action = FailpointAction::kExit;
      std::uint64_t code = 0;
      if (action.size() > 4 &&
          (action[4] != '=' || !parse_u64(action.substr(5), code) || code > 255)) {
        return make_error(ErrorCode::kInvalidArgument, "failpoint exit code", std::string(item));
      }
      arm.exit_code = static_cast<int>(code);
    } else if (action.starts_with("delay=")) {
      arm.action = FailpointAction::kDelay;
      if (!parse_duration_ns(action.substr(6), arm.delay_ns)) {
        return make_error(ErrorCode::kInvalidArgument, "failpoint delay", std::string(item));
      }
    } else {
      return make_error(ErrorCode::kInvalidArgument, "failpoint action", std::string(item));
    }
    if (++per_point[index_of(*id)] > kMaxFailpointArms) {
      return make_error(ErrorCode::kLimit, "failpoint spec",
                        std::string(to_string(*id)) + ": more than " +
                            std::to_string(kMaxFailpointArms) + " occurrences armed");
    }
    arms.emplace_back(*id, arm);
  }
  std::array<bool, kFailpointCount> seen{};
  for (const auto& [id, arm] : arms) {
    if (!std::exchange(seen[index_of(id)], true)) {
      arm_failpoint(id, arm);
    } else {
      SHMCHECK_TRY(add_failpoint_arm(id, arm));
    }
  }
  return {};
}

Result<void> arm_failpoints_from_env() {
  const char* env = std::getenv("SHMCHECK_FAILPOINTS");  // NOLINT(concurrency-mt-unsafe): start-up
  if (env == nullptr) return {};
  return arm_failpoints_from_string(env);
}

namespace detail {

void failpoint_hit(FailpointId id) noexcept {
  auto& st = g_state[index_of(id)];
  if (!st.armed.load(std::memory_order_acquire)) return;
  const auto n = st.hits.fetch_add(1, std::memory_order_relaxed) + 1;
  // Each hit number is one caller's (threads count on one counter): the arms of this
  // occurrence act here, in arming order; a kill or an exit ends the loop for good.
  const std::size_t count = st.count.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < count; ++i) {
    if (st.arms[i].occurrence == n) act(id, n, st.arms[i]);
  }
}

}  // namespace detail
}  // namespace shmcheck::core
