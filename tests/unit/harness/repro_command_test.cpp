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

// Pasted into a shell, the command runs the spec it names: a path with a space ran
// "my", and one with a pipe and backticks ran a pipe and a command.
TEST(ReproCommand, QuotesASpecPathTheShellWouldSplitOrRun) {
  EXPECT_EQ(repro_command("my specs/sem fail.yaml", 5),
            "shmcheck run 'my specs/sem fail.yaml' --seed 5");
  EXPECT_EQ(repro_command("specs/we|ird `x` <b>&\"q\".yaml", 5),
            "shmcheck run 'specs/we|ird `x` <b>&\"q\".yaml' --seed 5");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("specs/a-b_c.yaml"), "specs/a-b_c.yaml");
}

}  // namespace
}  // namespace shmcheck::harness
