#include "shmcheck/probes/inventory_json.hpp"

namespace shmcheck::probes {

InventoryTotals totals(const std::vector<IpcObject>& objects) {
  InventoryTotals t;
  const std::vector<bool> counted = counted_bytes(objects);
  for (std::size_t i = 0; i < objects.size(); ++i) {
    const IpcObject& o = objects[i];
    auto& k = t.by_kind[static_cast<std::size_t>(o.kind)];
    auto& v = t.by_verdict[static_cast<std::size_t>(o.verdict)];
    ++k.count;
    ++v.count;
    ++t.all.count;
    if (!counted[i]) ++t.sharing_storage;
    const std::uint64_t bytes = counted[i] ? o.bytes_allocated : 0;
    k.bytes += bytes;
    v.bytes += bytes;
    t.all.bytes += bytes;
  }
  return t;
}

nlohmann::json to_json(const IpcObject& o) {
  nlohmann::json j;
  j["kind"] = to_string(o.kind);
  j["name"] = o.name;
  if (!o.path.empty()) j["path"] = o.path;
  if (o.sysv_id >= 0) {
    j["sysv_id"] = o.sysv_id;
    j["sysv_key"] = o.sysv_key;
  }
  j["device"] = o.device;
  j["inode"] = o.inode;
  j["uid"] = o.uid;
  j["gid"] = o.gid;
  j["mode"] = o.mode;
  j["bytes_allocated"] = o.bytes_allocated;
  j["nominal_size"] = o.nominal_size;
  j["created_unix_s"] = o.created_unix_s;
  j["modified_unix_s"] = o.modified_unix_s;
  j["age_s"] = o.age_s;
  if (o.creator) {
    j["creator"] = {{"pid", o.creator->pid},
                    {"start_time", o.creator->start_time},
                    {"liveness", core::to_string(o.creator_liveness)}};
  }
  if (o.last_pid != 0) j["last_pid"] = o.last_pid;
  if (o.kind == IpcKind::kSysvSemaphore) {
    j["semaphores"] = o.nominal_size;  // nsems
    j["waiters"] = o.waiters;
  }
  if (o.kind == IpcKind::kSysvShm) {
    j["attach_count"] = o.attach_count;
    j["sysv_dest"] = o.sysv_dest;
  }
  if (o.maybe_glibc_temporary) j["maybe_glibc_temporary"] = true;
  if (o.flock_held) j["flock_held"] = true;
  if (o.open_check != OpenCheck::kNotChecked) j["open_check"] = to_string(o.open_check);
  auto holders = nlohmann::json::array();
  for (const auto& h : o.holders) {
    nlohmann::json hj{{"pid", h.process.pid}, {"start_time", h.process.start_time},
                      {"comm", h.comm},       {"uid", h.uid},
                      {"mapped", h.mapped},   {"sysv_attached", h.sysv_attached}};
    if (h.fd >= 0) hj["fd"] = h.fd;
    holders.push_back(std::move(hj));
  }
  j["holders"] = std::move(holders);
  if (o.header) {
    j["header"] = {{"kind", core::to_string(o.header->kind)},
                   {"layout_version", o.header->layout_version},
                   {"run_id", o.header->run_id},
                   {"object", o.header->object_name},
                   {"creator_pid", o.header->creator.pid},
                   {"creator_start_time", o.header->creator.start_time},
                   {"created_unix_ns", o.header->created_unix_ns},
                   {"total_size", o.header->total_size}};
  }
  if (!o.run_id.empty()) j["run_id"] = o.run_id;
  j["verdict"] = to_string(o.verdict);
  j["reason"] = o.reason;
  return j;
}

nlohmann::json to_json(const InventoryTotals& t) {
  nlohmann::json kinds = nlohmann::json::object();
  for (std::size_t i = 0; i < kIpcKindCount; ++i) {
    if (t.by_kind[i].count == 0) continue;
    kinds[std::string(to_string(static_cast<IpcKind>(i)))] = {{"count", t.by_kind[i].count},
                                                              {"bytes", t.by_kind[i].bytes}};
  }
  nlohmann::json verdicts = nlohmann::json::object();
  for (std::size_t i = 0; i < kVerdictCount; ++i) {
    verdicts[std::string(to_string(static_cast<Verdict>(i)))] = {{"count", t.by_verdict[i].count},
                                                                 {"bytes", t.by_verdict[i].bytes}};
  }
  return {{"by_kind", kinds},
          {"by_verdict", verdicts},
          {"count", t.all.count},
          {"bytes", t.all.bytes},
          {"sharing_storage", t.sharing_storage}};
}

nlohmann::json to_json(const Inventory& inv, const std::vector<IpcObject>& objects) {
  nlohmann::json j;
  j["taken_unix_ns"] = inv.taken_unix_ns;
  j["scan_ns"] = inv.scan_ns;
  j["complete"] = inv.complete();
  j["processes_scanned"] = inv.processes_scanned;
  j["processes_unreadable"] = inv.processes_unreadable;
  j["unreadable_pids"] = inv.unreadable_pids;
  j["sources"] = {{"dev_shm", inv.dev_shm_available},
                  {"mqueue", inv.mqueue_available},
                  {"sysvipc", inv.sysvipc_available},
                  {"proc", inv.proc_available}};
  auto problems = nlohmann::json::array();
  for (const auto& p : inv.problems) {
    problems.push_back({{"source", p.source}, {"message", p.error.message()}});
  }
  j["problems"] = std::move(problems);
  auto list = nlohmann::json::array();
  for (const auto& o : objects) list.push_back(to_json(o));
  j["objects"] = std::move(list);
  j["totals"] = to_json(totals(objects));
  return j;
}

nlohmann::json to_json(const CleanReport& report) {
  auto outcomes = nlohmann::json::array();
  for (const auto& o : report.outcomes) {
    outcomes.push_back({{"kind", to_string(o.object.kind)},
                        {"name", o.object.name},
                        {"status", to_string(o.status)},
                        {"detail", o.detail},
                        {"bytes_freed", o.bytes_freed}});
  }
  return {{"outcomes", outcomes}, {"removed", report.removed}, {"bytes_freed", report.bytes_freed}};
}

nlohmann::json to_json(const ReclaimReport& report) {
  auto runs = nlohmann::json::array();
  for (const auto& r : report.runs) {
    runs.push_back({{"run_id", r.manifest.run_id},
                    {"manifest", r.manifest_path},
                    {"harness_pid", r.manifest.harness.pid},
                    {"harness", core::to_string(r.harness)},
                    {"manifest_removed", r.manifest_removed},
                    {"detail", r.detail},
                    {"clean", to_json(r.clean)}});
  }
  auto problems = nlohmann::json::array();
  for (const auto& p : report.problems) {
    problems.push_back({{"source", p.source}, {"message", p.error.message()}});
  }
  return {{"runs", runs},
          {"quarantine", to_json(report.quarantine)},
          {"stale_temporaries", report.stale_temporaries},
          {"removed", report.removed},
          {"bytes_freed", report.bytes_freed},
          {"problems", problems}};
}

}  // namespace shmcheck::probes
