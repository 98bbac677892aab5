#include "bench_support.hpp"

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <new>
#include <stdexcept>
#include <thread>
#include <utility>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "shmcheck/core/segment_header.hpp"

namespace shmcheck::bench {

std::uint64_t now_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

namespace {

bool cpu_has_invariant_tsc() {
#if defined(__x86_64__) || defined(__i386__)
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) {
      const auto has = [&](const char* flag) {
        return line.find(std::string(" ") + flag + " ") != std::string::npos ||
               line.ends_with(std::string(" ") + flag);
      };
      return has("constant_tsc") && has("nonstop_tsc");
    }
  }
#endif
  return false;
}

}  // namespace

void SampleClock::calibrate() {
  use_tsc_ = cpu_has_invariant_tsc();
  if (!use_tsc_) {
    ns_per_tick_ = 1.0;
    return;
  }
  // Three 40 ms windows; keep the median rate (a preempted window is an outlier).
  std::vector<double> rates;
  for (int i = 0; i < 3; ++i) {
    const std::uint64_t t0 = now_ns();
    const std::uint64_t c0 = ticks();
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    const std::uint64_t t1 = now_ns();
    const std::uint64_t c1 = ticks();
    rates.push_back(static_cast<double>(t1 - t0) / static_cast<double>(c1 - c0));
  }
  std::sort(rates.begin(), rates.end());
  ns_per_tick_ = rates[1];
}

std::uint64_t SampleClock::ticks() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  if (use_tsc_) return __rdtsc();
#endif
  return now_ns();
}

std::uint64_t SampleClock::ns_to_ticks(double ns) noexcept {
  return static_cast<std::uint64_t>(std::llround(ns / ns_per_tick_));
}

SharedRegion::SharedRegion(std::size_t bytes) : size_(bytes) {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    throw std::runtime_error(std::string("mmap(MAP_SHARED|MAP_ANONYMOUS): ") +
                             std::strerror(errno));
  }
  data_ = p;
  // Touch every page now so no trial pays page faults inside its timed loop.
  std::memset(data_, 0, size_);
}

SharedRegion::SharedRegion(SharedRegion&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SharedRegion::~SharedRegion() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

void Role::start() noexcept {
  arrived_->fetch_add(1, std::memory_order_acq_rel);
  while (arrived_->load(std::memory_order_acquire) < parties_) cpu_relax();
  started_ = true;
  report_->start_ns = now_ns();
}

void Role::stop() noexcept { report_->end_ns = now_ns(); }

void Role::fail(const std::string& why) noexcept {
  report_->failed = 1;
  std::snprintf(report_->error, sizeof(report_->error), "%s", why.c_str());
}

double TrialOutcome::elapsed_seconds() const noexcept {
  std::uint64_t first = UINT64_MAX;
  std::uint64_t last = 0;
  for (const auto& r : roles) {
    first = std::min(first, r.start_ns);
    last = std::max(last, r.end_ns);
  }
  if (last <= first) return 0.0;
  return static_cast<double>(last - first) * 1e-9;
}

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> cpus;
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

namespace {

struct TrialControl {
  alignas(64) std::atomic<std::uint32_t> arrived{0};
  alignas(64) RoleReport reports[8];
};

[[noreturn]] void run_child(const RoleFn& fn, TrialControl* control, std::size_t index,
                            std::uint32_t parties, int cpu) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  RoleReport& report = control->reports[index];
  Role role(&report, &control->arrived, parties);
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (::sched_setaffinity(0, sizeof(set), &set) != 0) {
      role.fail(std::string("sched_setaffinity: ") + std::strerror(errno));
    }
  }
  if (report.failed == 0) {
    try {
      fn(role);
    } catch (const std::exception& e) {
      role.fail(e.what());
    } catch (...) {
      role.fail("unknown exception");
    }
  }
  // A role that failed before the barrier still arrives, so its peer starts,
  // notices nothing arrives and is killed at the deadline rather than hanging here.
  if (!role.started()) control->arrived.fetch_add(1, std::memory_order_acq_rel);
  ::_exit(report.failed != 0 ? 1 : 0);
}

}  // namespace

TrialOutcome run_roles(const std::vector<RoleFn>& roles, const std::vector<int>& cpus,
                       std::chrono::milliseconds deadline) {
  if (roles.empty() || roles.size() > 8) throw std::invalid_argument("run_roles: 1..8 roles");
  SharedRegion region(sizeof(TrialControl));
  auto* control = new (region.data()) TrialControl();
  const auto parties = static_cast<std::uint32_t>(roles.size());

  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<pid_t> pids;
  TrialOutcome outcome;
  for (std::size_t i = 0; i < roles.size(); ++i) {
    const int cpu = cpus.empty() ? -1 : cpus[i % cpus.size()];
    const pid_t pid = ::fork();
    if (pid < 0) {
      outcome.error = std::string("fork: ") + std::strerror(errno);
      for (pid_t p : pids) ::kill(p, SIGKILL);
      for (pid_t p : pids) ::waitpid(p, nullptr, 0);
      return outcome;
    }
    if (pid == 0) run_child(roles[i], control, i, parties, cpu);
    pids.push_back(pid);
  }

  const auto until = std::chrono::steady_clock::now() + deadline;
  std::vector<int> status(pids.size(), 0);
  std::vector<bool> reaped(pids.size(), false);
  std::size_t left = pids.size();
  bool timed_out = false;
  while (left > 0) {
    for (std::size_t i = 0; i < pids.size(); ++i) {
      if (reaped[i]) continue;
      const pid_t r = ::waitpid(pids[i], &status[i], WNOHANG);
      if (r == pids[i]) {
        reaped[i] = true;
        --left;
      }
    }
    if (left == 0) break;
    if (std::chrono::steady_clock::now() > until) {
      timed_out = true;
      for (std::size_t i = 0; i < pids.size(); ++i) {
        if (!reaped[i]) ::kill(pids[i], SIGKILL);
      }
      for (std::size_t i = 0; i < pids.size(); ++i) {
        if (!reaped[i]) ::waitpid(pids[i], &status[i], 0);
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }

  outcome.roles.assign(control->reports, control->reports + roles.size());
  outcome.ok = !timed_out;
  if (timed_out) {
    outcome.error = "timed out after " + std::to_string(deadline.count()) + " ms (killed)";
  }
  for (std::size_t i = 0; i < pids.size() && outcome.ok; ++i) {
    const RoleReport& rep = outcome.roles[i];
    if (rep.failed != 0) {
      outcome.ok = false;
      outcome.error = "role " + std::to_string(i) + ": " + rep.error;
    } else if (WIFSIGNALED(status[i])) {
      outcome.ok = false;
      outcome.error =
          "role " + std::to_string(i) + " killed by signal " + std::to_string(WTERMSIG(status[i]));
    } else if (!WIFEXITED(status[i]) || WEXITSTATUS(status[i]) != 0) {
      outcome.ok = false;
      outcome.error =
          "role " + std::to_string(i) + " exited with " + std::to_string(WEXITSTATUS(status[i]));
    }
  }
  return outcome;
}

Summary summarize(std::vector<double> values) {
  Summary s;
  if (values.empty()) return s;
  s.values = values;
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  s.median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2.0;
  s.min = values.front();
  s.max = values.back();
  return s;
}

std::uint64_t percentile(const std::vector<std::uint64_t>& sorted, double pct) noexcept {
  if (sorted.empty()) return 0;
  const double rank = std::ceil(pct / 100.0 * static_cast<double>(sorted.size()));
  auto index = static_cast<std::size_t>(std::max(rank, 1.0)) - 1;
  index = std::min(index, sorted.size() - 1);
  return sorted[index];
}

std::string unique_name(const std::string& what) {
  return core::segment_name(static_cast<unsigned>(::getuid()), core::new_run_id(), what);
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(colon + 2);
    }
  }
  return "unknown";
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a;
  std::string b;
  std::string c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

}  // namespace shmcheck::bench
