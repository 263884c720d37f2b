// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the tests: where shared/ is, temporary folders, running the binary.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "formats/types.h"

namespace sam3::test {

// ../shared next to the source tree (CMake SAM3_SHARED_DIR), or "" when absent.
std::string shared_dir();
std::string golden_dir();  // shared_dir()/golden, or ""

// The CLIP BPE vocabulary in shared/golden, or "" when absent.
std::string golden_bpe_path();

// n synthetic W x H frames: a red square moving right and a blue square moving
// left on grey (the video tests' input).
std::vector<formats::Image> moving_squares(int n, int w = 96, int h = 72);

// A fresh folder under the system temp dir, removed by the destructor.
class TempDir {
public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
  std::filesystem::path path_;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& bytes);

struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs `sam3 <args>` (args already shell-quoted by the caller) with optional env prefix.
CommandResult run_sam3(const std::string& args, const std::string& env = "", const std::string& stdin_data = "");

}  // namespace sam3::test

// Skips the current test when the CLIP vocabulary (shared/golden) is absent.
#define SAM3_REQUIRE_BPE()                                                                           \
  do {                                                                                               \
    if (::sam3::test::golden_bpe_path().empty())                                                     \
      GTEST_SKIP() << "the CLIP BPE vocabulary (../shared/golden) is absent: model test skipped";   \
  } while (0)

// Skips the current test with a clear message when shared/golden is absent.
#define SAM3_REQUIRE_GOLDEN()                                                           \
  do {                                                                                  \
    if (::sam3::test::golden_dir().empty())                                             \
      GTEST_SKIP() << "../shared/golden is absent: parity test skipped (see README)";   \
  } while (0)
