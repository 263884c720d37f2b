// SPDX-License-Identifier: Apache-2.0
// COCO RLE: byte-exact agreement with pycocotools, round trips, validation.
//
// The fixed expected strings below were produced by a line-by-line Python
// transcription of pycocotools/common/maskApi.c (rleEncode, rleToString,
// rleToBbox; pycocotools itself is not installable here) and checked by hand
// for the smallest cases, e.g. 3x3 [[1,0,0],[0,1,0],[0,0,0]]: column-major
// pixels 1,0,0, 0,1,0, 0,0,0 -> runs [0,1,3,1,4]; runs 0..2 are written as is
// ('0','1','3'), runs 3 and 4 as the difference to the run two before
// (1-1=0 -> '0', 4-3=1 -> '1'): "01301".
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include "core/errors.h"
#include "formats/rle.h"

namespace sam3::formats {
namespace {

Mask mask_from_rows(const std::vector<std::vector<int>>& rows) {
  Mask m;
  m.height = static_cast<int>(rows.size());
  m.width = rows.empty() ? 0 : static_cast<int>(rows[0].size());
  for (const auto& r : rows)
    for (int v : r) m.data.push_back(static_cast<uint8_t>(v));
  return m;
}

// The obvious pycocotools rleEncode, for comparison with the fast paths.
std::vector<uint32_t> naive_runs(const Mask& m) {
  std::vector<uint32_t> runs;
  uint32_t c = 0;
  uint8_t p = 0;
  for (int x = 0; x < m.width; ++x)
    for (int y = 0; y < m.height; ++y) {
      const uint8_t v = m.data[static_cast<size_t>(y) * m.width + x] ? 1 : 0;
      if (v != p) {
        runs.push_back(c);
        c = 0;
        p = v;
      }
      ++c;
    }
  runs.push_back(c);
  return runs;
}

std::vector<uint8_t> col_major(const Mask& m) {
  std::vector<uint8_t> out;
  for (int x = 0; x < m.width; ++x)
    for (int y = 0; y < m.height; ++y) out.push_back(m.data[static_cast<size_t>(y) * m.width + x]);
  return out;
}

// Deterministic masks: uniform noise at a density, or a few random rectangles.
Mask random_mask(std::mt19937& rng, int h, int w, bool blobs) {
  Mask m{w, h, std::vector<uint8_t>(static_cast<size_t>(h) * w, 0)};
  if (!blobs) {
    const uint32_t threshold = rng() % 100;
    for (auto& v : m.data) v = (rng() % 100) < threshold;
    return m;
  }
  const int n = static_cast<int>(rng() % 5);
  for (int k = 0; k < n; ++k) {
    const int x0 = static_cast<int>(rng() % w), y0 = static_cast<int>(rng() % h);
    const int x1 = x0 + static_cast<int>(rng() % (w - x0 + 1)), y1 = y0 + static_cast<int>(rng() % (h - y0 + 1));
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x < x1; ++x) m.data[static_cast<size_t>(y) * w + x] = 1;
  }
  return m;
}

struct Known {
  std::vector<std::vector<int>> rows;
  std::string counts;
  std::array<double, 4> bbox;
  uint64_t area;
};

TEST(Rle, MatchesPycocotoolsStrings) {
  const std::vector<Known> cases = {
      {{{1, 0, 0}, {0, 1, 0}, {0, 0, 0}}, "01301", {0, 0, 2, 2}, 2},
      // Plus sign: runs [1,1,1,3,1,1,1]; run 3 = 3-1 = 2, run 4 = 1-3 = -2 -> 'N' (sign bit set).
      {{{0, 1, 0}, {1, 1, 1}, {0, 1, 0}}, "11120N0", {0, 0, 3, 3}, 5},
      {{{0, 1, 1, 0}, {1, 1, 0, 0}}, "143", {0, 0, 3, 2}, 4},
      {{{1, 1, 1, 1, 1}}, "05", {0, 0, 5, 1}, 5},
      {{{0}, {1}, {1}, {0}}, "121", {0, 1, 1, 2}, 2},
      // 7x5 from an LCG (seed 12345): several negative differences.
      {{{0, 0, 1, 0, 1},
        {1, 1, 0, 0, 1},
        {0, 1, 0, 1, 1},
        {0, 1, 0, 1, 0},
        {1, 1, 1, 0, 1},
        {0, 0, 0, 1, 0},
        {1, 0, 0, 1, 0}},
       "1120O0031M1011M30L1",
       {0, 0, 5, 7},
       17},
  };
  for (const auto& c : cases) {
    const Mask m = mask_from_rows(c.rows);
    const Rle r = mask_to_rle(m);
    EXPECT_EQ(r.counts, c.counts);
    EXPECT_EQ(r.height, m.height);
    EXPECT_EQ(r.width, m.width);
    EXPECT_EQ(rle_to_bbox(r), c.bbox) << c.counts;
    EXPECT_EQ(rle_area(r), c.area) << c.counts;
    EXPECT_EQ(mask_from_rle(r).data, m.data) << c.counts;
  }
}

TEST(Rle, MatchesPycocotoolsForMultiGroupValues) {
  // 200x300 with a rectangle rows 10..149, cols 20..249: runs 4010, 140, 60,
  // then 0 differences ('0') for 228 more column pairs, last run 10050.
  Mask m{300, 200, std::vector<uint8_t>(300 * 200, 0)};
  for (int y = 10; y < 150; ++y)
    for (int x = 20; x < 250; ++x) m.data[y * 300 + x] = 1;
  const Rle r = mask_to_rle(m);
  EXPECT_EQ(r.counts, "Zm3\\4l1" + std::string(457, '0') + "Vh9");
  EXPECT_EQ(rle_to_bbox(r), (std::array<double, 4>{20, 10, 230, 140}));
  EXPECT_EQ(rle_area(r), 140u * 230u);

  // 1x70000: 40000 zeros then 30000 ones; values need 4 groups.
  Mask row{70000, 1, std::vector<uint8_t>(70000, 0)};
  std::fill(row.data.begin() + 40000, row.data.end(), 1);
  EXPECT_EQ(mask_to_rle(row).counts, "PRW1`Ym0");
  EXPECT_EQ(rle_encode_counts({40000, 30000}), "PRW1`Ym0");
}

TEST(Rle, FastPathsAgreeWithNaiveEncoderOnRandomMasks) {
  std::mt19937 rng(7);
  const int sizes[][2] = {{1, 1}, {1, 17}, {17, 1}, {3, 3}, {7, 9}, {8, 8}, {15, 33}, {64, 64}, {31, 100}, {100, 31}};
  for (const auto& s : sizes) {
    for (int trial = 0; trial < 20; ++trial) {
      const Mask m = random_mask(rng, s[0], s[1], trial % 2 == 1);
      const std::string want = rle_encode_counts(naive_runs(m));
      const Rle r = mask_to_rle(m);
      ASSERT_EQ(r.counts, want) << s[0] << "x" << s[1] << " trial " << trial;
      const auto cm = col_major(m);
      ASSERT_EQ(mask_to_rle_col_major(cm.data(), m.height, m.width).counts, want);
      ASSERT_EQ(rle_decode_counts(r), naive_runs(m));
      ASSERT_EQ(mask_from_rle(r).data, m.data);
      uint64_t area = 0;
      for (auto v : m.data) area += v;
      ASSERT_EQ(rle_area(r), area);
    }
  }
}

TEST(Rle, EdgeCases) {
  // Empty sizes: pycocotools writes one zero run.
  for (const auto& [h, w] : {std::pair{0, 0}, std::pair{0, 5}, std::pair{5, 0}}) {
    const Rle r = mask_to_rle(Mask{w, h, {}});
    EXPECT_EQ(r.counts, "0");
    EXPECT_EQ(mask_from_rle(r).data.size(), 0u);
    EXPECT_EQ(rle_to_bbox(r), (std::array<double, 4>{0, 0, 0, 0}));
  }
  // All background and all foreground, odd sizes.
  Mask empty{13, 7, std::vector<uint8_t>(91, 0)};
  EXPECT_EQ(rle_decode_counts(mask_to_rle(empty)), std::vector<uint32_t>{91});
  EXPECT_EQ(rle_to_bbox(mask_to_rle(empty)), (std::array<double, 4>{0, 0, 0, 0}));
  Mask full{13, 7, std::vector<uint8_t>(91, 1)};
  EXPECT_EQ(rle_decode_counts(mask_to_rle(full)), (std::vector<uint32_t>{0, 91}));
  EXPECT_EQ(rle_to_bbox(mask_to_rle(full)), (std::array<double, 4>{0, 0, 13, 7}));
  // Any non-zero byte is foreground.
  Mask odd{3, 1, {0, 255, 7}};
  EXPECT_EQ(mask_to_rle(odd).counts, mask_to_rle(Mask{3, 1, {0, 1, 1}}).counts);
  EXPECT_EQ(mask_from_rle(mask_to_rle(odd)).data, (std::vector<uint8_t>{0, 1, 1}));
  // Last pixel only.
  Mask last{4, 3, std::vector<uint8_t>(12, 0)};
  last.data[11] = 1;
  EXPECT_EQ(rle_decode_counts(mask_to_rle(last)), (std::vector<uint32_t>{11, 1}));
  EXPECT_EQ(rle_to_bbox(mask_to_rle(last)), (std::array<double, 4>{3, 2, 1, 1}));
}

TEST(Rle, DecodesZeroLengthRuns) {
  // pycocotools never writes them, but its decoder accepts them: runs
  // [2, 0, 3, 4] on 3x3 are 5 background pixels, then 4 foreground.
  const Rle r{3, 3, rle_encode_counts({2, 0, 3, 4})};
  const std::vector<uint8_t> col_major_want = {0, 0, 0, 0, 0, 1, 1, 1, 1};
  Mask want{3, 3, std::vector<uint8_t>(9)};
  for (int x = 0; x < 3; ++x)
    for (int y = 0; y < 3; ++y) want.data[y * 3 + x] = col_major_want[x * 3 + y];
  EXPECT_EQ(mask_from_rle(r).data, want.data);
  EXPECT_EQ(rle_area(r), 4u);
  EXPECT_EQ(mask_from_rle(Rle{2, 2, rle_encode_counts({0, 0, 4})}).data, std::vector<uint8_t>(4, 0));
  EXPECT_EQ(mask_from_rle(Rle{2, 2, rle_encode_counts({0, 4, 0})}).data, std::vector<uint8_t>(4, 1));
}

TEST(Rle, LargeMaskRoundTrip) {
  const int n = 4096;
  Mask m{n, n, std::vector<uint8_t>(static_cast<size_t>(n) * n, 0)};
  // A disc and a thin diagonal: many columns with several runs each.
  for (int y = 0; y < n; ++y) {
    for (int x = 0; x < n; ++x) {
      const int dx = x - 2000, dy = y - 1800;
      if (dx * dx + dy * dy < 900 * 900) m.data[static_cast<size_t>(y) * n + x] = 1;
    }
    m.data[static_cast<size_t>(y) * n + (n - 1 - y)] = 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const Rle r = mask_to_rle(m);
  const Mask back = mask_from_rle(r);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "4096x4096 encode+decode: " << ms << " ms, counts " << r.counts.size() << " chars\n";
  EXPECT_EQ(back.data, m.data);
  EXPECT_EQ(rle_encode_counts(naive_runs(m)), r.counts);
  EXPECT_EQ(rle_to_bbox(r), (std::array<double, 4>{0, 0, 4096, 4096}));
}

TEST(Rle, RejectsMalformedCounts) {
  auto decode = [](int h, int w, const std::string& counts) { return mask_from_rle(Rle{h, w, counts}); };
  EXPECT_NO_THROW(decode(3, 3, "01301"));
  EXPECT_THROW(decode(3, 3, "01 301"), InvalidInput);  // space
  EXPECT_THROW(decode(3, 3, "0130p"), InvalidInput);   // 'p' is past 'o'
  EXPECT_THROW(decode(3, 3,
                      std::string("013\x7f"
                                  "1")),
               InvalidInput);
  EXPECT_THROW(decode(3, 3, "0130P"), InvalidInput);      // 'P' sets "more": value cut off
  EXPECT_THROW(decode(3, 3, "0131"), InvalidInput);       // runs add up to 8, not 9
  EXPECT_THROW(decode(3, 3, "01302"), InvalidInput);      // runs add up to 10
  EXPECT_THROW(decode(2, 2, "5"), InvalidInput);          // one run of 5 > 4 pixels
  EXPECT_THROW(decode(3, 3, "0O"), InvalidInput);         // run of -1... 'O' = 31: sign bit -> -1
  EXPECT_THROW(decode(3, 3, "oooooooo0"), InvalidInput);  // more than 7 groups
  EXPECT_THROW(decode(3, 3, ""), InvalidInput);           // nothing for 9 pixels
  EXPECT_THROW(decode(-1, 3, "0"), InvalidInput);
  EXPECT_THROW(rle_area(Rle{3, 3, "0131"}), InvalidInput);
  EXPECT_THROW(rle_to_bbox(Rle{3, 3, "0131"}), InvalidInput);
  try {
    decode(3, 3, "01 301");
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("offset 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(mask_to_rle(Mask{3, 3, std::vector<uint8_t>(8, 0)}), InvalidInput);
}

}  // namespace
}  // namespace sam3::formats
