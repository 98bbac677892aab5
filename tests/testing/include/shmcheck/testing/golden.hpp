// Golden-file comparison with placeholders for values that vary
// (google/benchmark's output_test.h is the model). In a golden file:
//   {{NUM}}  matches one number (digits, sign, point, exponent)
//   {{ANY}}  matches any text within the line
// Files live in tests/data/golden/ (SHMCHECK_SOURCE_DIR is defined by CMake).
// Set SHMCHECK_UPDATE_GOLDEN=1 to rewrite the golden files from the actual output
// (then review the diff and put placeholders back where values vary).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace shmcheck::testing {

inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

inline std::regex line_pattern(const std::string& golden_line) {
  std::string re;
  for (std::size_t i = 0; i < golden_line.size();) {
    if (golden_line.compare(i, 7, "{{NUM}}") == 0) {
      re += "[-+0-9.eE]+";
      i += 7;
      continue;
    }
    if (golden_line.compare(i, 7, "{{ANY}}") == 0) {
      re += ".*";
      i += 7;
      continue;
    }
    const char c = golden_line[i++];
    if (std::string("\\^$.|?*+()[]{}").find(c) != std::string::npos) re += '\\';
    re += c;
  }
  return std::regex(re);
}

inline ::testing::AssertionResult matches_golden(const std::string& actual,
                                                 const std::string& name) {
  // SHMCHECK_SOURCE_DIR/tests/data/golden/<name>.
  const std::string path = std::string(SHMCHECK_SOURCE_DIR) + "/tests/data/golden/" + name;
  if (const char* update = std::getenv("SHMCHECK_UPDATE_GOLDEN"); update && *update == '1') {
    std::ofstream(path) << actual;
    return ::testing::AssertionSuccess() << "updated " << path;
  }
  std::ifstream in(path);
  if (!in) return ::testing::AssertionFailure() << "missing golden file " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  const auto want = split_lines(ss.str());
  const auto got = split_lines(actual);
  for (std::size_t i = 0; i < std::max(want.size(), got.size()); ++i) {
    if (i >= want.size())
      return ::testing::AssertionFailure() << name << ": extra line " << i + 1 << ": " << got[i];
    if (i >= got.size())
      return ::testing::AssertionFailure() << name << ": missing line " << i + 1 << ": " << want[i];
    if (!std::regex_match(got[i], line_pattern(want[i]))) {
      return ::testing::AssertionFailure()
             << name << ":" << i + 1 << "\n  want: " << want[i] << "\n  got:  " << got[i];
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace shmcheck::testing
