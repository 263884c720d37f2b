// SPDX-License-Identifier: Apache-2.0
// The detector's mask head (reference: maskformer_segmentation.py,
// UniversalSegmentationHead with PixelDecoder and MaskPredictor, as built by
// build_sam3_image_model): the encoder memory, after a residual cross-attention
// to the prompt, replaces the coarsest used backbone level; a nearest-upsampling
// FPN pixel decoder (conv 3x3 + GroupNorm(8) + ReLU per stage) produces the
// pixel embedding; masks are the dot products of per-query mask embeddings with
// the instance embedding at every pixel.
//
// Parameter names (checkpoint prefix "detector.segmentation_head."):
// pixel_decoder.conv_layers.N, pixel_decoder.norms.N, mask_predictor.mask_embed,
// cross_attend_prompt, cross_attn_norm, instance_seg_head, semantic_seg_head.
//
// Thread-safety: forward() does not modify the module or its inputs (the cached
// backbone features stay untouched across prompts, trap 16).
#pragma once

#include <vector>

#include "core/model/attention.h"
#include "core/model/config.h"
#include "core/torch.h"

namespace sam3::core {

// PixelDecoder(hidden, 3 stages, nearest). With 3 levels only stages 0 and 1
// run; stage 2's weights exist in the checkpoint but are unused.
class PixelDecoderImpl : public torch::nn::Module {
public:
  PixelDecoderImpl(int64_t hidden_dim, int64_t num_stages);
  // feats: finest -> coarsest, each [B_i, C, H_i, W_i] (batch 1 broadcasts).
  // Returns the finest-resolution embedding [B, C, H_0, W_0].
  torch::Tensor forward(const std::vector<torch::Tensor>& feats);

  torch::nn::ModuleList conv_layers{nullptr}, norms{nullptr};
};
TORCH_MODULE(PixelDecoder);

// MaskPredictor: mask_embed = MLP(hidden, hidden, hidden, 3).
class MaskPredictorImpl : public torch::nn::Module {
public:
  explicit MaskPredictorImpl(int64_t hidden_dim);
  // queries [B, Q, C], pixel_embed [B, C, H, W] -> mask logits [B, Q, H, W].
  torch::Tensor forward(const torch::Tensor& queries, const torch::Tensor& pixel_embed);

  Mlp mask_embed{nullptr};
};
TORCH_MODULE(MaskPredictor);

struct SegmentationOutput {
  torch::Tensor pred_masks;         // [B, Q, H_0, W_0] mask LOGITS (H_0 = 4 x encoder grid)
  torch::Tensor semantic_seg;       // [B, 1, H_0, W_0] (unused by the processor)
  torch::Tensor pixel_embed;        // [B, C, H_0, W_0] pixel decoder output
  torch::Tensor encoder_after_xattn;  // [HW, B, C] seq-first memory + prompt cross-attention
};

class UniversalSegmentationHeadImpl : public torch::nn::Module {
public:
  explicit UniversalSegmentationHeadImpl(const Sam3Config& cfg);

  // backbone_fpn  the neck levels kept after scalp, finest -> coarsest, each
  //               [1 or B, C, H_i, W_i] (e.g. 4G, 2G, G). They are only read:
  //               the last one is REPLACED (not modified) by the encoder memory.
  // queries       [B, Q, C] last-layer decoder outputs (batch-first, normed hs[L-1]);
  //               [L, B, Q, C] is accepted too and its last layer is used.
  // memory        [HW, B, C] seq-first fusion-encoder output, HW = H x W of the last level
  // prompt        [Lp, B, C] seq-first pre-encoder prompt; prompt_mask [B, Lp] bool, true = padding
  SegmentationOutput forward(const std::vector<torch::Tensor>& backbone_fpn, const torch::Tensor& queries,
                             const torch::Tensor& memory, const torch::Tensor& prompt,
                             const torch::Tensor& prompt_mask);

  PixelDecoder pixel_decoder{nullptr};
  MaskPredictor mask_predictor{nullptr};
  MultiheadAttention cross_attend_prompt{nullptr};
  torch::nn::LayerNorm cross_attn_norm{nullptr};
  torch::nn::Conv2d instance_seg_head{nullptr}, semantic_seg_head{nullptr};

private:
  int64_t d_model_;
};
TORCH_MODULE(UniversalSegmentationHead);

}  // namespace sam3::core
