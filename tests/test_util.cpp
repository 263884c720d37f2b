// SPDX-License-Identifier: Apache-2.0
#include "test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>

namespace sam3::test {

std::string shared_dir() {
  std::error_code ec;
  const std::filesystem::path p(SAM3_SHARED_DIR);
  if (std::filesystem::is_directory(p, ec)) return std::filesystem::weakly_canonical(p).string();
  return "";
}

std::string golden_dir() {
  const std::string s = shared_dir();
  if (s.empty()) return "";
  const auto g = std::filesystem::path(s) / "golden";
  return std::filesystem::is_directory(g) ? g.string() : "";
}

std::string golden_bpe_path() {
  const std::string g = golden_dir();
  const std::string p = g.empty() ? std::string() : g + "/bpe_simple_vocab_16e6.txt.gz";
  return !p.empty() && std::filesystem::exists(p) ? p : std::string();
}

std::vector<formats::Image> moving_squares(int n, int w, int h) {
  std::vector<formats::Image> frames;
  for (int i = 0; i < n; ++i) {
    formats::Image img{w, h, std::vector<uint8_t>(static_cast<size_t>(w * h * 3), 110)};
    auto fill = [&](int x0, int y0, int s, uint8_t r, uint8_t g, uint8_t b) {
      for (int y = std::max(0, y0); y < std::min(h, y0 + s); ++y)
        for (int x = std::max(0, x0); x < std::min(w, x0 + s); ++x) {
          const size_t k = static_cast<size_t>((y * w + x) * 3);
          img.rgb[k] = r;
          img.rgb[k + 1] = g;
          img.rgb[k + 2] = b;
        }
    };
    fill(8 + 4 * i, 10, 20, 240, 40, 30);
    fill(w - 30 - 3 * i, 40, 18, 20, 30, 200);
    frames.push_back(std::move(img));
  }
  return frames;
}

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("sam3-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

CommandResult run_sam3(const std::string& args, const std::string& env, const std::string& stdin_data) {
  TempDir tmp;
  const std::string out = tmp.file("out"), err = tmp.file("err"), in = tmp.file("in");
  write_file(in, stdin_data);
  const std::string cmd = env + (env.empty() ? "" : " ") + "'" + std::string(SAM3_BINARY) + "' " + args + " <'" +
                          in + "' >'" + out + "' 2>'" + err + "'";
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

}  // namespace sam3::test
