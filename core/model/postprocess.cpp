// SPDX-License-Identifier: Apache-2.0
#include "core/model/postprocess.h"

#include "core/errors.h"
#include "core/tensor_text.h"

namespace sam3::core {

Detections select_detections(const torch::Tensor& pred_logits, const torch::Tensor& pred_boxes,
                             const torch::Tensor& presence_logit, const torch::Tensor& pred_masks,
                             int width, int height, float threshold) {
  if (width <= 0 || height <= 0)
    throw InvalidInput("postprocess: expected a positive image size, got " + std::to_string(width) + "x" +
                       std::to_string(height));
  torch::Tensor logits = pred_logits.dim() == 2 ? pred_logits.squeeze(-1) : pred_logits;
  if (logits.dim() != 1 || pred_boxes.dim() != 2 || pred_boxes.size(1) != 4 ||
      pred_boxes.size(0) != logits.size(0) || pred_masks.dim() != 3 || pred_masks.size(0) != logits.size(0))
    throw InvalidInput("postprocess: expected logits [Q,1], boxes [Q,4], masks [Q,h,w], got " +
                       shape_text(pred_logits) + ", " + shape_text(pred_boxes) + ", " + shape_text(pred_masks));
  // Same op order as the processor: sigmoid(logits) * sigmoid(presence), in fp32.
  torch::Tensor probs = logits.to(torch::kFloat32).sigmoid();
  if (presence_logit.defined()) {
    if (presence_logit.numel() != 1)
      throw InvalidInput("postprocess: expected one presence logit, got " + shape_text(presence_logit));
    probs = probs * presence_logit.to(torch::kFloat32).reshape({1}).sigmoid();
  }
  Detections d;
  d.keep_idx = torch::nonzero(probs > threshold).reshape({-1});
  d.scores = probs.index_select(0, d.keep_idx);
  torch::Tensor b = pred_boxes.to(torch::kFloat32).index_select(0, d.keep_idx);
  auto c = b.unbind(-1);
  torch::Tensor xyxy = torch::stack({c[0] - 0.5 * c[2], c[1] - 0.5 * c[3], c[0] + 0.5 * c[2], c[1] + 0.5 * c[3]}, -1);
  torch::Tensor scale = torch::tensor({static_cast<float>(width), static_cast<float>(height),
                                       static_cast<float>(width), static_cast<float>(height)},
                                      xyxy.options());
  d.boxes_xyxy = xyxy * scale.unsqueeze(0);
  d.mask_logits = pred_masks.index_select(0, d.keep_idx);
  return d;
}

torch::Tensor upsample_mask(const torch::Tensor& mask_logits, int width, int height) {
  namespace F = torch::nn::functional;
  torch::Tensor m = mask_logits.to(torch::kFloat32).reshape({1, 1, mask_logits.size(-2), mask_logits.size(-1)});
  m = F::interpolate(m, F::InterpolateFuncOptions()
                            .size(std::vector<int64_t>{height, width})
                            .mode(torch::kBilinear)
                            .align_corners(false));
  // sigmoid then > 0.5, not "> 0": keeps the reference's float rounding at the edge.
  return m.sigmoid().gt(0.5).reshape({height, width});
}

formats::SegmentResult to_segment_result(const Detections& det, int width, int height,
                                         const std::string& prompt) {
  formats::SegmentResult r;
  r.width = width;
  r.height = height;
  r.prompt = prompt;
  const int64_t n = det.scores.size(0);
  torch::Tensor scores = det.scores.to(torch::kCPU).contiguous();
  torch::Tensor boxes = det.boxes_xyxy.to(torch::kCPU).contiguous();
  r.instances.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    formats::Instance inst;
    inst.score = scores[i].item<float>();
    for (int k = 0; k < 4; ++k) inst.box_xyxy[static_cast<size_t>(k)] = boxes[i][k].item<float>();
    torch::Tensor m = upsample_mask(det.mask_logits[i], width, height).to(torch::kCPU).to(torch::kUInt8).contiguous();
    inst.mask.width = width;
    inst.mask.height = height;
    const uint8_t* p = m.data_ptr<uint8_t>();
    inst.mask.data.assign(p, p + static_cast<size_t>(width) * static_cast<size_t>(height));
    r.instances.push_back(std::move(inst));
  }
  return r;
}

formats::SegmentResult postprocess_grounding(const torch::Tensor& pred_logits, const torch::Tensor& pred_boxes,
                                             const torch::Tensor& presence_logit,
                                             const torch::Tensor& pred_masks, int width, int height,
                                             float threshold, const std::string& prompt) {
  return to_segment_result(select_detections(pred_logits, pred_boxes, presence_logit, pred_masks, width, height,
                                             threshold),
                           width, height, prompt);
}

}  // namespace sam3::core
