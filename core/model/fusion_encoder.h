// SPDX-License-Identifier: Apache-2.0
// The reference's TransformerEncoderLayer (sam3/model/encoder.py), shared by
// the geometry encoder (`geometry_encoder.encode.N`) and the fusion encoder
// (`transformer.encoder.layers.N`), and TransformerEncoderFusion, which fuses
// the image tokens with the prompt (text + geometry) by cross-attention.
//
// Layouts: PyTorch's MultiheadAttention math is the same seq-first or
// batch-first, so the layer works batch-first and seq-first callers (the
// geometry encoder) transpose around it. Key padding masks follow PyTorch:
// bool, true = padding (ignored key).
// Thread-safety: forward() does not mutate the module; concurrent calls on one
// instance are safe under c10::InferenceMode.
#pragma once

#include <cstdint>
#include <vector>

#include "core/model/attention.h"
#include "core/model/config.h"
#include "core/torch.h"

namespace sam3::core {

struct EncoderLayerOptions {
  int64_t d_model = 256;
  int64_t num_heads = 8;
  int64_t dim_feedforward = 2048;
  bool pos_enc_at_attn = false;                // add query_pos to q and k of the self-attention
  bool pos_enc_at_cross_attn_queries = false;  // add query_pos to the cross-attention queries
  bool pos_enc_at_cross_attn_keys = false;     // add pos to the cross-attention keys (not values)
};

// Pre-norm layer (both SAM 3 instances are pre-norm; the post-norm variant is
// never built): ReLU FFN, LayerNorm eps 1e-5, no dropout at inference.
// Parameters: self_attn, cross_attn_image, linear1, linear2, norm1, norm2, norm3.
class TransformerEncoderLayerImpl : public torch::nn::Module {
public:
  explicit TransformerEncoderLayerImpl(const EncoderLayerOptions& o);
  // tgt [B, L, d] and memory [B, S, d], batch-first.
  //   t = norm1(tgt); tgt += self_attn(q = k = t (+query_pos), v = t, tgt_key_padding_mask)
  //   t = norm2(tgt); tgt += cross_attn_image(q = t (+query_pos), k = memory (+pos), v = memory,
  //                                           memory_key_padding_mask)
  //   t = norm3(tgt); tgt += linear2(relu(linear1(t)))
  // Masks: bool [B, L] / [B, S], true = padding, or undefined. pos [B, S, d] and
  // query_pos [B, L, d] may be undefined when the matching option is off.
  torch::Tensor forward(const torch::Tensor& tgt, const torch::Tensor& memory,
                        const torch::Tensor& tgt_key_padding_mask = {},
                        const torch::Tensor& memory_key_padding_mask = {}, const torch::Tensor& pos = {},
                        const torch::Tensor& query_pos = {});

  MultiheadAttention self_attn{nullptr}, cross_attn_image{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};

private:
  EncoderLayerOptions o_;
};
TORCH_MODULE(TransformerEncoderLayer);

struct FusionEncoderOutput {
  torch::Tensor memory;  // encoder_hidden_states: [H*W, B, d] seq-first (token index = y*W + x)
  torch::Tensor pos;     // pos_embed for the decoder: [H*W, B, d] seq-first (the flattened img_pos)
};

// TransformerEncoderFusion as SAM 3 builds it: num_feature_levels = 1 (no
// level_embed), add_pooled_text_to_img_feat = false (no text_pooling_proj), no
// final norm. Layers: self-attention pos on q/k, no pos in the cross-attention.
// Checkpoint prefix: "detector.transformer.encoder."; parameters layers.N.*.
class TransformerEncoderFusionImpl : public torch::nn::Module {
public:
  explicit TransformerEncoderFusionImpl(const Sam3Config& cfg);
  // img_feat: the last kept neck level (F72 at 1008 px), [B, d, H, W] NCHW as the neck gives it.
  // img_pos:  its sine position encoding, [B, d, H, W].
  // prompt:   [L_p, B, d] seq-first (text features then geometry tokens; see assemble_prompt).
  // prompt_mask: [B, L_p] bool, true = padding.
  // layer_outputs (optional): receives each layer's output, batch-first [B, H*W, d].
  FusionEncoderOutput forward(const torch::Tensor& img_feat, const torch::Tensor& img_pos,
                              const torch::Tensor& prompt, const torch::Tensor& prompt_mask,
                              std::vector<torch::Tensor>* layer_outputs = nullptr);

  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(TransformerEncoderFusion);

struct PromptSequence {
  torch::Tensor tokens;  // [L_text + L_geo, B, d] seq-first
  torch::Tensor mask;    // [B, L_text + L_geo] bool, true = padding
};

// Sam3Image._encode_prompt with encode_text = true and no visual prompt:
// cat([text (seq-first [L_t, B, d]), geometry tokens ([L_g, B, d])], dim 0) and
// cat([text_mask [B, L_t], geo_mask [B, L_g]], dim 1). This pre-encoder prompt
// is what the fusion encoder, the decoder, the scorer and the mask head see.
PromptSequence assemble_prompt(const torch::Tensor& text_feats, const torch::Tensor& text_mask,
                               const torch::Tensor& geo_tokens, const torch::Tensor& geo_mask);

}  // namespace sam3::core
