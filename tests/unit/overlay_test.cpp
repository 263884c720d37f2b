// SPDX-License-Identifier: Apache-2.0
// Overlay rendering: exact alpha blend, untouched background, boxes, labels,
// deterministic palette and output.
#include <gtest/gtest.h>

#include <set>
#include <vector>

#include "core/errors.h"
#include "formats/overlay.h"

namespace sam3::formats {
namespace {

Image grey_image(int w, int h, uint8_t v) {
  return Image{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3, v)};
}

Instance rect_instance(int w, int h, int x0, int y0, int x1, int y1, float score) {
  Instance inst;
  inst.mask = Mask{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h, 0)};
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) inst.mask.data[static_cast<size_t>(y) * w + x] = 1;
  inst.box_xyxy = {static_cast<float>(x0), static_cast<float>(y0), static_cast<float>(x1 - 1),
                   static_cast<float>(y1 - 1)};
  inst.score = score;
  return inst;
}

const uint8_t* px(const Image& img, int x, int y) {
  return img.rgb.data() + (static_cast<size_t>(y) * img.width + x) * 3;
}

TEST(Overlay, PaletteIsDeterministicAndDistinct) {
  std::set<std::array<uint8_t, 3>> seen;
  for (uint64_t i = 0; i < 12; ++i) {
    EXPECT_EQ(palette_color(i), palette_color(i));
    seen.insert(palette_color(i));
  }
  EXPECT_EQ(seen.size(), 12u);
  // Neighbours differ strongly (sum of channel differences).
  for (uint64_t i = 0; i < 11; ++i) {
    const auto a = palette_color(i), b = palette_color(i + 1);
    EXPECT_GT(std::abs(a[0] - b[0]) + std::abs(a[1] - b[1]) + std::abs(a[2] - b[2]), 100) << i;
  }
}

TEST(Overlay, BlendsMaskAndLeavesBackground) {
  const Image img = grey_image(200, 160, 100);
  SegmentResult r{200, 160, "cat", {rect_instance(200, 160, 60, 60, 140, 120, 0.87f)}};
  OverlayOptions opt;
  opt.alpha = 0.5f;
  const Image out = render_overlay(img, r, opt);
  ASSERT_EQ(out.rgb.size(), img.rgb.size());
  const auto c = palette_color(0);
  // Interior pixel: exact fixed-point blend (128/256 weights).
  const uint8_t* in = px(out, 100, 90);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(in[k], (100 * 128 + c[k] * 128 + 128) >> 8) << k;
  // Far from the mask, box and label: untouched.
  for (int k = 0; k < 3; ++k) EXPECT_EQ(px(out, 10, 150)[k], 100);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(px(out, 190, 5)[k], 100);
  // The box edge is drawn opaque in the instance colour.
  for (int k = 0; k < 3; ++k) EXPECT_EQ(px(out, 100, 60)[k], c[k]);
  // A label sits above the box: some pixels just above it changed.
  int changed = 0;
  for (int y = 40; y < 60; ++y)
    for (int x = 60; x < 100; ++x) changed += px(out, x, y)[0] != 100 || px(out, x, y)[1] != 100;
  EXPECT_GT(changed, 50);
  // Same input, same bytes.
  EXPECT_EQ(render_overlay(img, r, opt).rgb, out.rgb);
  // The input is not modified.
  EXPECT_EQ(img.rgb, grey_image(200, 160, 100).rgb);
}

TEST(Overlay, OptionsAndObjectIdColours) {
  const Image img = grey_image(64, 48, 50);
  SegmentResult r{64, 48, "", {rect_instance(64, 48, 10, 10, 30, 30, 0.5f)}};
  r.instances[0].obj_id = 7;
  OverlayOptions opt;
  opt.alpha = 1.0f;
  opt.draw_boxes = opt.draw_labels = opt.draw_contours = false;
  const Image out = render_overlay(img, r, opt);
  const auto c = palette_color(7);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(px(out, 20, 20)[k], c[k]);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(px(out, 9, 9)[k], 50);
  opt.alpha = 0.0f;
  EXPECT_EQ(render_overlay(img, r, opt).rgb, img.rgb);
  // No instances: a copy of the image.
  EXPECT_EQ(render_overlay(img, SegmentResult{64, 48, "", {}}).rgb, img.rgb);
}

TEST(Overlay, RejectsMismatchedInput) {
  const Image img = grey_image(64, 48, 50);
  SegmentResult r{64, 48, "", {rect_instance(32, 48, 1, 1, 5, 5, 0.5f)}};
  EXPECT_THROW(render_overlay(img, r), InvalidInput);
  OverlayOptions bad;
  bad.alpha = 1.5f;
  EXPECT_THROW(render_overlay(img, SegmentResult{64, 48, "", {}}, bad), InvalidInput);
  EXPECT_THROW(render_overlay(Image{4, 4, {}}, SegmentResult{}), InvalidInput);
}

}  // namespace
}  // namespace sam3::formats
