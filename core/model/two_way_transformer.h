// SPDX-License-Identifier: Apache-2.0
// SAM's attention blocks (reference: sam3/sam/transformer.py): the
// down-projecting Attention (q_proj/k_proj/v_proj/out_proj), the RoPE variant
// used by the tracker's memory attention, and the TwoWayTransformer of the SAM
// mask decoder. All batch-first: [B, N, C]. Inference only; forward does not
// mutate the modules (the RoPE table is recomputed per call, it is cheap).
#pragma once

#include <cstdint>
#include <utility>

#include "core/torch.h"

namespace sam3::core {

// Attention with q/k/v projected to embedding_dim / downsample_rate, split in
// num_heads, softmax(q k^T / sqrt(head_dim)) v, then out_proj back.
// k_proj/v_proj take kv_in_dim inputs (default embedding_dim).
struct SamAttentionOptions {
  int64_t embedding_dim = 256;
  int64_t num_heads = 8;
  int64_t downsample_rate = 1;
  int64_t kv_in_dim = -1;  // -1: embedding_dim
};

class SamAttentionImpl : public torch::nn::Module {
public:
  explicit SamAttentionImpl(const SamAttentionOptions& o);
  // q [B, Nq, E], k/v [B, Nk, kv_in] -> [B, Nq, E].
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
  int64_t num_heads() const { return o_.num_heads; }
  int64_t internal_dim() const { return o_.embedding_dim / o_.downsample_rate; }

protected:
  // Projects and splits: [B, H, N, d].
  torch::Tensor separate_heads(const torch::Tensor& x) const;
  torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);
  SamAttentionOptions o_;
};
TORCH_MODULE(SamAttention);

// 2-D axial RoPE table as (cos, sin), each [end_x*end_y, head_dim/2] float32:
// token n has x = n mod end_x, y = n div end_x; the first head_dim/4 complex
// factors use x, the rest y; frequencies 1/theta^(4i/head_dim)
// (reference: sam3/sam/rope.py compute_axial_cis).
std::pair<torch::Tensor, torch::Tensor> sam_axial_rope_table(int64_t head_dim, int64_t end_x, int64_t end_y,
                                                             double theta, const torch::Device& device);

// Rotates adjacent channel pairs (2j, 2j+1) of x [B, H, N, d] by the table
// (cos/sin [N, d/2]); computed in float32, cast back to x's dtype.
torch::Tensor sam_apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// RoPEAttention (memory attention): RoPE on q and on the first
// Nk - num_k_exclude_rope keys; with rope_k_repeat the table (built for the
// square query grid) is tiled over the keys (one copy per memory frame).
struct SamRoPEAttentionOptions {
  SamAttentionOptions attn;
  double rope_theta = 10000.0;
  bool rope_k_repeat = false;
};

class SamRoPEAttentionImpl : public SamAttentionImpl {
public:
  explicit SamRoPEAttentionImpl(const SamRoPEAttentionOptions& o);
  // q [B, Nq, E] (Nq must be a square grid), k/v [B, Nk, kv_in].
  torch::Tensor forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        int64_t num_k_exclude_rope = 0);

private:
  double theta_;
  bool k_repeat_;
};
TORCH_MODULE(SamRoPEAttention);

// MLPBlock: lin1 -> ReLU -> lin2 (names lin1, lin2).
class SamMlpBlockImpl : public torch::nn::Module {
public:
  SamMlpBlockImpl(int64_t dim, int64_t mlp_dim);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear lin1{nullptr}, lin2{nullptr};
};
TORCH_MODULE(SamMlpBlock);

struct TwoWayTransformerOptions {
  int64_t depth = 2;
  int64_t embedding_dim = 256;
  int64_t num_heads = 8;
  int64_t mlp_dim = 2048;
  int64_t attention_downsample_rate = 2;
};

// One block: self-attn on tokens (layer 0: no PE and no residual), token->image
// cross-attn, MLP, image->token cross-attn; post-norms norm1..norm4.
class TwoWayAttentionBlockImpl : public torch::nn::Module {
public:
  TwoWayAttentionBlockImpl(const TwoWayTransformerOptions& o, bool skip_first_layer_pe);
  // queries [B, Nt, C], keys [B, HW, C] -> updated (queries, keys).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& queries, const torch::Tensor& keys,
                                                  const torch::Tensor& query_pe, const torch::Tensor& key_pe);

  SamAttention self_attn{nullptr}, cross_attn_token_to_image{nullptr}, cross_attn_image_to_token{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr}, norm4{nullptr};
  SamMlpBlock mlp{nullptr};

private:
  bool skip_first_layer_pe_;
};
TORCH_MODULE(TwoWayAttentionBlock);

class TwoWayTransformerImpl : public torch::nn::Module {
public:
  explicit TwoWayTransformerImpl(const TwoWayTransformerOptions& o);
  // image_embedding [B, C, h, w], image_pe [B, C, h, w], point_embedding [B, Nt, C]
  // -> {queries [B, Nt, C], keys [B, h*w, C]}.
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& image_embedding,
                                                  const torch::Tensor& image_pe,
                                                  const torch::Tensor& point_embedding);

  torch::nn::ModuleList layers{nullptr};
  SamAttention final_attn_token_to_image{nullptr};
  torch::nn::LayerNorm norm_final_attn{nullptr};
};
TORCH_MODULE(TwoWayTransformer);

}  // namespace sam3::core
