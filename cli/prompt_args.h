// SPDX-License-Identifier: Apache-2.0
// Parsing of prompt flags. Coordinates are normalized to [0, 1] as in the
// REST API: boxes CX,CY,W,H (centre, size), points X,Y. A label suffix
// ":neg"/":0" marks a negative prompt (":pos"/":1" or none: positive).
#pragma once

#include <string>

#include "core/image_engine.h"

namespace sam3::cli {

// "CX,CY,W,H[:neg]". \throws UsageError naming the flag value.
core::BoxPrompt parse_box(const std::string& s);
// "X,Y[:neg]".
core::PointPrompt parse_point(const std::string& s);

// Video prompts on a frame: "FRAME:X,Y[:LABEL]" and "FRAME:CX,CY,W,H[:LABEL]".
struct FramePoint {
  int frame = 0;
  core::PointPrompt point;
};
struct FrameBox {
  int frame = 0;
  core::BoxPrompt box;
};
FramePoint parse_frame_point(const std::string& s);
FrameBox parse_frame_box(const std::string& s);

// "I/N" with 0 <= I < N.
struct Shard {
  int index = 0;
  int count = 1;
};
Shard parse_shard(const std::string& s);

}  // namespace sam3::cli
