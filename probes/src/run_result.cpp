#include "shmcheck/probes/run_result.hpp"

#include <array>
#include <cmath>
#include <exception>
#include <limits>
#include <string>
#include <utility>

namespace shmcheck::probes {

using nlohmann::json;

namespace {

constexpr std::array<std::pair<RunVerdict, std::string_view>, 3> kVerdicts = {
    {{RunVerdict::kPass, "pass"}, {RunVerdict::kFail, "fail"}, {RunVerdict::kError, "error"}}};

constexpr std::array<std::pair<ExitCause, std::string_view>, 8> kCauses = {{
    {ExitCause::kClean, "clean"},
    {ExitCause::kInjectedFailpoint, "injected_failpoint"},
    {ExitCause::kInjectedTimer, "injected_timer"},
    {ExitCause::kStoppedByHarness, "stopped_by_harness"},
    {ExitCause::kUnexpectedSignal, "unexpected_signal"},
    {ExitCause::kUnexpectedExit, "unexpected_exit"},
    {ExitCause::kOomKilled, "oom_killed"},
    {ExitCause::kRunning, "running"},
}};

constexpr std::array<std::pair<CompareOp, std::string_view>, 6> kOps = {{
    {CompareOp::kLessEqual, "<="},
    {CompareOp::kGreaterEqual, ">="},
    {CompareOp::kEqual, "=="},
    {CompareOp::kNotEqual, "!="},
    {CompareOp::kLess, "<"},
    {CompareOp::kGreater, ">"},
}};

template <class E, std::size_t N>
std::string_view name_of(const std::array<std::pair<E, std::string_view>, N>& table, E e) {
  for (const auto& [value, name] : table) {
    if (value == e) return name;
  }
  return "unknown";
}

template <class E, std::size_t N>
std::optional<E> value_of(const std::array<std::pair<E, std::string_view>, N>& table,
                          std::string_view s) {
  for (const auto& [value, name] : table) {
    if (name == s) return value;
  }
  return std::nullopt;
}

// Malformed input: thrown inside run_result_from_json only, caught at its boundary.
struct BadDocument : std::exception {
  explicit BadDocument(std::string m) : message(std::move(m)) {}
  [[nodiscard]] const char* what() const noexcept override { return message.c_str(); }
  std::string message;
};

std::uint64_t seconds_to_ns(double s) {
  if (!(s >= 0)) return 0;
  return static_cast<std::uint64_t>(std::llround(s * 1e9));
}

// ------------------------------------------------------------------------------ to json

json counts_json(const IntegrityCounts& c) {
  json j = json::object();
  for (const auto& [name, value] : named_counts(c)) j[std::string(name)] = value;
  j["complete"] = c.complete;
  j["violations"] = c.violations();
  return j;
}

json integrity_json(const MessageVerdict& v) {
  json j = counts_json(v.counts);
  json examples = json::array();
  for (const IntegrityExample& e : v.examples) {
    examples.push_back({{"kind", e.kind},
                        {"producer", e.key.producer},
                        {"incarnation", e.key.incarnation},
                        {"seq", e.key.seq},
                        {"consumer", e.consumer},
                        {"detail", e.detail}});
  }
  j["examples"] = std::move(examples);
  json crashes = json::array();
  for (const CrashAttribution& a : v.crashes) {
    json c{{"role", a.crash.role},
           {"index", a.crash.index},
           {"incarnation", a.crash.incarnation},
           {"pid", a.crash.pid},
           {"op", to_string(a.crash.op)},
           {"op_seq", a.crash.op_seq},
           {"failpoint", a.crash.failpoint},
           {"effect", a.effect},
           {"description", a.description}};
    if (a.message) {
      c["producer"] = a.message->producer;
      c["incarnation_in_flight"] = a.message->incarnation;
      c["seq"] = a.message->seq;
    } else {
      c["producer"] = nullptr;
      c["incarnation_in_flight"] = nullptr;
      c["seq"] = nullptr;
    }
    crashes.push_back(std::move(c));
  }
  j["crashes"] = std::move(crashes);
  return j;
}

json stats_json(const RoleStats& r) {
  const StatsSnapshot& s = r.stats;
  json by_op = json::object();
  for (std::size_t i = 0; i < kWorkerOpCount; ++i) {
    by_op[std::string(to_string(static_cast<WorkerOp>(i)))] = s.ops[i];
  }
  return json{{"role", r.role},
              {"ops", s.total_ops()},
              {"full_events", s.full_events},
              {"empty_events", s.empty_events},
              {"abandoned", s.abandoned},
              {"lock_acquisitions", s.lock_acquisitions},
              {"lock_waits", s.lock_waits},
              {"contended", s.contended},
              {"owner_died", s.owner_died},
              {"repairs", s.repairs},
              {"bytes", s.bytes},
              {"ops_by_op", std::move(by_op)},
              {"latency", to_json(s.latency)},
              {"lock_wait", to_json(s.lock_wait)}};
}

// ---------------------------------------------------------------------------- from json

const json& member(const json& j, const char* key) {
  if (!j.is_object()) throw BadDocument(std::string("expected an object holding \"") + key + "\"");
  const auto it = j.find(key);
  if (it == j.end()) throw BadDocument(std::string("missing key \"") + key + "\"");
  return *it;
}

template <class T>
void read(const json& j, const char* key, T& out) {
  try {
    out = member(j, key).get<T>();
  } catch (const json::exception& e) {
    throw BadDocument(std::string("key \"") + key + "\": " + e.what());
  }
}

template <class T>
void read_optional(const json& j, const char* key, std::optional<T>& out) {
  const json& v = member(j, key);
  if (v.is_null()) {
    out.reset();
  } else {
    T value{};
    read(j, key, value);
    out = value;
  }
}

const json& array_member(const json& j, const char* key) {
  const json& v = member(j, key);
  if (!v.is_array()) throw BadDocument(std::string("key \"") + key + "\": expected an array");
  return v;
}

std::vector<std::string> read_strings(const json& j, const char* key) {
  std::vector<std::string> out;
  read(j, key, out);
  return out;
}

HistogramSnapshot histogram_from(const json& j) {
  HistogramSnapshot h;
  read(j, "count", h.count);
  double sum_s = 0;
  double max_s = 0;
  read(j, "sum_s", sum_s);
  read(j, "max_s", max_s);
  h.sum_ns = seconds_to_ns(sum_s);
  h.max_ns = seconds_to_ns(max_s);
  const json& buckets = array_member(j, "buckets");
  if (buckets.size() != kHistogramBuckets) {
    throw BadDocument("histogram: expected " + std::to_string(kHistogramBuckets) + " buckets");
  }
  std::uint64_t previous = 0;
  for (std::size_t i = 0; i < kHistogramBuckets; ++i) {
    std::uint64_t cumulative = 0;
    read(buckets[i], "count", cumulative);
    if (cumulative < previous) throw BadDocument("histogram: bucket counts are not cumulative");
    h.buckets[i] = cumulative - previous;
    previous = cumulative;
  }
  return h;
}

IntegrityCounts counts_from(const json& j) {
  IntegrityCounts c;
  read(j, "attempted", c.attempted);
  read(j, "acked", c.acked);
  read(j, "delivered", c.delivered);
  read(j, "lost", c.lost);
  read(j, "lost_at_crash", c.lost_at_crash);
  read(j, "recovered", c.recovered);
  read(j, "in_flight_dropped", c.in_flight_dropped);
  read(j, "unexpected", c.unexpected);
  read(j, "foreign", c.foreign);
  read(j, "duplicated", c.duplicated);
  read(j, "reordered", c.reordered);
  read(j, "torn", c.torn);
  read(j, "abandoned", c.abandoned);
  read(j, "abandoned_unexplained", c.abandoned_unexplained);
  read(j, "stalled", c.stalled);
  read(j, "log_overflow", c.log_overflow);
  read(j, "untracked_incarnations", c.untracked_incarnations);
  read(j, "complete", c.complete);
  return c;
}

MessageVerdict integrity_from(const json& j) {
  MessageVerdict v;
  v.counts = counts_from(j);
  for (const json& e : array_member(j, "examples")) {
    IntegrityExample x;
    read(e, "kind", x.kind);
    read(e, "producer", x.key.producer);
    read(e, "incarnation", x.key.incarnation);
    read(e, "seq", x.key.seq);
    read(e, "consumer", x.consumer);
    read(e, "detail", x.detail);
    v.examples.push_back(std::move(x));
  }
  for (const json& c : array_member(j, "crashes")) {
    CrashAttribution a;
    read(c, "role", a.crash.role);
    read(c, "index", a.crash.index);
    read(c, "incarnation", a.crash.incarnation);
    read(c, "pid", a.crash.pid);
    std::string op;
    read(c, "op", op);
    const auto parsed = worker_op_from_string(op);
    if (!parsed) throw BadDocument("crash: unknown op \"" + op + "\"");
    a.crash.op = *parsed;
    read(c, "op_seq", a.crash.op_seq);
    read(c, "failpoint", a.crash.failpoint);
    read(c, "effect", a.effect);
    read(c, "description", a.description);
    if (!member(c, "seq").is_null()) {
      MessageKey key;
      read(c, "producer", key.producer);
      read(c, "incarnation_in_flight", key.incarnation);
      read(c, "seq", key.seq);
      a.message = key;
    }
    v.crashes.push_back(std::move(a));
  }
  return v;
}

RoleStats role_from(const json& j) {
  RoleStats r;
  read(j, "role", r.role);
  StatsSnapshot& s = r.stats;
  read(j, "full_events", s.full_events);
  read(j, "empty_events", s.empty_events);
  read(j, "abandoned", s.abandoned);
  read(j, "lock_acquisitions", s.lock_acquisitions);
  read(j, "lock_waits", s.lock_waits);
  read(j, "contended", s.contended);
  read(j, "owner_died", s.owner_died);
  read(j, "repairs", s.repairs);
  read(j, "bytes", s.bytes);
  const json& by_op = member(j, "ops_by_op");
  for (std::size_t i = 0; i < kWorkerOpCount; ++i) {
    read(by_op, std::string(to_string(static_cast<WorkerOp>(i))).c_str(), s.ops[i]);
  }
  s.latency = histogram_from(member(j, "latency"));
  s.lock_wait = histogram_from(member(j, "lock_wait"));
  return r;
}

RunResult run_result_from(const json& j) {
  RunResult r;
  std::string format;
  read(j, "format", format);
  if (format != "shmcheck-run-result") throw BadDocument("not a shmcheck run result");
  int version = 0;
  read(j, "format_version", version);
  if (version != kRunResultFormatVersion) {
    throw BadDocument("format_version " + std::to_string(version) + " is not supported");
  }
  const json& spec = member(j, "spec");
  read(spec, "name", r.spec_name);
  read(spec, "file", r.spec_file);
  read(j, "seed", r.seed);
  read(j, "run_id", r.run_id);
  read(j, "repro", r.repro);
  read(j, "shmcheck_version", r.shmcheck_version);
  read(j, "started_at", r.started_at);
  read(j, "finished_at", r.finished_at);
  const json& d = member(j, "durations");
  read(d, "setup_s", r.durations.setup_s);
  read(d, "run_s", r.durations.run_s);
  read(d, "check_s", r.durations.check_s);
  read(d, "total_s", r.durations.total_s);
  std::string verdict;
  read(j, "verdict", verdict);
  const auto v = run_verdict_from_string(verdict);
  if (!v) throw BadDocument("unknown verdict \"" + verdict + "\"");
  r.verdict = *v;
  read(j, "exit_code", r.exit_code);
  read(j, "error", r.error);

  for (const json& f : array_member(j, "fault_schedule")) {
    ScheduledFault s;
    read(f, "role", s.role);
    read(f, "index", s.index);
    read(f, "kind", s.kind);
    read(f, "failpoint", s.failpoint);
    read_optional(f, "at_s", s.at_s);
    read(f, "occurrence", s.occurrence);
    read(f, "signal", s.signal);
    read(f, "pause_s", s.pause_s);
    read(f, "restart", s.restart);
    r.fault_schedule.push_back(std::move(s));
  }
  for (const json& w : array_member(j, "workers")) {
    WorkerOutcome o;
    read(w, "role", o.role);
    read(w, "index", o.index);
    read(w, "restarts", o.restarts);
    read(w, "ops", o.ops);
    for (const json& p : array_member(w, "processes")) {
      ProcessOutcome x;
      read(p, "incarnation", x.incarnation);
      read(p, "pid", x.pid);
      read_optional(p, "exit_code", x.exit_code);
      read_optional(p, "signal", x.signal);
      std::string cause;
      read(p, "cause", cause);
      const auto parsed = exit_cause_from_string(cause);
      if (!parsed) throw BadDocument("unknown exit cause \"" + cause + "\"");
      x.cause = *parsed;
      read(p, "failpoint", x.failpoint);
      read(p, "occurrence", x.occurrence);
      read(p, "op", x.op);
      read(p, "op_seq", x.op_seq);
      read(p, "start_s", x.start_s);
      read(p, "end_s", x.end_s);
      o.processes.push_back(std::move(x));
    }
    r.workers.push_back(std::move(o));
  }
  for (const json& e : array_member(j, "timeline")) {
    TimelineEvent t;
    read(e, "t_s", t.t_s);
    read(e, "role", t.role);
    read(e, "index", t.index);
    read(e, "pid", t.pid);
    read(e, "kind", t.kind);
    read(e, "detail", t.detail);
    r.timeline.push_back(std::move(t));
  }
  const json& tp = member(j, "throughput");
  read(tp, "interval_s", r.throughput.interval_s);
  for (const json& s : array_member(tp, "series")) {
    ThroughputSeries series;
    read(s, "role", series.role);
    read(s, "ops", series.ops);
    r.throughput.series.push_back(std::move(series));
  }
  for (const json& m : array_member(tp, "fault_markers")) {
    FaultMarker marker;
    read(m, "t_s", marker.t_s);
    read(m, "kind", marker.kind);
    read(m, "role", marker.role);
    read(m, "index", marker.index);
    r.throughput.fault_markers.push_back(std::move(marker));
  }
  if (const json& integrity = member(j, "integrity"); !integrity.is_null()) {
    r.integrity = integrity_from(integrity);
  }
  for (const json& m : array_member(j, "mutexes")) {
    MutexFindings f;
    read(m, "object", f.object);
    read(m, "record_consistent", f.record_consistent);
    read(m, "locker_crashes", f.locker_crashes);
    read(m, "a", f.snapshot.a);
    read(m, "b", f.snapshot.b);
    read(m, "generation", f.snapshot.generation);
    read(m, "in_section", f.snapshot.in_section);
    read(m, "updates", f.snapshot.updates);
    read(m, "owner_died", f.snapshot.owner_died);
    read(m, "repairs", f.snapshot.repairs);
    read(m, "torn_repaired", f.snapshot.torn_repaired);
    read(m, "torn_unexpected", f.snapshot.torn_unexpected);
    read(m, "exclusion_violations", f.snapshot.exclusion_violations);
    f.problems = read_strings(m, "problems");
    r.mutexes.push_back(std::move(f));
  }
  for (const json& s : array_member(j, "semaphores")) {
    SemaphoreFindings f;
    read(s, "object", f.object);
    read(s, "flavor", f.flavor);
    read(s, "initial", f.initial);
    read(s, "undo", f.undo);
    read(s, "value", f.value);
    read(s, "posts", f.posts);
    read(s, "waits", f.waits);
    read(s, "held_at_exit", f.held_at_exit);
    read(s, "drift", f.drift);
    read(s, "expected_drift", f.expected_drift);
    read(s, "stranded", f.stranded);
    read(s, "pending_waits", f.pending_waits);
    read(s, "pending_posts", f.pending_posts);
    f.problems = read_strings(s, "problems");
    r.semaphores.push_back(std::move(f));
  }
  for (const json& p : array_member(j, "pages")) {
    PageFindings f;
    read(p, "object", f.object);
    read(p, "pages_written", f.snapshot.pages_written);
    read(p, "reads_ok", f.snapshot.reads_ok);
    read(p, "read_retries", f.snapshot.read_retries);
    read(p, "reads_torn", f.snapshot.reads_torn);
    read(p, "pages_repaired", f.snapshot.pages_repaired);
    f.problems = read_strings(p, "problems");
    r.pages.push_back(std::move(f));
  }
  for (const json& s : array_member(j, "stalls")) {
    StallFinding f;
    read(s, "t_s", f.t_s);
    read(s, "description", f.description);
    f.workers = read_strings(s, "workers");
    r.stalls.push_back(std::move(f));
  }
  const json& leaks = member(j, "leaks");
  read(leaks, "leaked_objects", r.leaks.leaked_objects);
  for (const json& l : array_member(leaks, "findings")) {
    LeakFinding f;
    read(l, "kind", f.kind);
    read(l, "name", f.name);
    read(l, "bytes", f.bytes);
    read(l, "verdict", f.verdict);
    r.leaks.findings.push_back(std::move(f));
  }
  for (const json& role : array_member(j, "roles")) r.roles.push_back(role_from(role));
  for (const json& e : array_member(j, "expectations")) {
    ExpectationResult x;
    read(e, "name", x.name);
    read(e, "expected", x.expected);
    read(e, "actual", x.actual);
    read(e, "pass", x.pass);
    r.expectations.push_back(std::move(x));
  }
  return r;
}

}  // namespace

std::string_view to_string(RunVerdict verdict) noexcept { return name_of(kVerdicts, verdict); }
std::optional<RunVerdict> run_verdict_from_string(std::string_view s) noexcept {
  return value_of(kVerdicts, s);
}
std::string_view to_string(ExitCause cause) noexcept { return name_of(kCauses, cause); }
std::optional<ExitCause> exit_cause_from_string(std::string_view s) noexcept {
  return value_of(kCauses, s);
}
bool is_unexpected(ExitCause cause) noexcept {
  return cause == ExitCause::kUnexpectedSignal || cause == ExitCause::kUnexpectedExit ||
         cause == ExitCause::kOomKilled || cause == ExitCause::kRunning;
}

std::string_view to_string(CompareOp op) noexcept { return name_of(kOps, op); }
std::optional<CompareOp> compare_op_from_string(std::string_view s) noexcept {
  return value_of(kOps, s);
}

bool compare(double actual, CompareOp op, double expected) noexcept {
  if (std::isnan(actual) || std::isnan(expected)) return false;  // unknown never passes
  switch (op) {
    case CompareOp::kLess:
      return actual < expected;
    case CompareOp::kLessEqual:
      return actual <= expected;
    case CompareOp::kGreater:
      return actual > expected;
    case CompareOp::kGreaterEqual:
      return actual >= expected;
    case CompareOp::kEqual:
      return actual == expected;
    case CompareOp::kNotEqual:
      return actual != expected;
  }
  return false;
}

Percentiles percentiles(const HistogramSnapshot& h) noexcept {
  Percentiles p;
  p.count = h.count;
  p.p50 = h.quantile_seconds(0.50);
  p.p90 = h.quantile_seconds(0.90);
  p.p99 = h.quantile_seconds(0.99);
  p.p999 = h.quantile_seconds(0.999);
  p.max = h.max_seconds();
  return p;
}

json to_json(const HistogramSnapshot& h) {
  const Percentiles p = percentiles(h);
  const auto cumulative = h.cumulative();
  json buckets = json::array();
  for (std::size_t i = 0; i < kHistogramBuckets; ++i) {
    json le = i + 1 == kHistogramBuckets ? json("+Inf") : json(histogram_bound_seconds(i));
    buckets.push_back({{"le", std::move(le)}, {"count", cumulative[i]}});
  }
  return json{{"count", h.count}, {"sum_s", h.sum_seconds()},
              {"max_s", p.max},   {"p50_s", p.p50},
              {"p90_s", p.p90},   {"p99_s", p.p99},
              {"p999_s", p.p999}, {"buckets", std::move(buckets)}};
}

json to_json(const RunResult& r) {
  json j;
  j["format"] = "shmcheck-run-result";
  j["format_version"] = kRunResultFormatVersion;
  j["spec"] = {{"name", r.spec_name}, {"file", r.spec_file}};
  j["seed"] = r.seed;
  j["run_id"] = r.run_id;
  j["repro"] = r.repro;
  j["shmcheck_version"] = r.shmcheck_version;
  j["started_at"] = r.started_at;
  j["finished_at"] = r.finished_at;
  j["durations"] = {{"setup_s", r.durations.setup_s},
                    {"run_s", r.durations.run_s},
                    {"check_s", r.durations.check_s},
                    {"total_s", r.durations.total_s}};
  j["verdict"] = to_string(r.verdict);
  j["exit_code"] = r.exit_code;
  j["error"] = r.error;

  json schedule = json::array();
  for (const ScheduledFault& f : r.fault_schedule) {
    schedule.push_back({{"role", f.role},
                        {"index", f.index},
                        {"kind", f.kind},
                        {"failpoint", f.failpoint},
                        {"at_s", f.at_s ? json(*f.at_s) : json(nullptr)},
                        {"occurrence", f.occurrence},
                        {"signal", f.signal},
                        {"pause_s", f.pause_s},
                        {"restart", f.restart}});
  }
  j["fault_schedule"] = std::move(schedule);

  json workers = json::array();
  for (const WorkerOutcome& w : r.workers) {
    json processes = json::array();
    for (const ProcessOutcome& p : w.processes) {
      processes.push_back({{"incarnation", p.incarnation},
                           {"pid", p.pid},
                           {"exit_code", p.exit_code ? json(*p.exit_code) : json(nullptr)},
                           {"signal", p.signal ? json(*p.signal) : json(nullptr)},
                           {"cause", to_string(p.cause)},
                           {"failpoint", p.failpoint},
                           {"occurrence", p.occurrence},
                           {"op", p.op},
                           {"op_seq", p.op_seq},
                           {"start_s", p.start_s},
                           {"end_s", p.end_s}});
    }
    workers.push_back({{"role", w.role},
                       {"index", w.index},
                       {"restarts", w.restarts},
                       {"ops", w.ops},
                       {"processes", std::move(processes)}});
  }
  j["workers"] = std::move(workers);

  json timeline = json::array();
  for (const TimelineEvent& e : r.timeline) {
    timeline.push_back({{"t_s", e.t_s},
                        {"role", e.role},
                        {"index", e.index},
                        {"pid", e.pid},
                        {"kind", e.kind},
                        {"detail", e.detail}});
  }
  j["timeline"] = std::move(timeline);

  json series = json::array();
  for (const ThroughputSeries& s : r.throughput.series) {
    series.push_back({{"role", s.role}, {"ops", s.ops}});
  }
  json markers = json::array();
  for (const FaultMarker& m : r.throughput.fault_markers) {
    markers.push_back({{"t_s", m.t_s}, {"kind", m.kind}, {"role", m.role}, {"index", m.index}});
  }
  j["throughput"] = {{"interval_s", r.throughput.interval_s},
                     {"series", std::move(series)},
                     {"fault_markers", std::move(markers)}};

  j["integrity"] = r.integrity ? integrity_json(*r.integrity) : json(nullptr);

  json mutexes = json::array();
  for (const MutexFindings& m : r.mutexes) {
    const MutexSnapshot& s = m.snapshot;
    mutexes.push_back({{"object", m.object},
                       {"ok", m.ok()},
                       {"record_consistent", m.record_consistent},
                       {"locker_crashes", m.locker_crashes},
                       {"a", s.a},
                       {"b", s.b},
                       {"generation", s.generation},
                       {"in_section", s.in_section},
                       {"updates", s.updates},
                       {"owner_died", s.owner_died},
                       {"repairs", s.repairs},
                       {"torn_repaired", s.torn_repaired},
                       {"torn_unexpected", s.torn_unexpected},
                       {"exclusion_violations", s.exclusion_violations},
                       {"problems", m.problems}});
  }
  j["mutexes"] = std::move(mutexes);

  json semaphores = json::array();
  for (const SemaphoreFindings& s : r.semaphores) {
    semaphores.push_back({{"object", s.object},
                          {"flavor", s.flavor},
                          {"ok", s.ok()},
                          {"initial", s.initial},
                          {"undo", s.undo},
                          {"value", s.value},
                          {"posts", s.posts},
                          {"waits", s.waits},
                          {"held_at_exit", s.held_at_exit},
                          {"drift", s.drift},
                          {"expected_drift", s.expected_drift},
                          {"stranded", s.stranded},
                          {"pending_waits", s.pending_waits},
                          {"pending_posts", s.pending_posts},
                          {"problems", s.problems}});
  }
  j["semaphores"] = std::move(semaphores);

  json pages = json::array();
  for (const PageFindings& p : r.pages) {
    const SegmentPageSnapshot& s = p.snapshot;
    pages.push_back({{"object", p.object},
                     {"ok", p.ok()},
                     {"pages_written", s.pages_written},
                     {"reads_ok", s.reads_ok},
                     {"read_retries", s.read_retries},
                     {"reads_torn", s.reads_torn},
                     {"pages_repaired", s.pages_repaired},
                     {"problems", p.problems}});
  }
  j["pages"] = std::move(pages);

  json stalls = json::array();
  for (const StallFinding& s : r.stalls) {
    stalls.push_back({{"t_s", s.t_s}, {"description", s.description}, {"workers", s.workers}});
  }
  j["stalls"] = std::move(stalls);

  json findings = json::array();
  for (const LeakFinding& l : r.leaks.findings) {
    findings.push_back(
        {{"kind", l.kind}, {"name", l.name}, {"bytes", l.bytes}, {"verdict", l.verdict}});
  }
  j["leaks"] = {{"leaked_objects", r.leaks.leaked_objects}, {"findings", std::move(findings)}};

  json roles = json::array();
  for (const RoleStats& role : r.roles) roles.push_back(stats_json(role));
  j["roles"] = std::move(roles);

  json expectations = json::array();
  for (const ExpectationResult& e : r.expectations) {
    expectations.push_back(
        {{"name", e.name}, {"expected", e.expected}, {"actual", e.actual}, {"pass", e.pass}});
  }
  j["expectations"] = std::move(expectations);
  return j;
}

core::Result<RunResult> run_result_from_json(const json& j) {
  try {
    return run_result_from(j);
  } catch (const BadDocument& e) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "run_result_from_json", e.message);
  } catch (const json::exception& e) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "run_result_from_json", e.what());
  }
}

}  // namespace shmcheck::probes
