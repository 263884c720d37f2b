// SPDX-License-Identifier: Apache-2.0
#include "core/model/dot_product_scoring.h"

#include <cmath>

#include "core/errors.h"

namespace sam3::core {
namespace {
constexpr double kClampMax = 12.0;  // DotProductScoring clamp_max_val
}

DotProductScoringImpl::DotProductScoringImpl(const Sam3Config& cfg)
    : scale_(1.0 / std::sqrt(static_cast<double>(cfg.d_model))) {
  const int64_t d = cfg.d_model;
  MlpOptions mo{d, cfg.scorer_hidden, d, 2};
  mo.residual = true;
  mo.out_norm = true;
  prompt_mlp = register_module("prompt_mlp", Mlp(mo));
  prompt_proj = register_module("prompt_proj", torch::nn::Linear(d, d));
  hs_proj = register_module("hs_proj", torch::nn::Linear(d, d));
}

torch::Tensor DotProductScoringImpl::forward(const torch::Tensor& hs, const torch::Tensor& prompt,
                                             const torch::Tensor& prompt_mask) {
  if (hs.dim() < 3 || prompt.dim() != 3 || prompt_mask.dim() != 2 || prompt_mask.size(0) != prompt.size(1) ||
      prompt_mask.size(1) != prompt.size(0) || hs.size(-1) != prompt.size(2))
    throw InvalidInput("scorer: expected hs [..., B, Q, D], prompt [Lp, B, D], prompt_mask [B, Lp]; got " +
                       c10::str(hs.sizes()) + ", " + c10::str(prompt.sizes()) + ", " +
                       c10::str(prompt_mask.sizes()));
  auto p = prompt_mlp->forward(prompt);                                                   // [Lp, B, D]
  auto valid = (~prompt_mask.to(torch::kBool)).to(p.scalar_type()).transpose(0, 1).unsqueeze(-1);  // [Lp, B, 1]
  auto count = valid.sum(0).clamp_min(1.0);                                               // [B, 1]
  auto pooled = (p * valid).sum(0) / count;                                               // [B, D]
  auto proj_prompt = prompt_proj->forward(pooled).unsqueeze(-1);                          // [B, D, 1]
  auto scores = torch::matmul(hs_proj->forward(hs), proj_prompt);                         // [..., B, Q, 1]
  return (scores * scale_).clamp(-kClampMax, kClampMax);
}

DetectionOutput finalize_detections(TransformerDecoderImpl& decoder, DotProductScoringImpl& scorer,
                                    const DecoderOutput& dec, const torch::Tensor& prompt,
                                    const torch::Tensor& prompt_mask) {
  DetectionOutput o;
  auto hs = dec.hs.select(0, dec.hs.size(0) - 1);
  auto ref = dec.ref_boxes.select(0, dec.ref_boxes.size(0) - 1);
  o.queries = hs;
  o.pred_logits = scorer.forward(hs, prompt, prompt_mask);
  o.pred_boxes = decoder.predict_boxes(hs, ref);
  o.pred_boxes_xyxy = box_cxcywh_to_xyxy(o.pred_boxes);
  o.presence_logit_dec = dec.presence_logits.select(0, dec.presence_logits.size(0) - 1);
  return o;
}

}  // namespace sam3::core
