#include "shmcheck/reports/prometheus_metrics.hpp"

#include <arpa/inet.h>
#include <civetweb.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <prometheus/exposer.h>
#include <prometheus/gateway.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstring>
#include <exception>
#include <future>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>
#include <system_error>
#include <thread>

#include "shmcheck/core/posix_call.hpp"
#include "shmcheck/reports/reporter.hpp"

namespace shmcheck::reports {
namespace {

// A TCP port: digits only, at most 65535 (0, "any free port", only where zero_ok).
std::optional<std::uint16_t> parse_port(std::string_view text, bool zero_ok) {
  unsigned value = 0;
  const auto* end = text.data() + text.size();
  const auto [p, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || p != end || value > 65535) return std::nullopt;
  if (value == 0 && !zero_ok) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::atomic<std::uint64_t> g_scrapes{0};

ClientMetric::Label label(std::string name, std::string value) {
  return {std::move(name), std::move(value)};
}

ClientMetric with_value(MetricType type, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  return m;
}

ClientMetric histogram(std::vector<ClientMetric::Label> labels,
                       const probes::HistogramSnapshot& h) {
  ClientMetric m;
  m.label = std::move(labels);
  m.histogram.sample_count = h.count;
  m.histogram.sample_sum = h.sum_seconds();
  const auto cumulative = h.cumulative();
  for (std::size_t i = 0; i < cumulative.size(); ++i) {
    ClientMetric::Bucket b;
    b.cumulative_count = cumulative[i];
    b.upper_bound = i < probes::kHistogramBoundsNs.size() ? probes::histogram_bound_seconds(i)
                                                          : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(b);
  }
  return m;
}

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

}  // namespace

RunMetricsSnapshot snapshot_of(const probes::RunResult& run) {
  RunMetricsSnapshot s;
  s.spec = run.spec_name;
  s.roles = run.roles;
  s.rings = run.rings;
  if (run.integrity) {
    const auto& c = run.integrity->counts;
    s.violations = {{"lost", c.lost},
                    {"duplicated", c.duplicated},
                    {"torn", c.torn},
                    {"reordered", c.reordered},
                    {"unexpected", c.unexpected},
                    {"abandoned_unexplained", c.abandoned_unexplained}};
    s.crash_effects = {{"recovered", c.recovered},
                       {"redelivered", c.redelivered},
                       {"abandoned", c.abandoned},
                       {"in_flight_dropped", c.in_flight_dropped},
                       {"lost_at_crash", c.lost_at_crash}};
  }
  std::uint64_t exclusion = 0;
  for (const auto& m : run.mutexes) exclusion += m.snapshot.exclusion_violations;
  if (!run.mutexes.empty()) s.violations["mutual_exclusion"] = exclusion;
  s.violations["stalled"] = run.stalls.size();
  // The faults that fired, from the schedule: a run cut short by a signal has its
  // schedule's outcomes but no workers' (a final push said 0 kills of one that fired).
  for (const auto& f : run.fault_schedule) {
    if (f.status == probes::FaultStatus::kFired) ++s.faults[f.kind];
  }
  s.workers["exited"] = run.workers.size();
  s.progress_ratio = 1;
  s.elapsed_s = run.durations.run_s;
  s.exit_code = run.exit_code;
  return s;
}

namespace {

// Which per-role counters a role can move: a series that stays 0 by construction (a
// producer's lock acquisitions, a locker's full ring) is clutter on a dashboard and a
// series to store. A role this list does not know gets them all.
struct RoleCounters {
  bool payload = false;
  bool ring_full = false;
  bool ring_empty = false;
  bool abandoned = false;
  bool lock = false;  // acquisitions, contended, owner died, repairs
};

RoleCounters counters_of(std::string_view role) {
  if (role == "producer") return {.payload = true, .ring_full = true};
  if (role == "consumer") return {.payload = true, .ring_empty = true, .abandoned = true};
  if (role == "locker") return {.lock = true};
  if (role == "writer" || role == "reader") return {.payload = true};
  if (role == "poster" || role == "waiter") return {};
  return {.payload = true, .ring_full = true, .ring_empty = true, .abandoned = true, .lock = true};
}

}  // namespace

std::vector<MetricFamily> run_metric_families(const std::vector<RunMetricsSnapshot>& runs) {
  auto ops = family("shmcheck_ops_total", "Operations completed by workers.", MetricType::Counter);
  auto bytes = family("shmcheck_payload_bytes_total", "Payload bytes moved by workers.",
                      MetricType::Counter);
  auto full =
      family("shmcheck_ring_full_total", "Pushes that found the ring full.", MetricType::Counter);
  auto empty =
      family("shmcheck_ring_empty_total", "Pops that found the ring empty.", MetricType::Counter);
  auto abandoned =
      family("shmcheck_ring_abandoned_total",
             "Slots skipped because their claimer was proved dead.", MetricType::Counter);
  auto acquisitions =
      family("shmcheck_lock_acquisitions_total", "Mutex acquisitions.", MetricType::Counter);
  auto contended = family("shmcheck_lock_contended_total", "Mutex acquisitions that had to wait.",
                          MetricType::Counter);
  auto owner_died =
      family("shmcheck_lock_owner_died_total",
             "Acquisitions that found the previous owner dead (EOWNERDEAD).", MetricType::Counter);
  auto repairs = family("shmcheck_lock_repairs_total",
                        "Protected records repaired after an owner died.", MetricType::Counter);
  auto lock_wait = family("shmcheck_lock_wait_seconds", "Time from lock() to acquisition.",
                          MetricType::Histogram);
  auto ring_wait =
      family("shmcheck_ring_wait_seconds",
             "How long each full (producer) or empty (consumer) event lasted: from the push or "
             "pop that found the ring so to the one that moved.",
             MetricType::Histogram);
  auto sleeps = family("shmcheck_ring_futex_sleeps_total",
                       "Futex sleeps of calls waiting on a full or empty ring (the ring's own "
                       "count).",
                       MetricType::Counter);
  auto wakeups = family("shmcheck_ring_futex_wakeups_total",
                        "Futex wake-ups sent to calls sleeping on a ring (the ring's own "
                        "count).",
                        MetricType::Counter);
  auto latency = family("shmcheck_message_latency_seconds",
                        "Latency from the intended send time to delivery (or op latency).",
                        MetricType::Histogram);
  auto violations =
      family("shmcheck_integrity_violations_total",
             "Integrity violations found by the checker, by kind.", MetricType::Counter);
  auto crash_effects =
      family("shmcheck_integrity_crash_effects_total",
             "Messages a crash affected, by what became of them; explained by the crash, so not "
             "violations (recovered, redelivered, abandoned, in_flight_dropped, lost_at_crash).",
             MetricType::Counter);
  auto faults =
      family("shmcheck_faults_injected_total", "Faults injected, by kind.", MetricType::Counter);
  auto workers = family("shmcheck_workers", "Workers by state.", MetricType::Gauge);
  auto progress =
      family("shmcheck_run_progress_ratio", "Fraction of the run done (0..1).", MetricType::Gauge);
  auto elapsed = family("shmcheck_run_elapsed_seconds", "Seconds since the workers started.",
                        MetricType::Gauge);
  auto exit_code =
      family("shmcheck_run_exit_code",
             "Exit code of a finished spec (0 pass, 1 fail, 2 usage, 3 environment, 4 internal).",
             MetricType::Gauge);

  for (const auto& run : runs) {
    for (const auto& role : run.roles) {
      const auto& st = role.stats;
      for (std::size_t op = 1; op < probes::kWorkerOpCount; ++op) {
        if (st.ops[op] == 0) continue;
        ops.metric.push_back(with_value(
            MetricType::Counter,
            {label("op", std::string(probes::to_string(static_cast<probes::WorkerOp>(op)))),
             label("role", role.role), label("spec", run.spec)},
            static_cast<double>(st.ops[op])));
      }
      const std::vector<ClientMetric::Label> rl = {label("role", role.role),
                                                   label("spec", run.spec)};
      const auto add = [&](MetricFamily& f, std::uint64_t v) {
        f.metric.push_back(with_value(MetricType::Counter, rl, static_cast<double>(v)));
      };
      const RoleCounters applies = counters_of(role.role);
      if (applies.payload) add(bytes, st.bytes);
      if (applies.ring_full) add(full, st.full_events);
      if (applies.ring_empty) add(empty, st.empty_events);
      if (applies.abandoned) add(abandoned, st.abandoned);
      if (applies.lock) {
        add(acquisitions, st.lock_acquisitions);
        add(contended, st.lock_waits);
        add(owner_died, st.owner_died);
        add(repairs, st.repairs);
      }
      if (st.lock_acquisitions > 0 || st.lock_wait.count > 0)
        lock_wait.metric.push_back(histogram(rl, st.lock_wait));
      if (st.ring_wait.count > 0) ring_wait.metric.push_back(histogram(rl, st.ring_wait));
      if (st.latency.count > 0) latency.metric.push_back(histogram(rl, st.latency));
    }
    for (const auto& ring : run.rings) {
      const std::vector<ClientMetric::Label> gl = {label("object", ring.object),
                                                   label("spec", run.spec)};
      sleeps.metric.push_back(
          with_value(MetricType::Counter, gl, static_cast<double>(ring.sleeps)));
      wakeups.metric.push_back(
          with_value(MetricType::Counter, gl, static_cast<double>(ring.wakeups)));
    }
    for (const auto& [kind, n] : run.violations) {
      violations.metric.push_back(with_value(MetricType::Counter,
                                             {label("kind", kind), label("spec", run.spec)},
                                             static_cast<double>(n)));
    }
    for (const auto& [kind, n] : run.crash_effects) {
      crash_effects.metric.push_back(with_value(MetricType::Counter,
                                                {label("kind", kind), label("spec", run.spec)},
                                                static_cast<double>(n)));
    }
    for (const auto& kind : {"kill", "exit", "pause"}) {
      const auto it = run.faults.find(kind);
      faults.metric.push_back(
          with_value(MetricType::Counter, {label("kind", kind), label("spec", run.spec)},
                     it == run.faults.end() ? 0.0 : static_cast<double>(it->second)));
    }
    for (const auto& [state, n] : run.workers) {
      workers.metric.push_back(with_value(MetricType::Gauge,
                                          {label("spec", run.spec), label("state", state)},
                                          static_cast<double>(n)));
    }
    progress.metric.push_back(
        with_value(MetricType::Gauge, {label("spec", run.spec)}, run.progress_ratio));
    elapsed.metric.push_back(
        with_value(MetricType::Gauge, {label("spec", run.spec)}, run.elapsed_s));
    if (run.exit_code) {
      exit_code.metric.push_back(
          with_value(MetricType::Gauge, {label("spec", run.spec)}, *run.exit_code));
    }
  }
  std::vector<MetricFamily> out;
  for (auto* f : {&ops,       &bytes,      &full,       &empty,         &abandoned, &acquisitions,
                  &contended, &owner_died, &repairs,    &lock_wait,     &ring_wait, &sleeps,
                  &wakeups,   &latency,    &violations, &crash_effects, &faults,    &workers,
                  &progress,  &elapsed,    &exit_code}) {
    if (!f->metric.empty()) out.push_back(std::move(*f));
  }
  return out;
}

std::string to_text(const std::vector<MetricFamily>& families) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

void MetricsCollector::publish(std::vector<MetricFamily> families) {
  std::lock_guard lock(mu_);
  families_ = std::move(families);
}

std::vector<MetricFamily> MetricsCollector::Collect() const {
  g_scrapes.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  return families_;
}

namespace {

// Binds a TCP socket to host:port (IPv4) as civetweb would (SO_REUSEADDR) and closes
// it: the errno of the failure, 0 when it binds, or nullopt with `why` set when the
// host does not resolve.
std::optional<int> try_bind(const std::string& host, std::uint16_t port, std::string* why,
                            in_addr* resolved = nullptr) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); rc != 0) {
    *why = ::gai_strerror(rc);
    return std::nullopt;
  }
  sockaddr_in addr{};
  std::memcpy(&addr, found->ai_addr, sizeof addr);
  ::freeaddrinfo(found);
  addr.sin_port = htons(port);
  if (resolved != nullptr) *resolved = addr.sin_addr;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

// A subnet's broadcast address (192.168.1.255 on a /24): the kernel binds it, and
// nothing connects.
bool is_broadcast_of_an_interface(in_addr address) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return false;
  bool found = false;
  for (const ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
    if ((i->ifa_flags & IFF_BROADCAST) == 0 || i->ifa_broadaddr == nullptr ||
        i->ifa_broadaddr->sa_family != AF_INET) {
      continue;
    }
    sockaddr_in broadcast{};
    std::memcpy(&broadcast, i->ifa_broadaddr, sizeof broadcast);
    found = broadcast.sin_addr.s_addr == address.s_addr;
  }
  ::freeifaddrs(list);
  return found;
}

}  // namespace

core::Result<void> MetricsServer::check_address(const std::string& host_port) {
  const auto bad = [&](const std::string& why) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "metrics listen address",
                            "'" + host_port + "': " + why);
  };
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == host_port.size()) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "metrics listen address",
                            "expected HOST:PORT, got '" + host_port + "'");
  }
  if (!parse_port(host_port.substr(colon + 1), /*zero_ok=*/true)) {
    return bad("port is not a number in 0..65535");
  }
  const std::string host = host_port.substr(0, colon);
  if (host.front() == '[' || host.find(':') != std::string::npos) {
    // Debian's civetweb is built without IPv6 (mg_check_feature(8) is 0): it failed
    // with "null context when constructing CivetServer".
    if (::mg_check_feature(8) == 0) {
      return bad(
          "IPv6 addresses cannot be served: this build's HTTP server (civetweb) has "
          "no IPv6; use an IPv4 address such as 127.0.0.1 or 0.0.0.0");
    }
    return {};
  }
  // A number in another form ("127.1", "0x7f000001", "127.000.000.001") resolves here,
  // but the HTTP server reads only the usual one, and failed to start as if the port
  // were taken (exit 3).
  in_addr parsed{};
  if (::inet_aton(host.c_str(), &parsed) != 0 && ::inet_pton(AF_INET, host.c_str(), &parsed) != 1) {
    return bad(
        "write the IPv4 address as four decimal numbers without leading zeros "
        "(e.g. 127.0.0.1)");
  }
  std::string why;
  in_addr address{};
  const auto err = try_bind(host, 0, &why, &address);
  if (!err) return bad("host '" + host + "' does not resolve to an IPv4 address (" + why + ")");
  // The kernel binds a multicast or the broadcast address, and nothing ever connects:
  // the metrics were out of reach for the whole run.
  const std::uint32_t a = ntohl(address.s_addr);
  if (IN_MULTICAST(a) || a == INADDR_BROADCAST || is_broadcast_of_an_interface(address)) {
    return bad(
        "a multicast or broadcast address cannot serve HTTP; use 127.0.0.1 or an "
        "address of this machine");
  }
  if (*err == EADDRNOTAVAIL) return bad("'" + host + "' is not an address of this machine");
  return {};
}

core::Result<std::unique_ptr<MetricsServer>> MetricsServer::listen(const std::string& host_port) {
  if (auto ok = check_address(host_port); !ok) return std::move(ok).error();
  std::unique_ptr<MetricsServer> server(new MetricsServer());
  server->collector_ = std::make_shared<MetricsCollector>();
  try {
    server->exposer_ = std::make_unique<prometheus::Exposer>(host_port, 2);
  } catch (const std::exception& e) {
    // civetweb says only "null context when constructing CivetServer. Possible problem
    // binding to port."; a bind of our own asks the kernel why.
    const auto colon = host_port.rfind(':');
    std::string why;
    const auto err = try_bind(host_port.substr(0, colon),
                              *parse_port(host_port.substr(colon + 1), /*zero_ok=*/true), &why);
    if (err && *err != 0) {
      return core::make_error(core::ErrorCode::kExists, "metrics listen",
                              "cannot serve on " + host_port, *err);
    }
    return core::make_error(core::ErrorCode::kExists, "metrics listen",
                            "cannot serve on " + host_port + ": " + e.what());
  }
  server->exposer_->RegisterCollectable(server->collector_);
  const auto ports = server->exposer_->GetListeningPorts();
  if (ports.empty()) {
    return core::make_error(core::ErrorCode::kOther, "metrics listen", "no listening port");
  }
  server->port_ = ports.front();
  // Where the stop's wake-up connects: the bound address, or loopback for 0.0.0.0.
  const std::string host = host_port.substr(0, host_port.rfind(':'));
  std::string unused;
  in_addr bound{};
  if (!try_bind(host, 0, &unused, &bound)) {
    server->wake_address_ = 0;  // not IPv4 ([::1]): no waker
  } else if (bound.s_addr != htonl(INADDR_ANY)) {
    server->wake_address_ = bound.s_addr;
  } else {
    server->wake_address_ = htonl(INADDR_LOOPBACK);
  }
  return server;
}

MetricsServer::~MetricsServer() {
  if (!exposer_) return;
  if (wake_address_ == 0 || port_ == 0) return;  // not IPv4 here: civetweb's own stop
  // civetweb's stop waits for its listening thread, which polls its sockets 2 s at a
  // time (SOCKET_TIMEOUT_QUANTUM, built in): every run with --metrics-listen, and every
  // `audit --serve` stopped by a signal, ended 1.7 s late on average. A connection
  // wakes the poll, and the thread sees the stop at once.
  std::atomic<bool> stopped{false};
  std::optional<std::thread> waker;
  try {
    waker.emplace([&stopped, address = wake_address_, port = port_] {
      while (!stopped.load(std::memory_order_relaxed)) {
        // Non-blocking: the SYN is what wakes the poll, and a connect that no answer
        // comes to (a firewall) must not hold the exit for minutes.
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) return;
        sockaddr_in to{};
        to.sin_family = AF_INET;
        to.sin_addr.s_addr = address;
        to.sin_port = htons(static_cast<std::uint16_t>(port));
        (void)::connect(fd, reinterpret_cast<const sockaddr*>(&to), sizeof to);
        ::close(fd);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  } catch (const std::system_error&) {
    // No thread to spare (RLIMIT_NPROC): civetweb's own, slower stop.
  }
  exposer_.reset();
  stopped.store(true, std::memory_order_relaxed);
  if (waker) waker->join();
}

void MetricsServer::register_collectable(
    const std::shared_ptr<prometheus::Collectable>& collectable) {
  extra_.push_back(collectable);
  exposer_->RegisterCollectable(collectable);
}

std::uint64_t MetricsServer::scrapes() const noexcept {
  return g_scrapes.load(std::memory_order_relaxed);
}

const std::vector<std::string>& run_metric_label_names() {
  static const std::vector<std::string> kNames{"kind", "le",   "object", "op",
                                               "role", "spec", "state"};
  return kNames;
}

core::Result<GatewayAddress> parse_gateway_url(const std::string& url) {
  const auto bad = [&](const char* why) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "push gateway URL",
                            std::string(why) + ": '" + url + "' (expected http://HOST:PORT)");
  };
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return bad("no scheme");
  const auto scheme = url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") return bad("scheme must be http or https");
  std::string rest = url.substr(scheme_end + 3);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) return bad("a path is not supported");
  const auto colon = rest.rfind(':');
  if (colon == 0) return bad("no host");
  if (colon == std::string::npos || colon + 1 == rest.size()) return bad("no port");
  const auto port = rest.substr(colon + 1);
  if (!parse_port(port, /*zero_ok=*/false)) return bad("port is not a number in 1..65535");
  return GatewayAddress{scheme + "://" + rest.substr(0, colon), port};
}

namespace {

// What the push thread reports when building or sending the push threw.
constexpr int kPushThrew = std::numeric_limits<int>::min();

// prometheus::Gateway::Push() returns the HTTP status, or minus libcurl's CURLcode when
// no answer came (-1 also when libcurl could not build the request). The codes a push meets,
// in words (their numbers are libcurl's stable ABI); any other by number.
std::string push_failure(int status) {
  if (status == kPushThrew) return "the request could not be made";
  switch (-status) {
    case 1:
      return "unsupported protocol (curl error 1)";
    case 3:
      return "malformed URL (curl error 3)";
    case 5:
      return "could not resolve the proxy (curl error 5)";
    case 6:
      return "could not resolve the host (curl error 6)";
    case 7:
      return "could not connect (curl error 7)";
    case 28:
      return "timed out (curl error 28)";
    case 35:
      return "TLS handshake failed (curl error 35)";
    case 52:
      return "the server closed the connection without answering (curl error 52)";
    case 55:
      return "sending failed (curl error 55)";
    case 56:
      return "receiving failed (curl error 56)";
    case 0:
      return "no HTTP status";
    default:
      return "curl error " + std::to_string(-status);
  }
}

// RFC 4648 base64url with padding; the gateway takes "=" for the empty value.
std::string base64url(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  if (bytes.empty()) return "=";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t chunk = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (i + 1 < bytes.size())
      chunk |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) chunk |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(chunk >> 18) & 63];
    out += kAlphabet[(chunk >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(chunk >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[chunk & 63] : '=';
  }
  return out;
}

}  // namespace

bool plain_path_segment(const std::string& value) {
  if (value.empty() || value == "." || value == "..") return false;
  return std::ranges::all_of(value, [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-' || c == '.' ||
           c == ':';
  });
}

std::map<std::string, std::string> gateway_grouping_path(
    const std::map<std::string, std::string>& grouping) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : grouping) {
    if (plain_path_segment(value))
      out[name] = value;
    else
      out[name + "@base64"] = base64url(value);
  }
  return out;
}

core::Result<void> push_metrics(const std::string& url, const std::string& job,
                                const std::map<std::string, std::string>& grouping,
                                std::vector<MetricFamily> families,
                                std::chrono::milliseconds deadline) {
  auto address = parse_gateway_url(url);
  if (!address) return std::move(address).error();
  // The push runs on its own thread so an unreachable gateway cannot hold the run
  // past the deadline (curl's own connect timeout is minutes).
  auto state = std::make_shared<std::promise<int>>();
  auto result = state->get_future();
  std::thread([state, address = *address, job, grouping, families = std::move(families)]() mutable {
    try {
      auto collector = std::make_shared<MetricsCollector>();
      collector->publish(std::move(families));
      prometheus::Gateway gateway(address.scheme_host, address.port, job,
                                  gateway_grouping_path(grouping));
      gateway.RegisterCollectable(collector);
      // PushAdd is prometheus-cpp's PUT, which replaces the whole group; its Push is a
      // POST, which replaces only the families pushed and left an earlier run's latency
      // histograms beside a --no-probes run's counters.
      state->set_value(gateway.PushAdd());
    } catch (...) {
      state->set_value(kPushThrew);
    }
  }).detach();
  if (result.wait_for(deadline) != std::future_status::ready) {
    return core::make_error(
        core::ErrorCode::kTimedOut, "push to gateway",
        url + " did not answer within " + std::to_string(deadline.count()) + " ms");
  }
  const int status = result.get();
  if (status >= 200 && status < 300) return {};
  if (status <= 0) {
    return core::make_error(core::ErrorCode::kOther, "push to gateway",
                            url + " cannot be reached: " + push_failure(status));
  }
  return core::make_error(core::ErrorCode::kOther, "push to gateway",
                          url + " answered HTTP " + std::to_string(status));
}

core::Result<void> write_textfile(const std::string& path,
                                  const std::vector<MetricFamily>& families) {
  return write_output_file(path, false, [&](std::ostream& out) { out << to_text(families); });
}

}  // namespace shmcheck::reports
