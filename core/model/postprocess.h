// SPDX-License-Identifier: Apache-2.0
// The image processor's post-processing (Sam3Processor._forward_grounding):
// scores = sigmoid(logit) * sigmoid(presence), strict threshold, boxes
// cxcywh -> xyxy scaled to the original size, mask logits bilinearly
// upsampled (align_corners=false) to the original size, sigmoid > 0.5.
// Query order is kept; there is no NMS and no sorting (as in the reference).
#pragma once

#include <string>

#include "core/torch.h"
#include "formats/types.h"

namespace sam3::core {

// Kept detections of one prompt on one image, as tensors (CPU or device).
struct Detections {
  torch::Tensor keep_idx;    // [N] int64 query indices, ascending
  torch::Tensor scores;      // [N] float
  torch::Tensor boxes_xyxy;  // [N, 4] float, original-image pixels, not clamped
  torch::Tensor mask_logits; // [N, h, w] float low-res logits of the kept queries
};

// One batch element's model outputs: pred_logits [Q,1] (or [Q]), pred_boxes
// [Q,4] normalized cxcywh, presence_logit: one element (undefined = no
// presence term), pred_masks [Q,h,w]. Keeps scores > threshold (strict).
// \throws InvalidInput on inconsistent shapes.
Detections select_detections(const torch::Tensor& pred_logits, const torch::Tensor& pred_boxes,
                             const torch::Tensor& presence_logit, const torch::Tensor& pred_masks,
                             int width, int height, float threshold);

// Upsamples one low-res logit map [h,w] to (height,width) like the reference
// (bilinear, align_corners=false, no antialias), then sigmoid > 0.5. Returns
// bool [height,width] on the input's device.
torch::Tensor upsample_mask(const torch::Tensor& mask_logits, int width, int height);

// Builds the plain result (masks upsampled one at a time so that N masks at
// the original size never exist as float tensors at once).
formats::SegmentResult to_segment_result(const Detections& det, int width, int height,
                                         const std::string& prompt);

// Convenience: select_detections + to_segment_result.
formats::SegmentResult postprocess_grounding(const torch::Tensor& pred_logits, const torch::Tensor& pred_boxes,
                                             const torch::Tensor& presence_logit,
                                             const torch::Tensor& pred_masks, int width, int height,
                                             float threshold, const std::string& prompt);

}  // namespace sam3::core
