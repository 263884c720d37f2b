// SPDX-License-Identifier: Apache-2.0
#include "core/model/sam_mask_decoder.h"

namespace sam3::core {

torch::Tensor sam_stability_scores(const torch::Tensor& mask_logits, double delta) {
  auto flat = mask_logits.flatten(-2);
  auto area_i = (flat > delta).sum(-1).to(torch::kFloat32);
  auto area_u = (flat > -delta).sum(-1).to(torch::kFloat32);
  return torch::where(area_u > 0, area_i / area_u, torch::ones_like(area_u));
}

SamMaskDecoderImpl::SamMaskDecoderImpl(const SamMaskDecoderOptions& o)
    : o_(o), num_mask_tokens_(o.num_multimask_outputs + 1) {
  const int64_t C = o.transformer_dim;
  TORCH_CHECK(o.transformer.embedding_dim == C, "SamMaskDecoder: transformer width ", o.transformer.embedding_dim,
              " differs from transformer_dim ", C);
  TORCH_CHECK(C % 8 == 0, "SamMaskDecoder: transformer_dim ", C, " must be a multiple of 8");
  namespace nn = torch::nn;
  transformer = register_module("transformer", TwoWayTransformer(o.transformer));
  iou_token = register_module("iou_token", nn::Embedding(1, C));
  mask_tokens = register_module("mask_tokens", nn::Embedding(num_mask_tokens_, C));
  if (o.pred_obj_scores) obj_score_token = register_module("obj_score_token", nn::Embedding(1, C));

  dc1_ = nn::ConvTranspose2d(nn::ConvTranspose2dOptions(C, C / 4, 2).stride(2));
  ln1_ = SamLayerNorm2d(C / 4);
  dc2_ = nn::ConvTranspose2d(nn::ConvTranspose2dOptions(C / 4, C / 8, 2).stride(2));
  output_upscaling = register_module("output_upscaling", nn::Sequential(dc1_, ln1_, nn::GELU(), dc2_, nn::GELU()));
  if (o.use_high_res_features) {
    conv_s0 = register_module("conv_s0", nn::Conv2d(nn::Conv2dOptions(C, C / 8, 1)));
    conv_s1 = register_module("conv_s1", nn::Conv2d(nn::Conv2dOptions(C, C / 4, 1)));
  }
  output_hypernetworks_mlps = register_module("output_hypernetworks_mlps", nn::ModuleList());
  for (int64_t i = 0; i < num_mask_tokens_; ++i)
    output_hypernetworks_mlps->push_back(Mlp(MlpOptions{C, C, C / 8, 3}));
  MlpOptions iou_o{C, o.iou_head_hidden_dim, num_mask_tokens_, o.iou_head_depth};
  iou_o.sigmoid_output = o.iou_prediction_use_sigmoid;
  iou_prediction_head = register_module("iou_prediction_head", Mlp(iou_o));
  if (o.pred_obj_scores) {
    if (o.pred_obj_scores_mlp)
      pred_obj_score_head = register_module("pred_obj_score_head", Mlp(MlpOptions{C, C, 1, 3}));
    else
      pred_obj_score_linear = register_module("pred_obj_score_head", nn::Linear(C, 1));
  }
}

SamMaskDecoderOutput SamMaskDecoderImpl::predict_masks(const torch::Tensor& image_embeddings,
                                                       const torch::Tensor& image_pe,
                                                       const torch::Tensor& sparse, const torch::Tensor& dense,
                                                       bool repeat_image,
                                                       const std::vector<torch::Tensor>& high_res_features) {
  int64_t s = 0;
  torch::Tensor output_tokens;
  if (o_.pred_obj_scores) {
    output_tokens = torch::cat({obj_score_token->weight, iou_token->weight, mask_tokens->weight}, 0);
    s = 1;
  } else {
    output_tokens = torch::cat({iou_token->weight, mask_tokens->weight}, 0);
  }
  const int64_t B = sparse.size(0);
  output_tokens = output_tokens.unsqueeze(0).expand({B, -1, -1}).to(sparse.scalar_type());
  auto tokens = torch::cat({output_tokens, sparse}, 1);

  torch::Tensor src;
  if (repeat_image) {
    src = torch::repeat_interleave(image_embeddings, B, 0);
  } else {
    TORCH_CHECK(image_embeddings.size(0) == B, "SamMaskDecoder: ", image_embeddings.size(0),
                " images for a prompt batch of ", B, " without repeat_image");
    src = image_embeddings;
  }
  src = src + dense;
  TORCH_CHECK(image_pe.size(0) == 1, "SamMaskDecoder: image_pe must have batch 1, got ", image_pe.sizes());
  auto pos_src = torch::repeat_interleave(image_pe, B, 0);
  const int64_t b = src.size(0), c = src.size(1), h = src.size(2), w = src.size(3);

  auto [hs, keys] = transformer->forward(src, pos_src, tokens);
  auto iou_token_out = hs.select(1, s);
  auto mask_tokens_out = hs.slice(1, s + 1, s + 1 + num_mask_tokens_);

  auto src_map = keys.transpose(1, 2).reshape({b, c, h, w});
  torch::Tensor up;
  if (!o_.use_high_res_features) {
    up = output_upscaling->forward(src_map);
  } else {
    TORCH_CHECK(high_res_features.size() == 2, "SamMaskDecoder: expected 2 high-res feature maps, got ",
                high_res_features.size());
    const auto& feat_s0 = high_res_features[0];
    const auto& feat_s1 = high_res_features[1];
    up = torch::gelu(ln1_->forward(dc1_->forward(src_map) + feat_s1));
    up = torch::gelu(dc2_->forward(up) + feat_s0);
  }
  std::vector<torch::Tensor> hyper;
  for (int64_t i = 0; i < num_mask_tokens_; ++i)
    hyper.push_back(output_hypernetworks_mlps[i]->as<Mlp>()->forward(mask_tokens_out.select(1, i)));
  auto hyper_in = torch::stack(hyper, 1);
  const int64_t ub = up.size(0), uc = up.size(1), uh = up.size(2), uw = up.size(3);
  auto masks = torch::matmul(hyper_in, up.reshape({ub, uc, uh * uw})).reshape({ub, -1, uh, uw});

  SamMaskDecoderOutput out;
  out.masks = masks;
  out.iou_pred = iou_prediction_head->forward(iou_token_out);
  out.sam_tokens_out = mask_tokens_out;
  if (o_.pred_obj_scores) {
    auto t0 = hs.select(1, 0);
    out.object_score_logits =
        o_.pred_obj_scores_mlp ? pred_obj_score_head->forward(t0) : pred_obj_score_linear->forward(t0);
  } else {
    out.object_score_logits = 10.0 * torch::ones({out.iou_pred.size(0), 1}, out.iou_pred.options());
  }
  return out;
}

SamMaskDecoderOutput SamMaskDecoderImpl::forward(const torch::Tensor& image_embeddings,
                                                 const torch::Tensor& image_pe, const torch::Tensor& sparse,
                                                 const torch::Tensor& dense, bool multimask_output,
                                                 bool repeat_image,
                                                 const std::vector<torch::Tensor>& high_res_features) {
  auto all = predict_masks(image_embeddings, image_pe, sparse, dense, repeat_image, high_res_features);
  SamMaskDecoderOutput out;
  out.object_score_logits = all.object_score_logits;
  if (multimask_output) {
    out.masks = all.masks.slice(1, 1);
    out.iou_pred = all.iou_pred.slice(1, 1);
  } else if (o_.dynamic_multimask_via_stability) {
    // Token 0 unless unstable; then the best-IoU (first maximum) of tokens 1..3.
    auto multi_masks = all.masks.slice(1, 1);
    auto multi_iou = all.iou_pred.slice(1, 1);
    auto best = torch::argmax(multi_iou, -1);
    auto batch = torch::arange(multi_iou.size(0), best.options());
    auto best_masks = multi_masks.index({batch, best}).unsqueeze(1);
    auto best_iou = multi_iou.index({batch, best}).unsqueeze(1);
    auto single_masks = all.masks.slice(1, 0, 1);
    auto single_iou = all.iou_pred.slice(1, 0, 1);
    auto stable = sam_stability_scores(single_masks, o_.dynamic_multimask_stability_delta) >=
                  o_.dynamic_multimask_stability_thresh;  // [B, 1]
    out.masks = torch::where(stable.unsqueeze(-1).unsqueeze(-1).expand_as(single_masks), single_masks, best_masks);
    out.iou_pred = torch::where(stable.expand_as(single_iou), single_iou, best_iou);
  } else {
    out.masks = all.masks.slice(1, 0, 1);
    out.iou_pred = all.iou_pred.slice(1, 0, 1);
  }
  out.sam_tokens_out = (multimask_output && o_.use_multimask_token_for_obj_ptr) ? all.sam_tokens_out.slice(1, 1)
                                                                                 : all.sam_tokens_out.slice(1, 0, 1);
  return out;
}

}  // namespace sam3::core
