// Latency across two processes, measured from the intended send time so a
// stall is charged to every message it delays (no coordinated omission).
//
// Role 0 sends an 8-byte message (its intended send time in SampleClock ticks)
// every opts.latency_interval_ns, waiting for that time if it is early and
// sending at once if it is late; role 1 receives it, records one-way latency
// (receive time - intended time: the TSC is invariant and shared by both CPUs)
// and echoes it back; role 0 records the round trip. The floor is the same
// exchange over two bare cache lines: nothing can hand a value to another
// process faster than the cache-coherence round trip that measures.
//
// A second group sends one message a millisecond, so every receiver is asleep when it
// comes: the rings' push_for/pop_for (which sleep on a futex in the ring) against a bare
// futex wake-up, a pipe's blocking read, and the rings polling with short sleeps as
// push_for/pop_for did before they slept on a futex.
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "cases.hpp"
#include "minimal_spsc_ring.hpp"
#include "transport_rings.hpp"

namespace shmcheck::bench {
namespace {

struct alignas(64) Line {
  std::atomic<std::uint64_t> value{0};
};

// A one-way channel: send(v) hands over a non-zero, never-repeated value;
// recv() spins until the next one arrives.
struct LineChannel {
  Line* line;
  std::uint64_t last = 0;
  void send(std::uint64_t v) noexcept { line->value.store(v, std::memory_order_release); }
  std::uint64_t recv() noexcept {
    std::uint64_t v;
    while ((v = line->value.load(std::memory_order_acquire)) == last) cpu_relax();
    last = v;
    return v;
  }
};

struct MinimalRingChannel {
  MinimalSpscRing* ring;
  void send(std::uint64_t v) noexcept {
    while (!ring->try_push(&v, sizeof(v))) cpu_relax();
  }
  std::uint64_t recv() noexcept {
    std::uint64_t v = 0;
    while (!ring->try_pop(&v, sizeof(v))) cpu_relax();
    return v;
  }
};

#if SHMCHECK_BENCH_HAVE_RINGS
struct SpinWait {
  void wait() noexcept { cpu_relax(); }
};

// try_push / try_pop, with Wait::wait() between tries (a fresh Wait per message).
template <class Ring, class Wait = SpinWait>
struct ShmcheckRingChannel {
  Ring* ring;
  void send(std::uint64_t v) noexcept {
    std::byte msg[sizeof(v)];
    std::memcpy(msg, &v, sizeof(v));
    Wait wait;
    while (!ring->try_push(std::span<const std::byte>(msg, sizeof(msg)))) wait.wait();
  }
  std::uint64_t recv() {
    // A cache line, not 8 bytes: GCC 12 -O3 cannot see that the popped length is at
    // most message_size (8) and warns (-Warray-bounds) about the ring's >16-byte copy path.
    alignas(64) std::byte msg[64] = {};
    Wait wait;
    for (;;) {
      const auto r = ring->try_pop(std::span<std::byte>(msg, sizeof(msg)));
      if (r.status == core::PopStatus::kOk) break;
      if (r.status == core::PopStatus::kAbandoned) {
        throw std::runtime_error("ring: abandoned slot with no crash");
      }
      wait.wait();
    }
    std::uint64_t v = 0;
    std::memcpy(&v, msg, sizeof(v));
    return v;
  }
};
#endif

// ---- receivers that sleep: one message a millisecond, so each is asleep when it comes

// A bare futex wake-up: send() publishes the value and wakes; recv() goes straight to
// FUTEX_WAIT until the sequence moves (no spinning first).
struct alignas(64) FutexLine {
  std::atomic<std::uint32_t> seq{0};
  std::atomic<std::uint64_t> value{0};
};

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value) noexcept {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, nullptr, nullptr,
                   0);
}

struct FutexChannel {
  FutexLine* line;
  std::uint32_t seen = 0;
  void send(std::uint64_t v) noexcept {
    line->value.store(v, std::memory_order_relaxed);
    line->seq.fetch_add(1, std::memory_order_release);
    (void)futex(line->seq, FUTEX_WAKE, 1);
  }
  std::uint64_t recv() noexcept {
    std::uint32_t s;
    while ((s = line->seq.load(std::memory_order_acquire)) == seen) {
      (void)futex(line->seq, FUTEX_WAIT, s);  // EAGAIN: it moved already
    }
    seen = s;
    return line->value.load(std::memory_order_relaxed);
  }
};

// A pipe: blocking write and read of the 8 bytes.
struct PipeChannel {
  int read_fd;
  int write_fd;
  void send(std::uint64_t v) const {
    if (::write(write_fd, &v, sizeof(v)) != static_cast<ssize_t>(sizeof(v))) {
      throw std::runtime_error(std::string("pipe write: ") + std::strerror(errno));
    }
  }
  std::uint64_t recv() const {
    std::uint64_t v = 0;
    ssize_t r;
    while ((r = ::read(read_fd, &v, sizeof(v))) < 0 && errno == EINTR) {
    }
    if (r != static_cast<ssize_t>(sizeof(v))) throw std::runtime_error("pipe read: short");
    return v;
  }
};

#if SHMCHECK_BENCH_HAVE_RINGS
// push_for / pop_for: spin, yield, then sleep on the ring's futex until the other side's
// call wakes it.
template <class Ring>
struct BlockingRingChannel {
  Ring* ring;
  void send(std::uint64_t v) {
    std::byte msg[sizeof(v)];
    std::memcpy(msg, &v, sizeof(v));
    if (!ring->push_for(std::span<const std::byte>(msg, sizeof(msg)), std::chrono::seconds(10))) {
      throw std::runtime_error("ring: push_for timed out");
    }
  }
  std::uint64_t recv() {
    alignas(64) std::byte msg[64] = {};  // see ShmcheckRingChannel
    core::PopResult r;
    while ((r = ring->pop_for(std::span<std::byte>(msg, sizeof(msg)), std::chrono::seconds(10)))
               .status != core::PopStatus::kOk) {
      if (r.status == core::PopStatus::kAbandoned) {
        throw std::runtime_error("ring: abandoned slot with no crash");
      }
    }
    std::uint64_t v = 0;
    std::memcpy(&v, msg, sizeof(v));
    return v;
  }
};

// How push_for and pop_for waited before they slept on a futex (up to 966a0bb): the
// same spin (50 us) and yield (to 200 us) phases, then nanosleeps of 2 us doubling to
// 200 us between tries. Kept here as the reference the futex wake-up is measured by.
class PollingWait {
 public:
  void wait() noexcept {
    if (++calls_ % 16 != 0) {
      cpu_relax();
      return;
    }
    const std::uint64_t waited = now_ns() - start_;
    if (waited < 50'000) {
      cpu_relax();
    } else if (waited < 200'000) {
      ::sched_yield();
    } else {
      const timespec ts{0, static_cast<long>(sleep_ns_)};
      ::nanosleep(&ts, nullptr);
      sleep_ns_ = std::min<std::uint64_t>(sleep_ns_ * 2, 200'000);
    }
  }

 private:
  std::uint64_t start_ = now_ns();
  std::uint64_t sleep_ns_ = 2'000;
  std::uint32_t calls_ = 0;
};
#endif

double ticks_to_ns(std::uint64_t ticks) {
  return static_cast<double>(ticks) * SampleClock::ns_per_tick();
}

// Runs the paced echo over channels a->b and b->a. Values: one-way p50, p99,
// round-trip p50, p99 (ns).
template <class Channel>
TrialValue echo_trial(const Options& opts, Channel ab_send, Channel ab_recv, Channel ba_send,
                      Channel ba_recv) {
  const std::uint64_t samples = opts.latency_samples;
  const std::uint64_t warmup = std::min<std::uint64_t>(samples / 10, 1000);
  const std::uint64_t interval =
      std::max<std::uint64_t>(SampleClock::ns_to_ticks(opts.latency_interval_ns), 1);
  const auto outcome =
      run_roles({[&](Role& role) {
                   std::vector<std::uint64_t> rtt;
                   rtt.reserve(samples);
                   role.start();
                   std::uint64_t next = SampleClock::ticks() + interval;
                   for (std::uint64_t i = 0; i < warmup + samples; ++i) {
                     const std::uint64_t intended = next;
                     next += interval;
                     while (SampleClock::ticks() < intended) cpu_relax();
                     ab_send.send(intended);
                     const std::uint64_t echo = ba_recv.recv();
                     const std::uint64_t now = SampleClock::ticks();
                     if (echo != intended) {
                       role.stop();
                       role.fail("echo carried a different value");
                       return;
                     }
                     if (i >= warmup) rtt.push_back(now - intended);
                   }
                   role.stop();
                   std::sort(rtt.begin(), rtt.end());
                   role.report().values[0] = ticks_to_ns(percentile(rtt, 50));
                   role.report().values[1] = ticks_to_ns(percentile(rtt, 99));
                 },
                 [&](Role& role) {
                   std::vector<std::uint64_t> one_way;
                   one_way.reserve(samples);
                   std::uint64_t clock_went_back = 0;
                   role.start();
                   for (std::uint64_t i = 0; i < warmup + samples; ++i) {
                     const std::uint64_t intended = ab_recv.recv();
                     const std::uint64_t now = SampleClock::ticks();
                     std::uint64_t d = 0;
                     if (now >= intended) {
                       d = now - intended;
                     } else {
                       ++clock_went_back;  // TSC skew between the CPUs: count it, record 0
                     }
                     if (i >= warmup) one_way.push_back(d);
                     ba_send.send(intended);
                   }
                   role.stop();
                   std::sort(one_way.begin(), one_way.end());
                   role.report().values[0] = ticks_to_ns(percentile(one_way, 50));
                   role.report().values[1] = ticks_to_ns(percentile(one_way, 99));
                   role.report().values[2] = static_cast<double>(clock_went_back);
                 }},
                opts.cpus, opts.deadline);
  if (!outcome.ok) return trial_failed(outcome.error);
  if (outcome.roles[1].values[2] > static_cast<double>(samples) / 100) {
    return trial_failed("the sample clock differs between the CPUs (" +
                        std::to_string(outcome.roles[1].values[2]) +
                        " one-way samples went back in time)");
  }
  TrialValue t;
  t.ok = true;
  t.seconds = outcome.elapsed_seconds();
  t.values = {outcome.roles[1].values[0], outcome.roles[1].values[1], outcome.roles[0].values[0],
              outcome.roles[0].values[1]};
  return t;
}

#if SHMCHECK_BENCH_HAVE_RINGS
// echo_trial over two fresh rings of 64 x 8 B, one per direction.
template <class Ring, class Channel>
TrialValue ring_echo_trial(const Options& opts) {
  auto ab = RingInRegion<Ring>::create(64, 8);
  auto ba = RingInRegion<Ring>::create(64, 8);
  if (!ab.ok) return trial_failed(ab.error);
  if (!ba.ok) return trial_failed(ba.error);
  return echo_trial(opts, Channel{ab.ring}, Channel{ab.ring}, Channel{ba.ring}, Channel{ba.ring});
}
#endif

std::vector<Figure> latency_figures(const Options& opts, const std::string& group,
                                    const std::string& key, const std::string& name) {
  std::vector<Figure> out;
  for (const char* what : {"one-way p50", "one-way p99", "round-trip p50", "round-trip p99"}) {
    std::string suffix = what;
    std::replace(suffix.begin(), suffix.end(), ' ', '.');
    out.push_back(make_figure("latency." + key + "." + suffix, group, name + " " + what, "ns",
                              Better::kLower,
                              std::to_string(opts.latency_samples) + " samples per repetition"));
  }
  return out;
}

std::string lat(const std::string& key, const char* what) { return "latency." + key + "." + what; }

// One message a millisecond: every receiver is asleep when it comes (a ring's waiter
// spins 50 us and yields to 200 us first), so this measures the wake-up.
void run_sleeping_receiver_cases(Report& report, const Options& base) {
  Options opts = base;
  opts.latency_interval_ns = 1'000'000;
  opts.latency_samples = std::max<std::uint64_t>(base.latency_samples / 25, 50);
  const std::string group =
      "Latency to a sleeping receiver between 2 processes, 8 B, one message every 1 ms, from "
      "the intended send time";
  MeasureBatch batch(report, opts);
  const auto add = [&](const std::string& key, const std::string& name, TrialFn trial) {
    batch.add(latency_figures(opts, group, key, name), opts.latency_samples, opts.latency_samples,
              false, std::move(trial));
  };
  add("sleep.futex", "bare futex wake-up", [&](std::uint64_t) {
    SharedRegion region(2 * sizeof(FutexLine));
    auto* lines = new (region.data()) FutexLine[2];
    return echo_trial(opts, FutexChannel{&lines[0]}, FutexChannel{&lines[0]},
                      FutexChannel{&lines[1]}, FutexChannel{&lines[1]});
  });
  add("sleep.pipe", "pipe, blocking read", [&](std::uint64_t) {
    int ab[2];
    int ba[2];
    if (::pipe(ab) != 0) return trial_failed(std::string("pipe: ") + std::strerror(errno));
    if (::pipe(ba) != 0) {
      ::close(ab[0]);
      ::close(ab[1]);
      return trial_failed(std::string("pipe: ") + std::strerror(errno));
    }
    auto t = echo_trial(opts, PipeChannel{ab[0], ab[1]}, PipeChannel{ab[0], ab[1]},
                        PipeChannel{ba[0], ba[1]}, PipeChannel{ba[0], ba[1]});
    for (int fd : {ab[0], ab[1], ba[0], ba[1]}) ::close(fd);
    return t;
  });
  const std::string futex_ow = lat("sleep.futex", "one-way.p50");
  report.compare(lat("sleep.pipe", "one-way.p50"), futex_ow);
#if SHMCHECK_BENCH_HAVE_RINGS
  const auto ring_case = [&]<class Ring>(const std::string& key, const std::string& name) {
    add("sleep." + key, name + " push_for/pop_for",
        [&](std::uint64_t) { return ring_echo_trial<Ring, BlockingRingChannel<Ring>>(opts); });
    add("sleep." + key + "_polling", name + ", polling with sleeps (before 966a0bb)",
        [&](std::uint64_t) {
          return ring_echo_trial<Ring, ShmcheckRingChannel<Ring, PollingWait>>(opts);
        });
    const std::string ring_ow = lat("sleep." + key, "one-way.p50");
    report.compare(ring_ow, futex_ow);
    report.compare(ring_ow, lat("sleep.pipe", "one-way.p50"));
    report.compare(ring_ow, lat("sleep." + key + "_polling", "one-way.p50"));
    report.compare(lat("sleep." + key, "one-way.p99"),
                   lat("sleep." + key + "_polling", "one-way.p99"));
  };
  ring_case.operator()<core::SpscRing>("spsc", "shmcheck SpscRing");
  ring_case.operator()<core::MpmcRing>("mpmc", "shmcheck MpmcRing");
#endif
  batch.run();
}

}  // namespace

void run_latency_cases(Report& report, const Options& opts) {
  const std::string group = "Latency between 2 processes, 8 B messages, one every " +
                            std::to_string(static_cast<int>(opts.latency_interval_ns)) +
                            " ns, from the intended send time";
  MeasureBatch batch(report, opts);
  batch.add(latency_figures(opts, group, "pingpong", "cache-line ping-pong (floor)"),
            opts.latency_samples, opts.latency_samples, false, [&](std::uint64_t) {
              SharedRegion region(2 * sizeof(Line));
              auto* lines = new (region.data()) Line[2];
              return echo_trial(opts, LineChannel{&lines[0]}, LineChannel{&lines[0]},
                                LineChannel{&lines[1]}, LineChannel{&lines[1]});
            });
  batch.add(latency_figures(opts, group, "minimal", "minimal SPSC ring"), opts.latency_samples,
            opts.latency_samples, false, [&](std::uint64_t) {
              const std::uint32_t capacity = 64;
              const std::size_t bytes = MinimalSpscRing::bytes_needed(capacity, 8);
              SharedRegion ab(bytes);
              SharedRegion ba(bytes);
              auto* r_ab = MinimalSpscRing::create_at(ab.data(), capacity, 8);
              auto* r_ba = MinimalSpscRing::create_at(ba.data(), capacity, 8);
              return echo_trial(opts, MinimalRingChannel{r_ab}, MinimalRingChannel{r_ab},
                                MinimalRingChannel{r_ba}, MinimalRingChannel{r_ba});
            });
  const std::string floor_ow = lat("pingpong", "one-way.p50");
  report.compare(lat("minimal", "one-way.p50"), floor_ow);
#if SHMCHECK_BENCH_HAVE_RINGS
  const auto ring_case = [&]<class Ring>(const std::string& key, const std::string& name) {
    batch.add(
        latency_figures(opts, group, key, name), opts.latency_samples, opts.latency_samples, false,
        [&](std::uint64_t) { return ring_echo_trial<Ring, ShmcheckRingChannel<Ring>>(opts); });
    report.compare(lat(key, "one-way.p50"), floor_ow, at_most(2.5, "<= 2.5x"));
    report.compare(lat(key, "one-way.p99"), lat("pingpong", "one-way.p99"));
    report.compare(lat(key, "round-trip.p50"), lat("pingpong", "round-trip.p50"));
    report.compare(lat(key, "one-way.p50"), lat("minimal", "one-way.p50"));
  };
  ring_case.operator()<core::SpscRing>("spsc", "shmcheck SpscRing");
  ring_case.operator()<core::MpmcRing>("mpmc", "shmcheck MpmcRing");
#else
  report.omit("shmcheck ring latency",
              "core/include/shmcheck/core/spsc_ring.hpp and mpmc_ring.hpp not in this build");
#endif
  batch.run();
  run_sleeping_receiver_cases(report, opts);
}

}  // namespace shmcheck::bench
