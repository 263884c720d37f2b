// SPDX-License-Identifier: Apache-2.0
// The ViTDet trunk of SAM 3 (reference: sam3/model/vitdet.py, class ViT):
// 14x14 patch embedding (no bias), tiled absolute position embedding, ln_pre,
// then blocks of windowed or global attention with 2-D axial RoPE and an exact
// GELU MLP. Parameter names mirror the reference (patch_embed.proj, pos_embed,
// ln_pre, blocks.N.{norm1, attn.{qkv, proj, freqs_cis}, norm2, mlp.{fc1, fc2}}).
//
// Memory: global blocks attend over G*G tokens (5184 at 1008 px); attention
// goes through core::scaled_dot_product_attention, which never materialises
// more than attention_budget_bytes() of scores at once.
//
// Thread-safety: forward() does not modify the module; several threads may run
// it concurrently on one instance.
#pragma once

#include <vector>

#include "core/model/config.h"
#include "core/torch.h"

namespace sam3::core {

// 2-D axial RoPE table as real [end_x*end_y, head_dim/2, 2] = (cos, sin) of the
// reference's compute_axial_cis (complex polar form). Token n sits at column
// n % end_x and row n / end_x, both multiplied by scale_pos; the first
// head_dim/4 pairs rotate with the column, the last head_dim/4 with the row.
// Computed in float32 with the reference's op order (bit-compatible).
torch::Tensor compute_axial_rope(int64_t head_dim, int64_t end_x, int64_t end_y, double theta,
                                 double scale_pos);

// Rotates adjacent channel pairs (2i, 2i+1) of x [..., L, D] by the table
// freqs [L, D/2, 2] (complex multiply), in float32; returns x's dtype.
torch::Tensor apply_axial_rope(const torch::Tensor& x, const torch::Tensor& freqs);

// patch_embed: Conv2d(3 -> C, k = s = patch) with `proj` as the only child.
class PatchEmbedImpl : public torch::nn::Module {
public:
  PatchEmbedImpl(int64_t patch_size, int64_t embed_dim, bool bias);
  torch::Tensor forward(const torch::Tensor& x);  // [B,3,R,R] -> [B,G,G,C] (channels last)
  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

// Multi-head self-attention with RoPE on q and k. Input [B, H, W, C] with
// H*W equal to the RoPE table length (a window or the full grid).
class VitAttentionImpl : public torch::nn::Module {
public:
  // rope_grid: side of the token grid this block sees; rope_scale: the
  // interpolation factor applied to positions (window / grid on global blocks).
  VitAttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias, int64_t rope_grid, double rope_scale,
                   double rope_theta);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear qkv{nullptr}, proj{nullptr};
  // Real view of the reference's complex buffer: [grid*grid, head_dim/2, 2].
  // Filled from the config at construction; the checkpoint copy overwrites it
  // with (normally) the same values. Keep it float32 (run bf16 through
  // autocast, not module->to(kBFloat16)): the reference's complex64 buffer is
  // never cast, and bf16 angles would be visibly off on the 5184-token grid.
  torch::Tensor freqs_cis;

private:
  int64_t num_heads_, head_dim_;
};
TORCH_MODULE(VitAttention);

// timm Mlp: fc1 -> exact GELU -> fc2.
class VitMlpImpl : public torch::nn::Module {
public:
  VitMlpImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(VitMlp);

// Pre-norm block; window_size 0 = global attention over the whole grid.
class VitBlockImpl : public torch::nn::Module {
public:
  VitBlockImpl(const VitConfig& cfg, int64_t window_size);
  torch::Tensor forward(const torch::Tensor& x);  // [B,G,G,C] -> [B,G,G,C]
  int64_t window_size() const { return window_size_; }

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
  VitAttention attn{nullptr};
  VitMlp mlp{nullptr};

private:
  int64_t window_size_;
};
TORCH_MODULE(VitBlock);

// Intermediate activations for parity tests (all channels-last [B,G,G,C]).
struct VitTrace {
  torch::Tensor patch_embed;         // patch embedding output
  torch::Tensor ln_pre;              // after the tiled abs pos add and ln_pre
  std::vector<torch::Tensor> blocks; // output of every block that ran
};

class ViTImpl : public torch::nn::Module {
public:
  explicit ViTImpl(const VitConfig& cfg);

  // x [B, 3, img_size, img_size] -> [B, C, G, G], the output of the last
  // global block (= the last block; the config validates that). When `trace`
  // is given, intermediate activations are stored into it.
  // \throws InvalidInput when x is not [B, 3, img_size, img_size].
  torch::Tensor forward(const torch::Tensor& x, VitTrace* trace = nullptr);

  // The tiled absolute position embedding for a G x G grid: [1, G, G, C].
  torch::Tensor abs_pos(int64_t grid_h, int64_t grid_w) const;

  const VitConfig& config() const { return cfg_; }

  PatchEmbed patch_embed{nullptr};
  torch::Tensor pos_embed;  // [1, (1 +) P*P, C]; the cls row is ignored
  torch::nn::LayerNorm ln_pre{nullptr};
  torch::nn::ModuleList blocks{nullptr};

private:
  VitConfig cfg_;
  std::vector<VitBlock> block_list_;  // typed handles to `blocks`
};
TORCH_MODULE(ViT);

}  // namespace sam3::core
