// Spec loader: bytes -> YAML events -> JSON with marks (spec_yaml.cpp) -> typed
// extraction with precise messages + JSON-schema validation -> semantic checks.
#include "shmcheck/harness/spec_loader.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <span>

#include "shmcheck/core/failpoint.hpp"
#include "shmcheck/core/printable.hpp"
#include "shmcheck/harness/fault_schedule.hpp"
#include "spec_yaml.hpp"

namespace shmcheck::harness {
namespace {

using detail::Diag;
using detail::Document;
using Json = nlohmann::json;
using std::chrono::nanoseconds;

// ---- small text helpers -------------------------------------------------------

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0U : 1U)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// The closest candidate within a third of the word's length (at least 2 edits).
std::optional<std::string_view> closest(std::string_view word,
                                        std::span<const std::string_view> candidates) {
  if (word.size() > 64) return std::nullopt;
  std::optional<std::string_view> best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto candidate : candidates) {
    const std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

std::string join(std::span<const std::string_view> items) {
  std::string out;
  for (const auto item : items) {
    if (!out.empty()) out += ", ";
    out += item;
  }
  return out;
}

std::string quote(std::string_view text) {
  constexpr std::size_t kEcho = 48;
  std::string out = "'";
  out.append(text.substr(0, kEcho));
  if (text.size() > kEcho) out += "...";
  out += "'";
  return out;
}

std::string describe(const Json& value) {
  switch (value.type()) {
    case Json::value_t::string:
      return "string " + quote(value.get_ref<const std::string&>());
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer " + value.dump();
    case Json::value_t::number_float:
      return "number " + value.dump();
    case Json::value_t::boolean:
      return std::string("boolean ") + (value.get<bool>() ? "true" : "false");
    case Json::value_t::null:
      return "nothing (null)";
    case Json::value_t::object:
      return "a mapping";
    case Json::value_t::array:
      return "a list";
    default:
      return "an unsupported value";
  }
}

// As core::is_valid_object_name: no leading '-' (it reads as a flag, and a segment of
// that name could not be created while a semaphore could, and its manifest then not be
// read back for a reclaim).
bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > 48 || name.front() == '-') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string mark_text(SourceMark m) {
  return std::to_string(m.line) + ":" + std::to_string(m.column);
}

bool overlaps(std::string_view a, std::string_view b) {
  const auto prefix = [](std::string_view p, std::string_view s) {
    return s.starts_with(p) && (s.size() == p.size() || s[p.size()] == '/');
  };
  return prefix(a, b) || prefix(b, a);
}

// ---- typed extraction ---------------------------------------------------------

constexpr std::string_view kTopKeys[] = {"name",    "description", "seed",   "duration", "timeout",
                                         "objects", "processes",   "faults", "expect"};
constexpr std::string_view kObjectKeys[] = {"name", "kind",   "backing", "capacity", "message_size",
                                            "size", "flavor", "undo",    "initial"};
constexpr std::string_view kSegmentKeys[] = {"name", "kind", "backing", "size"};
constexpr std::string_view kMutexKeys[] = {"name", "kind", "backing"};
constexpr std::string_view kSemaphoreKeys[] = {"name",   "kind", "backing",
                                               "flavor", "undo", "initial"};
constexpr std::string_view kRingKeys[] = {"name", "kind", "backing", "capacity", "message_size"};
constexpr std::string_view kProcessKeys[] = {"role",  "count",        "uses", "ops",  "hold",
                                             "think", "message_size", "rate", "burst"};
constexpr std::string_view kFaultKeys[] = {"kill",   "pause",   "exit",  "at",     "after",
                                           "signal", "restart", "every", "jitter", "start",
                                           "max",    "for",     "code"};
constexpr std::string_view kKillAtKeys[] = {"kill", "at", "after", "signal", "restart"};
constexpr std::string_view kKillRandomKeys[] = {"kill", "every",  "jitter", "start",
                                                "max",  "signal", "restart"};
constexpr std::string_view kPauseAtKeys[] = {"pause", "for", "at", "after"};
constexpr std::string_view kPauseTimedKeys[] = {"pause", "for", "start", "every", "jitter", "max"};
constexpr std::string_view kExitKeys[] = {"exit", "at", "after", "code", "restart"};
// Why a ring's message_size has a floor (kMinRingMessageSize).
constexpr std::string_view kMessageHeaderNote =
    "every message starts with the integrity check's 40-byte header";
constexpr std::string_view kExpectKeys[] = {
    "delivery",    "lost",           "duplicated",           "torn",    "reordered",
    "unexpected",  "leaked_objects", "exclusion_violations", "stalled", "semaphore_drift",
    "p99_latency", "throughput"};
// The largest value of a SysV semaphore (SEMVMX), and of any semaphore's `initial`.
constexpr std::uint64_t kSysvSemaphoreMax = 32767;
constexpr std::string_view kKinds[] = {"segment", "mutex", "semaphore", "spsc_ring", "mpmc_ring"};
constexpr std::string_view kBackingNames[] = {"posix", "sysv", "memfd"};
constexpr std::string_view kFlavorNames[] = {"posix_unnamed", "posix_named", "sysv"};
constexpr std::string_view kRoleNames[] = {"producer", "consumer", "locker", "poster",
                                           "waiter",   "writer",   "reader"};
constexpr std::string_view kTargetNames[] = {"producer", "consumer", "locker", "poster",
                                             "waiter",   "writer",   "reader", "any"};
constexpr std::string_view kSignalNames[] = {"SIGKILL", "SIGTERM", "SIGABRT", "SIGSEGV", "SIGBUS"};
constexpr std::string_view kDeliveryNames[] = {"at_most_once", "at_least_once", "exactly_once"};

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kGiB = kKiB * kKiB * kKiB;

class Extractor {
 public:
  Extractor(const Document& doc, std::vector<Diag>& diags) : doc_(doc), diags_(diags) {
    for (const auto& d : diags_) reported_.insert(d.pointer);
  }

  SourceMark mark_of(std::string pointer) const {
    for (;;) {
      if (const auto it = doc_.value_marks.find(pointer); it != doc_.value_marks.end()) {
        return it->second;
      }
      if (pointer.empty()) return {};
      pointer.resize(pointer.rfind('/'));
    }
  }
  SourceMark key_mark_of(const std::string& pointer) const {
    if (const auto it = doc_.key_marks.find(pointer); it != doc_.key_marks.end()) {
      return it->second;
    }
    return mark_of(pointer);
  }

  // One error per node: later errors about an already-reported node are dropped.
  void error(const std::string& pointer, std::string message) {
    if (!reported_.insert(pointer).second) return;
    diags_.push_back({mark_of(pointer), std::move(message), pointer});
  }
  void key_error(const std::string& pointer, std::string message) {
    if (!reported_.insert(pointer).second) return;
    diags_.push_back({key_mark_of(pointer), std::move(message), pointer});
  }
  bool has_errors() const { return !diags_.empty(); }

  // Unknown keys (with a suggestion), and keys known to the format but not
  // allowed here (`context` says why).
  void check_keys(const Json& obj, const std::string& ptr,
                  std::span<const std::string_view> allowed,
                  std::span<const std::string_view> known, const std::string& context) {
    for (const auto& [key, value] : obj.items()) {
      if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
      const std::string child = detail::child_pointer(ptr, key);
      if (std::find(known.begin(), known.end(), key) != known.end()) {
        key_error(child, "key " + quote(key) + " does not apply to " + context +
                             " (allowed: " + join(allowed) + ")");
        continue;
      }
      std::string message = "unknown key " + quote(key);
      if (const auto suggestion = closest(key, allowed)) {
        message += " (did you mean '" + std::string(*suggestion) + "'?)";
      } else {
        message += " (allowed: " + join(allowed) + ")";
      }
      key_error(child, std::move(message));
    }
  }

  bool require_map(const Json& value, const std::string& ptr, std::string_view what) {
    if (value.is_object()) return true;
    error(ptr, std::string(what) + " must be a mapping, got " + describe(value));
    return false;
  }

  const Json* field(const Json& obj, const std::string& ptr, std::string_view key, bool required) {
    const auto it = obj.find(key);
    if (it != obj.end()) return &*it;
    if (required) {
      diags_.push_back({mark_of(ptr), "missing required key '" + std::string(key) + "'", ptr});
    }
    return nullptr;
  }

  std::optional<std::string> get_string(const Json& obj, const std::string& ptr,
                                        std::string_view key, bool required = false) {
    const Json* v = field(obj, ptr, key, required);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      error(detail::child_pointer(ptr, key),
            "'" + std::string(key) + "' must be a string, got " + describe(*v));
      return std::nullopt;
    }
    return v->get<std::string>();
  }

  std::optional<std::string> get_name(const Json& obj, const std::string& ptr, std::string_view key,
                                      std::string_view what, bool required = true) {
    auto name = get_string(obj, ptr, key, required);
    if (name && !valid_name(*name)) {
      error(detail::child_pointer(ptr, key),
            std::string(what) + " " + quote(*name) +
                " is invalid: names are 1 to 48 of A-Z a-z 0-9 _ - (not starting with '-'; no "
                "'/', no NUL)");
      return std::nullopt;
    }
    return name;
  }

  std::optional<std::string> get_enum(const Json& obj, const std::string& ptr, std::string_view key,
                                      std::span<const std::string_view> allowed,
                                      bool required = false) {
    auto value = get_string(obj, ptr, key, required);
    if (!value) return std::nullopt;
    if (std::find(allowed.begin(), allowed.end(), *value) != allowed.end()) return value;
    std::string message = "'" + std::string(key) + "' has unknown value " + quote(*value);
    if (const auto suggestion = closest(*value, allowed)) {
      message += " (did you mean '" + std::string(*suggestion) + "'?)";
    }
    message += "; allowed: " + join(allowed);
    error(detail::child_pointer(ptr, key), std::move(message));
    return std::nullopt;
  }

  std::optional<std::uint64_t> get_uint(const Json& obj, const std::string& ptr,
                                        std::string_view key, std::uint64_t lo, std::uint64_t hi,
                                        bool required = false) {
    const Json* v = field(obj, ptr, key, required);
    if (v == nullptr) return std::nullopt;
    const std::string child = detail::child_pointer(ptr, key);
    if (v->is_number_integer() && !v->is_number_unsigned()) {
      error(child, "'" + std::string(key) + "' must not be negative, got " + v->dump());
      return std::nullopt;
    }
    if (!v->is_number_unsigned()) {
      error(child, "'" + std::string(key) + "' must be an integer, got " + describe(*v));
      return std::nullopt;
    }
    const auto value = v->get<std::uint64_t>();
    if (value < lo || value > hi) {
      error(child, "'" + std::string(key) + "' must be between " + std::to_string(lo) + " and " +
                       std::to_string(hi) + ", got " + std::to_string(value));
      return std::nullopt;
    }
    return value;
  }

  std::optional<std::int64_t> get_int(const Json& obj, const std::string& ptr,
                                      std::string_view key) {
    const Json* v = field(obj, ptr, key, false);
    if (v == nullptr) return std::nullopt;
    const std::string child = detail::child_pointer(ptr, key);
    if (!v->is_number_integer()) {
      error(child, "'" + std::string(key) + "' must be an integer, got " + describe(*v));
      return std::nullopt;
    }
    if (v->is_number_unsigned() &&
        v->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
      error(child, "'" + std::string(key) + "' is out of range, got " + v->dump());
      return std::nullopt;
    }
    return v->get<std::int64_t>();
  }

  std::optional<bool> get_bool(const Json& obj, const std::string& ptr, std::string_view key) {
    const Json* v = field(obj, ptr, key, false);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) {
      error(detail::child_pointer(ptr, key),
            "'" + std::string(key) + "' must be true or false, got " + describe(*v));
      return std::nullopt;
    }
    return v->get<bool>();
  }

  std::optional<nanoseconds> get_duration(const Json& obj, const std::string& ptr,
                                          std::string_view key, bool required = false) {
    const Json* v = field(obj, ptr, key, required);
    if (v == nullptr) return std::nullopt;
    const std::string child = detail::child_pointer(ptr, key);
    if (!v->is_string()) {
      error(child, "'" + std::string(key) + "' must be a duration with a unit like '250ms', got " +
                       describe(*v));
      return std::nullopt;
    }
    std::string why;
    auto d = parse_duration(v->get_ref<const std::string&>(), &why);
    if (!d) error(child, "'" + std::string(key) + "': " + why);
    return d;
  }

  // `why_lo`: said after the range when the value is below lo.
  std::optional<std::uint64_t> get_size(const Json& obj, const std::string& ptr,
                                        std::string_view key, std::uint64_t lo, std::uint64_t hi,
                                        std::string_view why_lo = {}) {
    const Json* v = field(obj, ptr, key, false);
    if (v == nullptr) return std::nullopt;
    const std::string child = detail::child_pointer(ptr, key);
    std::optional<std::uint64_t> size;
    if (v->is_number_unsigned()) {
      size = v->get<std::uint64_t>();
    } else if (v->is_number_integer()) {
      error(child, "'" + std::string(key) + "' must not be negative, got " + v->dump());
      return std::nullopt;
    } else if (v->is_string()) {
      std::string why;
      size = parse_size(v->get_ref<const std::string&>(), &why);
      if (!size) {
        error(child, "'" + std::string(key) + "': " + why);
        return std::nullopt;
      }
    } else {
      error(child,
            "'" + std::string(key) + "' must be a size like 4096 or '4KiB', got " + describe(*v));
      return std::nullopt;
    }
    if (*size < lo || *size > hi) {
      std::string message = "'" + std::string(key) + "' must be between " + std::to_string(lo) +
                            " and " + std::to_string(hi) + " bytes, got " + std::to_string(*size);
      if (*size < lo && !why_lo.empty()) message += " (" + std::string(why_lo) + ")";
      error(child, std::move(message));
      return std::nullopt;
    }
    return size;
  }

  std::optional<double> get_rate(const Json& obj, const std::string& ptr, std::string_view key) {
    const Json* v = field(obj, ptr, key, false);
    if (v == nullptr) return std::nullopt;
    const std::string child = detail::child_pointer(ptr, key);
    if (!v->is_string()) {
      error(child, "'" + std::string(key) + "' must be a rate like '10k/s', got " + describe(*v));
      return std::nullopt;
    }
    std::string why;
    auto r = parse_rate(v->get_ref<const std::string&>(), &why);
    if (!r) error(child, "'" + std::string(key) + "': " + why);
    return r;
  }

  std::optional<Comparison> get_comparison(const Json& obj, const std::string& ptr,
                                           std::string_view key, ComparisonUnit unit) {
    const Json* v = field(obj, ptr, key, false);
    if (v == nullptr) return std::nullopt;
    const std::string child = detail::child_pointer(ptr, key);
    if (!v->is_string()) {
      error(child, "'" + std::string(key) + "' must be a comparison like " +
                       (unit == ComparisonUnit::kDuration ? "'< 500us'" : "'> 1M/s'") + ", got " +
                       describe(*v));
      return std::nullopt;
    }
    std::string why;
    auto c = parse_comparison(v->get_ref<const std::string&>(), unit, &why);
    if (!c) error(child, "'" + std::string(key) + "': " + why);
    return c;
  }

  // A list under `key` of the top-level map; nullptr when absent or not a list.
  const Json* get_list(const Json& obj, std::string_view key, bool required,
                       std::size_t max_items) {
    const Json* v = field(obj, "", key, required);
    if (v == nullptr) return nullptr;
    const std::string child = detail::child_pointer("", key);
    if (!v->is_array()) {
      error(child, "'" + std::string(key) + "' must be a list, got " + describe(*v));
      return nullptr;
    }
    if (required && v->empty()) {
      error(child, "'" + std::string(key) + "' must not be empty");
      return nullptr;
    }
    if (v->size() > max_items) {
      error(child, "'" + std::string(key) + "' has " + std::to_string(v->size()) +
                       " entries; at most " + std::to_string(max_items) + " are allowed");
      return nullptr;
    }
    return v;
  }

  SourceMark mark(const std::string& ptr) const { return mark_of(ptr); }

 private:
  const Document& doc_;
  std::vector<Diag>& diags_;
  std::set<std::string> reported_;
};

ObjectSpec extract_object(Extractor& x, const Json& obj, const std::string& ptr) {
  ObjectSpec o;
  o.mark = x.mark(ptr);
  if (auto name = x.get_name(obj, ptr, "name", "object name")) o.name = *name;
  const auto kind = x.get_enum(obj, ptr, "kind", kKinds, true);
  if (kind) o.type = *object_type_from_string(*kind);
  if (kind) {
    std::span<const std::string_view> allowed = kRingKeys;
    if (o.type == ObjectType::kSegment) allowed = kSegmentKeys;
    if (o.type == ObjectType::kMutex) allowed = kMutexKeys;
    if (o.type == ObjectType::kSemaphore) allowed = kSemaphoreKeys;
    x.check_keys(obj, ptr, allowed, kObjectKeys, "kind '" + *kind + "'");
  } else {
    x.check_keys(obj, ptr, kObjectKeys, {}, "");
  }
  if (auto backing = x.get_enum(obj, ptr, "backing", kBackingNames)) {
    o.backing = *backing_from_string(*backing);
  }
  if (auto capacity = x.get_uint(obj, ptr, "capacity", 2, 1U << 20U)) {
    if ((*capacity & (*capacity - 1)) != 0) {
      x.error(detail::child_pointer(ptr, "capacity"),
              "'capacity' must be a power of two, got " + std::to_string(*capacity));
    } else {
      o.capacity = static_cast<std::uint32_t>(*capacity);
    }
  }
  if (auto size = x.get_size(obj, ptr, "message_size", kMinRingMessageSize, 64 * kKiB,
                             kMessageHeaderNote)) {
    o.message_size = static_cast<std::uint32_t>(*size);
  }
  if (auto size = x.get_size(obj, ptr, "size", 4 * kKiB, kGiB)) o.size = *size;
  if (auto flavor = x.get_enum(obj, ptr, "flavor", kFlavorNames)) {
    o.flavor = *sem_flavor_from_string(*flavor);
  }
  if (auto undo = x.get_bool(obj, ptr, "undo")) o.undo = *undo;
  if (auto initial = x.get_uint(obj, ptr, "initial", 0, kSysvSemaphoreMax)) {
    o.initial = static_cast<std::uint32_t>(*initial);
  }
  if (o.type == ObjectType::kSemaphore) {
    if (o.undo && o.flavor != SemFlavor::kSysV) {
      x.error(detail::child_pointer(ptr, "undo"),
              "'undo' (SEM_UNDO) needs flavor sysv, not " + std::string(to_string(o.flavor)));
    }
    if (obj.contains("backing") && o.flavor != SemFlavor::kPosixUnnamed) {
      x.error(detail::child_pointer(ptr, "backing"),
              "'backing' applies only to posix_unnamed semaphores (they live in a segment); a " +
                  std::string(to_string(o.flavor)) + " semaphore has none");
    }
  }
  return o;
}

ProcessSpec extract_process(Extractor& x, const Json& obj, const std::string& ptr) {
  ProcessSpec p;
  p.mark = x.mark(ptr);
  x.check_keys(obj, ptr, kProcessKeys, {}, "");
  if (auto role = x.get_enum(obj, ptr, "role", kRoleNames, true)) {
    p.role = *role_from_string(*role);
    p.name = *role;
  }
  if (auto count = x.get_uint(obj, ptr, "count", 1, kMaxWorkers)) {
    p.count = static_cast<std::uint32_t>(*count);
  }
  if (auto uses = x.get_name(obj, ptr, "uses", "object name")) p.uses = *uses;
  if (auto ops = x.get_uint(obj, ptr, "ops", 1, UINT64_MAX)) p.ops = *ops;
  if (auto hold = x.get_duration(obj, ptr, "hold")) p.hold = *hold;
  if (auto think = x.get_duration(obj, ptr, "think")) p.think = *think;
  if (auto size = x.get_size(obj, ptr, "message_size", kMinRingMessageSize, 64 * kKiB,
                             kMessageHeaderNote)) {
    p.message_size = static_cast<std::uint32_t>(*size);
  }
  p.rate = x.get_rate(obj, ptr, "rate");
  if (auto burst = x.get_uint(obj, ptr, "burst", 1, kMaxBurst)) {
    p.burst = static_cast<std::uint32_t>(*burst);
  }
  return p;
}

// For "at: 5s": how a fault of this kind is written at a time, when it can be.
std::string timed_fault_hint(std::string_view kind_key, std::string_view when) {
  const std::string at(when);
  if (kind_key == "kill") return "a kill at " + at + " is written 'every: " + at + ", max: 1'";
  if (kind_key == "pause") return "a pause at " + at + " is written 'start: " + at + "'";
  return "an exit happens at a failpoint only (a timed kill can raise a 'signal')";
}

FaultSpec extract_fault(Extractor& x, const Json& obj, const std::string& ptr) {
  FaultSpec f;
  f.mark = x.mark(ptr);
  const int kinds = static_cast<int>(obj.contains("kill")) +
                    static_cast<int>(obj.contains("pause")) +
                    static_cast<int>(obj.contains("exit"));
  if (kinds != 1) {
    x.check_keys(obj, ptr, kFaultKeys, {}, "");
    x.error(ptr, kinds == 0 ? "a fault needs one of 'kill', 'pause' or 'exit'"
                            : "a fault has exactly one of 'kill', 'pause' or 'exit'");
    return f;
  }
  const char* kind_key = obj.contains("kill") ? "kill" : obj.contains("pause") ? "pause" : "exit";
  if (auto target = x.get_enum(obj, ptr, kind_key, kTargetNames)) f.target = *target;
  const bool at_failpoint = obj.contains("at");
  std::span<const std::string_view> allowed;
  std::string context;
  if (std::string_view(kind_key) == "kill") {
    f.kind = at_failpoint ? FaultKind::kKillAtFailpoint : FaultKind::kKillRandom;
    allowed = at_failpoint ? std::span<const std::string_view>(kKillAtKeys) : kKillRandomKeys;
    context = at_failpoint ? "a kill at a failpoint" : "a random kill";
  } else if (std::string_view(kind_key) == "pause") {
    f.kind = FaultKind::kPause;
    allowed = at_failpoint ? std::span<const std::string_view>(kPauseAtKeys) : kPauseTimedKeys;
    context = at_failpoint ? "a pause at a failpoint" : "a timed pause";
  } else {
    f.kind = FaultKind::kExit;
    allowed = kExitKeys;
    context = "an exit fault";
  }
  x.check_keys(obj, ptr, allowed, kFaultKeys, context);
  if (at_failpoint) {
    if (auto at = x.get_string(obj, ptr, "at")) {
      if (!core::failpoint_from_name(*at)) {
        std::vector<std::string_view> names;
        for (const auto& info : core::all_failpoints()) names.push_back(info.name);
        std::string message = "unknown failpoint " + quote(*at);
        std::string why;
        if (parse_duration(*at, &why)) {
          message += ": 'at' names a failpoint, not a time; " + timed_fault_hint(kind_key, *at);
        } else {
          if (const auto suggestion = closest(*at, names)) {
            message += " (did you mean '" + std::string(*suggestion) + "'?)";
          }
          message += "; `shmcheck list-failpoints` lists them";
        }
        x.error(detail::child_pointer(ptr, "at"), std::move(message));
      } else {
        f.failpoint = *at;
      }
    }
    if (auto after = x.get_uint(obj, ptr, "after", 1, UINT64_MAX)) f.after = *after;
  } else if (f.kind == FaultKind::kExit) {
    x.field(obj, ptr, "at", true);
  }
  if (auto signal = x.get_enum(obj, ptr, "signal", kSignalNames)) {
    f.signal = *fault_signal_from_string(*signal);
  }
  if (auto restart = x.get_bool(obj, ptr, "restart")) f.restart = *restart;
  if (auto every = x.get_duration(obj, ptr, "every", f.kind == FaultKind::kKillRandom)) {
    f.every = *every;
    // A timed pause took `every: 0ms` for no period at all, and fired once.
    if (every->count() == 0) {
      x.error(detail::child_pointer(ptr, "every"), "'every' must be greater than 0s");
    }
  }
  if (auto jitter = x.get_duration(obj, ptr, "jitter")) {
    f.jitter = *jitter;
    // Within half a period, each firing stays in its own period and in order; more was
    // cut to half a period without a word (jitter: 100ms on every: 100ms moved kills
    // by 48 ms at most).
    if (f.every.count() == 0 && f.jitter.count() > 0) {
      // A random kill without `every` is refused for that already: one error is enough.
      if (f.kind != FaultKind::kKillRandom) {
        x.error(detail::child_pointer(ptr, "jitter"), "'jitter' needs 'every'");
      }
    } else if (f.jitter > f.every / 2) {
      x.error(detail::child_pointer(ptr, "jitter"),
              "'jitter' " + format_duration(f.jitter) + " is more than half of 'every' (" +
                  format_duration(f.every) +
                  "): each firing stays within half a period of its own instant");
    }
  }
  if (auto start = x.get_duration(obj, ptr, "start")) f.start = *start;
  // 0 read as "never" and meant "no limit": leave `max` out for no limit.
  if (auto max = x.get_uint(obj, ptr, "max", 1, UINT32_MAX)) {
    f.max = static_cast<std::uint32_t>(*max);
    // Without a period a timed fault fires once: `max: 3` said otherwise, silently.
    if (f.max > 1 && f.every.count() == 0) {
      x.error(detail::child_pointer(ptr, "max"),
              "'max' " + std::to_string(f.max) + " needs 'every': without it the fault fires once");
    }
  }
  if (auto pause_for = x.get_duration(obj, ptr, "for", f.kind == FaultKind::kPause)) {
    f.pause_for = *pause_for;
    if (pause_for->count() == 0) {
      x.error(detail::child_pointer(ptr, "for"), "'for' must be greater than 0s");
    }
  }
  if (auto code = x.get_uint(obj, ptr, "code", 0, 255)) f.exit_code = static_cast<int>(*code);
  return f;
}

Expectations extract_expect(Extractor& x, const Json& obj, const std::string& ptr) {
  Expectations e;
  e.mark = x.mark(ptr);
  x.check_keys(obj, ptr, kExpectKeys, {}, "");
  if (auto delivery = x.get_enum(obj, ptr, "delivery", kDeliveryNames)) {
    e.delivery = delivery_from_string(*delivery);
  }
  e.lost = x.get_uint(obj, ptr, "lost", 0, UINT64_MAX);
  e.duplicated = x.get_uint(obj, ptr, "duplicated", 0, UINT64_MAX);
  e.torn = x.get_uint(obj, ptr, "torn", 0, UINT64_MAX);
  e.reordered = x.get_uint(obj, ptr, "reordered", 0, UINT64_MAX);
  e.unexpected = x.get_uint(obj, ptr, "unexpected", 0, UINT64_MAX);
  e.leaked_objects = x.get_uint(obj, ptr, "leaked_objects", 0, UINT64_MAX);
  e.exclusion_violations = x.get_uint(obj, ptr, "exclusion_violations", 0, UINT64_MAX);
  e.stalled = x.get_uint(obj, ptr, "stalled", 0, UINT64_MAX);
  e.semaphore_drift = x.get_int(obj, ptr, "semaphore_drift");
  e.p99_latency = x.get_comparison(obj, ptr, "p99_latency", ComparisonUnit::kDuration);
  e.throughput = x.get_comparison(obj, ptr, "throughput", ComparisonUnit::kRate);
  return e;
}

}  // namespace

// Which roles reach a failpoint, by its family ("ring.push." -> producer). An
// unknown family (a failpoint added later) is not restricted.
std::vector<Role> roles_reaching(std::string_view failpoint) {
  if (failpoint.starts_with("ring.push.")) return {Role::kProducer};
  if (failpoint.starts_with("ring.pop.")) return {Role::kConsumer};
  if (failpoint.starts_with("mutex.")) return {Role::kLocker};
  // A poster lends a unit and takes it back; only a waiter holds a taken unit.
  if (failpoint.starts_with("semaphore.")) return {Role::kWaiter};
  if (failpoint.starts_with("segment.write.")) return {Role::kWriter};
  if (failpoint.starts_with("segment.read.")) return {Role::kReader};
  return {};
}

namespace {

std::string kinds_for(Role role) {
  switch (role) {
    case Role::kProducer:
    case Role::kConsumer:
      return "an spsc_ring or mpmc_ring";
    case Role::kLocker:
      return "a mutex";
    case Role::kPoster:
    case Role::kWaiter:
      return "a semaphore";
    case Role::kWriter:
    case Role::kReader:
      return "a segment";
  }
  return "";
}

void semantic_checks(Extractor& x, const Spec& spec) {
  // Objects: unique names.
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < spec.objects.size(); ++i) {
    const auto& o = spec.objects[i];
    if (const auto [it, fresh] = seen.emplace(o.name, i); !fresh) {
      // Both positions at the name (the first was the list item's, a column earlier).
      const auto name_of = [](std::size_t k) {
        return detail::child_pointer(detail::child_pointer("/objects", k), "name");
      };
      x.error(name_of(i), "duplicate object name " + quote(o.name) + " (first at line " +
                              mark_text(x.mark(name_of(it->second))) + ")");
    }
  }
  std::vector<std::string_view> object_names;
  for (const auto& o : spec.objects) object_names.push_back(o.name);

  // Processes: known object of the right kind; total workers; a way to stop.
  std::uint64_t workers = 0;
  bool uses_ok = true;  // ring sides are only counted right when every `uses` resolved
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>>
      ring_sides;                                    // producers, consumers
  std::map<std::string, std::uint64_t> sem_workers;  // posters and waiters so far
  std::map<std::string, std::uint64_t> waiters, posters, writers, readers;
  for (std::size_t i = 0; i < spec.processes.size(); ++i) {
    const auto& p = spec.processes[i];
    const std::string ptr = detail::child_pointer("/processes", i);
    workers += p.count;
    const ObjectSpec* object = spec.find_object(p.uses);
    if (object == nullptr) {
      std::string message = "process '" + p.name + "' uses unknown object " + quote(p.uses);
      if (const auto suggestion = closest(p.uses, object_names)) {
        message += " (did you mean '" + std::string(*suggestion) + "'?)";
      } else {
        message += " (objects: " + join(object_names) + ")";
      }
      x.error(detail::child_pointer(ptr, "uses"), std::move(message));
      uses_ok = false;
      continue;
    }
    if (!role_accepts(p.role, object->type)) {
      x.error(detail::child_pointer(ptr, "uses"), "role '" + p.name + "' cannot use " +
                                                      quote(object->name) + ", which is of kind " +
                                                      std::string(to_string(object->type)) + "; " +
                                                      p.name + " needs " + kinds_for(p.role));
      uses_ok = false;
      continue;
    }
    if (p.message_size) {
      if (p.role != Role::kProducer) {
        x.error(detail::child_pointer(ptr, "message_size"),
                "'message_size' applies only to producers");
      } else if (*p.message_size > object->message_size) {
        x.error(detail::child_pointer(ptr, "message_size"),
                "'message_size' " + std::to_string(*p.message_size) +
                    " exceeds the slot size of ring " + quote(object->name) + " (" +
                    std::to_string(object->message_size) + ")");
      }
    }
    if (p.burst != 1) {
      const std::string at = detail::child_pointer(ptr, "burst");
      if (p.role != Role::kProducer && p.role != Role::kConsumer) {
        x.error(at, "'burst' applies only to producers and consumers");
      } else if (object->type != ObjectType::kSpscRing) {
        x.error(at, "'burst' needs an spsc_ring; " + quote(object->name) + " is of kind " +
                        std::string(to_string(object->type)) + " (no burst push or pop)");
      } else if (p.burst > object->capacity) {
        x.error(at, "'burst' " + std::to_string(p.burst) + " exceeds the capacity of ring " +
                        quote(object->name) + " (" + std::to_string(object->capacity) + ")");
      }
    }
    // A worker's own waits must be shorter than the no-progress limit, or the watchdog
    // calls a worker that is only waiting stalled (a producer paced at 0.1/s in a spec
    // with a 5 s timeout failed as "STALLED: no progress for 5s").
    const auto too_long = [&](std::string_view key, std::chrono::nanoseconds wait) {
      if (wait < spec.timeout) return;
      const std::string what =
          key == "rate" ? "'rate' leaves " + format_duration(wait) + " between operations, which"
                        : "'" + std::string(key) + "' " + format_duration(wait);
      x.error(detail::child_pointer(ptr, key),
              what + " is not shorter than the spec's 'timeout' (" + format_duration(spec.timeout) +
                  "), the watchdog's no-progress limit: the worker would be taken for stalled; "
                  "raise 'timeout'");
    };
    if (p.rate) {
      too_long("rate",
               std::chrono::nanoseconds(static_cast<std::int64_t>(std::min(1e9 / *p.rate, 9e18))));
    }
    // Only a locker, a poster or a waiter holds something (a lock, a unit): a producer's
    // 'hold: 500ms' was ignored without a word.
    if (p.hold.count() > 0 && p.role != Role::kLocker && p.role != Role::kPoster &&
        p.role != Role::kWaiter) {
      x.error(detail::child_pointer(ptr, "hold"),
              "'hold' applies only to lockers, posters and waiters (what they hold: a lock, a "
              "unit); use 'think' to pause between operations");
    }
    too_long("hold", p.hold);
    too_long("think", p.think);
    if (p.role == Role::kPoster || p.role == Role::kWaiter) {
      const std::uint64_t before = sem_workers[p.uses];
      sem_workers[p.uses] += p.count;
      if (before <= kMaxSemaphoreWorkers && sem_workers[p.uses] > kMaxSemaphoreWorkers) {
        x.error(ptr, "semaphore " + quote(object->name) + " gets " +
                         std::to_string(sem_workers[p.uses]) +
                         " posters and waiters here; at most " +
                         std::to_string(kMaxSemaphoreWorkers) + " are allowed");
      }
    }
    if (p.role == Role::kWriter) {
      // Writers own pages of their own: more writers than pages share some, and their
      // updates race with no fault injected (torn reads and "pages found mid-write" in a
      // spec the loader accepted).
      const std::uint64_t before = writers[p.uses];
      writers[p.uses] += p.count;
      // The worker finds a few more (its payload is rounded up to whole 4 KiB pages,
      // less the header): counting `size` alone errs on the safe side.
      const std::uint64_t pages = object->size / kPageSize;
      if (before <= pages && writers[p.uses] > pages) {
        x.error(ptr, "segment " + quote(object->name) + " gets " + std::to_string(writers[p.uses]) +
                         " writers here but has " + std::to_string(pages) + " pages of " +
                         std::to_string(kPageSize) +
                         " bytes, and each writer owns pages of its own: at most " +
                         std::to_string(pages) + " writers, or a bigger 'size'");
      }
    }
    if (p.role == Role::kReader) readers[p.uses] += p.count;
    if (p.role == Role::kProducer) ring_sides[p.uses].first += p.count;
    if (p.role == Role::kConsumer) ring_sides[p.uses].second += p.count;
    if (p.role == Role::kWaiter) waiters[p.uses] += p.count;
    if (p.role == Role::kPoster) posters[p.uses] += p.count;
    if (!p.ops && !spec.duration) {
      x.error(ptr, "process '" + p.name +
                       "' has no 'ops' and the spec has no 'duration': it would never stop");
    }
  }
  if (workers > kMaxWorkers) {
    x.error("/processes", "the spec starts " + std::to_string(workers) + " workers; at most " +
                              std::to_string(kMaxWorkers) + " are allowed");
  }
  for (std::size_t i = 0; i < spec.objects.size(); ++i) {
    const auto& o = spec.objects[i];
    if (!uses_ok) break;
    if (o.type == ObjectType::kSemaphore && o.initial == 0 && waiters[o.name] > 0 &&
        posters[o.name] == 0) {
      x.error(detail::child_pointer(detail::child_pointer("/objects", i), "initial"),
              "semaphore " + quote(o.name) +
                  " starts with no unit and no poster lends it one: its waiters would wait "
                  "forever (give it 'initial' units, or add a poster)");
    }
    // A SysV semaphore holds at most SEMVMX (32767): posters lend a unit each on top of
    // `initial`, and the run failed on a poster's semop (ERANGE, "exited 71") instead of
    // being refused.
    if (o.type == ObjectType::kSemaphore && o.flavor == SemFlavor::kSysV &&
        o.initial + posters[o.name] > kSysvSemaphoreMax) {
      x.error(detail::child_pointer(detail::child_pointer("/objects", i), "initial"),
              "semaphore " + quote(o.name) + " starts at " + std::to_string(o.initial) +
                  " and its " + std::to_string(posters[o.name]) +
                  " poster(s) lend a unit each on top: a SysV semaphore holds at most " +
                  std::to_string(kSysvSemaphoreMax) + " (SEMVMX); give it 'initial' " +
                  std::to_string(kSysvSemaphoreMax -
                                 std::min<std::uint64_t>(posters[o.name], kSysvSemaphoreMax)) +
                  " or less");
    }
    // Readers check the pages writers write: with no writer, a run of millions of reads
    // checked nothing and passed ("0 pages written, 0 reads ok").
    if (o.type == ObjectType::kSegment && readers[o.name] > 0 && writers[o.name] == 0) {
      x.error(detail::child_pointer("/objects", i),
              "segment " + quote(o.name) +
                  " has readers but no writer: they would check no page (add a writer)");
    }
    if (o.type != ObjectType::kSpscRing && o.type != ObjectType::kMpmcRing) continue;
    const auto it = ring_sides.find(o.name);
    if (it == ring_sides.end()) continue;
    const auto [producers, consumers] = it->second;
    const std::string ptr = detail::child_pointer("/objects", i);
    if (producers == 0 || consumers == 0) {
      x.error(ptr,
              "ring " + quote(o.name) + " has " +
                  (producers == 0 ? "consumers but no producer" : "producers but no consumer"));
    } else if (o.type == ObjectType::kSpscRing && (producers != 1 || consumers != 1)) {
      x.error(ptr, "spsc_ring " + quote(o.name) +
                       " takes exactly one producer and one consumer worker; the spec has " +
                       std::to_string(producers) + " and " + std::to_string(consumers));
    }
  }

  // Faults: target present; failpoint reached by the target.
  std::set<Role> roles;
  for (const auto& p : spec.processes) roles.insert(p.role);
  std::vector<std::string_view> role_names;
  for (const Role r : roles) role_names.push_back(to_string(r));
  std::map<std::string, std::size_t> faults_at;  // failpoint -> faults at it so far
  for (std::size_t i = 0; i < spec.faults.size(); ++i) {
    const auto& f = spec.faults[i];
    const std::string ptr = detail::child_pointer("/faults", i);
    const char* key = f.kind == FaultKind::kPause  ? "pause"
                      : f.kind == FaultKind::kExit ? "exit"
                                                   : "kill";
    const auto target_role = role_from_string(f.target);
    if (target_role && roles.count(*target_role) == 0) {
      x.error(detail::child_pointer(ptr, key),
              "fault targets role " + quote(f.target) +
                  " but no process has it (roles: " + join(role_names) + ")");
      continue;
    }
    // A timed fault whose first firing is not inside the run never fires: the run would
    // pass without the crash it asks for. Without a duration (workers bound by ops) the
    // schedule spans the timeout, as the run plans it (validate passed such a spec, and
    // run refused it).
    if (f.failpoint.empty()) {
      const auto length = spec.duration.value_or(spec.timeout);
      const auto first = first_firing(f.start, f.every);
      if (first >= length) {
        const std::string at_key = f.start.count() >= 0 ? "start" : "every";
        x.error(
            detail::child_pointer(ptr, at_key),
            "'" + at_key + "' " + format_duration(first) +
                " puts the first firing at or after the end of the run (" +
                (spec.duration ? "'duration' " : "no 'duration': the schedule spans 'timeout' ") +
                format_duration(length) + "): it would never fire");
      }
    }
    if (f.failpoint.empty()) continue;
    // Each fault arms one worker; a worker's failpoint holds core::kMaxFailpointArms.
    if (++faults_at[f.failpoint] == core::kMaxFailpointArms + 1) {
      x.error(detail::child_pointer(ptr, "at"),
              "more than " + std::to_string(core::kMaxFailpointArms) + " faults at failpoint " +
                  quote(f.failpoint) + " (one worker can hold at most that many)");
    }
    const auto reaching = roles_reaching(f.failpoint);
    if (reaching.empty()) continue;
    const bool reached = std::any_of(reaching.begin(), reaching.end(), [&](Role r) {
      return target_role ? r == *target_role : roles.count(r) != 0;
    });
    if (!reached) {
      std::vector<std::string_view> names;
      for (const Role r : reaching) names.push_back(to_string(r));
      x.error(detail::child_pointer(ptr, "at"),
              "failpoint " + quote(f.failpoint) + " is never reached by " +
                  (target_role ? "role " + quote(f.target) : std::string("any role in this spec")) +
                  " (it is reached by: " + join(names) + ")");
    }
  }

  // A plan the harness could not hold: each firing is a fault held and reported.
  const auto run_length = spec.duration.value_or(spec.timeout);
  std::vector<std::uint64_t> firings;
  for (const auto& f : spec.faults) {
    firings.push_back(f.failpoint.empty() ? timed_firings(f.start, f.every, f.max, run_length) : 1);
  }
  if (auto refused = check_plan_size(firings, run_length)) {
    x.error(detail::child_pointer(detail::child_pointer("/faults", refused->rule), "every"),
            refused->why);
  }

  // Expectations only where something can produce the number.
  const auto expect_needs = [&](bool present, std::string_view key,
                                std::initializer_list<Role> need, std::string_view what) {
    if (!present) return;
    if (std::any_of(need.begin(), need.end(), [&](Role r) { return roles.count(r) != 0; })) return;
    x.error(detail::child_pointer("/expect", key), "expectation '" + std::string(key) + "' needs " +
                                                       std::string(what) +
                                                       " in the spec; there is none");
  };
  const auto& e = spec.expect;
  const auto messages = {Role::kProducer, Role::kConsumer};
  expect_needs(e.delivery.has_value(), "delivery", messages, "a producer or consumer");
  expect_needs(e.lost.has_value(), "lost", messages, "a producer or consumer");
  expect_needs(e.duplicated.has_value(), "duplicated", messages, "a producer or consumer");
  expect_needs(e.reordered.has_value(), "reordered", messages, "a producer or consumer");
  expect_needs(e.unexpected.has_value(), "unexpected", messages, "a producer or consumer");
  expect_needs(e.exclusion_violations.has_value(), "exclusion_violations", {Role::kLocker},
               "a locker");
  expect_needs(e.semaphore_drift.has_value(), "semaphore_drift", {Role::kPoster, Role::kWaiter},
               "a poster or waiter");
  // Samples come from consumers (each message's latency) and lockers (each lock's wait):
  // a spec of waiters alone ran and failed on "no samples".
  expect_needs(e.p99_latency.has_value(), "p99_latency", {Role::kConsumer, Role::kLocker},
               "a consumer or locker (it measures their message latency or lock wait)");
}

void schema_check(const Document& doc, Extractor& x, std::vector<Diag>& diags) {
  const auto found = detail::schema_violations(doc.root);
  if (found.empty()) return;
  // The typed extraction says the same things more precisely; the schema speaks
  // only about nodes nothing else reported on, once per node (its deepest error).
  std::set<std::string> said;
  const std::size_t existing = diags.size();
  for (const auto& [pointer, description] : found) {
    bool covered = false;
    for (std::size_t i = 0; i < existing && !covered; ++i) {
      covered = overlaps(diags[i].pointer, pointer);
    }
    if (covered) continue;
    if (std::any_of(found.begin(), found.end(), [&](const auto& other) {
          return other.first.size() > pointer.size() && overlaps(other.first, pointer);
        })) {
      continue;  // a deeper error explains this one
    }
    if (!said.insert(pointer).second) continue;
    x.error(pointer, "schema: " + description + " (at " + (pointer.empty() ? "/" : pointer) + ")");
  }
}

SpecLoadResult finish(std::vector<Diag> diags, std::optional<Spec> spec, std::string_view file) {
  SpecLoadResult result;
  std::stable_sort(diags.begin(), diags.end(), [](const Diag& a, const Diag& b) {
    return std::tie(a.mark.line, a.mark.column) < std::tie(b.mark.line, b.mark.column);
  });
  // The first problems, in file order: a file that is not a spec at all (validate
  // /proc/self/status) printed one per line, 62 of them.
  constexpr std::size_t kMaxErrors = 20;
  for (std::size_t i = 0; i < diags.size() && i < kMaxErrors; ++i) {
    auto& d = diags[i];
    result.errors.push_back({std::string(file), d.mark.line, d.mark.column, std::move(d.message)});
  }
  if (diags.size() > kMaxErrors) {
    result.errors.push_back(
        {std::string(file), 0, 0,
         std::to_string(diags.size() - kMaxErrors) + " more problems not shown (is it a spec?)"});
  }
  if (result.errors.empty()) result.spec = std::move(spec);
  return result;
}

SpecLoadResult load_document(const Document& doc, std::string_view file, std::vector<Diag> diags) {
  Extractor x(doc, diags);
  const Json& root = doc.root;
  Spec spec;
  spec.file = std::string(file);
  x.check_keys(root, "", kTopKeys, {}, "");
  if (auto name = x.get_name(root, "", "name", "spec name")) {
    spec.name = *name;
    spec.name_mark = x.mark("/name");
  }
  if (auto description = x.get_string(root, "", "description")) spec.description = *description;
  spec.seed = x.get_uint(root, "", "seed", 0, UINT64_MAX);
  if (auto duration = x.get_duration(root, "", "duration")) {
    if (duration->count() == 0) {
      x.error("/duration", "'duration' must be greater than 0s");
    } else {
      spec.duration = duration;
    }
  }
  if (auto timeout = x.get_duration(root, "", "timeout")) {
    if (timeout->count() == 0) {
      x.error("/timeout", "'timeout' must be greater than 0s");
    } else {
      spec.timeout = *timeout;
    }
  }
  if (const Json* objects = x.get_list(root, "objects", true, kMaxObjects)) {
    for (std::size_t i = 0; i < objects->size(); ++i) {
      const std::string ptr = detail::child_pointer("/objects", i);
      if (x.require_map((*objects)[i], ptr, "an object")) {
        spec.objects.push_back(extract_object(x, (*objects)[i], ptr));
      }
    }
  }
  if (const Json* processes = x.get_list(root, "processes", true, kMaxWorkers)) {
    for (std::size_t i = 0; i < processes->size(); ++i) {
      const std::string ptr = detail::child_pointer("/processes", i);
      if (x.require_map((*processes)[i], ptr, "a process")) {
        spec.processes.push_back(extract_process(x, (*processes)[i], ptr));
      }
    }
  }
  if (const Json* faults = x.get_list(root, "faults", false, kMaxFaults)) {
    for (std::size_t i = 0; i < faults->size(); ++i) {
      const std::string ptr = detail::child_pointer("/faults", i);
      if (x.require_map((*faults)[i], ptr, "a fault")) {
        spec.faults.push_back(extract_fault(x, (*faults)[i], ptr));
      }
    }
  }
  if (const Json* expect = x.field(root, "", "expect", false)) {
    if (x.require_map(*expect, "/expect", "'expect'")) {
      spec.expect = extract_expect(x, *expect, "/expect");
    }
  }
  schema_check(doc, x, diags);
  // Cross-references only mean something once every entry parsed.
  if (!x.has_errors()) semantic_checks(x, spec);
  return finish(std::move(diags), std::move(spec), file);
}

}  // namespace

std::string SpecError::to_string() const {
  std::string raw = file;
  if (line > 0) {
    raw += ":" + std::to_string(line);
    if (column > 0) raw += ":" + std::to_string(column);
  }
  raw += ": ";
  raw += message;
  return core::printable(raw);
}

SpecLoadResult load_spec_string(std::string_view text, std::string_view file_label) {
  std::vector<Diag> diags;
  const auto doc = detail::parse_spec_yaml(text, diags);
  if (!doc) return finish(std::move(diags), std::nullopt, file_label);
  return load_document(*doc, file_label, std::move(diags));
}

SpecError same_name_error(const Spec& spec, const std::string& earlier) {
  return {spec.file, spec.name_mark.line, spec.name_mark.column,
          "spec name '" + spec.name + "' is already " + earlier +
              "'s; its reports and metrics are labelled by name: give each spec its own"};
}

SpecLoadResult load_spec_file(const std::string& path) {
  std::vector<Diag> diags;
  const auto bytes = detail::read_spec_bytes(path, diags);
  if (!bytes) return finish(std::move(diags), std::nullopt, path);
  return load_spec_string(*bytes, path);
}

}  // namespace shmcheck::harness
