#include "shmcheck/harness/control_segment.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>
#include <new>
#include <utility>

#include "shmcheck/core/posix_call.hpp"

namespace shmcheck::harness {
namespace {

// A shared futex (no FUTEX_PRIVATE_FLAG): the word lives in a segment several
// processes map.
long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value,
           const timespec* timeout) noexcept {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, timeout, nullptr,
                   0);
}

}  // namespace

std::uint64_t monotonic_ns() noexcept {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

core::Result<ControlSegment> ControlSegment::create(const core::SegmentOptions& options,
                                                    probes::ControlShape shape) {
  shape.extra_bytes = sizeof(RunControl);
  auto layout = probes::ControlLayout::compute(std::move(shape));
  if (!layout) return std::move(layout).error();
  core::SegmentOptions opts = options;
  opts.kind = core::ObjectKind::kControl;
  opts.payload_size = layout->total_bytes();
  auto segment = core::Segment::create(opts);
  if (!segment) return std::move(segment).error();
  auto view = layout->initialize(segment->payload(), segment->payload_size());
  if (!view) return std::move(view).error();
  auto extra = view->extra();
  if (extra.size() < sizeof(RunControl)) {
    return core::make_error(core::ErrorCode::kCorrupt, "control layout", "extra region too small");
  }
  auto* run = new (extra.data()) RunControl{};
  run->phase.store(static_cast<std::uint32_t>(RunPhase::kSetup), std::memory_order_release);
  return ControlSegment(std::move(segment).value(), *view, run);
}

core::Result<ControlSegment> ControlSegment::open(const core::SegmentRef& ref) {
  auto segment = core::Segment::open(ref);
  if (!segment) return std::move(segment).error();
  auto view = probes::ControlView::attach(segment->payload(), segment->payload_size());
  if (!view) return std::move(view).error();
  auto extra = view->extra();
  if (extra.size() < sizeof(RunControl)) {
    return core::make_error(core::ErrorCode::kCorrupt, "control segment", "no run control region");
  }
  auto* run = std::launder(reinterpret_cast<RunControl*>(extra.data()));
  return ControlSegment(std::move(segment).value(), *view, run);
}

void ControlSegment::set_phase(RunPhase phase) noexcept {
  run_->phase.store(static_cast<std::uint32_t>(phase), std::memory_order_release);
  // Nobody waiting is fine; a failing wake leaves the workers' 100 ms re-check.
  (void)core::posix_call("futex(FUTEX_WAKE)",
                         [&] { return futex(run_->phase, FUTEX_WAKE, INT_MAX, nullptr); });
}

void ControlSegment::wait_for_go() const noexcept {
  constexpr auto kSetup = static_cast<std::uint32_t>(RunPhase::kSetup);
  while (phase() == RunPhase::kSetup) {
    const timespec step{0, 100'000'000};
    // EAGAIN (the phase changed before the sleep) and ETIMEDOUT only mean: look again.
    (void)core::posix_call("futex(FUTEX_WAIT)",
                           [&] { return futex(run_->phase, FUTEX_WAIT, kSetup, &step); });
  }
}

}  // namespace shmcheck::harness
