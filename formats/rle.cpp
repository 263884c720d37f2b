// SPDX-License-Identifier: Apache-2.0
#include "formats/rle.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "core/errors.h"

namespace sam3::formats {
namespace {

constexpr uint64_t kMaxPixels = std::numeric_limits<uint32_t>::max();  // pycocotools runs are uint32

uint64_t checked_pixels(int height, int width, const char* what) {
  if (height < 0 || width < 0)
    throw InvalidInput(std::string(what) + ": expected non-negative size, got " + std::to_string(height) + "x" +
                       std::to_string(width));
  const uint64_t n = static_cast<uint64_t>(height) * static_cast<uint64_t>(width);
  if (n > kMaxPixels)
    throw TooLarge(std::string(what) + ": " + std::to_string(height) + "x" + std::to_string(width) +
                   " exceeds the 2^32-1 pixels a COCO RLE can hold");
  return n;
}

inline uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// True when some byte of v is zero (exact, the classic bit trick).
inline bool has_zero_byte(uint64_t v) {
  return ((v - 0x0101010101010101ull) & ~v & 0x8080808080808080ull) != 0;
}

// Calls f(x, y) for every y >= 1 where the foreground state of (x, y) differs
// from (x, y - 1), in row order. Rows that match the row above are skipped
// eight bytes at a time, which is what makes typical masks cheap.
template <class F>
void for_each_vertical_change(const uint8_t* data, int height, int width, F&& f) {
  const size_t w = static_cast<size_t>(width);
  for (int y = 1; y < height; ++y) {
    const uint8_t* above = data + (static_cast<size_t>(y) - 1) * w;
    const uint8_t* row = above + w;
    size_t x = 0;
    for (; x + 8 <= w; x += 8) {
      if (load64(above + x) == load64(row + x)) continue;
      for (size_t k = x; k < x + 8; ++k)
        if ((above[k] != 0) != (row[k] != 0)) f(k, y);
    }
    for (; x < w; ++x)
      if ((above[x] != 0) != (row[x] != 0)) f(x, y);
  }
}

// First index >= i whose foreground state differs from `state`, or n.
size_t find_change(const uint8_t* d, size_t i, size_t n, bool state) {
  if (!state) {
    while (i + 8 <= n && load64(d + i) == 0) i += 8;
  } else {
    while (i + 8 <= n && !has_zero_byte(load64(d + i))) i += 8;
  }
  while (i < n && (d[i] != 0) == state) ++i;
  return i;
}

}  // namespace

std::string rle_encode_counts(const std::vector<uint32_t>& runs) {
  std::string s;
  s.reserve(runs.size() * 2);
  for (size_t i = 0; i < runs.size(); ++i) {
    int64_t x = runs[i];
    if (i > 2) x -= static_cast<int64_t>(runs[i - 2]);
    bool more = true;
    while (more) {
      int c = static_cast<int>(x & 0x1f);
      x >>= 5;  // arithmetic shift (C++20), as C's `long` in pycocotools
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      s.push_back(static_cast<char>(c + 48));
    }
  }
  return s;
}

Rle mask_to_rle_col_major(const uint8_t* data, int height, int width) {
  const size_t n = checked_pixels(height, width, "mask_to_rle");
  std::vector<uint32_t> runs;
  size_t last = 0;
  bool state = false;
  for (;;) {
    const size_t i = find_change(data, last, n, state);
    runs.push_back(static_cast<uint32_t>(i - last));
    if (i == n) break;
    last = i;
    state = !state;
  }
  return Rle{height, width, rle_encode_counts(runs)};
}

Rle mask_to_rle(const uint8_t* data, int height, int width) {
  const size_t n = checked_pixels(height, width, "mask_to_rle");
  if (n == 0) return Rle{height, width, rle_encode_counts({0})};
  const size_t h = static_cast<size_t>(height);
  const size_t w = static_cast<size_t>(width);
  // A column's first pixel follows the previous column's last one in COCO order.
  auto top_changes = [&](size_t x) {
    const bool prev = x == 0 ? false : data[(h - 1) * w + x - 1] != 0;
    return (data[x] != 0) != prev;
  };
  // Pass 1 counts transitions per column, pass 2 stores their rows (a
  // counting sort by column that keeps rows ascending).
  std::vector<size_t> start(w + 1, 0);
  for (size_t x = 0; x < w; ++x) start[x + 1] += top_changes(x);
  for_each_vertical_change(data, height, width, [&](size_t x, int) { ++start[x + 1]; });
  for (size_t x = 0; x < w; ++x) start[x + 1] += start[x];
  std::vector<uint32_t> rows(start[w]);
  std::vector<size_t> fill(start.begin(), start.end() - 1);
  for (size_t x = 0; x < w; ++x)
    if (top_changes(x)) rows[fill[x]++] = 0;
  for_each_vertical_change(data, height, width, [&](size_t x, int y) { rows[fill[x]++] = static_cast<uint32_t>(y); });

  std::vector<uint32_t> runs;
  runs.reserve(rows.size() + 1);
  size_t last = 0;
  for (size_t x = 0; x < w; ++x) {
    for (size_t k = start[x]; k < start[x + 1]; ++k) {
      const size_t idx = x * h + rows[k];
      runs.push_back(static_cast<uint32_t>(idx - last));
      last = idx;
    }
  }
  runs.push_back(static_cast<uint32_t>(n - last));
  return Rle{height, width, rle_encode_counts(runs)};
}

Rle mask_to_rle(const Mask& mask) {
  const uint64_t n = checked_pixels(mask.height, mask.width, "mask_to_rle");
  if (mask.data.size() != n)
    throw InvalidInput("mask_to_rle: mask of " + std::to_string(mask.height) + "x" + std::to_string(mask.width) +
                       " expects " + std::to_string(n) + " bytes, got " + std::to_string(mask.data.size()));
  return mask_to_rle(mask.data.data(), mask.height, mask.width);
}

std::vector<uint32_t> rle_decode_counts(const Rle& rle) {
  const uint64_t n = checked_pixels(rle.height, rle.width, "RLE");
  const std::string& s = rle.counts;
  std::vector<uint32_t> runs;
  runs.reserve(s.size());
  uint64_t total = 0;
  size_t p = 0;
  while (p < s.size()) {
    const size_t value_start = p;
    int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p >= s.size())
        throw InvalidInput("RLE counts: the string ends inside the value that starts at offset " +
                           std::to_string(value_start));
      const auto ch = static_cast<unsigned char>(s[p]);
      if (ch < 48 || ch > 48 + 63)
        throw InvalidInput("RLE counts: expected characters '0'..'o', got byte " + std::to_string(ch) + " at offset " +
                           std::to_string(p));
      // 7 groups carry 35 bits: enough for any difference of two uint32 runs.
      if (k == 7)
        throw InvalidInput("RLE counts: value at offset " + std::to_string(value_start) + " is longer than 7 groups");
      const int64_t c = ch - 48;
      x |= (c & 0x1f) << (5 * k);
      more = (c & 0x20) != 0;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x -= int64_t{1} << (5 * k);  // sign-extend
    }
    if (runs.size() > 2) x += runs[runs.size() - 2];
    if (x < 0)
      throw InvalidInput("RLE counts: run " + std::to_string(runs.size()) + " is negative (" + std::to_string(x) + ")");
    total += static_cast<uint64_t>(x);
    if (total > n)
      throw InvalidInput("RLE counts: runs exceed the " + std::to_string(rle.height) + "x" + std::to_string(rle.width) +
                         " = " + std::to_string(n) + " pixels of the mask");
    runs.push_back(static_cast<uint32_t>(x));
  }
  if (total != n)
    throw InvalidInput("RLE counts: runs add up to " + std::to_string(total) + " pixels, expected " +
                       std::to_string(rle.height) + "x" + std::to_string(rle.width) + " = " + std::to_string(n));
  return runs;
}

Mask mask_from_rle(const Rle& rle) {
  const std::vector<uint32_t> runs = rle_decode_counts(rle);
  const size_t h = static_cast<size_t>(rle.height);
  const size_t w = static_cast<size_t>(rle.width);
  Mask m{rle.width, rle.height, std::vector<uint8_t>(h * w, 0)};
  if (h * w == 0) return m;
  // The mirror of the row-major encoder: a row equals the row above with the
  // columns that change at this row flipped. Building rows from those flips
  // writes memory in order (a transpose of a 4096-high column-major buffer
  // thrashes the cache on its power-of-two stride).
  auto for_each_change = [&](auto&& f) {  // column-major indices where the value flips
    uint64_t pos = 0;
    bool cur = false, val = false;
    for (const uint32_t r : runs) {
      if (r > 0 && val != cur) {
        f(pos);
        cur = val;
      }
      pos += r;
      val = !val;
    }
  };
  std::vector<uint8_t> row(w, 0);  // starts as row 0
  std::vector<size_t> start(h + 1, 0);
  size_t next_col = 0;
  uint8_t value = 0;
  for_each_change([&](uint64_t i) {
    for (; next_col < w && next_col * h < i; ++next_col) row[next_col] = value;
    value ^= 1;
    if (i % h != 0) ++start[i % h + 1];
  });
  for (; next_col < w; ++next_col) row[next_col] = value;
  for (size_t y = 0; y < h; ++y) start[y + 1] += start[y];
  std::vector<uint32_t> cols(start[h]);
  std::vector<size_t> fill(start.begin(), start.end() - 1);
  for_each_change([&](uint64_t i) {
    if (i % h != 0) cols[fill[i % h]++] = static_cast<uint32_t>(i / h);
  });
  for (size_t y = 0; y < h; ++y) {
    for (size_t k = start[y]; k < start[y + 1]; ++k) row[cols[k]] ^= 1;
    std::memcpy(m.data.data() + y * w, row.data(), w);
  }
  return m;
}

uint64_t rle_area(const Rle& rle) {
  const std::vector<uint32_t> runs = rle_decode_counts(rle);
  uint64_t area = 0;
  for (size_t i = 1; i < runs.size(); i += 2) area += runs[i];
  return area;
}

std::array<double, 4> rle_to_bbox(const Rle& rle) {
  const std::vector<uint32_t> runs = rle_decode_counts(rle);
  // Transcribes pycocotools rleToBbox, uint32 arithmetic included, so that odd
  // inputs (zero-length runs) give the same numbers.
  const uint32_t h = static_cast<uint32_t>(rle.height);
  const uint32_t w = static_cast<uint32_t>(rle.width);
  const size_t m = (runs.size() / 2) * 2;
  if (m == 0 || h == 0 || w == 0) return {0, 0, 0, 0};
  uint32_t xs = w, ys = h, xe = 0, ye = 0, cc = 0, xp = 0;
  for (size_t j = 0; j < m; ++j) {
    cc += runs[j];
    const uint32_t t = cc - static_cast<uint32_t>(j % 2);
    const uint32_t y = t % h;
    const uint32_t x = (t - y) / h;
    if (j % 2 == 0) {
      xp = x;
    } else if (xp < x) {
      ys = 0;
      ye = h - 1;
    }
    xs = std::min(xs, x);
    xe = std::max(xe, x);
    ys = std::min(ys, y);
    ye = std::max(ye, y);
  }
  return {static_cast<double>(xs), static_cast<double>(ys), static_cast<double>(xe - xs + 1),
          static_cast<double>(ye - ys + 1)};
}

}  // namespace sam3::formats
