#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "shmcheck/harness/cli.hpp"

namespace shmcheck::harness {
namespace {

namespace fs = std::filesystem;
const fs::path kSpecsDir = fs::path(SHMCHECK_SOURCE_DIR) / "tests" / "data" / "specs";

int run_validate(std::vector<std::string> files) {
  CLI::App app{"test"};
  const CommandRunner runner = add_validate_command(app);
  std::vector<std::string> args{"validate"};
  args.insert(args.end(), files.begin(), files.end());
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  app.parse(args);
  return runner();
}

TEST(ValidateCommand, GoodSpecsExitZero) {
  EXPECT_EQ(run_validate({(kSpecsDir / "good" / "design-example.yaml").string(),
                          (kSpecsDir / "good" / "semaphores-and-pauses.yaml").string()}),
            kExitPass);
}

TEST(ValidateCommand, AnyBadSpecAmongGoodOnesExitsTwo) {
  EXPECT_EQ(run_validate({(kSpecsDir / "good" / "design-example.yaml").string(),
                          (kSpecsDir / "bad" / "07-unknown-key.yaml").string()}),
            kExitUsage);
}

TEST(ValidateCommand, MissingArgumentIsAUsageError) {
  CLI::App app{"test"};
  (void)add_validate_command(app);
  EXPECT_THROW(app.parse(std::vector<std::string>{"validate"}), CLI::ParseError);
}

}  // namespace
}  // namespace shmcheck::harness
