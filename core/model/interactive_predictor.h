// SPDX-License-Identifier: Apache-2.0
// SAM-1-style interactive prediction on an image (reference:
// Sam3Image.predict_inst -> SAM3InteractiveImagePredictor.predict,
// sam3/model/sam1_task_predictor.py, utils/sam1_utils.py SAM2Transforms):
// clicks / a box / a previous low-res mask -> masks at the original size, the
// predicted IoU per mask and low-res logits for the next refinement.
//
// Usage: once per image, prepare_sam_image_features() from the sam2 neck
// levels (projects F288/F144 with conv_s0/conv_s1 and adds no_mem_embed to F72;
// cache the result in the image state), then any number of predict_inst().
//
// Thread-safety: pure functions of their arguments; the TrackerModel is only
// read. \throws InvalidInput on malformed prompts, ModelError when a LibTorch
// op fails (e.g. features of the wrong shape).
#pragma once

#include <cstdint>
#include <vector>

#include "core/model/tracker_modules.h"
#include "core/torch.h"

namespace sam3::core {

// Cached per-image inputs of the SAM heads.
struct SamImageFeatures {
  torch::Tensor image_embed;            // [B, C, g, g] = F72 + no_mem_embed
  std::vector<torch::Tensor> high_res;  // {conv_s0(F288) [B, C/8, 4g, 4g], conv_s1(F144) [B, C/4, 2g, 2g]}
};

// From the sam2 neck levels (finest first): F288 [B,C,4g,4g], F144 [B,C,2g,2g], F72 [B,C,g,g].
SamImageFeatures prepare_sam_image_features(TrackerModelImpl& model, const torch::Tensor& f288,
                                            const torch::Tensor& f144, const torch::Tensor& f72);

struct PredictInstOptions {
  bool multimask_output = true;
  bool return_logits = false;    // masks as float logits instead of bool
  bool normalize_coords = true;  // prompt coordinates are original-image pixels
  double mask_threshold = 0.0;
  int64_t max_hole_area = 256;   // background components this small (at low res) become foreground
  int64_t max_sprinkle_area = 0; // foreground components this small become background (0: off)
};

// Prompts in original-image pixels (x, y) (or already in model pixels when
// normalize_coords is false). Any may be undefined.
struct PredictInstPrompt {
  torch::Tensor point_coords;  // [N, 2] or [B, N, 2] float
  torch::Tensor point_labels;  // [N] or [B, N] int (1 fg, 0 bg)
  torch::Tensor box;           // [4] or [B, 4] xyxy
  torch::Tensor mask_input;    // [1, 4g, 4g] or [B, 1, 4g, 4g] low-res logits of a previous call
};

struct PredictInstResult {
  torch::Tensor masks;           // [C, H0, W0] bool (float logits with return_logits); [B, C, ...] if B > 1
  torch::Tensor iou;             // [C] (or [B, C])
  torch::Tensor low_res_logits;  // [C, 4g, 4g] clamped to +-32 (or [B, C, ...])
};

// C = 3 with multimask_output, else 1 (token 0, or the best-IoU multimask
// output when token 0's stability score is below threshold). Holes: any
// 8-connected background component (logit <= threshold) of area <= max_hole_area
// at low resolution is set to threshold + 10 before the bilinear upsample to
// (orig_h, orig_w).
PredictInstResult predict_inst(TrackerModelImpl& model, const SamImageFeatures& features, int64_t orig_h,
                               int64_t orig_w, const PredictInstPrompt& prompt,
                               const PredictInstOptions& options = {});

// Connected components (8-connectivity) of a binary map [H, W] (bool or
// integer, non-zero = set): per-pixel area of its component (int64 [H, W]),
// 0 outside the set. CPU; other devices are copied.
torch::Tensor connected_component_areas(const torch::Tensor& binary);

// SAM2Transforms.postprocess_masks hole / sprinkle filling on logits
// [B, C, H, W] (returns a new tensor on the same device).
torch::Tensor fill_holes_and_sprinkles(const torch::Tensor& mask_logits, double threshold, int64_t max_hole_area,
                                       int64_t max_sprinkle_area);

}  // namespace sam3::core
