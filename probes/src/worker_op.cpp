#include "shmcheck/probes/worker_op.hpp"

#include <array>

namespace shmcheck::probes {
namespace {
constexpr std::array<std::string_view, kWorkerOpCount> kNames = {
    "none", "push", "pop", "lock", "update", "post", "wait", "write", "read"};
}  // namespace

std::string_view to_string(WorkerOp op) noexcept {
  const auto i = static_cast<std::size_t>(op);
  return i < kNames.size() ? kNames[i] : std::string_view("unknown");
}

std::optional<WorkerOp> worker_op_from_string(std::string_view name) noexcept {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<WorkerOp>(i);
  }
  return std::nullopt;
}

}  // namespace shmcheck::probes
