// SPDX-License-Identifier: Apache-2.0
// RLE throughput: encode (row-major and column-major paths) and decode of
// typical and worst-case masks. Prints MB/s of mask bytes (one byte per
// pixel) and masks/s. Usage: sam3_bench_rle [seconds_per_case=0.5]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "formats/rle.h"

namespace {

using sam3::formats::Mask;

Mask disc(int w, int h, int cx, int cy, int r) {
  Mask m{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h, 0)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r) m.data[static_cast<size_t>(y) * w + x] = 1;
  return m;
}

Mask noise(int w, int h, double density) {
  std::mt19937 rng(1);
  Mask m{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h, 0)};
  for (auto& v : m.data) v = rng() < density * 4294967296.0;
  return m;
}

std::vector<uint8_t> col_major(const Mask& m) {
  std::vector<uint8_t> out(m.data.size());
  for (int x = 0; x < m.width; ++x)
    for (int y = 0; y < m.height; ++y)
      out[static_cast<size_t>(x) * m.height + y] = m.data[static_cast<size_t>(y) * m.width + x];
  return out;
}

// Runs f repeatedly for about `seconds`; returns calls per second.
double rate(double seconds, const std::function<void()>& f) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  long n = 0;
  double elapsed = 0;
  do {
    f();
    ++n;
    elapsed = std::chrono::duration<double>(clock::now() - t0).count();
  } while (elapsed < seconds);
  return n / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.5;
  struct Case {
    std::string name;
    Mask mask;
  };
  const std::vector<Case> cases = {
      {"1008x1008 empty", Mask{1008, 1008, std::vector<uint8_t>(1008 * 1008, 0)}},
      {"1008x1008 disc r=300", disc(1008, 1008, 500, 480, 300)},
      {"1920x1080 disc r=200", disc(1920, 1080, 900, 500, 200)},
      {"4096x4096 disc r=1500", disc(4096, 4096, 2000, 2100, 1500)},
      {"1008x1008 noise 50% (worst case)", noise(1008, 1008, 0.5)},
  };
  std::printf("%-34s %-14s %10s %12s\n", "mask", "operation", "MB/s", "masks/s");
  volatile size_t sink = 0;  // keeps results alive
  for (const auto& c : cases) {
    const double mb = static_cast<double>(c.mask.data.size()) / 1e6;
    const auto cm = col_major(c.mask);
    const auto rle = sam3::formats::mask_to_rle(c.mask);
    auto row = [&] { sink += sam3::formats::mask_to_rle(c.mask).counts.size(); };
    auto col = [&] {
      sink += sam3::formats::mask_to_rle_col_major(cm.data(), c.mask.height, c.mask.width).counts.size();
    };
    auto dec = [&] { sink += sam3::formats::mask_from_rle(rle).data.size(); };
    const std::pair<const char*, std::function<void()>> ops[] = {
        {"encode row", row}, {"encode col", col}, {"decode", dec}};
    for (const auto& [op, f] : ops) {
      const double r = rate(seconds, f);
      std::printf("%-34s %-14s %10.1f %12.1f\n", c.name.c_str(), op, r * mb, r);
    }
    std::printf("%-34s counts: %zu chars\n", c.name.c_str(), rle.counts.size());
  }
  return sink == 0 ? 1 : 0;
}
