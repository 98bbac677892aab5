#include <gtest/gtest.h>

#include <chrono>

#include "shmcheck/harness/run.hpp"

namespace shmcheck::harness {
namespace {

using std::chrono::nanoseconds;

TEST(ReproCommand, NamesTheSpecAndSeedAndAnOverriddenDurationInItsLargestExactUnit) {
  EXPECT_EQ(repro_command("specs/a.yaml", 42), "shmcheck run specs/a.yaml --seed 42");
  const auto with = [](std::int64_t ns) {
    const std::string repro = repro_command("a.yaml", 1, nanoseconds(ns));
    EXPECT_EQ(repro.rfind("shmcheck run a.yaml --seed 1 --duration ", 0), 0U) << repro;
    return repro.substr(repro.find("--duration"));
  };
  EXPECT_EQ(with(7'200'000'000'000), "--duration 2h");
  EXPECT_EQ(with(5'400'000'000'000), "--duration 90m");
  EXPECT_EQ(with(90'000'000'000), "--duration 90s");
  EXPECT_EQ(with(2'500'000'000), "--duration 2500ms");
  EXPECT_EQ(with(1'500), "--duration 1500ns");
  EXPECT_EQ(with(3'000), "--duration 3us");
}

}  // namespace
}  // namespace shmcheck::harness
