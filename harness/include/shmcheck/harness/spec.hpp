// Spec: the in-memory form of a validated YAML workload spec (DESIGN.md "Specs").
//
// A Spec is plain data, built only by the loader (spec_loader.hpp) after the YAML
// passed the JSON schema (specs/schema/shmcheck.schema.json) and the semantic
// checks, so every value in it is in range and every cross-reference resolves:
// each process `uses` an object of the right kind, each fault targets a role
// present in the spec (or "any") and names a real failpoint. The supervisor only
// reads it. It lives in the harness process; nothing here crosses processes.
//
// Durations are std::chrono::nanoseconds; sizes are bytes; rates are operations
// per second. Every element keeps the 1-based file position it came from
// (SourceMark) so later stages can point at the line that declared a thing.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shmcheck::harness {

// Bytes per page of a segment object in writer/reader workloads: a writer owns every
// page whose number modulo the writers is its own.
inline constexpr std::uint64_t kPageSize = 1024;

// 1-based line and column in the spec file (0 = unknown).
struct SourceMark {
  int line = 0;
  int column = 0;
};

// `kind:` of an object.
enum class ObjectType { kSegment, kMutex, kSemaphore, kSpscRing, kMpmcRing };

// `backing:` of the shared-memory segment an object lives in. Mirrors
// core::Backing (core/segment.hpp) value for value; kept local so the harness
// spec model does not depend on the segment implementation.
enum class SegmentBacking { kPosix, kSysV, kMemfd };

// `flavor:` of a semaphore. Mirrors core::SemaphoreFlavor value for value.
enum class SemFlavor { kPosixUnnamed, kPosixNamed, kSysV };

// A ring message is at least this long: every one starts with the integrity check's
// header (probes::MessageHeader: producer, incarnation, seq, checksum), which the harness
// asserts is this size.
inline constexpr std::uint32_t kMinRingMessageSize = 40;

// One entry of `objects:`. Fields that do not apply to `type` keep their defaults
// (the loader rejects keys that do not apply to the kind).
struct ObjectSpec {
  std::string name;                                 // [A-Za-z0-9_-]{1,48}, unique in the spec
  ObjectType type = ObjectType::kSegment;           // YAML key `kind`
  SegmentBacking backing = SegmentBacking::kPosix;  // all kinds but named/SysV semaphores
  std::uint32_t capacity = 1024;                    // rings: slots, power of two, 2..2^20
  std::uint32_t message_size = 64;                  // rings: slot payload bytes, 40..64 KiB
  std::uint64_t size = 65536;                       // segment: payload bytes, 4 KiB..1 GiB
  SemFlavor flavor = SemFlavor::kPosixUnnamed;      // semaphore
  bool undo = false;                                // semaphore, SysV flavor only: SEM_UNDO
  std::uint32_t initial = 1;                        // semaphore: initial value, 0..32767
  SourceMark mark;
};

// `role:` of a process.
enum class Role { kProducer, kConsumer, kLocker, kPoster, kWaiter, kWriter, kReader };

// One entry of `processes:` (`count` identical workers).
struct ProcessSpec {
  Role role = Role::kProducer;
  std::string name;                           // the role as written in the spec, e.g. "producer"
  std::uint32_t count = 1;                    // 1..256 (and <= 256 workers in the whole spec)
  std::string uses;                           // name of an object of a kind the role works on
  std::optional<std::uint64_t> ops;           // per worker; absent = until `duration`
  std::chrono::nanoseconds hold{0};           // time inside the critical section / per op
  std::chrono::nanoseconds think{0};          // pause between operations
  std::optional<std::uint32_t> message_size;  // producers: <= the ring's message_size
  std::optional<double> rate;                 // target ops per second per worker
  // Producers and consumers of an spsc_ring: messages per push or pop call
  // (SpscRing::try_push_burst / try_pop_burst), 1..min(4096, capacity); 1 = one
  // message per call. `ops`, `rate` and the stats still count messages.
  std::uint32_t burst = 1;
  SourceMark mark;
};

enum class FaultKind {
  kKillAtFailpoint,  // { kill: ROLE, at: FAILPOINT, after: N, signal: S, restart: B }
  kKillRandom,       // { kill: ROLE, every: D, jitter: D, start: D, max: N, signal, restart }
  kPause,            // { pause: ROLE, for: D, at: FAILPOINT, after: N } or
                     // { pause: ROLE, for: D, start: D, every: D, jitter: D, max: N }
  kExit,             // { exit: ROLE, at: FAILPOINT, after: N, code: C, restart: B }
};

// One entry of `faults:`.
struct FaultSpec {
  FaultKind kind = FaultKind::kKillAtFailpoint;
  std::string target;                     // a role present in the spec (e.g. "producer"), or "any"
  std::string failpoint;                  // a core failpoint name; empty for time-based faults
  std::uint64_t after = 1;                // fire on this occurrence of the failpoint (1-based)
  int signal = SIGKILL;                   // kill faults: SIGKILL, SIGTERM, SIGABRT, SIGSEGV, SIGBUS
  bool restart = false;                   // restart the victim (kill and exit faults)
  std::chrono::nanoseconds every{0};      // time-based: period (0 = once, at `start`)
  std::chrono::nanoseconds jitter{0};     // time-based: uniform +-jitter, seeded; <= every/2
  std::chrono::nanoseconds pause_for{0};  // pause: SIGSTOP, then SIGCONT after this
  // time-based: first firing after run start; negative when not given: one
  // period in, or a seeded instant for a one-off (`start: 0ms` is at the start).
  std::chrono::nanoseconds start{-1};
  int exit_code = 0;      // exit faults: _exit(code), 0..255
  std::uint32_t max = 0;  // time-based: firings at most (0 = unlimited)
  SourceMark mark;
};

enum class Delivery { kAtMostOnce, kAtLeastOnce, kExactlyOnce };

// "< 500us", ">= 1M/s": a threshold in base units (seconds, or operations per second).
struct Comparison {
  enum Op { kLess, kLessEq, kGreater, kGreaterEq };
  Op op = kLess;
  double value = 0;
  std::string text;  // as written, for reports
  [[nodiscard]] bool holds(double actual) const noexcept;
};

// `expect:`. Absent entries are not checked.
struct Expectations {
  std::optional<Delivery> delivery;
  std::optional<std::uint64_t> lost, duplicated, torn, reordered, unexpected, leaked_objects,
      exclusion_violations, stalled;
  std::optional<std::int64_t> semaphore_drift;
  std::optional<Comparison> p99_latency;  // seconds
  std::optional<Comparison> throughput;   // operations per second
  SourceMark mark;
};

struct Spec {
  std::string name;         // [A-Za-z0-9_-]{1,48}
  SourceMark name_mark;     // where `name` is written
  std::string file;         // the path (or label) it was loaded from
  std::string description;  // optional free text
  std::optional<std::uint64_t> seed;
  std::optional<std::chrono::nanoseconds> duration;            // absent: every process has `ops`
  std::chrono::nanoseconds timeout{std::chrono::seconds(60)};  // watchdog: no progress
  std::vector<ObjectSpec> objects;
  std::vector<ProcessSpec> processes;
  std::vector<FaultSpec> faults;
  Expectations expect;

  // The object called `name`, or nullptr.
  [[nodiscard]] const ObjectSpec* find_object(std::string_view name) const;
  // Workers in total (sum of counts).
  [[nodiscard]] std::uint32_t total_workers() const;
};

// Spellings used in specs ("mpmc_ring", "sysv", "producer", "exactly_once", ...).
[[nodiscard]] std::string_view to_string(ObjectType type) noexcept;
[[nodiscard]] std::string_view to_string(SegmentBacking backing) noexcept;
[[nodiscard]] std::string_view to_string(SemFlavor flavor) noexcept;
[[nodiscard]] std::string_view to_string(Role role) noexcept;
[[nodiscard]] std::string_view to_string(FaultKind kind) noexcept;
[[nodiscard]] std::string_view to_string(Delivery delivery) noexcept;
[[nodiscard]] std::optional<ObjectType> object_type_from_string(std::string_view text) noexcept;
[[nodiscard]] std::optional<SegmentBacking> backing_from_string(std::string_view text) noexcept;
[[nodiscard]] std::optional<SemFlavor> sem_flavor_from_string(std::string_view text) noexcept;
[[nodiscard]] std::optional<Role> role_from_string(std::string_view text) noexcept;
[[nodiscard]] std::optional<Delivery> delivery_from_string(std::string_view text) noexcept;
// "SIGKILL" -> 9 for the signals a spec may name; nullopt otherwise.
[[nodiscard]] std::optional<int> fault_signal_from_string(std::string_view text) noexcept;
[[nodiscard]] std::string_view fault_signal_name(int signal) noexcept;

// The object kinds a role works on (producer/consumer: rings; locker: mutex;
// poster/waiter: semaphore; writer/reader: segment).
[[nodiscard]] bool role_accepts(Role role, ObjectType type) noexcept;

}  // namespace shmcheck::harness
