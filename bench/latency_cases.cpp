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
#include <algorithm>
#include <atomic>
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
template <class Ring>
struct ShmcheckRingChannel {
  Ring* ring;
  void send(std::uint64_t v) noexcept {
    std::byte msg[sizeof(v)];
    std::memcpy(msg, &v, sizeof(v));
    while (!ring->try_push(std::span<const std::byte>(msg, sizeof(msg)))) cpu_relax();
  }
  std::uint64_t recv() {
    // A cache line, not 8 bytes: GCC 12 -O3 cannot see that the popped length is at
    // most message_size (8) and warns (-Warray-bounds) about the ring's >16-byte copy path.
    alignas(64) std::byte msg[64] = {};
    for (;;) {
      const auto r = ring->try_pop(std::span<std::byte>(msg, sizeof(msg)));
      if (r.status == core::PopStatus::kOk) break;
      if (r.status == core::PopStatus::kAbandoned) {
        throw std::runtime_error("ring: abandoned slot with no crash");
      }
      cpu_relax();
    }
    std::uint64_t v = 0;
    std::memcpy(&v, msg, sizeof(v));
    return v;
  }
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

std::vector<Figure> latency_figures(const Options& opts, const std::string& key,
                                    const std::string& name) {
  const std::string group = "Latency between 2 processes, 8 B messages, one every " +
                            std::to_string(static_cast<int>(opts.latency_interval_ns)) +
                            " ns, from the intended send time";
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

}  // namespace

void run_latency_cases(Report& report, const Options& opts) {
  MeasureBatch batch(report, opts);
  batch.add(latency_figures(opts, "pingpong", "cache-line ping-pong (floor)"), opts.latency_samples,
            opts.latency_samples, false, [&](std::uint64_t) {
              SharedRegion region(2 * sizeof(Line));
              auto* lines = new (region.data()) Line[2];
              return echo_trial(opts, LineChannel{&lines[0]}, LineChannel{&lines[0]},
                                LineChannel{&lines[1]}, LineChannel{&lines[1]});
            });
  batch.add(latency_figures(opts, "minimal", "minimal SPSC ring"), opts.latency_samples,
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
    batch.add(latency_figures(opts, key, name), opts.latency_samples, opts.latency_samples, false,
              [&](std::uint64_t) {
                auto ab = RingInRegion<Ring>::create(64, 8);
                auto ba = RingInRegion<Ring>::create(64, 8);
                if (!ab.ok) return trial_failed(ab.error);
                if (!ba.ok) return trial_failed(ba.error);
                using Ch = ShmcheckRingChannel<Ring>;
                return echo_trial(opts, Ch{ab.ring}, Ch{ab.ring}, Ch{ba.ring}, Ch{ba.ring});
              });
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
}

}  // namespace shmcheck::bench
