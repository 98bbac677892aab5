// ControlSegment: the run's control segment, as the harness and its workers see it.
//
// Across processes: the harness creates it (core::Segment, ObjectKind::kControl) before
// any worker exists and lays out every ledger in it with probes::ControlLayout (worker
// slots, stats blocks, producer journals, consumer logs, mutex/semaphore/page journals).
// The layout's harness-defined "extra" region holds RunControl: the run phase, the
// start and end instants, and per-object flags the harness raises for workers.
// Workers open it by ref (argv) and only read RunControl; each writes only its own
// slot, stats block and journals. The harness owns the name and removes it at the end.
//
// Memory ordering: the harness publishes start_ns/end_ns before phase kGo (release,
// set_phase, which then wakes the phase word's futex waiters); workers load phase with
// acquire and then read the instants. producers_done flags are
// release-stored by the harness and acquire-loaded by consumers.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "shmcheck/core/result.hpp"
#include "shmcheck/core/segment.hpp"
#include "shmcheck/probes/control_layout.hpp"

namespace shmcheck::harness {

inline constexpr std::size_t kMaxRunObjects = 64;

enum class RunPhase : std::uint32_t {
  kSetup = 0,  // workers attach and wait
  kGo = 1,     // run: start_ns/end_ns are valid
  kStop = 2,   // finish the operation in flight, then exit cleanly
};

struct alignas(64) RunControl {
  std::atomic<std::uint32_t> phase;  // RunPhase
  std::uint32_t reserved;
  std::atomic<std::uint64_t> start_ns;  // CLOCK_MONOTONIC at kGo
  std::atomic<std::uint64_t> end_ns;  // duration-bound runs: stop pushing at this instant; 0: none
  // Per spec object: 1 once no producer of that ring will push again (consumers drain, then exit).
  std::array<std::atomic<std::uint32_t>, kMaxRunObjects> producers_done;
};
static_assert(std::is_standard_layout_v<RunControl>);
static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
// The phase word doubles as a futex: a plain 32-bit word in the atomic.
static_assert(sizeof(std::atomic<std::uint32_t>) == sizeof(std::uint32_t));

class ControlSegment {
 public:
  // Creates the segment sized for `shape` (extra region: RunControl) and lays it out.
  [[nodiscard]] static core::Result<ControlSegment> create(const core::SegmentOptions& options,
                                                           probes::ControlShape shape);
  // A worker's view of the segment the harness created.
  [[nodiscard]] static core::Result<ControlSegment> open(const core::SegmentRef& ref);

  ControlSegment(ControlSegment&&) noexcept = default;
  ControlSegment& operator=(ControlSegment&&) noexcept = default;

  [[nodiscard]] const probes::ControlView& view() const noexcept { return view_; }
  [[nodiscard]] RunControl& run() const noexcept { return *run_; }
  [[nodiscard]] core::Segment& segment() noexcept { return segment_; }

  [[nodiscard]] RunPhase phase() const noexcept {
    return static_cast<RunPhase>(run_->phase.load(std::memory_order_acquire));
  }

  // Harness: publishes `phase` (release) and wakes every worker in wait_for_go().
  void set_phase(RunPhase phase) noexcept;
  // Worker: sleeps until the phase leaves kSetup. A shared futex on the phase word, not a
  // poll: hundreds of workers polling while the rest are still being spawned starved the
  // spawning (issue 7, 256 workers). Re-checks every 100 ms, so a lost wake-up costs
  // latency, never a hang.
  void wait_for_go() const noexcept;

 private:
  ControlSegment(core::Segment segment, probes::ControlView view, RunControl* run) noexcept
      : segment_(std::move(segment)), view_(view), run_(run) {}

  core::Segment segment_;
  probes::ControlView view_;
  RunControl* run_;
};

// CLOCK_MONOTONIC in nanoseconds (the clock every instant in the control segment uses).
[[nodiscard]] std::uint64_t monotonic_ns() noexcept;

}  // namespace shmcheck::harness
