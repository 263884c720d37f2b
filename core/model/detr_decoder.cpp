// SPDX-License-Identifier: Apache-2.0
#include "core/model/detr_decoder.h"

#include <cmath>

#include "core/errors.h"
#include "core/model/position_encoding.h"

namespace sam3::core {
namespace {

// boxRPB "log" constants (hard-coded in the reference, trap 11).
constexpr double kRpbScale = 8.0;
constexpr double kRpbLog2Max = 3.0;  // np.log2(8)

// gen_sineembed_for_position for 4-D boxes: [N, 4] (cx, cy, w, h) ->
// [N, 2d] = cat(S(cy), S(cx), S(w), S(h)), each d/2 wide (trap 10: y, x, w, h).
torch::Tensor box_sine_embed(const torch::Tensor& boxes, int64_t d_model) {
  auto [px, py] = sine_encode_xy(boxes.select(1, 0), boxes.select(1, 1), d_model);
  auto [pw, ph] = sine_encode_xy(boxes.select(1, 2), boxes.select(1, 3), d_model);
  return torch::cat({py, px, pw, ph}, 1);
}

// sign(8 d) * log2(|8 d| + 1) / log2(8)
torch::Tensor log_scaled(const torch::Tensor& d) {
  auto s = d * kRpbScale;
  return torch::sign(s) * torch::log2(torch::abs(s) + 1.0) / kRpbLog2Max;
}

}  // namespace

torch::Tensor inverse_sigmoid(const torch::Tensor& x, double eps) {
  auto c = x.clamp(0.0, 1.0);
  return torch::log(c.clamp_min(eps) / (1 - c).clamp_min(eps));
}

torch::Tensor box_cxcywh_to_xyxy(const torch::Tensor& b) {
  auto u = b.unbind(-1);
  return torch::stack({u[0] - 0.5 * u[2], u[1] - 0.5 * u[3], u[0] + 0.5 * u[2], u[1] + 0.5 * u[3]}, -1);
}

TransformerDecoderLayerImpl::TransformerDecoderLayerImpl(int64_t d_model, int64_t num_heads,
                                                         int64_t dim_feedforward) {
  cross_attn = register_module("cross_attn", MultiheadAttention(d_model, num_heads));
  norm1 = register_module("norm1", make_layer_norm(d_model));
  ca_text = register_module("ca_text", MultiheadAttention(d_model, num_heads));
  catext_norm = register_module("catext_norm", make_layer_norm(d_model));
  self_attn = register_module("self_attn", MultiheadAttention(d_model, num_heads));
  norm2 = register_module("norm2", make_layer_norm(d_model));
  linear1 = register_module("linear1", torch::nn::Linear(d_model, dim_feedforward));
  linear2 = register_module("linear2", torch::nn::Linear(dim_feedforward, d_model));
  norm3 = register_module("norm3", make_layer_norm(d_model));
}

torch::Tensor TransformerDecoderLayerImpl::forward(const torch::Tensor& x_in, const torch::Tensor& x_pos,
                                                   const torch::Tensor& prompt, const torch::Tensor& prompt_mask,
                                                   const torch::Tensor& memory, const torch::Tensor& memory_pos,
                                                   const torch::Tensor& rpb_bias) {
  // Post-norm: self-attention (pos on q and k), text cross-attention (pos on q),
  // image cross-attention (pos on q and k, boxRPB bias), FFN.
  auto x = x_in;
  auto q = x + x_pos;
  x = norm2->forward(x + self_attn->forward(q, q, x));
  x = catext_norm->forward(x + ca_text->forward(x + x_pos, prompt, prompt, prompt_mask));
  x = norm1->forward(x + cross_attn->forward(x + x_pos, memory + memory_pos, memory, {}, rpb_bias));
  torch::Tensor ffn;
  {
    // The reference runs the FFN with CUDA autocast disabled (trap 2).
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    ffn = linear2->forward(torch::relu(linear1->forward(x)));
  }
  return norm3->forward(x + ffn);
}

TransformerDecoderImpl::TransformerDecoderImpl(const Sam3Config& cfg)
    : d_model_(cfg.d_model), num_heads_(cfg.decoder.num_heads) {
  const int64_t d = cfg.d_model;
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < cfg.decoder.num_layers; ++i)
    layers->push_back(TransformerDecoderLayer(d, cfg.decoder.num_heads, cfg.decoder.dim_feedforward));
  norm = register_module("norm", make_layer_norm(d));
  bbox_embed = register_module("bbox_embed", Mlp(MlpOptions{d, d, 4, 3}));
  query_embed = register_module("query_embed", torch::nn::Embedding(cfg.num_queries, d));
  reference_points = register_module("reference_points", torch::nn::Embedding(cfg.num_queries, 4));
  boxRPB_embed_x = register_module("boxRPB_embed_x", Mlp(MlpOptions{2, d, num_heads_, 2}));
  boxRPB_embed_y = register_module("boxRPB_embed_y", Mlp(MlpOptions{2, d, num_heads_, 2}));
  presence_token = register_module("presence_token", torch::nn::Embedding(1, d));
  presence_token_head = register_module("presence_token_head", Mlp(MlpOptions{d, d, 1, 3}));
  presence_token_out_norm = register_module("presence_token_out_norm", make_layer_norm(d));
  ref_point_head = register_module("ref_point_head", Mlp(MlpOptions{2 * d, d, d, 2}));
}

torch::Tensor TransformerDecoderImpl::box_rpb_bias(const torch::Tensor& ref_boxes, int64_t feat_h, int64_t feat_w) {
  using torch::indexing::Slice;
  const int64_t B = ref_boxes.size(0), Q = ref_boxes.size(1);
  auto xyxy = box_cxcywh_to_xyxy(ref_boxes);  // [B, Q, 4]
  auto f32 = ref_boxes.options().dtype(torch::kFloat32);
  // Grid coordinates j / W and i / H, not pixel centres (trap 11).
  auto coords_h = (torch::arange(feat_h, f32) / static_cast<double>(feat_h)).to(ref_boxes.scalar_type());
  auto coords_w = (torch::arange(feat_w, f32) / static_cast<double>(feat_w)).to(ref_boxes.scalar_type());
  // deltas [B, Q, n, 2] = coord - (low, high) edge of the box along that axis.
  auto dy = coords_h.view({1, 1, feat_h, 1}) - xyxy.index({Slice(), Slice(), Slice(1, 4, 2)}).unsqueeze(2);
  auto dx = coords_w.view({1, 1, feat_w, 1}) - xyxy.index({Slice(), Slice(), Slice(0, 3, 2)}).unsqueeze(2);
  auto by = boxRPB_embed_y->forward(log_scaled(dy));  // [B, Q, H, heads]
  auto bx = boxRPB_embed_x->forward(log_scaled(dx));  // [B, Q, W, heads]
  auto bias = by.unsqueeze(3) + bx.unsqueeze(2);      // [B, Q, H, W, heads]
  bias = bias.flatten(2, 3).permute({0, 3, 1, 2}).contiguous();  // [B, heads, Q, HW]
  return bias.view({B * num_heads_, Q, feat_h * feat_w});
}

torch::Tensor TransformerDecoderImpl::predict_boxes(const torch::Tensor& hs, const torch::Tensor& ref_boxes) {
  return torch::sigmoid(inverse_sigmoid(ref_boxes) + bbox_embed->forward(hs));
}

DecoderOutput TransformerDecoderImpl::forward(const torch::Tensor& memory, const torch::Tensor& memory_pos,
                                              const torch::Tensor& prompt, const torch::Tensor& prompt_mask,
                                              int64_t feat_h, int64_t feat_w) {
  if (memory.dim() != 3 || memory.size(2) != d_model_ || memory.size(0) != feat_h * feat_w)
    throw InvalidInput("decoder: expected memory [" + std::to_string(feat_h * feat_w) + ", B, " +
                       std::to_string(d_model_) + "] (seq-first), got " + c10::str(memory.sizes()));
  if (!memory_pos.defined() || memory_pos.sizes() != memory.sizes())
    throw InvalidInput("decoder: memory_pos must match memory " + c10::str(memory.sizes()) + ", got " +
                       (memory_pos.defined() ? c10::str(memory_pos.sizes()) : std::string("undefined")));
  const int64_t B = memory.size(1);
  if (prompt.dim() != 3 || prompt.size(1) != B || prompt.size(2) != d_model_ || prompt_mask.dim() != 2 ||
      prompt_mask.size(0) != B || prompt_mask.size(1) != prompt.size(0))
    throw InvalidInput("decoder: expected prompt [Lp, " + std::to_string(B) + ", D] and prompt_mask [" +
                       std::to_string(B) + ", Lp], got " + c10::str(prompt.sizes()) + " and " +
                       c10::str(prompt_mask.sizes()));

  // Work batch-first: the MHA module is batch-first.
  auto mem = memory.transpose(0, 1);
  auto mem_pos = memory_pos.transpose(0, 1);
  auto prm = prompt.transpose(0, 1);
  auto prm_mask = prompt_mask.to(torch::kBool);
  const int64_t Q = query_embed->weight.size(0);

  auto tgt = query_embed->weight.unsqueeze(0).expand({B, Q, d_model_});
  auto ref = torch::sigmoid(reference_points->weight).unsqueeze(0).expand({B, Q, 4});
  auto pres = presence_token->weight.unsqueeze(0).expand({B, 1, d_model_});
  auto pres_pos = torch::zeros({B, 1, d_model_}, tgt.options());

  DecoderOutput out;
  std::vector<torch::Tensor> hs, refs, pres_logits;
  const int64_t L = static_cast<int64_t>(layers->size());
  for (int64_t l = 0; l < L; ++l) {
    // valid_ratios are all ones (no padding), so the reference points are the boxes.
    auto sine = box_sine_embed(ref.reshape({B * Q, 4}), d_model_).view({B, Q, 2 * d_model_});
    auto qpos = ref_point_head->forward(sine);
    auto bias = box_rpb_bias(ref, feat_h, feat_w);
    // The presence row attends to the image without bias.
    bias = torch::cat({torch::zeros({bias.size(0), 1, bias.size(2)}, bias.options()), bias}, 1);

    auto x = torch::cat({pres, tgt}, 1);
    auto x_pos = torch::cat({pres_pos, qpos}, 1);
    x = layers[l]->as<TransformerDecoderLayerImpl>()->forward(x, x_pos, prm, prm_mask, mem, mem_pos, bias);
    pres = x.narrow(1, 0, 1);
    tgt = x.narrow(1, 1, Q);

    auto h = norm->forward(tgt);
    refs.push_back(ref);
    ref = predict_boxes(h, ref);  // refinement in logit space (trap 12)
    hs.push_back(h);
    // The reference's presence clamp is a dropped non-in-place call: not clamped.
    pres_logits.push_back(presence_token_head->forward(presence_token_out_norm->forward(pres)).view({B, 1}));
    out.layer_queries.push_back(tgt);
    out.layer_presence.push_back(pres);
  }
  out.hs = torch::stack(hs);
  out.ref_boxes = torch::stack(refs);
  out.presence_logits = torch::stack(pres_logits);
  out.presence_feats = pres;
  return out;
}

}  // namespace sam3::core
