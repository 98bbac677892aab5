// JSON form of an inventory, its per-kind/per-verdict totals, and clean/reclaim
// reports: what `shmcheck audit --json` prints and what reports embed.
// Plain values; field names are the stable machine interface.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "shmcheck/probes/cleaner.hpp"
#include "shmcheck/probes/inventory.hpp"

namespace shmcheck::probes {

struct InventoryTotals {
  struct Cell {
    std::size_t count = 0;
    std::uint64_t bytes = 0;
  };
  std::array<Cell, kIpcKindCount> by_kind{};
  std::array<Cell, kVerdictCount> by_verdict{};
  Cell all{};
  // Objects whose storage an earlier one already counted (hard links): in the counts,
  // not in the bytes (see counted_bytes).
  std::size_t sharing_storage = 0;
};

[[nodiscard]] InventoryTotals totals(const std::vector<IpcObject>& objects);

[[nodiscard]] nlohmann::json to_json(const IpcObject& object);
[[nodiscard]] nlohmann::json to_json(const InventoryTotals& totals);
// The whole snapshot, limited to `objects` (already filtered by the caller).
[[nodiscard]] nlohmann::json to_json(const Inventory& inventory,
                                     const std::vector<IpcObject>& objects);
[[nodiscard]] nlohmann::json to_json(const CleanReport& report);
[[nodiscard]] nlohmann::json to_json(const ReclaimReport& report);

}  // namespace shmcheck::probes
