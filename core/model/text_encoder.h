// SPDX-License-Identifier: Apache-2.0
// The SAM 3 text encoder (sam3/model/text_encoder_ve.py): VETextEncoder =
// a CLIP TextTransformer (`encoder`) + a Linear `resizer` (width -> d_model).
// Parameter names mirror the reference, so the checkpoint loads under the
// prefix "detector.backbone.language_backbone.":
//   encoder.token_embedding.weight [vocab, W], encoder.positional_embedding [ctx, W],
//   encoder.transformer.resblocks.N.{attn.in_proj_weight, attn.in_proj_bias,
//     attn.out_proj.*, ln_1.*, ln_2.*, mlp.c_fc.*, mlp.c_proj.*},
//   encoder.ln_final.*, encoder.text_projection [W, proj_dim] (loaded, unused:
//   pool_type "none" discards its result), resizer.{weight, bias}.
// Numerics: causal additive mask (-inf above the diagonal), no padding mask
// inside the encoder, GELU exact, LayerNorm eps 1e-5, all positions kept.
//
// Thread-safety: forward() does not modify the module.
#pragma once

#include <cstdint>

#include "core/model/attention.h"
#include "core/model/config.h"
#include "core/torch.h"

namespace sam3::core {

// What VETextEncoder.forward returns, with the reference's layouts (and what
// SAM3VLBackbone.forward_text stores as language_mask / language_features /
// language_embeds).
struct TextEncoding {
  torch::Tensor attention_mask;  // language_mask     [N, ctx] bool, true = padding (token id 0)
  torch::Tensor memory;          // language_features [ctx, N, d_model], seq-first: resizer(ln_final(h))
  torch::Tensor input_embeds;    // language_embeds   [ctx, N, W], seq-first: token_embedding(ids)
};

class ResidualAttentionBlockImpl : public torch::nn::Module {
public:
  ResidualAttentionBlockImpl(int64_t width, int64_t heads, int64_t mlp_width);
  // x [N, L, W] batch-first; attn_mask additive [L, L].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& attn_mask);

  MultiheadAttention attn{nullptr};
  torch::nn::LayerNorm ln_1{nullptr}, ln_2{nullptr};
  torch::nn::Sequential mlp{nullptr};  // c_fc, gelu, c_proj
};
TORCH_MODULE(ResidualAttentionBlock);

// open_clip's Transformer: just the `resblocks` list.
class TextTransformerStackImpl : public torch::nn::Module {
public:
  TextTransformerStackImpl(int64_t width, int64_t layers, int64_t heads, int64_t mlp_width);
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& attn_mask);

  torch::nn::ModuleList resblocks{nullptr};
};
TORCH_MODULE(TextTransformerStack);

class TextTransformerImpl : public torch::nn::Module {
public:
  explicit TextTransformerImpl(const TextConfig& c);
  // token_ids [N, L] int64 (L <= context_length) -> tokens after ln_final [N, L, W].
  // If embeds is given, it receives token_embedding(ids) [N, L, W].
  torch::Tensor forward(const torch::Tensor& token_ids, torch::Tensor* embeds = nullptr);
  // The causal additive mask [L, L] (0 on and below the diagonal, -inf above).
  static torch::Tensor causal_mask(int64_t L, const torch::TensorOptions& options);

  torch::nn::Embedding token_embedding{nullptr};
  torch::Tensor positional_embedding;  // [ctx, W]
  torch::Tensor text_projection;       // [W, proj_dim], unused in inference
  TextTransformerStack transformer{nullptr};
  torch::nn::LayerNorm ln_final{nullptr};

private:
  TextConfig c_;
};
TORCH_MODULE(TextTransformer);

class VETextEncoderImpl : public torch::nn::Module {
public:
  explicit VETextEncoderImpl(const Sam3Config& c);
  // token_ids: [N, L] integer ids (Tokenizer::tokenize rows, L <= context_length),
  // on any device (moved to the weights' device).
  // \throws InvalidInput for a bad shape or out-of-vocabulary ids, ModelError
  //         (naming the stage) when LibTorch fails.
  TextEncoding forward(const torch::Tensor& token_ids);

  TextTransformer encoder{nullptr};
  torch::nn::Linear resizer{nullptr};

private:
  Sam3Config c_;
};
TORCH_MODULE(VETextEncoder);

}  // namespace sam3::core
