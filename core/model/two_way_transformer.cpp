// SPDX-License-Identifier: Apache-2.0
#include "core/model/two_way_transformer.h"

#include <cmath>

#include "core/model/attention.h"

namespace sam3::core {

SamAttentionImpl::SamAttentionImpl(const SamAttentionOptions& o) : o_(o) {
  if (o_.kv_in_dim < 0) o_.kv_in_dim = o_.embedding_dim;
  const int64_t internal = o_.embedding_dim / o_.downsample_rate;
  TORCH_CHECK(internal % o_.num_heads == 0, "SamAttention: num_heads ", o_.num_heads,
              " must divide the internal dim ", internal);
  q_proj = register_module("q_proj", torch::nn::Linear(o_.embedding_dim, internal));
  k_proj = register_module("k_proj", torch::nn::Linear(o_.kv_in_dim, internal));
  v_proj = register_module("v_proj", torch::nn::Linear(o_.kv_in_dim, internal));
  out_proj = register_module("out_proj", torch::nn::Linear(internal, o_.embedding_dim));
}

torch::Tensor SamAttentionImpl::separate_heads(const torch::Tensor& x) const {
  const int64_t b = x.size(0), n = x.size(1), c = x.size(2);
  return x.reshape({b, n, o_.num_heads, c / o_.num_heads}).transpose(1, 2);
}

torch::Tensor SamAttentionImpl::attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto out = scaled_dot_product_attention(q, k, v, {}, scale);
  const int64_t b = out.size(0), h = out.size(1), n = out.size(2), d = out.size(3);
  return out_proj->forward(out.transpose(1, 2).reshape({b, n, h * d}));
}

torch::Tensor SamAttentionImpl::forward(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  return attend(separate_heads(q_proj->forward(q)), separate_heads(k_proj->forward(k)),
                separate_heads(v_proj->forward(v)));
}

std::pair<torch::Tensor, torch::Tensor> sam_axial_rope_table(int64_t head_dim, int64_t end_x, int64_t end_y,
                                                             double theta, const torch::Device& device) {
  auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  // Same float32 op order as compute_axial_cis.
  auto expo = torch::arange(0, head_dim, 4, f32).slice(0, 0, head_dim / 4) / static_cast<double>(head_dim);
  auto freqs = 1.0 / torch::pow(theta, expo);
  auto t = torch::arange(end_x * end_y, f32);
  auto tx = torch::remainder(t, static_cast<double>(end_x));
  auto ty = torch::floor_divide(t, static_cast<double>(end_x));
  auto ax = torch::outer(tx, freqs), ay = torch::outer(ty, freqs);
  auto ang = torch::cat({ax, ay}, -1);
  return {torch::cos(ang), torch::sin(ang)};
}

torch::Tensor sam_apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  auto xf = x.to(torch::kFloat32);
  auto sz = xf.sizes().vec();
  sz.back() /= 2;
  sz.push_back(2);
  auto pairs = xf.reshape(sz);
  auto re = pairs.select(-1, 0), im = pairs.select(-1, 1);
  auto out_re = re * cos - im * sin;
  auto out_im = re * sin + im * cos;
  return torch::stack({out_re, out_im}, -1).flatten(-2).to(x.scalar_type());
}

SamRoPEAttentionImpl::SamRoPEAttentionImpl(const SamRoPEAttentionOptions& o)
    : SamAttentionImpl(o.attn), theta_(o.rope_theta), k_repeat_(o.rope_k_repeat) {}

torch::Tensor SamRoPEAttentionImpl::forward(const torch::Tensor& q_in, const torch::Tensor& k_in,
                                            const torch::Tensor& v_in, int64_t num_k_exclude_rope) {
  auto q = separate_heads(q_proj->forward(q_in));
  auto k = separate_heads(k_proj->forward(k_in));
  auto v = separate_heads(v_proj->forward(v_in));
  const int64_t nq = q.size(2), nk = k.size(2);
  const auto side = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(nq))));
  TORCH_CHECK(side * side == nq, "RoPEAttention: queries must form a square grid, got ", nq, " tokens");
  TORCH_CHECK(nq == nk || k_repeat_, "RoPEAttention: ", nk, " keys for ", nq, " queries need rope_k_repeat");
  auto [cos, sin] = sam_axial_rope_table(q.size(-1), side, side, theta_, q.device());
  q = sam_apply_rope(q, cos, sin);
  const int64_t nk_rope = nk - num_k_exclude_rope;
  if (nk_rope > 0) {
    auto kr = k.narrow(2, 0, nk_rope);
    auto kc = cos, ks = sin;
    if (nk_rope != nq) {
      TORCH_CHECK(nk_rope % nq == 0, "RoPEAttention: ", nk_rope, " rotated keys are not a multiple of ", nq);
      kc = cos.repeat({nk_rope / nq, 1});
      ks = sin.repeat({nk_rope / nq, 1});
    }
    kr = sam_apply_rope(kr, kc, ks);
    k = num_k_exclude_rope > 0 ? torch::cat({kr, k.narrow(2, nk_rope, num_k_exclude_rope)}, 2) : kr;
  }
  return attend(q, k, v);
}

SamMlpBlockImpl::SamMlpBlockImpl(int64_t dim, int64_t mlp_dim) {
  lin1 = register_module("lin1", torch::nn::Linear(dim, mlp_dim));
  lin2 = register_module("lin2", torch::nn::Linear(mlp_dim, dim));
}

torch::Tensor SamMlpBlockImpl::forward(const torch::Tensor& x) {
  return lin2->forward(torch::relu(lin1->forward(x)));
}

TwoWayAttentionBlockImpl::TwoWayAttentionBlockImpl(const TwoWayTransformerOptions& o, bool skip_first_layer_pe)
    : skip_first_layer_pe_(skip_first_layer_pe) {
  const SamAttentionOptions self_o{o.embedding_dim, o.num_heads, 1, -1};
  const SamAttentionOptions cross_o{o.embedding_dim, o.num_heads, o.attention_downsample_rate, -1};
  self_attn = register_module("self_attn", SamAttention(self_o));
  norm1 = register_module("norm1", make_layer_norm(o.embedding_dim));
  cross_attn_token_to_image = register_module("cross_attn_token_to_image", SamAttention(cross_o));
  norm2 = register_module("norm2", make_layer_norm(o.embedding_dim));
  mlp = register_module("mlp", SamMlpBlock(o.embedding_dim, o.mlp_dim));
  norm3 = register_module("norm3", make_layer_norm(o.embedding_dim));
  norm4 = register_module("norm4", make_layer_norm(o.embedding_dim));
  cross_attn_image_to_token = register_module("cross_attn_image_to_token", SamAttention(cross_o));
}

std::pair<torch::Tensor, torch::Tensor> TwoWayAttentionBlockImpl::forward(const torch::Tensor& queries_in,
                                                                          const torch::Tensor& keys_in,
                                                                          const torch::Tensor& query_pe,
                                                                          const torch::Tensor& key_pe) {
  torch::Tensor queries;
  if (skip_first_layer_pe_) {
    queries = self_attn->forward(queries_in, queries_in, queries_in);
  } else {
    auto q = queries_in + query_pe;
    queries = queries_in + self_attn->forward(q, q, queries_in);
  }
  queries = norm1->forward(queries);

  auto q = queries + query_pe;
  auto k = keys_in + key_pe;
  queries = norm2->forward(queries + cross_attn_token_to_image->forward(q, k, keys_in));
  queries = norm3->forward(queries + mlp->forward(queries));

  q = queries + query_pe;
  auto keys = norm4->forward(keys_in + cross_attn_image_to_token->forward(k, q, queries));
  return {queries, keys};
}

TwoWayTransformerImpl::TwoWayTransformerImpl(const TwoWayTransformerOptions& o) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.depth; ++i) layers->push_back(TwoWayAttentionBlock(o, i == 0));
  final_attn_token_to_image = register_module(
      "final_attn_token_to_image",
      SamAttention(SamAttentionOptions{o.embedding_dim, o.num_heads, o.attention_downsample_rate, -1}));
  norm_final_attn = register_module("norm_final_attn", make_layer_norm(o.embedding_dim));
}

std::pair<torch::Tensor, torch::Tensor> TwoWayTransformerImpl::forward(const torch::Tensor& image_embedding,
                                                                       const torch::Tensor& image_pe,
                                                                       const torch::Tensor& point_embedding) {
  auto keys = image_embedding.flatten(2).permute({0, 2, 1});
  auto key_pe = image_pe.flatten(2).permute({0, 2, 1});
  auto queries = point_embedding;
  for (const auto& m : *layers) {
    std::tie(queries, keys) = m->as<TwoWayAttentionBlock>()->forward(queries, keys, point_embedding, key_pe);
  }
  auto q = queries + point_embedding;
  auto k = keys + key_pe;
  queries = norm_final_attn->forward(queries + final_attn_token_to_image->forward(q, k, keys));
  return {queries, keys};
}

}  // namespace sam3::core
