// SPDX-License-Identifier: Apache-2.0
// Architecture rules checked on the source tree (STYLE.md 1 and 13): the core
// and formats libraries know nothing of HTTP, the CLI or the environment, and
// no source file grows past the size budget.
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "test_util.h"

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> sources(const std::string& sub) {
  std::vector<fs::path> out;
  const fs::path root = fs::path(SAM3_SOURCE_DIR) / sub;
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const auto ext = e.path().extension();
    if (ext == ".cpp" || ext == ".h") out.push_back(e.path());
  }
  return out;
}

TEST(Layout, CoreAndFormatsStayFreeOfFrontEndDependencies) {
  const std::regex forbidden(R"((#include\s*[<"](civetweb\.h|CLI/|toml\+\+))|\bgetenv\s*\()");
  size_t checked = 0;
  for (const char* dir : {"core", "formats"}) {
    for (const auto& p : sources(dir)) {
      std::ifstream in(p);
      std::string line;
      int n = 0;
      while (std::getline(in, line)) {
        ++n;
        EXPECT_FALSE(std::regex_search(line, forbidden)) << p << ":" << n << ": " << line;
      }
      ++checked;
    }
  }
  EXPECT_GT(checked, 10u);
}

TEST(Layout, TorchStaysOutOfFrontEndHeaders) {
  const std::regex torch_include(R"(#include\s*[<"](torch/|ATen/|c10/|core/torch\.h))");
  for (const char* dir : {"formats", "cli", "daemon"}) {
    for (const auto& p : sources(dir)) {
      if (p.extension() != ".h") continue;
      const std::string text = sam3::test::read_file(p.string());
      EXPECT_FALSE(std::regex_search(text, torch_include)) << p << " includes torch";
    }
  }
  // The core headers the front-ends include must stay torch-free too.
  for (const char* h : {"core/image_engine.h", "core/options.h", "core/errors.h", "core/log.h"}) {
    const std::string text = sam3::test::read_file(std::string(SAM3_SOURCE_DIR) + "/" + h);
    ASSERT_FALSE(text.empty()) << h;
    EXPECT_FALSE(std::regex_search(text, torch_include)) << h << " includes torch";
  }
}

TEST(Layout, NoSourceFileExceedsTheBudget) {
  constexpr int kBudget = 800;
  for (const char* dir : {"core", "formats", "cli", "daemon", "tests", "bench"}) {
    for (const auto& p : sources(dir)) {
      std::ifstream in(p);
      int lines = 0;
      std::string line;
      while (std::getline(in, line)) ++lines;
      EXPECT_LE(lines, kBudget) << p << " has " << lines << " lines";
    }
  }
}

}  // namespace
