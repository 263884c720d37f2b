// SPDX-License-Identifier: Apache-2.0
// The JSON documents sam3 writes (docs/formats.md specifies them): image
// results, batch JSON lines, video frame lines, COCO results and errors.
// Built with nlohmann::json only. Pure functions, thread-safe.
//
// Numbers: normalized boxes and scores are rounded to 6 decimal places, pixel
// boxes to 3, so that output is short and identical across platforms.
#pragma once

#include <array>
#include <cstdint>
#include <exception>
#include <string_view>

#include <nlohmann/json.hpp>

#include "formats/types.h"

namespace sam3::formats {

using json = nlohmann::json;

// {"size": [h, w], "counts": "..."}: what pycocotools' decode() reads.
json rle_to_json(const Rle& rle);

// The inverse. \throws InvalidInput for a missing / mistyped field or a
// negative size (the counts themselves are validated on decode).
Rle rle_from_json(const json& j);

// Pixel box [x0, y0, x1, y1] -> [x, y, w, h] / image size, clamped to the
// image, so every value is in [0, 1].
std::array<double, 4> normalized_box_xywh(const std::array<float, 4>& xyxy, int width, int height);

// The image result: {"masks": [rle...], "boxes": [[x,y,w,h]...] (normalized),
// "scores": [...], "num_masks": n, "image_size": {"width", "height"}}, plus
// "prompt" when result.prompt is not empty and "ious" (null where absent)
// when any instance has a predicted IoU. \throws InvalidInput for a malformed mask.
json segment_result_json(const SegmentResult& result);

// One line of `sam3 batch`: {key: name, ...segment_result_json}. `key` is
// "id" or "file".
json batch_result_line(std::string_view key, std::string_view name, const SegmentResult& result);

// {"error": {"code": code, "type": type, "message": message}}.
json error_json(int code, std::string_view type, std::string_view message);

// The same for a caught exception: type() of a sam3::Error, "internal" otherwise.
json error_json(int code, const std::exception& e);

// A failed batch item: {key: name, "error": {"code", "type", "message"}}.
json batch_error_line(std::string_view key, std::string_view name, int code, std::string_view type,
                      std::string_view message);

// Tracked objects of one video frame: [{"id", "mask": rle, "box": [x,y,w,h]
// normalized, "score"}]. An instance without obj_id takes its position.
json video_objects_json(const SegmentResult& frame);

// One line of `sam3 video track`: {"frame_index": i, "objects": [...]}.
json video_frame_json(int64_t frame_index, const SegmentResult& frame);

// COCO results entries for one image: [{"image_id", "category_id",
// "segmentation": rle, "bbox": [x, y, w, h] in pixels, "score", "prompt"}],
// readable by pycocotools' COCO.loadRes.
json coco_results_json(const SegmentResult& result, int64_t image_id, int64_t category_id = 1);

}  // namespace sam3::formats
