// SPDX-License-Identifier: Apache-2.0
// Image decode / encode through OpenCV's codecs (JPEG, PNG, BMP, TIFF, WebP).
// Decoded images are 8-bit RGB with the EXIF orientation applied; grey,
// 16-bit and alpha images are converted (alpha is dropped, as PIL's
// convert("RGB") does in the reference). Thread-safe (OpenCV's codecs are).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "formats/types.h"

namespace sam3::formats {

struct ImageLimits {
  size_t max_bytes = size_t{100} << 20;  // encoded size, 100 MiB
  uint64_t max_pixels = 100'000'000;     // width * height
};

// Decodes an encoded image. The declared size is checked from the header
// before the pixels are decoded.
// \throws TooLarge when bytes or pixels exceed `limits`;
// \throws InvalidInput for empty, unsupported, corrupt or truncated data.
Image decode_image(std::string_view bytes, const ImageLimits& limits = {});

// Reads and decodes a file; every message names the file.
// \throws NotFound when it does not exist, TooLarge / InvalidInput as decode_image.
Image read_image_file(const std::string& path, const ImageLimits& limits = {});

// Lossless PNG of an RGB image. \throws InvalidInput when rgb.size() != w*h*3.
std::string encode_png(const Image& image);

// JPEG of an RGB image (quality 1..100). \throws InvalidInput as encode_png.
std::string encode_jpeg(const Image& image, int quality = 90);

// Throws InvalidInput unless the image is non-empty and rgb.size() == width*height*3.
void check_image(const Image& image, const char* what);

}  // namespace sam3::formats
