#include <gtest/gtest.h>

#include "shmcheck/harness/worker.hpp"

namespace shmcheck::harness {
namespace {

TEST(WorkerConfig, JsonRoundTripKeepsEveryField) {
  WorkerConfig c;
  c.index = 7;
  c.incarnation = 2;
  c.role = "consumer";
  c.role_index = 3;
  c.run_id = "0123456789abcdef";
  c.seed = 42;
  c.ops = 1000;
  c.hold_ns = 2000;
  c.think_ns = 3000;
  c.rate = 1.5e5;
  c.message_size = 96;
  c.burst = 16;
  c.writers = 4;
  c.failpoints = "ring.pop.after_claim=3:kill";
  c.broken = Broken::kDuplicateSend;
  c.probes = false;
  c.object = {"queue",         "mpmc_ring", 1,  0,     "posix:/shmcheck.0.0123456789abcdef.queue",
              "posix_unnamed", "",          -1, false, 1024};
  const auto back = WorkerConfig::from_json(nlohmann::json::parse(c.to_json().dump()));
  EXPECT_EQ(back.to_json(), c.to_json());
  EXPECT_EQ(back.ops, c.ops);
  EXPECT_EQ(back.burst, 16U);
  EXPECT_EQ(back.broken, Broken::kDuplicateSend);
  EXPECT_FALSE(back.probes);
  EXPECT_EQ(back.object.segment_ref, c.object.segment_ref);
}

TEST(WorkerConfig, AbsentOpsStaysAbsent) {
  WorkerConfig c;
  c.role = "locker";
  const auto back = WorkerConfig::from_json(c.to_json());
  EXPECT_FALSE(back.ops.has_value());
}

TEST(WorkerConfig, EveryKeyButOpsIsRequired) {
  WorkerConfig c;
  c.ops = 5;
  const auto full = c.to_json();
  for (const auto& [key, value] : full.items()) {
    auto j = full;
    j.erase(key);
    if (key == "ops") {
      EXPECT_FALSE(WorkerConfig::from_json(j).ops.has_value());
    } else {
      EXPECT_THROW((void)WorkerConfig::from_json(j), nlohmann::json::exception) << key;
    }
  }
  for (const auto& [key, value] : full.at("object").items()) {
    auto j = full;
    j.at("object").erase(key);
    EXPECT_THROW((void)WorkerConfig::from_json(j), nlohmann::json::exception) << "object." << key;
  }
}

TEST(WorkerConfig, MalformedJsonThrows) {
  EXPECT_THROW((void)WorkerConfig::from_json(nlohmann::json::parse(R"({"index": 1})")),
               nlohmann::json::exception);
  auto j = WorkerConfig{}.to_json();
  j["broken"] = "nonsense";
  EXPECT_THROW((void)WorkerConfig::from_json(j), nlohmann::json::exception);
}

TEST(Broken, NamesRoundTripAndUnknownIsRejected) {
  for (const auto b : {Broken::kNone, Broken::kPublishBeforeWrite, Broken::kSkipLock,
                       Broken::kDuplicateSend, Broken::kLeakSegment}) {
    EXPECT_EQ(broken_from_string(to_string(b)), b);
  }
  EXPECT_FALSE(broken_from_string("publish-after-write").has_value());
}

}  // namespace
}  // namespace shmcheck::harness
