// SPDX-License-Identifier: Apache-2.0
// COCO run-length encoding, byte-identical to pycocotools (maskApi.c:
// rleEncode + rleToString, rleFrString + rleDecode, rleArea, rleToBbox).
//
// A mask is flattened column-major (x outer, y inner); runs alternate
// background/foreground and the first run counts background (it is 0 when the
// first pixel is set). The compressed `counts` string stores each run, minus the
// run two places earlier for runs with index > 2, as little-endian groups of 5
// bits (bit 0x20 = "more groups follow", bit 0x10 of the last group = sign),
// each group offset by 48 so that it is printable ('0'..'o').
//
// Any non-zero mask byte counts as foreground. All functions are pure and
// thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "formats/types.h"

namespace sam3::formats {

// Encodes a row-major mask (Mask's layout). \throws InvalidInput when
// data.size() != width*height or a dimension is negative.
Rle mask_to_rle(const Mask& mask);

// Fast path for a row-major buffer owned elsewhere (a tensor's storage, an
// OpenCV Mat): `data` holds height*width bytes, row after row. No copy, no
// transpose: runs are found by comparing each row with the one above.
Rle mask_to_rle(const uint8_t* data, int height, int width);

// Fast path for a column-major buffer (e.g. a transposed tensor): the order
// pycocotools reads, so runs are found with one linear scan.
Rle mask_to_rle_col_major(const uint8_t* data, int height, int width);

// Decodes to a row-major 0/1 mask. \throws InvalidInput for a character
// outside '0'..'o', a value cut off at the end of the string, a negative run,
// or runs that do not add up to exactly height*width.
Mask mask_from_rle(const Rle& rle);

// The uncompressed runs of `rle`, validated as mask_from_rle does.
std::vector<uint32_t> rle_decode_counts(const Rle& rle);

// Compresses runs into the counts string (pycocotools rleToString).
std::string rle_encode_counts(const std::vector<uint32_t>& runs);

// Number of foreground pixels (pycocotools area). \throws InvalidInput as mask_from_rle.
uint64_t rle_area(const Rle& rle);

// Bounding box [x, y, w, h] in pixels of the foreground, exactly as
// pycocotools toBbox (all zeros for an empty mask). \throws InvalidInput as mask_from_rle.
std::array<double, 4> rle_to_bbox(const Rle& rle);

}  // namespace sam3::formats
