// SPDX-License-Identifier: Apache-2.0
// Reads an image's format and declared size from its header, without decoding
// pixels, so that a decompression bomb (a few KiB declaring 100000x100000
// pixels) is refused before any decoder allocates memory. For PNG and JPEG the
// container structure is walked to its end marker too, because libjpeg
// "decodes" a truncated file into a half-grey image without failing.
// Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sam3::formats {

enum class ImageFormat { png, jpeg, bmp, tiff, webp };

const char* image_format_name(ImageFormat f);  // "png", "jpeg", ...

struct ImageHeader {
  ImageFormat format = ImageFormat::png;
  // Declared size; 0 when the header does not state it (a JPEG whose height
  // comes in a later DNL marker), in which case only the decoded size is checked.
  int64_t width = 0;
  int64_t height = 0;
};

// \throws InvalidInput when the bytes are empty, are not one of the formats
// above, or the header / container structure is cut short or malformed.
ImageHeader probe_image(std::string_view bytes);

}  // namespace sam3::formats
