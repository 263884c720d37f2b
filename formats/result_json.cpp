// SPDX-License-Identifier: Apache-2.0
#include "formats/result_json.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "formats/rle.h"

namespace sam3::formats {
namespace {

double round_to(double v, double scale) {
  return std::round(v * scale) / scale;
}
double round6(double v) {
  return round_to(v, 1e6);
}

json box_json(const std::array<double, 4>& b, double scale) {
  return json::array({round_to(b[0], scale), round_to(b[1], scale), round_to(b[2], scale), round_to(b[3], scale)});
}

json mask_json(const Instance& inst, size_t index) {
  try {
    return rle_to_json(mask_to_rle(inst.mask));
  } catch (const InvalidInput& e) {
    throw InvalidInput("instance " + std::to_string(index) + ": " + e.what());
  }
}

}  // namespace

json rle_to_json(const Rle& rle) {
  return json{{"size", json::array({rle.height, rle.width})}, {"counts", rle.counts}};
}

Rle rle_from_json(const json& j) {
  if (!j.is_object())
    throw InvalidInput("RLE: expected an object {size: [h, w], counts}, got " + std::string(j.type_name()));
  const auto size = j.find("size");
  const auto counts = j.find("counts");
  if (size == j.end() || !size->is_array() || size->size() != 2 || !(*size)[0].is_number_integer() ||
      !(*size)[1].is_number_integer())
    throw InvalidInput("RLE: expected \"size\" to be [height, width] integers");
  if (counts == j.end() || !counts->is_string())
    throw InvalidInput("RLE: expected \"counts\" to be a compressed counts string");
  const int64_t h = (*size)[0].get<int64_t>();
  const int64_t w = (*size)[1].get<int64_t>();
  if (h < 0 || w < 0 || h > INT32_MAX || w > INT32_MAX)
    throw InvalidInput("RLE: size [" + std::to_string(h) + ", " + std::to_string(w) + "] is out of range");
  return Rle{static_cast<int>(h), static_cast<int>(w), counts->get<std::string>()};
}

std::array<double, 4> normalized_box_xywh(const std::array<float, 4>& xyxy, int width, int height) {
  if (width <= 0 || height <= 0) return {0, 0, 0, 0};
  const double w = width, h = height;
  const double x0 = std::clamp<double>(xyxy[0], 0.0, w), x1 = std::clamp<double>(xyxy[2], 0.0, w);
  const double y0 = std::clamp<double>(xyxy[1], 0.0, h), y1 = std::clamp<double>(xyxy[3], 0.0, h);
  return {x0 / w, y0 / h, std::max(0.0, x1 - x0) / w, std::max(0.0, y1 - y0) / h};
}

json segment_result_json(const SegmentResult& result) {
  json masks = json::array(), boxes = json::array(), scores = json::array(), ious = json::array();
  bool any_iou = false;
  for (size_t i = 0; i < result.instances.size(); ++i) {
    const Instance& inst = result.instances[i];
    masks.push_back(mask_json(inst, i));
    boxes.push_back(box_json(normalized_box_xywh(inst.box_xyxy, result.width, result.height), 1e6));
    scores.push_back(round6(inst.score));
    ious.push_back(inst.iou ? json(round6(*inst.iou)) : json(nullptr));
    any_iou = any_iou || inst.iou.has_value();
  }
  json j{{"masks", std::move(masks)},
         {"boxes", std::move(boxes)},
         {"scores", std::move(scores)},
         {"num_masks", result.instances.size()},
         {"image_size", {{"width", result.width}, {"height", result.height}}}};
  if (any_iou) j["ious"] = std::move(ious);
  if (!result.prompt.empty()) j["prompt"] = result.prompt;
  return j;
}

json batch_result_line(std::string_view key, std::string_view name, const SegmentResult& result) {
  json line{{std::string(key), std::string(name)}};
  line.update(segment_result_json(result));
  return line;
}

json error_json(int code, std::string_view type, std::string_view message) {
  return json{{"error", {{"code", code}, {"type", std::string(type)}, {"message", std::string(message)}}}};
}

json error_json(int code, const std::exception& e) {
  const auto* typed = dynamic_cast<const Error*>(&e);
  return error_json(code, typed ? typed->type() : "internal", e.what());
}

json batch_error_line(std::string_view key, std::string_view name, int code, std::string_view type,
                      std::string_view message) {
  json line{{std::string(key), std::string(name)}};
  line.update(error_json(code, type, message));
  return line;
}

json video_objects_json(const SegmentResult& frame) {
  json objects = json::array();
  for (size_t i = 0; i < frame.instances.size(); ++i) {
    const Instance& inst = frame.instances[i];
    objects.push_back({{"id", inst.obj_id ? *inst.obj_id : static_cast<int64_t>(i)},
                       {"mask", mask_json(inst, i)},
                       {"box", box_json(normalized_box_xywh(inst.box_xyxy, frame.width, frame.height), 1e6)},
                       {"score", round6(inst.score)}});
  }
  return objects;
}

json video_frame_json(int64_t frame_index, const SegmentResult& frame) {
  return json{{"frame_index", frame_index}, {"objects", video_objects_json(frame)}};
}

json coco_results_json(const SegmentResult& result, int64_t image_id, int64_t category_id) {
  json out = json::array();
  for (size_t i = 0; i < result.instances.size(); ++i) {
    const Instance& inst = result.instances[i];
    const auto n = normalized_box_xywh(inst.box_xyxy, result.width, result.height);
    const std::array<double, 4> px{n[0] * result.width, n[1] * result.height, n[2] * result.width,
                                   n[3] * result.height};
    out.push_back({{"image_id", image_id},
                   {"category_id", category_id},
                   {"segmentation", mask_json(inst, i)},
                   {"bbox", box_json(px, 1e3)},
                   {"score", round6(inst.score)},
                   {"prompt", result.prompt}});
  }
  return out;
}

}  // namespace sam3::formats
