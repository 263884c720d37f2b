// SPDX-License-Identifier: Apache-2.0
// Masks as PNG files: one binary mask per file (8-bit grey, 0 / 255), or all
// instances of an image in one label PNG (pixel = instance id, 0 = background).
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "formats/types.h"

namespace sam3::formats {

// 8-bit greyscale PNG, 255 where the mask is set, 0 elsewhere.
// \throws InvalidInput when the mask is empty or data.size() != width*height.
std::string encode_mask_png(const Mask& mask);

// Label PNG of several masks of one width x height image. Mask i gets label
// ids[i] (default i + 1); where masks overlap, the later one wins. The PNG is
// 8-bit when every label is <= 255, 16-bit otherwise.
// \throws InvalidInput for a mask of another size, ids.size() not 0 or
// masks.size(), or a label of 0 or above 65535.
std::string encode_label_png(int width, int height, const std::vector<Mask>& masks,
                             const std::vector<uint32_t>& ids = {});

// A decoded label PNG (8- or 16-bit greyscale), row-major.
struct LabelImage {
  int width = 0;
  int height = 0;
  std::vector<uint16_t> labels;
};

// Reads a PNG written by encode_label_png or encode_mask_png (mask PNGs come
// back as 0 / 255). \throws InvalidInput when it is not a 1-channel PNG.
LabelImage decode_label_png(std::string_view bytes);

// Reads a binary mask PNG (any non-zero pixel is foreground).
// \throws InvalidInput as decode_label_png.
Mask decode_mask_png(std::string_view bytes);

}  // namespace sam3::formats
