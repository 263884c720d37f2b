// SPDX-License-Identifier: Apache-2.0
// Visualisation: instance masks blended in distinct colours over the image,
// with their outlines, boxes and score labels. Pure, thread-safe, and
// deterministic (same input, same pixels), so tests and caches can rely on it.
#pragma once

#include <array>
#include <cstdint>

#include "formats/types.h"

namespace sam3::formats {

struct OverlayOptions {
  float alpha = 0.5f;         // mask opacity, 0..1
  bool draw_contours = true;  // mask outlines, opaque
  bool draw_boxes = true;
  bool draw_labels = true;  // "0.93" or, with an object id, "#7 0.93"
};

// Colour of instance `index` (an object id in video): golden-ratio hue steps,
// so neighbouring indices differ strongly. Same index, same colour, always.
std::array<uint8_t, 3> palette_color(uint64_t index);

// Draws `result`'s instances over `image`. Instance i takes
// palette_color(obj_id) when it has one, palette_color(i) otherwise; later
// instances are drawn over earlier ones.
// \throws InvalidInput when the image is malformed, a mask's size differs
// from the image's, or alpha is outside 0..1.
Image render_overlay(const Image& image, const SegmentResult& result, const OverlayOptions& options = {});

}  // namespace sam3::formats
