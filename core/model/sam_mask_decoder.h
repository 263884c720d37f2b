// SPDX-License-Identifier: Apache-2.0
// The SAM mask decoder as the tracker builds it (reference:
// sam3/sam/mask_decoder.py; Sam3TrackerBase._build_sam_heads): 3 multimask
// outputs + 1 single-mask token, IoU head with sigmoid, object-score token and
// MLP head, high-resolution skips conv_s0/conv_s1, dynamic multimask via
// stability. Parameter names mirror `tracker.sam_mask_decoder.*`.
// Inference only; forward does not mutate the module.
#pragma once

#include <cstdint>
#include <vector>

#include "core/model/attention.h"
#include "core/model/sam_prompt_encoder.h"
#include "core/model/two_way_transformer.h"
#include "core/torch.h"

namespace sam3::core {

struct SamMaskDecoderOptions {
  int64_t transformer_dim = 256;
  TwoWayTransformerOptions transformer;  // embedding_dim must equal transformer_dim
  int64_t num_multimask_outputs = 3;
  int64_t iou_head_depth = 3;
  int64_t iou_head_hidden_dim = 256;
  bool use_high_res_features = true;
  bool iou_prediction_use_sigmoid = true;
  bool pred_obj_scores = true;
  bool pred_obj_scores_mlp = true;
  bool use_multimask_token_for_obj_ptr = true;
  bool dynamic_multimask_via_stability = true;
  double dynamic_multimask_stability_delta = 0.05;
  double dynamic_multimask_stability_thresh = 0.98;
};

struct SamMaskDecoderOutput {
  torch::Tensor masks;               // [B, M, 4h, 4w] logits (M = 3 multimask, else 1)
  torch::Tensor iou_pred;            // [B, M]
  torch::Tensor sam_tokens_out;      // [B, M', C]: tokens 1..3 (multimask) or token 0
  torch::Tensor object_score_logits; // [B, 1]
};

// Stability score of mask logits [..., H, W] -> [...]:
// area(logit > delta) / area(logit > -delta), 1 where the union is empty.
torch::Tensor sam_stability_scores(const torch::Tensor& mask_logits, double delta);

class SamMaskDecoderImpl : public torch::nn::Module {
public:
  explicit SamMaskDecoderImpl(const SamMaskDecoderOptions& o);

  // image_embeddings [B or 1, C, h, w] (repeat_image: repeated to the prompt
  // batch), image_pe [1, C, h, w], sparse [B, N, C], dense [B, C, h, w],
  // high_res_features {S0 [B, C/8, 4h, 4w], S1 [B, C/4, 2h, 2w]} (already
  // projected by conv_s0/conv_s1; required when use_high_res_features).
  // Single-mask output with dynamic_multimask_via_stability replaces token 0's
  // mask/IoU by the best-IoU multimask one when token 0 is unstable.
  SamMaskDecoderOutput forward(const torch::Tensor& image_embeddings, const torch::Tensor& image_pe,
                               const torch::Tensor& sparse_prompt_embeddings,
                               const torch::Tensor& dense_prompt_embeddings, bool multimask_output,
                               bool repeat_image, const std::vector<torch::Tensor>& high_res_features);

  // predict_masks: all num_mask_tokens masks [B, 4, 4h, 4w], iou [B, 4],
  // mask tokens [B, 4, C], object score logits [B, 1].
  SamMaskDecoderOutput predict_masks(const torch::Tensor& image_embeddings, const torch::Tensor& image_pe,
                                     const torch::Tensor& sparse_prompt_embeddings,
                                     const torch::Tensor& dense_prompt_embeddings, bool repeat_image,
                                     const std::vector<torch::Tensor>& high_res_features);

  const SamMaskDecoderOptions& options() const { return o_; }

  TwoWayTransformer transformer{nullptr};
  torch::nn::Embedding iou_token{nullptr}, mask_tokens{nullptr}, obj_score_token{nullptr};
  torch::nn::Sequential output_upscaling{nullptr};
  torch::nn::Conv2d conv_s0{nullptr}, conv_s1{nullptr};
  torch::nn::ModuleList output_hypernetworks_mlps{nullptr};
  Mlp iou_prediction_head{nullptr};
  Mlp pred_obj_score_head{nullptr};                 // when pred_obj_scores_mlp
  torch::nn::Linear pred_obj_score_linear{nullptr}; // registered as pred_obj_score_head otherwise

private:
  SamMaskDecoderOptions o_;
  int64_t num_mask_tokens_;
  // Typed views into output_upscaling (registered only through the Sequential).
  torch::nn::ConvTranspose2d dc1_{nullptr}, dc2_{nullptr};
  SamLayerNorm2d ln1_{nullptr};
};
TORCH_MODULE(SamMaskDecoder);

}  // namespace sam3::core
