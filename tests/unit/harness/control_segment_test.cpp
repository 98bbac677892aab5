#include "shmcheck/harness/control_segment.hpp"

#include <gtest/gtest.h>

#include "shmcheck/core/segment_header.hpp"
#include "shmcheck/testing/process.hpp"

namespace shmcheck::harness {
namespace {

probes::ControlShape small_shape() {
  probes::ControlShape shape;
  shape.workers = 3;
  shape.producers = 1;
  shape.consumers = 1;
  shape.consumer_log_capacity = 64;
  shape.mutexes = 1;
  shape.semaphores = {{2, false}};
  shape.page_objects = 1;
  return shape;
}

TEST(ControlSegment, CreatedInSetupPhaseAndOpenedByAnotherProcess) {
  core::SegmentOptions opts;
  opts.run_id = core::new_run_id();
  opts.object = "control";
  auto control = ControlSegment::create(opts, small_shape());
  ASSERT_TRUE(control.has_value()) << control.error().message();
  EXPECT_EQ(control->phase(), RunPhase::kSetup);
  EXPECT_EQ(control->view().workers(), 3U);
  const auto ref = control->segment().ref();
  control->run().producers_done[5].store(1);
  control->run().end_ns.store(1234);
  control->run().phase.store(static_cast<std::uint32_t>(RunPhase::kGo));

  const pid_t child = testing::fork_child([&] {
    auto opened = ControlSegment::open(ref);
    if (!opened) return 10;
    if (opened->phase() != RunPhase::kGo) return 11;
    if (opened->run().end_ns.load() != 1234) return 12;
    if (opened->run().producers_done[5].load() != 1) return 13;
    if (opened->view().workers() != 3) return 14;
    opened->view().worker(2).begin(::getpid(), 0);
    return 0;
  });
  const auto exit = testing::wait_child(child, std::chrono::seconds(10));
  EXPECT_TRUE(exit.ok()) << exit.describe();
  EXPECT_EQ(control->view().worker(2).snapshot().pid, child);
}

TEST(ControlSegment, OpeningAForeignSegmentFails) {
  core::SegmentOptions opts;
  opts.run_id = core::new_run_id();
  opts.object = "notcontrol";
  opts.payload_size = 4096;
  auto raw = core::Segment::create(opts);
  ASSERT_TRUE(raw.has_value());
  EXPECT_FALSE(ControlSegment::open(raw->ref()).has_value());
}

}  // namespace
}  // namespace shmcheck::harness
