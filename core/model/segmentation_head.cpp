// SPDX-License-Identifier: Apache-2.0
#include "core/model/segmentation_head.h"

#include "core/errors.h"

namespace sam3::core {
namespace {
constexpr int64_t kGroupNormGroups = 8;  // hard-coded in PixelDecoder
constexpr int64_t kUpsamplingStages = 3;
}  // namespace

PixelDecoderImpl::PixelDecoderImpl(int64_t hidden_dim, int64_t num_stages) {
  conv_layers = register_module("conv_layers", torch::nn::ModuleList());
  norms = register_module("norms", torch::nn::ModuleList());
  for (int64_t i = 0; i < num_stages; ++i) {
    conv_layers->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden_dim, hidden_dim, 3).padding(1)));
    norms->push_back(torch::nn::GroupNorm(torch::nn::GroupNormOptions(kGroupNormGroups, hidden_dim)));
  }
}

torch::Tensor PixelDecoderImpl::forward(const std::vector<torch::Tensor>& feats) {
  namespace F = torch::nn::functional;
  const int64_t stages = static_cast<int64_t>(feats.size()) - 1;
  if (stages < 1 || stages > static_cast<int64_t>(conv_layers->size()))
    throw InvalidInput("pixel decoder: expected 2.." + std::to_string(conv_layers->size() + 1) +
                       " feature levels, got " + std::to_string(feats.size()));
  auto prev = feats.back();
  for (int64_t s = 0; s < stages; ++s) {
    const auto& cur = feats[static_cast<size_t>(stages - 1 - s)];
    auto up = F::interpolate(prev, F::InterpolateFuncOptions()
                                       .size(std::vector<int64_t>{cur.size(-2), cur.size(-1)})
                                       .mode(torch::kNearest));
    prev = conv_layers[s]->as<torch::nn::Conv2d>()->forward(cur + up);
    prev = torch::relu(norms[s]->as<torch::nn::GroupNorm>()->forward(prev));
  }
  return prev;
}

MaskPredictorImpl::MaskPredictorImpl(int64_t hidden_dim) {
  mask_embed = register_module("mask_embed", Mlp(MlpOptions{hidden_dim, hidden_dim, hidden_dim, 3}));
}

torch::Tensor MaskPredictorImpl::forward(const torch::Tensor& queries, const torch::Tensor& pixel_embed) {
  return torch::einsum("bqc,bchw->bqhw", {mask_embed->forward(queries), pixel_embed});
}

UniversalSegmentationHeadImpl::UniversalSegmentationHeadImpl(const Sam3Config& cfg) : d_model_(cfg.d_model) {
  const int64_t d = cfg.d_model;
  pixel_decoder = register_module("pixel_decoder", PixelDecoder(d, kUpsamplingStages));
  mask_predictor = register_module("mask_predictor", MaskPredictor(d));
  cross_attend_prompt = register_module("cross_attend_prompt", MultiheadAttention(d, cfg.mask_head_heads));
  cross_attn_norm = register_module("cross_attn_norm", make_layer_norm(d));
  semantic_seg_head = register_module("semantic_seg_head", torch::nn::Conv2d(torch::nn::Conv2dOptions(d, 1, 1)));
  instance_seg_head = register_module("instance_seg_head", torch::nn::Conv2d(torch::nn::Conv2dOptions(d, d, 1)));
}

SegmentationOutput UniversalSegmentationHeadImpl::forward(const std::vector<torch::Tensor>& backbone_fpn,
                                                          const torch::Tensor& queries, const torch::Tensor& memory,
                                                          const torch::Tensor& prompt,
                                                          const torch::Tensor& prompt_mask) {
  if (backbone_fpn.size() < 2)
    throw InvalidInput("segmentation head: expected at least 2 backbone levels, got " +
                       std::to_string(backbone_fpn.size()));
  const auto& last = backbone_fpn.back();
  const int64_t H = last.size(-2), W = last.size(-1);
  if (memory.dim() != 3 || memory.size(0) != H * W || memory.size(2) != d_model_)
    throw InvalidInput("segmentation head: expected memory [" + std::to_string(H * W) + ", B, " +
                       std::to_string(d_model_) + "] (seq-first, the coarsest level's " + std::to_string(H) + "x" +
                       std::to_string(W) + " grid), got " + c10::str(memory.sizes()));
  const int64_t B = memory.size(1);
  auto q = queries.dim() == 4 ? queries.select(0, queries.size(0) - 1) : queries;
  if (q.dim() != 3 || q.size(0) != B || q.size(2) != d_model_)
    throw InvalidInput("segmentation head: expected queries [" + std::to_string(B) + ", Q, " +
                       std::to_string(d_model_) + "], got " + c10::str(queries.sizes()));

  SegmentationOutput out;
  // Residual prompt cross-attention on the encoder memory (no positional terms).
  auto mem = memory.transpose(0, 1);  // [B, HW, C]
  auto attn = cross_attend_prompt->forward(cross_attn_norm->forward(mem), prompt.transpose(0, 1),
                                           prompt.transpose(0, 1), prompt_mask.to(torch::kBool));
  mem = mem + attn;
  out.encoder_after_xattn = mem.transpose(0, 1);

  // The encoder memory replaces the coarsest level (trap 13); a new vector, so
  // the caller's cached levels are never written.
  std::vector<torch::Tensor> feats(backbone_fpn.begin(), backbone_fpn.end() - 1);
  feats.push_back(mem.transpose(1, 2).reshape({B, d_model_, H, W}));
  out.pixel_embed = pixel_decoder->forward(feats);

  auto inst = instance_seg_head->forward(out.pixel_embed);
  out.pred_masks = mask_predictor->forward(q, inst);
  out.semantic_seg = semantic_seg_head->forward(out.pixel_embed);
  return out;
}

}  // namespace sam3::core
