// SPDX-License-Identifier: Apache-2.0
#include "core/model/vit_backbone.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/errors.h"
#include "core/model/attention.h"

namespace sam3::core {
namespace {

constexpr double kLayerNormEps = 1e-5;  // explicit in the reference ViT (trap 4)

// [B, H, W, C] -> [B * nW, ws, ws, C], zero-padding H and W up to multiples of ws.
torch::Tensor window_partition(const torch::Tensor& x, int64_t ws) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const int64_t pad_h = (ws - H % ws) % ws, pad_w = (ws - W % ws) % ws;
  auto xp = x;
  if (pad_h > 0 || pad_w > 0) xp = torch::constant_pad_nd(x, {0, 0, 0, pad_w, 0, pad_h});
  const int64_t Hp = H + pad_h, Wp = W + pad_w;
  // Window order: row-major over the window grid, tokens row-major inside.
  return xp.view({B, Hp / ws, ws, Wp / ws, ws, C}).permute({0, 1, 3, 2, 4, 5}).reshape({-1, ws, ws, C});
}

// Inverse of window_partition; crops the padding.
torch::Tensor window_unpartition(const torch::Tensor& w, int64_t ws, int64_t H, int64_t W) {
  const int64_t Hp = (H + ws - 1) / ws * ws, Wp = (W + ws - 1) / ws * ws;
  const int64_t B = w.size(0) / ((Hp / ws) * (Wp / ws));
  auto x = w.reshape({B, Hp / ws, Wp / ws, ws, ws, -1}).permute({0, 1, 3, 2, 4, 5}).reshape({B, Hp, Wp, -1});
  if (Hp > H || Wp > W) x = x.slice(1, 0, H).slice(2, 0, W);
  return x;
}

}  // namespace

// ---------------------------------------------------------------------------

PatchEmbedImpl::PatchEmbedImpl(int64_t patch_size, int64_t embed_dim, bool bias) {
  proj = register_module(
      "proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, embed_dim, patch_size).stride(patch_size).bias(bias)));
}

torch::Tensor PatchEmbedImpl::forward(const torch::Tensor& x) { return proj->forward(x).permute({0, 2, 3, 1}); }

// ---------------------------------------------------------------------------

VitAttentionImpl::VitAttentionImpl(int64_t dim, int64_t num_heads, bool qkv_bias, int64_t rope_grid,
                                   double rope_scale, double rope_theta)
    : num_heads_(num_heads), head_dim_(dim / num_heads) {
  qkv = register_module("qkv", torch::nn::Linear(torch::nn::LinearOptions(dim, 3 * dim).bias(qkv_bias)));
  proj = register_module("proj", torch::nn::Linear(dim, dim));
  freqs_cis = register_buffer("freqs_cis", compute_axial_rope(head_dim_, rope_grid, rope_grid, rope_theta, rope_scale));
}

torch::Tensor VitAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3), L = H * W;
  if (L != freqs_cis.size(0))
    throw InvalidInput("ViT attention: " + std::to_string(H) + "x" + std::to_string(W) +
                       " tokens do not match the RoPE table of " + std::to_string(freqs_cis.size(0)) +
                       " positions (input size must equal the configured img_size)");
  // qkv rows: [q | k | v], each num_heads x head_dim.
  auto qkv_out = qkv->forward(x).reshape({B, L, 3, num_heads_, head_dim_}).permute({2, 0, 3, 1, 4});
  auto q = apply_axial_rope(qkv_out[0], freqs_cis);
  auto k = apply_axial_rope(qkv_out[1], freqs_cis);
  auto v = qkv_out[2];
  auto o = scaled_dot_product_attention(q, k, v, {}, 1.0 / std::sqrt(static_cast<double>(head_dim_)));
  o = o.view({B, num_heads_, H, W, head_dim_}).permute({0, 2, 3, 1, 4}).reshape({B, H, W, C});
  return proj->forward(o);
}

// ---------------------------------------------------------------------------

VitMlpImpl::VitMlpImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", torch::nn::Linear(dim, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, dim));
}

torch::Tensor VitMlpImpl::forward(const torch::Tensor& x) {
  return fc2->forward(torch::gelu(fc1->forward(x)));  // exact erf GELU (trap 5)
}

// ---------------------------------------------------------------------------

VitBlockImpl::VitBlockImpl(const VitConfig& cfg, int64_t window_size) : window_size_(window_size) {
  const int64_t dim = cfg.embed_dim;
  norm1 = register_module("norm1", make_layer_norm(dim, kLayerNormEps));
  // Interpolated RoPE: the table was trained on a window_size grid; a global
  // block stretches it over the whole grid with positions scaled by
  // window / grid (1/3 at 1008 px). Windowed blocks use scale 1.
  const int64_t rope_grid = window_size > 0 ? window_size : cfg.grid();
  const double rope_scale = static_cast<double>(cfg.window_size) / static_cast<double>(rope_grid);
  attn = register_module("attn", VitAttention(dim, cfg.num_heads, cfg.qkv_bias, rope_grid, rope_scale, cfg.rope_theta));
  norm2 = register_module("norm2", make_layer_norm(dim, kLayerNormEps));
  mlp = register_module("mlp", VitMlp(dim, cfg.mlp_hidden()));
}

torch::Tensor VitBlockImpl::forward(const torch::Tensor& x) {
  auto y = norm1->forward(x);
  if (window_size_ > 0) {
    const int64_t H = x.size(1), W = x.size(2);
    y = window_unpartition(attn->forward(window_partition(y, window_size_)), window_size_, H, W);
  } else {
    y = attn->forward(y);
  }
  auto t = x + y;
  return t + mlp->forward(norm2->forward(t));
}

// ---------------------------------------------------------------------------

ViTImpl::ViTImpl(const VitConfig& cfg) : cfg_(cfg) {
  if (cfg.global_att_blocks.empty() || cfg.global_att_blocks.back() != cfg.depth - 1)
    throw InvalidInput("ViT: the last global attention block must be depth-1 = " + std::to_string(cfg.depth - 1));
  patch_embed = register_module("patch_embed", PatchEmbed(cfg.patch_size, cfg.embed_dim, cfg.bias_patch_embed));
  const int64_t pt = cfg.pretrain_img_size / cfg.patch_size;
  const int64_t positions = pt * pt + (cfg.pretrain_use_cls_token ? 1 : 0);
  pos_embed = register_parameter("pos_embed", torch::zeros({1, positions, cfg.embed_dim}), /*requires_grad=*/false);
  blocks = register_module("blocks", torch::nn::ModuleList());
  const auto& g = cfg.global_att_blocks;
  for (int i = 0; i < cfg.depth; ++i) {
    const bool global = std::find(g.begin(), g.end(), i) != g.end();
    block_list_.push_back(VitBlock(cfg, global ? 0 : cfg.window_size));
    blocks->push_back(block_list_.back());
  }
  ln_pre = register_module("ln_pre", make_layer_norm(cfg.embed_dim, kLayerNormEps));
}

torch::Tensor ViTImpl::abs_pos(int64_t grid_h, int64_t grid_w) const {
  auto p = cfg_.pretrain_use_cls_token ? pos_embed.slice(1, 1) : pos_embed;  // the cls row is never used
  const int64_t n = p.size(1), C = p.size(2);
  const auto size = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  TORCH_CHECK(size * size == n, "ViT pos_embed: ", n, " positions is not a square grid");
  p = p.reshape({1, size, size, C});
  if (size == grid_h && size == grid_w) return p;
  // Tiled, never interpolated (trap 8): repeat the pretrain grid and crop.
  return p.repeat({1, grid_h / size + 1, grid_w / size + 1, 1}).slice(1, 0, grid_h).slice(2, 0, grid_w);
}

torch::Tensor ViTImpl::forward(const torch::Tensor& x, VitTrace* trace) {
  if (x.dim() != 4 || x.size(1) != 3 || x.size(2) != cfg_.img_size || x.size(3) != cfg_.img_size)
    throw InvalidInput("ViT: expected input [B, 3, " + std::to_string(cfg_.img_size) + ", " +
                       std::to_string(cfg_.img_size) + "], got " + c10::str(x.sizes()));
  std::string stage = "patch_embed";
  try {
    auto t = patch_embed->forward(x);  // [B, G, G, C]
    if (trace) trace->patch_embed = t;
    stage = "abs_pos/ln_pre";
    // No cast: under autocast the bf16 patch embedding plus the float32
    // pos_embed promotes to float32, as in the reference.
    t = ln_pre->forward(t + abs_pos(t.size(1), t.size(2)));
    if (trace) trace->ln_pre = t;
    // Blocks after the last global one would be computed and ignored by the
    // reference; the config guarantees there are none.
    const int last = cfg_.global_att_blocks.back();
    for (int i = 0; i <= last; ++i) {
      stage = "blocks." + std::to_string(i);
      t = block_list_[static_cast<size_t>(i)]->forward(t);
      if (trace) trace->blocks.push_back(t);
    }
    return t.permute({0, 3, 1, 2});  // ln_post is Identity in SAM 3
  } catch (const c10::Error& e) {
    throw ModelError("ViT forward failed in " + stage + ": " + e.what_without_backtrace());
  }
}

}  // namespace sam3::core
