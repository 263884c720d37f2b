// SPDX-License-Identifier: Apache-2.0
// The detector's query scorer (reference: model_misc.DotProductScoring) and the
// assembly of the final per-query detections (Sam3Image._update_scores_and_boxes).
//
// Parameter names (checkpoint prefix "detector.dot_prod_scoring."):
// prompt_mlp.layers.{0,1}, prompt_mlp.out_norm, prompt_proj, hs_proj.
//
// Thread-safety: forward() does not modify the module.
#pragma once

#include "core/model/attention.h"
#include "core/model/config.h"
#include "core/model/detr_decoder.h"
#include "core/torch.h"

namespace sam3::core {

class DotProductScoringImpl : public torch::nn::Module {
public:
  explicit DotProductScoringImpl(const Sam3Config& cfg);

  // hs          [..., B, Q, D] batch-first decoder outputs (e.g. [L, B, Q, D] or [B, Q, D])
  // prompt      [Lp, B, D] seq-first prompt tokens (text then geometry, pre-encoder)
  // prompt_mask [B, Lp] bool, true = padding
  // Returns logits [..., B, Q, 1]:
  //   clamp(hs_proj(hs) . prompt_proj(mean over valid tokens of prompt_mlp(prompt)) / sqrt(d), -12, 12).
  // The mean covers every valid token, geometry tokens (boxes and CLS) included
  // (trap 14); the count is clamped to >= 1.
  torch::Tensor forward(const torch::Tensor& hs, const torch::Tensor& prompt, const torch::Tensor& prompt_mask);

  Mlp prompt_mlp{nullptr};
  torch::nn::Linear prompt_proj{nullptr}, hs_proj{nullptr};

private:
  double scale_;
};
TORCH_MODULE(DotProductScoring);

// Final per-query detections, as Sam3Image._update_scores_and_boxes forms them
// from the last decoder layer (the other layers only feed auxiliary losses).
struct DetectionOutput {
  torch::Tensor pred_logits;         // [B, Q, 1]  dot-product logits (clamped to +-12), NOT sigmoid'ed
  torch::Tensor pred_boxes;          // [B, Q, 4]  cxcywh, normalised to [0,1]
  torch::Tensor pred_boxes_xyxy;     // [B, Q, 4]  xyxy, normalised
  torch::Tensor presence_logit_dec;  // [B, 1]     last-layer presence logit (unclamped)
  torch::Tensor queries;             // [B, Q, D]  hs of the last layer (input of the mask head)
};

// pred_boxes = sigmoid(inverse_sigmoid(ref_boxes[L-1]) + bbox_embed(hs[L-1])),
// pred_logits = scorer(hs[L-1], prompt, prompt_mask). The processor's score is
// sigmoid(pred_logits) * sigmoid(presence_logit_dec).
DetectionOutput finalize_detections(TransformerDecoderImpl& decoder, DotProductScoringImpl& scorer,
                                    const DecoderOutput& dec, const torch::Tensor& prompt,
                                    const torch::Tensor& prompt_mask);

}  // namespace sam3::core
