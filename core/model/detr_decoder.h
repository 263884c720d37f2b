// SPDX-License-Identifier: Apache-2.0
// The DETR-style decoder of the SAM 3 detector (reference: sam3/model/decoder.py,
// TransformerDecoder + TransformerDecoderLayer, as built by build_sam3_image_model):
// post-norm layers with self-attention, cross-attention to the prompt tokens
// ("ca_text") and cross-attention to the encoder memory with a per-head boxRPB
// ("log") additive bias; a presence token that rides along with the queries;
// iterative box refinement in logit space; conditional query positions from a
// 4-D sine embedding of the reference boxes. Inference semantics only (no DAC,
// no one-to-many queries, no instance queries, no ROI interaction layers).
//
// Parameter names mirror the reference (checkpoint prefix
// "detector.transformer.decoder."): layers.N.{self_attn, ca_text, catext_norm,
// cross_attn, linear1, linear2, norm1, norm2, norm3}, norm, query_embed,
// reference_points, bbox_embed, presence_token, presence_token_head,
// presence_token_out_norm, boxRPB_embed_x, boxRPB_embed_y, ref_point_head.
//
// Thread-safety: forward() does not modify the module; one module may serve
// several threads at once under c10::InferenceMode.
#pragma once

#include <vector>

#include "core/model/attention.h"
#include "core/model/config.h"
#include "core/torch.h"

namespace sam3::core {

// The reference's inverse_sigmoid: x clamped to [0,1], then
// log(max(x, eps) / max(1 - x, eps)).
torch::Tensor inverse_sigmoid(const torch::Tensor& x, double eps = 1e-3);

// [..., 4] (cx, cy, w, h) -> [..., 4] (x0, y0, x1, y1), as box_ops.box_cxcywh_to_xyxy.
torch::Tensor box_cxcywh_to_xyxy(const torch::Tensor& boxes);

// One post-norm decoder layer. Inputs are batch-first here (the reference is
// seq-first; the math is per token so only the layout differs).
class TransformerDecoderLayerImpl : public torch::nn::Module {
public:
  TransformerDecoderLayerImpl(int64_t d_model, int64_t num_heads, int64_t dim_feedforward);

  // x         [B, 1+Q, D]  presence token first, then the queries
  // x_pos     [B, 1+Q, D]  query positions (zeros for the presence row)
  // prompt    [B, Lp, D]; prompt_mask [B, Lp] bool, true = padding
  // memory, memory_pos [B, HW, D]
  // rpb_bias  [B*H, 1+Q, HW] additive float (PyTorch 3-D attn_mask layout)
  // Returns [B, 1+Q, D].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& x_pos, const torch::Tensor& prompt,
                        const torch::Tensor& prompt_mask, const torch::Tensor& memory,
                        const torch::Tensor& memory_pos, const torch::Tensor& rpb_bias);

  MultiheadAttention self_attn{nullptr}, ca_text{nullptr}, cross_attn{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr}, catext_norm{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
};
TORCH_MODULE(TransformerDecoderLayer);

// What the decoder returns. All tensors are BATCH-FIRST, i.e. already in the
// layout Sam3Image._run_decoder hands on after its transpose(1, 2).
struct DecoderOutput {
  torch::Tensor hs;               // [L, B, Q, D]  norm(output of layer l) for each layer
  torch::Tensor ref_boxes;        // [L, B, Q, 4]  reference boxes (sigmoid space, cxcywh)
                                  //               that were the INPUT of layer l
  torch::Tensor presence_logits;  // [L, B, 1]     presence logit per layer (NOT clamped,
                                  //               as in the reference, trap 3)
  torch::Tensor presence_feats;   // [B, 1, D]     raw presence token after the last layer
  // Raw layer outputs before the final norm (golden decoder.layer.N.*):
  std::vector<torch::Tensor> layer_queries;   // L x [B, Q, D]
  std::vector<torch::Tensor> layer_presence;  // L x [B, 1, D]
};

class TransformerDecoderImpl : public torch::nn::Module {
public:
  explicit TransformerDecoderImpl(const Sam3Config& cfg);

  // memory      [HW, B, D] seq-first fusion-encoder output (encoder_hidden_states)
  // memory_pos  [HW, B, D] seq-first sine position encoding of the HxW level
  // prompt      [Lp, B, D] seq-first prompt tokens (text then geometry, the
  //             PRE-encoder prompt); prompt_mask [B, Lp] bool, true = padding
  // feat_h, feat_w: spatial shape of the memory (HW = feat_h * feat_w, row-major)
  // The query count, initial boxes and presence token come from the weights.
  DecoderOutput forward(const torch::Tensor& memory, const torch::Tensor& memory_pos, const torch::Tensor& prompt,
                        const torch::Tensor& prompt_mask, int64_t feat_h, int64_t feat_w);

  // sigmoid(inverse_sigmoid(ref_boxes) + bbox_embed(hs)) for any leading dims:
  // hs [..., Q, D], ref_boxes [..., Q, 4] -> [..., Q, 4] cxcywh.
  torch::Tensor predict_boxes(const torch::Tensor& hs, const torch::Tensor& ref_boxes);

  // boxRPB additive attention bias for reference boxes [B, Q, 4] (cxcywh) on an
  // HxW grid: [B*H_heads, Q, H*W], batch-major then head (PyTorch 3-D mask layout).
  torch::Tensor box_rpb_bias(const torch::Tensor& ref_boxes, int64_t feat_h, int64_t feat_w);

  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm norm{nullptr}, presence_token_out_norm{nullptr};
  torch::nn::Embedding query_embed{nullptr}, reference_points{nullptr}, presence_token{nullptr};
  Mlp bbox_embed{nullptr}, presence_token_head{nullptr}, boxRPB_embed_x{nullptr}, boxRPB_embed_y{nullptr},
      ref_point_head{nullptr};

private:
  int64_t d_model_, num_heads_;
};
TORCH_MODULE(TransformerDecoder);

}  // namespace sam3::core
