// Worker: one process of a run, started by the supervisor as `shmcheck-worker worker ...`
// (Boost.Process; see worker_executable_beside_self), playing one role over one object.
//
// The supervisor passes everything on argv: the control segment's ref, the worker's
// index and incarnation, and a WorkerConfig as one JSON token (visible in `ps`, so a
// person can see what each worker was told). A worker:
//   - dies with the harness (PR_SET_PDEATHSIG(SIGKILL), set before exec),
//   - records its state, progress and any firing failpoint in its WorkerSlot,
//   - logs only with write(2) (SIGKILL loses stdio buffers),
//   - exits 0 after a clean finish, kWorkerExitSetup when it could not attach, and
//     kWorkerExitFailure when an operation failed in a way no fault explains.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace shmcheck::harness {

inline constexpr int kWorkerExitSetup = 70;    // could not open the control segment or object
inline constexpr int kWorkerExitFailure = 71;  // an operation failed unexpectedly

// How a worker reaches the object it uses (filled by the supervisor from the objects it made).
struct ObjectBinding {
  std::string name;           // the spec's object name
  std::string kind;           // "segment", "mutex", "semaphore", "spsc_ring", "mpmc_ring"
  std::uint32_t index = 0;    // position in the spec's objects (RunControl flags, `holding`)
  std::uint32_t journal = 0;  // index of its journal in the control view (mutex/semaphore/pages)
  std::string segment_ref;  // core::SegmentRef of the segment holding it (not for named/SysV sems)
  std::string flavor;       // semaphore: "posix_unnamed", "posix_named", "sysv"
  std::string sem_name;     // semaphore posix_named
  int sem_id = -1;          // semaphore sysv
  bool undo = false;        // semaphore sysv
  std::uint64_t page_size = 0;  // segment: bytes per page (writer/reader)
};

// Test-only broken behaviours (SHMCHECK_TEST_BROKEN in the harness's environment);
// each must make the checker fail. Never used by specs.
enum class Broken : std::uint8_t {
  kNone,
  kPublishBeforeWrite,  // producer: publishes a message whose payload was not yet written
  kSkipLock,            // locker: updates the protected record without taking the lock
  kDuplicateSend,       // producer: pushes every message twice
  kLeakSegment,         // any worker: creates a run segment and never removes it
  kDropMessage,         // consumer: pops the 20th message of each incarnation, records nothing
};
[[nodiscard]] const char* to_string(Broken broken) noexcept;
[[nodiscard]] std::optional<Broken> broken_from_string(std::string_view text) noexcept;

struct WorkerConfig {
  std::uint32_t index = 0;        // global worker index (WorkerSlot, StatsBlock)
  std::uint32_t incarnation = 0;  // 0 first process, +1 per restart
  std::string role;               // "producer", "consumer", "locker", "poster", "waiter", ...
  std::uint32_t role_index = 0;   // producer/consumer/semaphore-user/writer index
  std::string run_id;
  std::uint64_t seed = 0;
  std::optional<std::uint64_t> ops;  // per worker (all incarnations); absent: until end/stop
  std::int64_t hold_ns = 0;
  std::int64_t think_ns = 0;
  double rate = 0;                 // ops/s per worker; 0: as fast as possible
  std::uint32_t message_size = 0;  // producers: bytes per message
  std::uint32_t burst = 1;         // producers/consumers of an SpscRing: messages per call
  std::uint32_t writers = 1;       // writer/reader: writers on the object (page ownership)
  ObjectBinding object;
  std::string failpoints;  // arm string (core::arm_failpoints_from_string)
  Broken broken = Broken::kNone;
  // Timing probes: latency and lock-wait samples (a clock read and a histogram update
  // per operation). false with `shmcheck run --no-probes`; the journals, the counters
  // and the slot heartbeat stay, so the verdict is the same.
  bool probes = true;

  [[nodiscard]] nlohmann::json to_json() const;
  // Throws nlohmann::json::exception on a malformed config (an internal error).
  [[nodiscard]] static WorkerConfig from_json(const nlohmann::json& j);
};

}  // namespace shmcheck::harness
