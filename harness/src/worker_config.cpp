#include <array>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "shmcheck/harness/worker.hpp"

namespace shmcheck::harness {
namespace {

constexpr std::array<std::pair<Broken, const char*>, 6> kBroken{{
    {Broken::kNone, "none"},
    {Broken::kPublishBeforeWrite, "publish-before-write"},
    {Broken::kSkipLock, "skip-lock"},
    {Broken::kDuplicateSend, "duplicate-send"},
    {Broken::kLeakSegment, "leak-segment"},
    {Broken::kDropMessage, "drop-message"},
}};

}  // namespace

const char* to_string(Broken broken) noexcept {
  for (const auto& [b, name] : kBroken) {
    if (b == broken) return name;
  }
  return "none";
}

std::optional<Broken> broken_from_string(std::string_view text) noexcept {
  for (const auto& [b, name] : kBroken) {
    if (text == name) return b;
  }
  return std::nullopt;
}

namespace {

// Each key listed once: to_json writes and from_json reads these lists.
template <class Object, class F>
void object_fields(Object& o, F&& field) {
  field("name", o.name);
  field("kind", o.kind);
  field("index", o.index);
  field("journal", o.journal);
  field("segment_ref", o.segment_ref);
  field("flavor", o.flavor);
  field("sem_name", o.sem_name);
  field("sem_id", o.sem_id);
  field("undo", o.undo);
  field("page_size", o.page_size);
}

template <class Config, class F>
void config_fields(Config& c, F&& field) {
  field("index", c.index);
  field("incarnation", c.incarnation);
  field("role", c.role);
  field("role_index", c.role_index);
  field("run_id", c.run_id);
  field("seed", c.seed);
  field("ops", c.ops);  // absent: no budget
  field("hold_ns", c.hold_ns);
  field("think_ns", c.think_ns);
  field("rate", c.rate);
  field("message_size", c.message_size);
  field("burst", c.burst);
  field("writers", c.writers);
  field("failpoints", c.failpoints);
  field("broken", c.broken);  // by name
  field("probes", c.probes);
}

template <class T>
void write(nlohmann::json& j, const char* key, const T& value) {
  if constexpr (std::is_same_v<T, Broken>) {
    j[key] = to_string(value);
  } else if constexpr (std::is_same_v<T, std::optional<std::uint64_t>>) {
    if (value) j[key] = *value;
  } else {
    j[key] = value;
  }
}

// Every key but an optional's is required; a wrong type or an unknown name throws.
template <class T>
void read(const nlohmann::json& j, const char* key, T& value) {
  if constexpr (std::is_same_v<T, Broken>) {
    const auto broken = broken_from_string(j.at(key).get<std::string>());
    if (!broken) throw nlohmann::json::other_error::create(501, "unknown broken variant", &j);
    value = *broken;
  } else if constexpr (std::is_same_v<T, std::optional<std::uint64_t>>) {
    if (j.contains(key)) value = j.at(key).get<std::uint64_t>();
  } else {
    value = j.at(key).get<T>();
  }
}

}  // namespace

nlohmann::json WorkerConfig::to_json() const {
  nlohmann::json j = nlohmann::json::object();
  config_fields(*this, [&j](const char* key, const auto& value) { write(j, key, value); });
  nlohmann::json& o = j["object"] = nlohmann::json::object();
  object_fields(object, [&o](const char* key, const auto& value) { write(o, key, value); });
  return j;
}

WorkerConfig WorkerConfig::from_json(const nlohmann::json& j) {
  WorkerConfig c;
  config_fields(c, [&j](const char* key, auto& value) { read(j, key, value); });
  const auto& o = j.at("object");
  object_fields(c.object, [&o](const char* key, auto& value) { read(o, key, value); });
  return c;
}

}  // namespace shmcheck::harness
