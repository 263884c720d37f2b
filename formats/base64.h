// SPDX-License-Identifier: Apache-2.0
// Standard base64 (RFC 4648 alphabet, '=' padding). Decoding is strict: the
// daemon receives images as base64 and must reject garbage early and clearly.
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>

namespace sam3::formats {

// Encodes bytes with padding, no line breaks.
std::string base64_encode(std::string_view bytes);

// Decodes `text`, which may start with a data URL prefix `data:<type>;base64,`
// (any media type) and may end with one newline ("\n" or "\r\n"). Nothing else
// is skipped: no whitespace, no URL-safe alphabet, no missing padding.
// \throws InvalidInput naming the offending offset for a bad character,
//         misplaced or wrong padding, or a length that is not a multiple of 4;
// \throws TooLarge when the decoded size would exceed max_bytes (checked
//         before decoding).
std::string base64_decode(std::string_view text, size_t max_bytes = std::numeric_limits<size_t>::max());

}  // namespace sam3::formats
