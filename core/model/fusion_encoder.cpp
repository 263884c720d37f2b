// SPDX-License-Identifier: Apache-2.0
#include "core/model/fusion_encoder.h"

namespace sam3::core {

TransformerEncoderLayerImpl::TransformerEncoderLayerImpl(const EncoderLayerOptions& o) : o_(o) {
  self_attn = register_module("self_attn", MultiheadAttention(o.d_model, o.num_heads));
  cross_attn_image = register_module("cross_attn_image", MultiheadAttention(o.d_model, o.num_heads));
  linear1 = register_module("linear1", torch::nn::Linear(o.d_model, o.dim_feedforward));
  linear2 = register_module("linear2", torch::nn::Linear(o.dim_feedforward, o.d_model));
  norm1 = register_module("norm1", make_layer_norm(o.d_model));
  norm2 = register_module("norm2", make_layer_norm(o.d_model));
  norm3 = register_module("norm3", make_layer_norm(o.d_model));
}

torch::Tensor TransformerEncoderLayerImpl::forward(const torch::Tensor& tgt, const torch::Tensor& memory,
                                                   const torch::Tensor& tgt_key_padding_mask,
                                                   const torch::Tensor& memory_key_padding_mask,
                                                   const torch::Tensor& pos, const torch::Tensor& query_pos) {
  TORCH_CHECK(tgt.dim() == 3 && memory.dim() == 3 && tgt.size(0) == memory.size(0) &&
                  tgt.size(2) == o_.d_model && memory.size(2) == o_.d_model,
              "encoder layer expects batch-first tgt [B, L, ", o_.d_model, "] and memory [B, S, ", o_.d_model,
              "], got ", tgt.sizes(), " and ", memory.sizes());
  TORCH_CHECK(!(o_.pos_enc_at_attn || o_.pos_enc_at_cross_attn_queries) || query_pos.defined(),
              "encoder layer: query_pos required by the layer options");
  TORCH_CHECK(!o_.pos_enc_at_cross_attn_keys || pos.defined(), "encoder layer: pos required by the layer options");

  auto t = norm1->forward(tgt);
  auto qk = o_.pos_enc_at_attn ? t + query_pos : t;
  auto out = tgt + self_attn->forward(qk, qk, t, tgt_key_padding_mask);

  t = norm2->forward(out);
  auto q = o_.pos_enc_at_cross_attn_queries ? t + query_pos : t;
  auto k = o_.pos_enc_at_cross_attn_keys ? memory + pos : memory;
  out = out + cross_attn_image->forward(q, k, memory, memory_key_padding_mask);

  t = norm3->forward(out);
  return out + linear2->forward(torch::relu(linear1->forward(t)));
}

TransformerEncoderFusionImpl::TransformerEncoderFusionImpl(const Sam3Config& cfg) {
  EncoderLayerOptions o;
  o.d_model = cfg.d_model;
  o.num_heads = cfg.encoder.num_heads;
  o.dim_feedforward = cfg.encoder.dim_feedforward;
  o.pos_enc_at_attn = true;
  o.pos_enc_at_cross_attn_queries = false;
  o.pos_enc_at_cross_attn_keys = false;
  layers = register_module("layers", torch::nn::ModuleList());
  for (int i = 0; i < cfg.encoder.num_layers; ++i) layers->push_back(TransformerEncoderLayer(o));
}

FusionEncoderOutput TransformerEncoderFusionImpl::forward(const torch::Tensor& img_feat, const torch::Tensor& img_pos,
                                                          const torch::Tensor& prompt,
                                                          const torch::Tensor& prompt_mask,
                                                          std::vector<torch::Tensor>* layer_outputs) {
  TORCH_CHECK(img_feat.dim() == 4 && img_pos.sizes() == img_feat.sizes(),
              "fusion encoder expects img_feat and img_pos [B, d, H, W] of the same shape, got ", img_feat.sizes(),
              " and ", img_pos.sizes());
  const int64_t B = img_feat.size(0);
  TORCH_CHECK(prompt.dim() == 3 && prompt.size(1) == B && prompt.size(2) == img_feat.size(1),
              "fusion encoder expects a seq-first prompt [L, ", B, ", ", img_feat.size(1), "], got ", prompt.sizes());
  TORCH_CHECK(!prompt_mask.defined() || (prompt_mask.dim() == 2 && prompt_mask.size(0) == B &&
                                         prompt_mask.size(1) == prompt.size(0)),
              "fusion encoder expects prompt_mask [", B, ", ", prompt.size(0), "], got ", prompt_mask.sizes());

  // NCHW -> [B, H*W, d] (flatten(2).transpose(1, 2) in the reference).
  auto src = img_feat.flatten(2).transpose(1, 2);
  auto pos = img_pos.flatten(2).transpose(1, 2);
  auto memory_text = prompt.transpose(0, 1);  // batch-first for the batch_first MHAs
  auto mask = prompt_mask.defined() ? prompt_mask.to(torch::kBool) : prompt_mask;

  auto out = src;
  for (const auto& m : *layers) {
    out = m->as<TransformerEncoderLayer>()->forward(out, memory_text, /*tgt_key_padding_mask=*/{}, mask,
                                                    /*pos=*/{}, /*query_pos=*/pos);
    if (layer_outputs) layer_outputs->push_back(out);
  }
  return {out.transpose(0, 1), pos.transpose(0, 1)};
}

PromptSequence assemble_prompt(const torch::Tensor& text_feats, const torch::Tensor& text_mask,
                               const torch::Tensor& geo_tokens, const torch::Tensor& geo_mask) {
  TORCH_CHECK(text_feats.dim() == 3 && geo_tokens.dim() == 3 && text_feats.size(1) == geo_tokens.size(1) &&
                  text_feats.size(2) == geo_tokens.size(2),
              "assemble_prompt expects seq-first text [L_t, B, d] and geometry [L_g, B, d], got ", text_feats.sizes(),
              " and ", geo_tokens.sizes());
  TORCH_CHECK(text_mask.dim() == 2 && geo_mask.dim() == 2 && text_mask.size(1) == text_feats.size(0) &&
                  geo_mask.size(1) == geo_tokens.size(0),
              "assemble_prompt expects masks [B, L_t] and [B, L_g], got ", text_mask.sizes(), " and ",
              geo_mask.sizes());
  return {torch::cat({text_feats, geo_tokens}, 0),
          torch::cat({text_mask.to(torch::kBool), geo_mask.to(torch::kBool)}, 1)};
}

}  // namespace sam3::core
