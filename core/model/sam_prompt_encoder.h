// SPDX-License-Identifier: Apache-2.0
// The SAM-1-style prompt encoder of the tracker / interactive head
// (reference: sam3/sam/prompt_encoder.py, sam3/sam/common.py LayerNorm2d).
// Parameter names mirror the reference (`tracker.sam_prompt_encoder.*`).
// Inference only; modules are immutable after loading and may be shared by
// threads (forward does not mutate them).
#pragma once

#include <cstdint>
#include <utility>

#include "core/torch.h"

namespace sam3::core {

// LayerNorm over channels of an NCHW map (SAM's LayerNorm2d): per-pixel mean
// and biased variance, (x-u)/sqrt(s+eps)*w + b, eps 1e-6. Params: weight, bias.
class SamLayerNorm2dImpl : public torch::nn::Module {
public:
  explicit SamLayerNorm2dImpl(int64_t channels, double eps = 1e-6);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;

private:
  double eps_;
};
TORCH_MODULE(SamLayerNorm2d);

// Random-Fourier position encoding. Buffer positional_encoding_gaussian_matrix
// [2, F] (random at init in the reference: must be loaded). Output 2F channels:
// [sin(2pi (2u-1) G), cos(...)], u = (x, y) normalised to [0, 1].
class SamPositionEmbeddingRandomImpl : public torch::nn::Module {
public:
  explicit SamPositionEmbeddingRandomImpl(int64_t num_pos_feats);
  // Dense grid encoding at cell centres: [2F, h, w].
  torch::Tensor forward(int64_t h, int64_t w);
  // coords [B, N, 2] in pixels (x, y) of an image of (image_h, image_w) -> [B, N, 2F].
  torch::Tensor forward_with_coords(const torch::Tensor& coords, int64_t image_h, int64_t image_w);
  // coords already in [0, 1] -> [..., 2F].
  torch::Tensor encode(const torch::Tensor& coords01);

  torch::Tensor positional_encoding_gaussian_matrix;
};
TORCH_MODULE(SamPositionEmbeddingRandom);

struct SamPromptEncoderOptions {
  int64_t embed_dim = 256;
  int64_t image_embedding_size = 72;  // grid (square), image_size / backbone_stride
  int64_t input_image_size = 1008;    // square
  int64_t mask_in_chans = 16;
};

// PromptEncoder: point_embeddings.{0..3} (neg, pos, box TL, box BR),
// not_a_point_embed, no_mask_embed, mask_downscaling (Conv 1->c/4 k2s2, LN2d,
// GELU, Conv c/4->c k2s2, LN2d, GELU, Conv1x1 c->D) and pe_layer.
class SamPromptEncoderImpl : public torch::nn::Module {
public:
  explicit SamPromptEncoderImpl(const SamPromptEncoderOptions& o);

  // points: coords [B, N, 2] float in input-image pixels (x, y), labels [B, N]
  //   int (1 fg, 0 bg, 2 box TL, 3 box BR, -1 padding); may be undefined.
  //   A padding point (0,0)/-1 is always appended (the reference never passes
  //   boxes separately, so pad = true whenever points are given).
  // masks: [B, 1, 4*grid, 4*grid] mask logits or undefined.
  // Returns {sparse [B, N+1, D] (or [B, 0, D] with no points), dense [B, D, grid, grid]}.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& coords, const torch::Tensor& labels,
                                                  const torch::Tensor& masks);

  // The dense image PE [1, D, grid, grid] (get_dense_pe()).
  torch::Tensor get_dense_pe();

  const SamPromptEncoderOptions& options() const { return o_; }
  int64_t mask_input_size() const { return 4 * o_.image_embedding_size; }

  SamPositionEmbeddingRandom pe_layer{nullptr};
  torch::nn::ModuleList point_embeddings{nullptr};
  torch::nn::Embedding not_a_point_embed{nullptr};
  torch::nn::Sequential mask_downscaling{nullptr};
  torch::nn::Embedding no_mask_embed{nullptr};

private:
  torch::Tensor embed_points(const torch::Tensor& coords, const torch::Tensor& labels);
  SamPromptEncoderOptions o_;
};
TORCH_MODULE(SamPromptEncoder);

}  // namespace sam3::core
