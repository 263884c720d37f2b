// SPDX-License-Identifier: Apache-2.0
// SequenceGeometryEncoder (sam3/model/geometry_encoders.py): turns box (and
// point) exemplars into prompt tokens. Always runs, even for a text-only
// prompt (the output is then the CLS token alone).
//
// Layout conventions (the reference's Prompt class): sequences are seq-first
// [N, B, C]; masks are batch-first [B, N] bool with true = padding, and every
// sequence is right-padded. Labels: 1 / true = positive, 0 / false = negative.
// Thread-safety: forward() does not mutate the module; concurrent calls on one
// instance are safe under c10::InferenceMode.
#pragma once

#include <cstdint>

#include "core/model/config.h"
#include "core/model/fusion_encoder.h"
#include "core/torch.h"

namespace sam3::core {

// The reference's Prompt, without mask prompts (the image model has no mask encoder).
// Undefined tensors stand for an empty sequence; labels default to positive and
// masks to "all valid". A default-constructed GeometryPrompt{} is the text-only
// case (Sam3Image._get_dummy_prompt): the output is then the CLS token alone.
// Coordinates are read as float32 (the reference builds them in float32).
struct GeometryPrompt {
  torch::Tensor boxes;         // [Nb, B, 4] float: normalized cx, cy, w, h in [0, 1] of the model input
  torch::Tensor box_labels;    // [Nb, B] bool or integer
  torch::Tensor box_mask;      // [B, Nb] bool, true = padding
  torch::Tensor points;        // [Np, B, 2] float: normalized x, y
  torch::Tensor point_labels;  // [Np, B] bool or integer
  torch::Tensor point_mask;    // [B, Np] bool, true = padding

  // B = 1 prompt from boxes [N, 4] (normalized cxcywh) and labels [N] (bool or
  // integer): what Sam3Processor builds with N calls to add_geometric_prompt.
  static GeometryPrompt from_boxes(const torch::Tensor& cxcywh, const torch::Tensor& labels);
  // Prompt.append_boxes: boxes [n, B, 4], labels [n, B], mask [B, n] (undefined =
  // all valid); padded sequences stay contiguous and right-padded.
  void append_boxes(const torch::Tensor& new_boxes, const torch::Tensor& labels, const torch::Tensor& mask = {});
  // Prompt.append_points, same conventions with points [n, B, 2].
  void append_points(const torch::Tensor& new_points, const torch::Tensor& labels, const torch::Tensor& mask = {});
};

struct GeometryEncoding {
  torch::Tensor tokens;  // [Np + Nb + 1, B, d] seq-first: points, boxes, CLS last (right-padded per batch element)
  torch::Tensor mask;    // [B, Np + Nb + 1] bool, true = padding (CLS always valid)
  torch::Tensor roi;     // roi_align(img_pre_norm(img_feat), boxes) [B * Nb, d, 7, 7], image-major
                         // (rows b*Nb .. b*Nb+Nb-1 are image b's boxes); [0, d, 7, 7] without boxes
};

// concat_padded_sequences: seq1 [L1, B, C] with mask1 [B, L1] and seq2 [L2, B, C]
// with mask2 [B, L2] (true = padding, right-padded) -> [L1 + L2, B, C] where
// image b's valid seq2 items follow its valid seq1 items; mask [B, L1 + L2].
std::pair<torch::Tensor, torch::Tensor> concat_padded_sequences(const torch::Tensor& seq1, const torch::Tensor& mask1,
                                                                const torch::Tensor& seq2, const torch::Tensor& mask2);

// As SAM 3 builds it: encode_boxes_as_points = false (2 labels), direct +
// pool + pos-enc projections for both boxes and points, roi 7x7, CLS token,
// post-encode projection, cfg.geometry.num_layers pre-norm layers (self-attn
// without pos and with the prompt padding mask; cross-attn to the raw image
// tokens with pos on the keys only), then encode_norm.
// Checkpoint prefix "detector.geometry_encoder."; parameters cls_embed,
// label_embed, points_{direct,pool,pos_enc}_project, boxes_{direct,pool,pos_enc}_project,
// final_proj, norm, img_pre_norm, encode.N.*, encode_norm.
class SequenceGeometryEncoderImpl : public torch::nn::Module {
public:
  explicit SequenceGeometryEncoderImpl(const Sam3Config& cfg);

  // img_feat: the last kept neck level (F72 at 1008 px), [B, d, H, W] NCHW, raw
  //   (this module applies img_pre_norm itself, for pooling only).
  // img_pos: its sine position encoding, [B, d, H, W].
  // The prompt's batch B must match the image batch (index features per prompt first).
  GeometryEncoding forward(const GeometryPrompt& prompt, const torch::Tensor& img_feat, const torch::Tensor& img_pos);

  int64_t d_model() const { return d_model_; }

  torch::nn::Embedding label_embed{nullptr}, cls_embed{nullptr};
  torch::nn::Linear points_direct_project{nullptr}, points_pool_project{nullptr}, points_pos_enc_project{nullptr};
  torch::nn::Linear boxes_direct_project{nullptr}, boxes_pos_enc_project{nullptr};
  torch::nn::Conv2d boxes_pool_project{nullptr};
  torch::nn::Linear final_proj{nullptr};
  torch::nn::LayerNorm norm{nullptr}, img_pre_norm{nullptr}, encode_norm{nullptr};
  torch::nn::ModuleList encode{nullptr};

private:
  // Each returns [N, B, d] embeddings (seq-first) for a non-empty sequence.
  torch::Tensor encode_points(const torch::Tensor& points, const torch::Tensor& labels,
                              const torch::Tensor& pooled_map);
  torch::Tensor encode_boxes(const torch::Tensor& boxes, const torch::Tensor& labels, const torch::Tensor& pooled_map,
                             torch::Tensor* roi_out);

  int64_t d_model_;
  static constexpr int64_t kRoiSize = 7;
};
TORCH_MODULE(SequenceGeometryEncoder);

}  // namespace sam3::core
