#include "shmcheck/probes/run_result.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>
#include <concepts>
#include <exception>
#include <functional>
#include <limits>
#include <ostream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

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

constexpr std::array<std::pair<FaultStatus, std::string_view>, 5> kFaultStatuses = {{
    {FaultStatus::kFired, "fired"},
    {FaultStatus::kNotReached, "not_reached"},
    {FaultStatus::kPreempted, "preempted"},
    {FaultStatus::kSkipped, "skipped"},
    {FaultStatus::kNotDue, "not_due"},
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
// `path` grows while it unwinds ("workers[0].processes[1]") and leads the message.
struct BadDocument : std::exception {
  explicit BadDocument(std::string m) : message(std::move(m)) {}
  [[nodiscard]] const char* what() const noexcept override { return message.c_str(); }
  void under(const std::string& step) {
    if (path.empty()) {
      path = step;
    } else {
      path = step + (path.front() == '[' ? "" : ".") + path;
    }
  }
  [[nodiscard]] std::string describe() const {
    return path.empty() ? message : path + ": " + message;
  }
  std::string path;
  std::string message;
};

std::uint64_t seconds_to_ns(double s) {
  if (!(s >= 0)) return 0;
  return static_cast<std::uint64_t>(std::llround(s * 1e9));
}

// ------------------------------------------------------------------------------ records
//
// Each record's keys, listed once: the writer (value_json) and the reader (read_value)
// walk the same list, so a key cannot be written and then forgotten by the reader, or
// the other way round (FromJsonInvertsToJson checks the rest). `field` is called with
// the key and the member, const for the writer. Derived values ("ok", "violations",
// "ops") are written next to the record and never read back.

template <class R, class T>
concept RecordOf = std::same_as<std::remove_const_t<R>, T>;

template <RecordOf<IntegrityCounts> R, class F>
void fields(R& c, F&& field) {
  for_each_count(c, field);
  field("complete", c.complete);
}

template <RecordOf<IntegrityExample> R, class F>
void fields(R& e, F&& field) {
  field("kind", e.kind);
  field("producer", e.key.producer);
  field("incarnation", e.key.incarnation);
  field("seq", e.key.seq);
  field("consumer", e.consumer);
  field("detail", e.detail);
}

// The message in flight, when known, is three more keys: see write_extra.
template <RecordOf<CrashAttribution> R, class F>
void fields(R& a, F&& field) {
  field("role", a.crash.role);
  field("index", a.crash.index);
  field("incarnation", a.crash.incarnation);
  field("pid", a.crash.pid);
  field("op", a.crash.op);
  field("op_seq", a.crash.op_seq);
  field("failpoint", a.crash.failpoint);
  field("effect", a.effect);
  field("description", a.description);
}

// "ops" (the total) and "ops_by_op": see write_extra.
template <RecordOf<RoleStats> R, class F>
void fields(R& r, F&& field) {
  field("role", r.role);
  field("full_events", r.stats.full_events);
  field("empty_events", r.stats.empty_events);
  field("abandoned", r.stats.abandoned);
  field("lock_acquisitions", r.stats.lock_acquisitions);
  field("lock_waits", r.stats.lock_waits);
  field("contended", r.stats.contended);
  field("owner_died", r.stats.owner_died);
  field("repairs", r.stats.repairs);
  field("bytes", r.stats.bytes);
  field("latency", r.stats.latency);
  field("lock_wait", r.stats.lock_wait);
  field("ring_wait", r.stats.ring_wait);
}

template <RecordOf<Durations> R, class F>
void fields(R& d, F&& field) {
  field("setup_s", d.setup_s);
  field("run_s", d.run_s);
  field("check_s", d.check_s);
  field("total_s", d.total_s);
}

template <RecordOf<ScheduledFault> R, class F>
void fields(R& f, F&& field) {
  field("role", f.role);
  field("index", f.index);
  field("kind", f.kind);
  field("failpoint", f.failpoint);
  field("at_s", f.at_s);
  field("occurrence", f.occurrence);
  field("signal", f.signal);
  field("pause_s", f.pause_s);
  field("restart", f.restart);
  field("status", f.status);
  field("note", f.note);
}

template <RecordOf<ProcessOutcome> R, class F>
void fields(R& p, F&& field) {
  field("incarnation", p.incarnation);
  field("pid", p.pid);
  field("exit_code", p.exit_code);
  field("signal", p.signal);
  field("cause", p.cause);
  field("failpoint", p.failpoint);
  field("occurrence", p.occurrence);
  field("op", p.op);
  field("op_seq", p.op_seq);
  field("start_s", p.start_s);
  field("end_s", p.end_s);
}

template <RecordOf<WorkerOutcome> R, class F>
void fields(R& w, F&& field) {
  field("role", w.role);
  field("index", w.index);
  field("restarts", w.restarts);
  field("ops", w.ops);
  field("processes", w.processes);
}

template <RecordOf<TimelineEvent> R, class F>
void fields(R& e, F&& field) {
  field("t_s", e.t_s);
  field("role", e.role);
  field("index", e.index);
  field("pid", e.pid);
  field("kind", e.kind);
  field("detail", e.detail);
}

template <RecordOf<ThroughputSeries> R, class F>
void fields(R& s, F&& field) {
  field("role", s.role);
  field("ops", s.ops);
}

template <RecordOf<FaultMarker> R, class F>
void fields(R& m, F&& field) {
  field("t_s", m.t_s);
  field("kind", m.kind);
  field("role", m.role);
  field("index", m.index);
}

template <RecordOf<Throughput> R, class F>
void fields(R& t, F&& field) {
  field("interval_s", t.interval_s);
  field("series", t.series);
  field("fault_markers", t.fault_markers);
}

template <RecordOf<MutexFindings> R, class F>
void fields(R& m, F&& field) {
  field("object", m.object);
  field("record_consistent", m.record_consistent);
  field("locker_crashes", m.locker_crashes);
  field("left", m.left);
  field("a", m.snapshot.a);
  field("b", m.snapshot.b);
  field("generation", m.snapshot.generation);
  field("in_section", m.snapshot.in_section);
  field("updates", m.snapshot.updates);
  field("owner_died", m.snapshot.owner_died);
  field("repairs", m.snapshot.repairs);
  field("torn_repaired", m.snapshot.torn_repaired);
  field("torn_unexpected", m.snapshot.torn_unexpected);
  field("exclusion_violations", m.snapshot.exclusion_violations);
  field("problems", m.problems);
}

template <RecordOf<SemaphoreFindings> R, class F>
void fields(R& s, F&& field) {
  field("object", s.object);
  field("flavor", s.flavor);
  field("initial", s.initial);
  field("undo", s.undo);
  field("value", s.value);
  field("posts", s.posts);
  field("waits", s.waits);
  field("held_at_exit", s.held_at_exit);
  field("lent_at_exit", s.lent_at_exit);
  field("drift", s.drift);
  field("expected_drift", s.expected_drift);
  field("stranded", s.stranded);
  field("pending_waits", s.pending_waits);
  field("pending_posts", s.pending_posts);
  field("problems", s.problems);
}

template <RecordOf<PageFindings> R, class F>
void fields(R& p, F&& field) {
  field("object", p.object);
  field("pages_written", p.snapshot.pages_written);
  field("reads_ok", p.snapshot.reads_ok);
  field("read_retries", p.snapshot.read_retries);
  field("reads_torn", p.snapshot.reads_torn);
  field("pages_repaired", p.snapshot.pages_repaired);
  field("problems", p.problems);
}

template <RecordOf<RingCounters> R, class F>
void fields(R& r, F&& field) {
  field("object", r.object);
  field("kind", r.kind);
  field("capacity", r.capacity);
  field("pushes", r.pushes);
  field("pops", r.pops);
  field("full_events", r.full_events);
  field("empty_events", r.empty_events);
  field("abandoned", r.abandoned);
  field("sleeps", r.sleeps);
  field("wakeups", r.wakeups);
  field("redelivered", r.redelivered);
}

template <RecordOf<StallFinding> R, class F>
void fields(R& s, F&& field) {
  field("t_s", s.t_s);
  field("description", s.description);
  field("workers", s.workers);
}

template <RecordOf<LeakFinding> R, class F>
void fields(R& l, F&& field) {
  field("kind", l.kind);
  field("name", l.name);
  field("bytes", l.bytes);
  field("verdict", l.verdict);
}

template <RecordOf<LeakReport> R, class F>
void fields(R& l, F&& field) {
  field("leaked_objects", l.leaked_objects);
  field("findings", l.findings);
}

template <RecordOf<ExpectationResult> R, class F>
void fields(R& e, F&& field) {
  field("name", e.name);
  field("expected", e.expected);
  field("actual", e.actual);
  field("pass", e.pass);
}

// The integrity verdict: its counts, flat, then the examples and the crashes.
template <RecordOf<MessageVerdict> R, class F>
void fields(R& v, F&& field) {
  fields(v.counts, field);
  field("examples", v.examples);
  field("crashes", v.crashes);
}

// The run result: "format", "format_version" and "spec" are written by write_extra and
// checked by run_result_from.
template <RecordOf<RunResult> R, class F>
void fields(R& r, F&& field) {
  field("seed", r.seed);
  field("run_id", r.run_id);
  field("repro", r.repro);
  field("shmcheck_version", r.shmcheck_version);
  field("started_at", r.started_at);
  field("finished_at", r.finished_at);
  field("durations", r.durations);
  field("verdict", r.verdict);
  field("exit_code", r.exit_code);
  field("error", r.error);
  field("ended_early", r.ended_early);
  field("fault_schedule", r.fault_schedule);
  field("workers", r.workers);
  field("timeline", r.timeline);
  field("throughput", r.throughput);
  field("integrity", r.integrity);
  field("mutexes", r.mutexes);
  field("semaphores", r.semaphores);
  field("pages", r.pages);
  field("rings", r.rings);
  field("stalls", r.stalls);
  field("leaks", r.leaks);
  field("roles", r.roles);
  field("expectations", r.expectations);
}

struct AnyField {
  template <class V>
  void operator()(const char* /*key*/, V& /*member*/) const {}
};
template <class T>
concept Record = requires(T& record) {
  fields(record, AnyField{});
};

template <class T>
inline constexpr bool kIsOptional = false;
template <class T>
inline constexpr bool kIsOptional<std::optional<T>> = true;

template <class T>
inline constexpr bool kIsRecordList = false;
template <Record T>
inline constexpr bool kIsRecordList<std::vector<T>> = true;

// The enums a record holds, read back from their names.
std::optional<RunVerdict> from_name(std::string_view name, RunVerdict /*tag*/) {
  return run_verdict_from_string(name);
}
std::optional<ExitCause> from_name(std::string_view name, ExitCause /*tag*/) {
  return exit_cause_from_string(name);
}
std::optional<FaultStatus> from_name(std::string_view name, FaultStatus /*tag*/) {
  return fault_status_from_string(name);
}
std::optional<WorkerOp> from_name(std::string_view name, WorkerOp /*tag*/) {
  return worker_op_from_string(name);
}
std::optional<MutexLeft> from_name(std::string_view name, MutexLeft /*tag*/) {
  return mutex_left_from_string(name);
}

// Runs read_part(); a BadDocument it throws is placed under `step` of the path.
template <class F>
void under(const std::string& step, F&& read_part) {
  try {
    read_part();
  } catch (BadDocument& e) {
    e.under(step);
    throw;
  }
}

const json& member(const json& j, const char* key) {
  if (!j.is_object()) throw BadDocument(std::string("expected an object holding \"") + key + "\"");
  const auto it = j.find(key);
  if (it == j.end()) throw BadDocument(std::string("missing key \"") + key + "\"");
  return *it;
}

template <class T>
void read(const json& j, const char* key, T& out);

// ------------------------------------------------------------------ beyond the field lists
//
// write_extra adds what a record's field list leaves out; read_extra reads back the
// part of that which is not derived. By default: a derived "ok" for findings.

void write_extra(json& j, const auto& record) {
  if constexpr (requires { record.ok(); }) j["ok"] = record.ok();
}
void read_extra(const json& /*j*/, const auto& /*record*/) {}

void write_extra(json& j, const RunResult& r) {
  j["format"] = "shmcheck-run-result";
  j["format_version"] = kRunResultFormatVersion;
  j["spec"] = {{"name", r.spec_name}, {"file", r.spec_file}};
}
void read_extra(const json& j, RunResult& r) {
  const json& spec = member(j, "spec");
  under("spec", [&] {
    read(spec, "name", r.spec_name);
    read(spec, "file", r.spec_file);
  });
}

void write_extra(json& j, const MessageVerdict& v) { j["violations"] = v.counts.violations(); }

// The message in flight, when known: three keys, null when not.
void write_extra(json& j, const CrashAttribution& a) {
  j["producer"] = a.message ? json(a.message->producer) : json(nullptr);
  j["incarnation_in_flight"] = a.message ? json(a.message->incarnation) : json(nullptr);
  j["seq"] = a.message ? json(a.message->seq) : json(nullptr);
}
void read_extra(const json& j, CrashAttribution& a) {
  if (member(j, "seq").is_null()) return;
  MessageKey key;
  read(j, "producer", key.producer);
  read(j, "incarnation_in_flight", key.incarnation);
  read(j, "seq", key.seq);
  a.message = key;
}

// Operations by kind, keyed by WorkerOp name, and their total (derived).
void write_extra(json& j, const RoleStats& r) {
  json by_op = json::object();
  for (std::size_t i = 0; i < kWorkerOpCount; ++i) {
    by_op[std::string(to_string(static_cast<WorkerOp>(i)))] = r.stats.ops[i];
  }
  j["ops"] = r.stats.total_ops();
  j["ops_by_op"] = std::move(by_op);
}
void read_extra(const json& j, RoleStats& r) {
  under("ops_by_op", [&] {
    const json& by_op = member(j, "ops_by_op");
    for (std::size_t i = 0; i < kWorkerOpCount; ++i) {
      read(by_op, std::string(to_string(static_cast<WorkerOp>(i))).c_str(), r.stats.ops[i]);
    }
  });
}

// ------------------------------------------------------------------------------ to json

template <class T>
json value_json(const T& value) {
  if constexpr (Record<T>) {
    json j = json::object();
    fields(value, [&j](const char* key, const auto& member) { j[key] = value_json(member); });
    write_extra(j, value);
    return j;
  } else if constexpr (kIsRecordList<T>) {
    json list = json::array();
    for (const auto& record : value) list.push_back(value_json(record));
    return list;
  } else if constexpr (kIsOptional<T>) {
    return value ? value_json(*value) : json(nullptr);
  } else if constexpr (std::is_same_v<T, HistogramSnapshot>) {
    return to_json(value);
  } else if constexpr (std::is_enum_v<T>) {
    return to_string(value);
  } else {
    return json(value);
  }
}

// ------------------------------------------------------------------------ streamed json
//
// stream_value writes what value_json(value).dump(2) would print at `depth`, byte for
// byte, without building the document: records and lists of records are walked member
// by member, so a run with thousands of crashes and timeline events never holds more
// than one record as JSON (a whole document costs ~5x the RunResult it is made of).
// Anything else is small and goes through value_json. nlohmann's objects are sorted
// maps, so a record's members are written in key order.

template <class T>
inline constexpr bool kIsStreamed = Record<T> || kIsRecordList<T>;
template <class T>
inline constexpr bool kIsStreamed<std::optional<T>> = Record<T>;

template <class T>
void stream_value(std::ostream& out, const T& value, int depth);

void newline_and_indent(std::ostream& out, int depth) {
  out << '\n';
  for (int i = 0; i < depth; ++i) out << "  ";
}

// `items` between `open` and `close` as dump(2) prints them: each on a line of its own
// one level deeper, "{}" or "[]" when there are none.
template <class Range, class F>
void write_nested(std::ostream& out, char open, char close, const Range& items, int depth,
                  F&& write_item) {
  out << open;
  const char* separator = "";
  for (const auto& item : items) {
    out << separator;
    newline_and_indent(out, depth + 1);
    write_item(item);
    separator = ",";
  }
  if (!std::ranges::empty(items)) newline_and_indent(out, depth);
  out << close;
}

template <class T>
void stream_record(std::ostream& out, const T& record, int depth) {
  struct Member {
    std::string key;
    std::function<void()> write;  // writes the value at depth + 1
  };
  std::vector<Member> members;
  fields(record, [&](const char* key, const auto& member) {
    using V = std::remove_cvref_t<decltype(member)>;
    if constexpr (kIsStreamed<V>) {
      members.push_back({key, [&out, &member, depth] { stream_value(out, member, depth + 1); }});
    } else {
      members.push_back(
          {key, [&out, j = value_json(member), depth] { write_pretty_json(out, j, depth + 1); }});
    }
  });
  json extra = json::object();
  write_extra(extra, record);
  for (auto it = extra.begin(); it != extra.end(); ++it) {
    members.push_back(
        {it.key(), [&out, &j = it.value(), depth] { write_pretty_json(out, j, depth + 1); }});
  }
  std::ranges::sort(members, {}, &Member::key);
  assert(std::ranges::adjacent_find(members, {}, &Member::key) == members.end() &&
         "a key written twice: the document would keep only one of them");
  write_nested(out, '{', '}', members, depth, [&out](const Member& member) {
    out << json(member.key).dump() << ": ";
    member.write();
  });
}

template <class T>
void stream_value(std::ostream& out, const T& value, int depth) {
  if constexpr (Record<T>) {
    stream_record(out, value, depth);
  } else if constexpr (kIsRecordList<T>) {
    write_nested(out, '[', ']', value, depth,
                 [&out, depth](const auto& record) { stream_record(out, record, depth + 1); });
  } else if constexpr (kIsOptional<T>) {
    if (value) {
      stream_value(out, *value, depth);
    } else {
      out << "null";
    }
  } else {
    write_pretty_json(out, value_json(value), depth);
  }
}

// ---------------------------------------------------------------------------- from json

HistogramSnapshot histogram_from(const json& j);

template <class T>
void read_value(const json& v, T& out) {
  if constexpr (Record<T>) {
    fields(out, [&v](const char* key, auto& member) { read(v, key, member); });
    read_extra(v, out);
  } else if constexpr (kIsRecordList<T>) {
    if (!v.is_array()) throw BadDocument("expected an array");
    out.assign(v.size(), {});
    for (std::size_t i = 0; i < v.size(); ++i) {
      under("[" + std::to_string(i) + "]", [&] { read_value(v[i], out[i]); });
    }
  } else if constexpr (kIsOptional<T>) {
    if (v.is_null()) {
      out.reset();
    } else {
      read_value(v, out.emplace());
    }
  } else if constexpr (std::is_same_v<T, HistogramSnapshot>) {
    out = histogram_from(v);
  } else if constexpr (std::is_enum_v<T>) {
    const auto name = v.get<std::string>();
    const auto parsed = from_name(name, T{});
    if (!parsed) throw BadDocument("unknown value \"" + name + "\"");
    out = *parsed;
  } else {
    out = v.get<T>();
  }
}

// Reads j[key] into out; a malformed value throws BadDocument with the key in its path.
template <class T>
void read(const json& j, const char* key, T& out) {
  const json& v = member(j, key);
  under(key, [&] {
    try {
      read_value(v, out);
    } catch (const json::exception& e) {
      throw BadDocument(e.what());
    }
  });
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
  const json& buckets = member(j, "buckets");
  if (!buckets.is_array() || buckets.size() != kHistogramBuckets) {
    throw BadDocument("histogram: expected " + std::to_string(kHistogramBuckets) + " buckets");
  }
  std::uint64_t previous = 0;
  for (std::size_t i = 0; i < kHistogramBuckets; ++i) {
    std::uint64_t cumulative = 0;
    under("buckets[" + std::to_string(i) + "]", [&] { read(buckets[i], "count", cumulative); });
    if (cumulative < previous) throw BadDocument("histogram: bucket counts are not cumulative");
    h.buckets[i] = cumulative - previous;
    previous = cumulative;
  }
  return h;
}

RunResult run_result_from(const json& j) {
  std::string format;
  read(j, "format", format);
  if (format != "shmcheck-run-result") throw BadDocument("not a shmcheck run result");
  int version = 0;
  read(j, "format_version", version);
  if (version != kRunResultFormatVersion) {
    throw BadDocument("format_version " + std::to_string(version) + " is not supported");
  }
  RunResult r;
  read_value(j, r);
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
std::string_view to_string(FaultStatus status) noexcept { return name_of(kFaultStatuses, status); }
std::optional<FaultStatus> fault_status_from_string(std::string_view s) noexcept {
  return value_of(kFaultStatuses, s);
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

std::uint64_t throughput_ops(const RunResult& result) noexcept {
  // Messages delivered once: a copy (a duplicate, or one read again after a crash) is
  // not throughput, or a duplicating bug would have passed a throughput expectation.
  if (result.integrity) {
    const auto& c = result.integrity->counts;
    const std::uint64_t copies = c.duplicated + c.redelivered;
    return c.delivered > copies ? c.delivered - copies : 0;
  }
  std::uint64_t ops = 0;
  for (const auto& r : result.roles) {
    if (r.role != "consumer") ops += r.stats.total_ops();
  }
  return ops;
}

json to_json(const RunResult& r) { return value_json(r); }

void write_pretty_json(std::ostream& out, const json& value, int depth) {
  const std::string text = value.dump(2, ' ', false, json::error_handler_t::replace);
  if (depth == 0 || (!value.is_object() && !value.is_array())) {
    out << text;
    return;
  }
  // A dump holds no raw newline but its own (strings escape theirs): each one gains
  // the enclosing depth's indent.
  const std::string indent(static_cast<std::size_t>(depth) * 2, ' ');
  std::size_t from = 0;
  for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', from)) {
    out.write(text.data() + from, static_cast<std::streamsize>(nl + 1 - from)) << indent;
    from = nl + 1;
  }
  out.write(text.data() + from, static_cast<std::streamsize>(text.size() - from));
}

void write_json(std::ostream& out, const RunResult& result, int depth) {
  stream_value(out, result, depth);
}

void write_json(std::ostream& out, const std::vector<RunResult>& results, int depth) {
  stream_value(out, results, depth);
}

core::Result<RunResult> run_result_from_json(const json& j) {
  try {
    return run_result_from(j);
  } catch (const BadDocument& e) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "run_result_from_json",
                            e.describe());
  } catch (const json::exception& e) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "run_result_from_json", e.what());
  }
}

}  // namespace shmcheck::probes
