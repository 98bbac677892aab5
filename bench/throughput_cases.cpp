// Throughput across two processes: one producer, one consumer, fixed-size
// messages, each carrying its sequence number, which the consumer checks (a
// transport that loses or reorders a message fails its figure). Rings spin on
// try_push/try_pop; pipe, socketpair and message_queue use their blocking calls,
// as a user of them would.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/interprocess/ipc/message_queue.hpp>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "cases.hpp"
#include "minimal_spsc_ring.hpp"
#include "ring_roles.hpp"
#include "transport_rings.hpp"

namespace shmcheck::bench {
namespace {

namespace bip = boost::interprocess;

constexpr std::uint32_t kSizes[] = {8, 64, 1024};

template <class Fn>
auto with_size(std::uint32_t size, Fn&& fn) {
  switch (size) {
    case 8:
      return fn(std::integral_constant<std::size_t, 8>{});
    case 64:
      return fn(std::integral_constant<std::size_t, 64>{});
    default:
      return fn(std::integral_constant<std::size_t, 1024>{});
  }
}

TrialValue rate_of(const TrialOutcome& outcome, std::uint64_t n) {
  if (!outcome.ok) return trial_failed(outcome.error);
  TrialValue t;
  t.ok = true;
  t.seconds = outcome.elapsed_seconds();
  if (t.seconds <= 0) return trial_failed("no time elapsed");
  t.values = {static_cast<double>(n) / t.seconds / 1e6};
  return t;
}

// --- reference: the minimal cached-index SPSC ring -----------------------------

TrialValue minimal_ring_trial(const Options& opts, std::uint32_t size, std::uint64_t n) {
  const std::uint32_t capacity = ring_capacity(opts, size);
  SharedRegion region(MinimalSpscRing::bytes_needed(capacity, size));
  MinimalSpscRing* ring = MinimalSpscRing::create_at(region.data(), capacity, size);
  return with_size(size, [&](auto tag) {
    constexpr std::size_t kSize = decltype(tag)::value;
    const auto outcome = run_roles({[&](Role& role) {
                                      produce<kSize>(role, n, [&](const std::byte* m) {
                                        while (!ring->try_push(m, kSize)) back_off();
                                      });
                                    },
                                    [&](Role& role) {
                                      consume<kSize>(role, n, [&](std::byte* m) {
                                        while (!ring->try_pop(m, kSize)) back_off();
                                      });
                                    }},
                                   opts.cpus, opts.deadline);
    return rate_of(outcome, n);
  });
}

// --- byte streams: pipe, socketpair --------------------------------------------

void write_all(int fd, const std::byte* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("write: ") + std::strerror(errno));
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void read_all(int fd, std::byte* p, std::size_t n) {
  while (n > 0) {
    const ssize_t r = ::read(fd, p, n);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("read: ") + std::strerror(errno));
    }
    if (r == 0) throw std::runtime_error("read: unexpected end of stream");
    p += r;
    n -= static_cast<std::size_t>(r);
  }
}

class FdPair {
 public:
  FdPair() = default;
  ~FdPair() {
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  FdPair(const FdPair&) = delete;
  FdPair& operator=(const FdPair&) = delete;
  int* fds() noexcept { return fds_; }
  [[nodiscard]] int read_end() const noexcept { return fds_[0]; }
  [[nodiscard]] int write_end() const noexcept { return fds_[1]; }

 private:
  int fds_[2] = {-1, -1};
};

TrialValue stream_trial(const Options& opts, std::uint32_t size, std::uint64_t n, bool socket) {
  FdPair fds;
  const int rc = socket ? ::socketpair(AF_UNIX, SOCK_STREAM, 0, fds.fds()) : ::pipe(fds.fds());
  if (rc != 0)
    return trial_failed(std::string(socket ? "socketpair: " : "pipe: ") + std::strerror(errno));
  return with_size(size, [&](auto tag) {
    constexpr std::size_t kSize = decltype(tag)::value;
    const auto outcome = run_roles(
        {[&](Role& role) {
           produce<kSize>(role, n,
                          [&](const std::byte* m) { write_all(fds.write_end(), m, kSize); });
         },
         [&](Role& role) {
           consume<kSize>(role, n, [&](std::byte* m) { read_all(fds.read_end(), m, kSize); });
         }},
        opts.cpus, opts.deadline);
    return rate_of(outcome, n);
  });
}

// --- Boost.Interprocess message_queue -------------------------------------------

// Creates the queue under a run-unique name and removes the name when done.
class ScopedMessageQueue {
 public:
  ScopedMessageQueue(std::uint32_t capacity, std::uint32_t size)
      : name_(unique_name("bench_mq").substr(1)),  // boost adds the leading '/'
        queue_(bip::create_only, name_.c_str(), capacity, size) {}
  ~ScopedMessageQueue() { bip::message_queue::remove(name_.c_str()); }
  ScopedMessageQueue(const ScopedMessageQueue&) = delete;
  ScopedMessageQueue& operator=(const ScopedMessageQueue&) = delete;
  [[nodiscard]] const std::string& name() const noexcept { return name_; }

 private:
  std::string name_;
  bip::message_queue queue_;
};

TrialValue message_queue_trial(const Options& opts, std::uint32_t size, std::uint64_t n) {
  try {
    ScopedMessageQueue scoped(ring_capacity(opts, size), size);
    return with_size(size, [&](auto tag) {
      constexpr std::size_t kSize = decltype(tag)::value;
      const auto outcome =
          run_roles({[&](Role& role) {
                       bip::message_queue mq(bip::open_only, scoped.name().c_str());
                       produce<kSize>(role, n, [&](const std::byte* m) { mq.send(m, kSize, 0); });
                     },
                     [&](Role& role) {
                       bip::message_queue mq(bip::open_only, scoped.name().c_str());
                       consume<kSize>(role, n, [&](std::byte* m) {
                         bip::message_queue::size_type received = 0;
                         unsigned priority = 0;
                         mq.receive(m, kSize, received, priority);
                         if (received != kSize)
                           throw std::runtime_error("message_queue: short message");
                       });
                     }},
                    opts.cpus, opts.deadline);
      return rate_of(outcome, n);
    });
  } catch (const std::exception& e) {
    return trial_failed(std::string("message_queue: ") + e.what());
  }
}

// --- shmcheck rings ---------------------------------------------------------------

#if SHMCHECK_BENCH_HAVE_RINGS
template <class Ring>
TrialValue shmcheck_ring_trial(const Options& opts, std::uint32_t size, std::uint64_t n) {
  const std::uint32_t capacity = ring_capacity(opts, size);
  auto ring_or = RingInRegion<Ring>::create(capacity, size);
  if (!ring_or.ok) return trial_failed(ring_or.error);
  Ring* ring = ring_or.ring;
  return with_size(size, [&](auto tag) {
    constexpr std::size_t kSize = decltype(tag)::value;
    const auto outcome = run_roles(shmcheck_ring_roles<kSize>(*ring, n), opts.cpus, opts.deadline);
    return rate_of(outcome, n);
  });
}

TrialValue spsc_burst_trial(const Options& opts, std::uint32_t size, std::uint64_t n) {
  auto ring_or = RingInRegion<core::SpscRing>::create(ring_capacity(opts, size), size);
  if (!ring_or.ok) return trial_failed(ring_or.error);
  core::SpscRing* ring = ring_or.ring;
  return with_size(size, [&](auto tag) {
    constexpr std::size_t kSize = decltype(tag)::value;
    const auto outcome = run_roles(burst_ring_roles<kSize>(*ring, n), opts.cpus, opts.deadline);
    return rate_of(outcome, n);
  });
}
#endif

std::string size_label(std::uint32_t size) {
  return size >= 1024 ? std::to_string(size / 1024) + " KiB" : std::to_string(size) + " B";
}

Figure tput(const std::string& key, const std::string& name, std::uint32_t size,
            const std::string& note) {
  return make_figure(
      "throughput." + key + "." + std::to_string(size),
      "Throughput, 1 producer -> 1 consumer process, " + size_label(size) + " messages",
      name + " " + size_label(size), "M msg/s", Better::kHigher, note);
}

std::string id(const std::string& key, std::uint32_t size) {
  return "throughput." + key + "." + std::to_string(size);
}

}  // namespace

void run_throughput_cases(Report& report, const Options& opts) {
  const std::uint64_t fast_ops = opts.quick ? 20'000 : 200'000;
  const std::uint64_t slow_ops = opts.quick ? 2'000 : 10'000;
  const std::uint64_t fast_max = 400'000'000;
  const std::uint64_t slow_max = 20'000'000;
  for (const std::uint32_t size : kSizes) {
    const std::string cap = "capacity " + std::to_string(ring_capacity(opts, size)) + " messages";
    MeasureBatch batch(report, opts);
    batch.add(
        {tput("minimal", "minimal SPSC ring (reference)", size,
              "cached-index SPSC ring written for the comparison; 64 pauses when full/empty; " +
                  cap)},
        fast_ops, fast_max, true,
        [&](std::uint64_t n) { return minimal_ring_trial(opts, size, n); });
#if SHMCHECK_BENCH_HAVE_RINGS
    batch.add({tput("spsc", "shmcheck SpscRing", size,
                    "try_push/try_pop, 64 pauses when full/empty; " + cap)},
              fast_ops, fast_max, true,
              [&](std::uint64_t n) { return shmcheck_ring_trial<core::SpscRing>(opts, size, n); });
    batch.add({tput("spsc_burst", "shmcheck SpscRing, bursts of 32", size,
                    "try_push_burst/try_pop_burst of up to 32 messages, 64 pauses when "
                    "full/empty; " +
                        cap)},
              fast_ops, fast_max, true,
              [&](std::uint64_t n) { return spsc_burst_trial(opts, size, n); });
    batch.add({tput("mpmc", "shmcheck MpmcRing (1P/1C)", size,
                    "try_push/try_pop, 64 pauses when full/empty; " + cap)},
              fast_ops, fast_max, true,
              [&](std::uint64_t n) { return shmcheck_ring_trial<core::MpmcRing>(opts, size, n); });
#endif
    batch.add({tput("mq", "Boost message_queue", size,
                    "boost::interprocess::message_queue, blocking send/receive; " + cap)},
              slow_ops, slow_max, true,
              [&](std::uint64_t n) { return message_queue_trial(opts, size, n); });
    batch.add({tput("pipe", "pipe", size, "pipe(2), one blocking write/read per message")},
              slow_ops, slow_max, true,
              [&](std::uint64_t n) { return stream_trial(opts, size, n, false); });
    batch.add({tput("socketpair", "Unix socketpair", size,
                    "socketpair(AF_UNIX, SOCK_STREAM), one blocking write/read per message")},
              slow_ops, slow_max, true,
              [&](std::uint64_t n) { return stream_trial(opts, size, n, true); });
    batch.run();

    if (kHaveShmcheckRings) {
      const bool targeted = size == 8;
      for (const char* ring : {"spsc", "mpmc"}) {
        const bool t = targeted && std::string(ring) == "spsc";
        report.compare(id(ring, size), id("mq", size),
                       t ? std::optional(at_least(50, ">= 50x")) : std::nullopt);
        report.compare(id(ring, size), id("pipe", size),
                       t ? std::optional(at_least(50, ">= 50x")) : std::nullopt);
        report.compare(id(ring, size), id("socketpair", size));
        report.compare(id(ring, size), id("minimal", size),
                       t ? std::optional(at_least(0.8, ">= 0.8x")) : std::nullopt);
      }
      // Bursts: what a caller with several messages at hand gets. The targets stay on
      // the one-message-per-call row, which compares like with like.
      for (const char* ref : {"mq", "pipe", "minimal", "spsc"}) {
        report.compare(id("spsc_burst", size), id(ref, size));
      }
    } else {
      report.compare(id("minimal", size), id("mq", size));
      report.compare(id("minimal", size), id("pipe", size));
    }
  }
  if (!kHaveShmcheckRings) {
    report.omit("shmcheck SpscRing/MpmcRing throughput",
                "core/include/shmcheck/core/spsc_ring.hpp and mpmc_ring.hpp not in this build");
  }
}

}  // namespace shmcheck::bench
