#include <array>
#include <utility>

#include "shmcheck/harness/worker.hpp"

namespace shmcheck::harness {
namespace {

constexpr std::array<std::pair<Broken, const char*>, 5> kBroken{{
    {Broken::kNone, "none"},
    {Broken::kPublishBeforeWrite, "publish-before-write"},
    {Broken::kSkipLock, "skip-lock"},
    {Broken::kDuplicateSend, "duplicate-send"},
    {Broken::kLeakSegment, "leak-segment"},
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

nlohmann::json WorkerConfig::to_json() const {
  nlohmann::json j = {
      {"index", index},
      {"incarnation", incarnation},
      {"role", role},
      {"role_index", role_index},
      {"run_id", run_id},
      {"seed", seed},
      {"hold_ns", hold_ns},
      {"think_ns", think_ns},
      {"rate", rate},
      {"message_size", message_size},
      {"burst", burst},
      {"writers", writers},
      {"failpoints", failpoints},
      {"broken", to_string(broken)},
      {"probes", probes},
      {"object",
       {{"name", object.name},
        {"kind", object.kind},
        {"index", object.index},
        {"journal", object.journal},
        {"segment_ref", object.segment_ref},
        {"flavor", object.flavor},
        {"sem_name", object.sem_name},
        {"sem_id", object.sem_id},
        {"undo", object.undo},
        {"page_size", object.page_size}}},
  };
  if (ops) j["ops"] = *ops;
  return j;
}

WorkerConfig WorkerConfig::from_json(const nlohmann::json& j) {
  WorkerConfig c;
  c.index = j.at("index").get<std::uint32_t>();
  c.incarnation = j.at("incarnation").get<std::uint32_t>();
  c.role = j.at("role").get<std::string>();
  c.role_index = j.at("role_index").get<std::uint32_t>();
  c.run_id = j.at("run_id").get<std::string>();
  c.seed = j.at("seed").get<std::uint64_t>();
  if (j.contains("ops")) c.ops = j.at("ops").get<std::uint64_t>();
  c.hold_ns = j.at("hold_ns").get<std::int64_t>();
  c.think_ns = j.at("think_ns").get<std::int64_t>();
  c.rate = j.at("rate").get<double>();
  c.message_size = j.at("message_size").get<std::uint32_t>();
  c.burst = j.at("burst").get<std::uint32_t>();
  c.writers = j.at("writers").get<std::uint32_t>();
  c.failpoints = j.at("failpoints").get<std::string>();
  const auto broken = broken_from_string(j.at("broken").get<std::string>());
  if (!broken) throw nlohmann::json::other_error::create(501, "unknown broken variant", &j);
  c.broken = *broken;
  c.probes = j.value("probes", true);
  const auto& o = j.at("object");
  c.object.name = o.at("name").get<std::string>();
  c.object.kind = o.at("kind").get<std::string>();
  c.object.index = o.at("index").get<std::uint32_t>();
  c.object.journal = o.at("journal").get<std::uint32_t>();
  c.object.segment_ref = o.at("segment_ref").get<std::string>();
  c.object.flavor = o.at("flavor").get<std::string>();
  c.object.sem_name = o.at("sem_name").get<std::string>();
  c.object.sem_id = o.at("sem_id").get<int>();
  c.object.undo = o.at("undo").get<bool>();
  c.object.page_size = o.at("page_size").get<std::uint64_t>();
  return c;
}

}  // namespace shmcheck::harness
