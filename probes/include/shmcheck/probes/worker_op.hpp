// WorkerOp: what a worker is doing, as stored in its WorkerSlot (the watchdog names
// it in a stall finding) and as the `op` label of shmcheck_ops_total. Stable numbers:
// they are stored in shared memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace shmcheck::probes {

enum class WorkerOp : std::uint32_t {
  kNone = 0,    // between operations (thinking, starting, exiting)
  kPush = 1,    // ring push
  kPop = 2,     // ring pop
  kLock = 3,    // mutex lock attempt (waiting or holding is told by WorkerSlot::holding)
  kUpdate = 4,  // inside the mutex critical section, updating the protected record
  kPost = 5,    // semaphore post
  kWait = 6,    // semaphore wait
  kWrite = 7,   // segment page write
  kRead = 8,    // segment page read
};
inline constexpr std::size_t kWorkerOpCount = 9;

// "none", "push", "pop", "lock", "update", "post", "wait", "write", "read".
[[nodiscard]] std::string_view to_string(WorkerOp op) noexcept;
[[nodiscard]] std::optional<WorkerOp> worker_op_from_string(std::string_view name) noexcept;

}  // namespace shmcheck::probes
