// SPDX-License-Identifier: Apache-2.0
// Mask PNGs: binary 0/255 masks and instance label images (8- and 16-bit).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/errors.h"
#include "formats/image_io.h"
#include "formats/image_probe.h"
#include "formats/png_mask.h"

namespace sam3::formats {
namespace {

Mask rect_mask(int w, int h, int x0, int y0, int x1, int y1) {
  Mask m{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h, 0)};
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) m.data[static_cast<size_t>(y) * w + x] = 1;
  return m;
}

TEST(PngMask, BinaryMaskIsGrey0And255) {
  const Mask m = rect_mask(7, 5, 1, 1, 4, 3);
  const std::string png = encode_mask_png(m);
  const ImageHeader h = probe_image(png);
  EXPECT_EQ(h.format, ImageFormat::png);
  EXPECT_EQ(h.width, 7);
  EXPECT_EQ(h.height, 5);
  EXPECT_EQ(png[24], 8) << "bit depth";
  EXPECT_EQ(png[25], 0) << "colour type grey";
  const LabelImage l = decode_label_png(png);
  ASSERT_EQ(l.labels.size(), m.data.size());
  for (size_t i = 0; i < m.data.size(); ++i) EXPECT_EQ(l.labels[i], m.data[i] ? 255 : 0);
  EXPECT_EQ(decode_mask_png(png).data, m.data);
}

TEST(PngMask, LabelPngLaterMasksWin) {
  const std::vector<Mask> masks = {rect_mask(6, 4, 0, 0, 3, 4), rect_mask(6, 4, 2, 0, 5, 2),
                                   rect_mask(6, 4, 5, 3, 6, 4)};
  const LabelImage l = decode_label_png(encode_label_png(6, 4, masks));
  EXPECT_EQ(l.width, 6);
  EXPECT_EQ(l.height, 4);
  const std::vector<uint16_t> want = {1, 1, 2, 2, 2, 0,  //
                                      1, 1, 2, 2, 2, 0,  //
                                      1, 1, 1, 0, 0, 0,  //
                                      1, 1, 1, 0, 0, 3};
  EXPECT_EQ(l.labels, want);
}

TEST(PngMask, LabelPngWithLargeIdsIs16Bit) {
  const std::vector<Mask> masks = {rect_mask(3, 2, 0, 0, 1, 2), rect_mask(3, 2, 2, 0, 3, 1)};
  const std::string small = encode_label_png(3, 2, masks, {7, 255});
  EXPECT_EQ(small[24], 8);
  const std::string png = encode_label_png(3, 2, masks, {7, 40000});
  EXPECT_EQ(png[24], 16) << "bit depth";
  EXPECT_EQ(decode_label_png(png).labels, (std::vector<uint16_t>{7, 0, 40000, 7, 0, 0}));
  // No masks at all: an all-background image.
  EXPECT_EQ(decode_label_png(encode_label_png(2, 2, {})).labels, std::vector<uint16_t>(4, 0));
}

TEST(PngMask, RejectsBadInput) {
  const Mask ok = rect_mask(3, 2, 0, 0, 1, 1);
  EXPECT_THROW(encode_mask_png(Mask{3, 2, std::vector<uint8_t>(5)}), InvalidInput);
  EXPECT_THROW(encode_mask_png(Mask{}), InvalidInput);
  EXPECT_THROW(encode_label_png(4, 2, {ok}), InvalidInput);           // size mismatch
  EXPECT_THROW(encode_label_png(3, 2, {ok}, {1, 2}), InvalidInput);   // ids count
  EXPECT_THROW(encode_label_png(3, 2, {ok}, {0}), InvalidInput);      // 0 is background
  EXPECT_THROW(encode_label_png(3, 2, {ok}, {70000}), InvalidInput);  // > 16 bits
  EXPECT_THROW(encode_label_png(0, 2, {}), InvalidInput);
  // An RGB PNG is not a mask.
  const Image rgb{2, 1, {1, 2, 3, 4, 5, 6}};
  EXPECT_THROW(decode_label_png(encode_png(rgb)), InvalidInput);
  EXPECT_THROW(decode_mask_png("garbage"), InvalidInput);
}

}  // namespace
}  // namespace sam3::formats
