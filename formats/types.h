// SPDX-License-Identifier: Apache-2.0
// Plain data shared by formats/, core/, the CLI and the daemon. No torch here.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sam3::formats {

// 8-bit RGB image, row-major HWC (rgb.size() == width*height*3).
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;
};

// Binary mask, row-major HxW, one byte per pixel (0 or 1).
struct Mask {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> data;
};

// COCO RLE with the compressed `counts` string (pycocotools' format:
// column-major runs starting with background).
struct Rle {
  int height = 0;
  int width = 0;
  std::string counts;
};

// One detected / tracked instance at the original image size.
struct Instance {
  Mask mask;
  std::array<float, 4> box_xyxy{};  // pixels: x0, y0, x1, y1
  float score = 0.f;
  std::optional<float> iou;         // interactive head: predicted IoU
  std::optional<int64_t> obj_id;    // video: object id
};

// The outcome of one prompt set on one image.
struct SegmentResult {
  int width = 0;   // original image size
  int height = 0;
  std::string prompt;  // text prompt (or "" for geometry-only / interactive)
  std::vector<Instance> instances;
};

}  // namespace sam3::formats
