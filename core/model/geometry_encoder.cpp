// SPDX-License-Identifier: Apache-2.0
#include "core/model/geometry_encoder.h"

#include "core/model/position_encoding.h"
#include "core/model/roi_align.h"

namespace sam3::core {
namespace {

namespace F = torch::nn::functional;

// Fills the defaults of Prompt._init_box/_init_point for one kind of item:
// an undefined sequence is empty, undefined labels are positive, an undefined
// mask is all-valid. Everything moves to `device`.
struct Items {
  torch::Tensor seq, labels, mask;
  int64_t size() const { return seq.size(0); }
};

Items normalize_items(const torch::Tensor& seq, const torch::Tensor& labels, const torch::Tensor& mask, int64_t B,
                      int64_t width, const torch::Device& device, const char* what) {
  Items it;
  it.seq = seq.defined() ? seq.to(device, torch::kFloat32) : torch::zeros({0, B, width}, torch::device(device));
  TORCH_CHECK(it.seq.dim() == 3 && it.seq.size(1) == B && it.seq.size(2) == width, "geometry encoder: ", what,
              " must be [N, ", B, ", ", width, "] (seq-first, batch of the image), got ", it.seq.sizes());
  const int64_t N = it.seq.size(0);
  it.labels = labels.defined() ? labels.to(device, torch::kLong)
                               : torch::ones({N, B}, torch::dtype(torch::kLong).device(device));
  TORCH_CHECK(it.labels.sizes() == torch::IntArrayRef({N, B}), "geometry encoder: ", what, " labels must be [", N,
              ", ", B, "], got ", it.labels.sizes());
  it.mask = mask.defined() ? mask.to(device, torch::kBool)
                           : torch::zeros({B, N}, torch::dtype(torch::kBool).device(device));
  TORCH_CHECK(it.mask.sizes() == torch::IntArrayRef({B, N}), "geometry encoder: ", what, " mask must be [", B, ", ",
              N, "], got ", it.mask.sizes());
  return it;
}

// Prompt.append_boxes / append_points on one (sequence, labels, mask) triple.
void append_items(torch::Tensor& seq, torch::Tensor& labels, torch::Tensor& mask, const torch::Tensor& new_seq,
                  const torch::Tensor& new_labels, const torch::Tensor& new_mask, int64_t width, const char* what) {
  TORCH_CHECK(new_seq.dim() == 3 && new_seq.size(2) == width, "append ", what, ": expected [n, B, ", width,
              "], got ", new_seq.sizes());
  const int64_t n = new_seq.size(0), B = new_seq.size(1);
  TORCH_CHECK(new_labels.sizes() == torch::IntArrayRef({n, B}), "append ", what, ": labels must be [", n, ", ", B,
              "], got ", new_labels.sizes());
  auto m = new_mask.defined() ? new_mask.to(torch::kBool)
                              : torch::zeros({B, n}, torch::dtype(torch::kBool).device(new_seq.device()));
  auto l = new_labels.to(torch::kLong);
  if (!seq.defined()) {
    seq = new_seq;
    labels = l;
    mask = m;
    return;
  }
  TORCH_CHECK(seq.size(1) == B, "append ", what, ": batch ", B, " differs from the prompt's ", seq.size(1));
  if (!labels.defined()) labels = torch::ones({seq.size(0), B}, torch::dtype(torch::kLong).device(seq.device()));
  if (!mask.defined()) mask = torch::zeros({B, seq.size(0)}, torch::dtype(torch::kBool).device(seq.device()));
  auto [cat_labels, unused] = concat_padded_sequences(labels.to(torch::kLong).unsqueeze(-1), mask, l.unsqueeze(-1), m);
  (void)unused;
  labels = cat_labels.squeeze(-1);
  std::tie(seq, mask) = concat_padded_sequences(seq, mask, new_seq, m);
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> concat_padded_sequences(const torch::Tensor& seq1, const torch::Tensor& mask1,
                                                                const torch::Tensor& seq2, const torch::Tensor& mask2) {
  TORCH_CHECK(seq1.dim() == 3 && seq2.dim() == 3 && seq1.size(1) == seq2.size(1) && seq1.size(2) == seq2.size(2),
              "concat_padded_sequences expects [L1, B, C] and [L2, B, C], got ", seq1.sizes(), " and ",
              seq2.sizes());
  const int64_t L1 = seq1.size(0), L2 = seq2.size(0), B = seq1.size(1), C = seq1.size(2);
  TORCH_CHECK(mask1.sizes() == torch::IntArrayRef({B, L1}) && mask2.sizes() == torch::IntArrayRef({B, L2}),
              "concat_padded_sequences expects masks [", B, ", ", L1, "] and [", B, ", ", L2, "], got ",
              mask1.sizes(), " and ", mask2.sizes());
  const auto dev = seq2.device();
  auto len1 = mask1.logical_not().sum(-1);  // [B] valid items of seq1
  auto len2 = mask2.logical_not().sum(-1);
  auto mask = torch::arange(L1 + L2, torch::dtype(torch::kLong).device(dev)).unsqueeze(0).repeat({B, 1}) >=
              (len1 + len2).unsqueeze(1);
  auto out = torch::zeros({L1 + L2, B, C}, seq2.options());
  out.narrow(0, 0, L1).copy_(seq1);
  // seq2's items (padding included) move to just after each image's valid seq1 items.
  auto index = torch::arange(L2, torch::dtype(torch::kLong).device(dev)).unsqueeze(1).repeat({1, B}) +
               len1.unsqueeze(0);
  out = out.scatter(0, index.unsqueeze(-1).expand({L2, B, C}), seq2);
  return {out, mask};
}

GeometryPrompt GeometryPrompt::from_boxes(const torch::Tensor& cxcywh, const torch::Tensor& labels) {
  TORCH_CHECK(cxcywh.dim() == 2 && cxcywh.size(1) == 4, "GeometryPrompt::from_boxes expects boxes [N, 4], got ",
              cxcywh.sizes());
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == cxcywh.size(0),
              "GeometryPrompt::from_boxes expects labels [", cxcywh.size(0), "], got ", labels.sizes());
  GeometryPrompt p;
  const int64_t N = cxcywh.size(0);
  p.boxes = cxcywh.to(torch::kFloat32).view({N, 1, 4});
  p.box_labels = labels.to(torch::kLong).view({N, 1});
  p.box_mask = torch::zeros({1, N}, torch::dtype(torch::kBool).device(cxcywh.device()));
  return p;
}

void GeometryPrompt::append_boxes(const torch::Tensor& new_boxes, const torch::Tensor& labels,
                                  const torch::Tensor& mask) {
  append_items(boxes, box_labels, box_mask, new_boxes.to(torch::kFloat32), labels, mask, 4, "boxes");
}

void GeometryPrompt::append_points(const torch::Tensor& new_points, const torch::Tensor& labels,
                                   const torch::Tensor& mask) {
  append_items(points, point_labels, point_mask, new_points.to(torch::kFloat32), labels, mask, 2, "points");
}

SequenceGeometryEncoderImpl::SequenceGeometryEncoderImpl(const Sam3Config& cfg) : d_model_(cfg.d_model) {
  const int64_t d = d_model_;
  // Registration order follows the reference's __init__ (only names matter for loading).
  label_embed = register_module("label_embed", torch::nn::Embedding(2, d));
  cls_embed = register_module("cls_embed", torch::nn::Embedding(1, d));
  points_direct_project = register_module("points_direct_project", torch::nn::Linear(2, d));
  points_pool_project = register_module("points_pool_project", torch::nn::Linear(d, d));
  points_pos_enc_project = register_module("points_pos_enc_project", torch::nn::Linear(d, d));
  boxes_direct_project = register_module("boxes_direct_project", torch::nn::Linear(4, d));
  boxes_pool_project =
      register_module("boxes_pool_project", torch::nn::Conv2d(torch::nn::Conv2dOptions(d, d, kRoiSize)));
  boxes_pos_enc_project = register_module("boxes_pos_enc_project", torch::nn::Linear(d + 2, d));
  final_proj = register_module("final_proj", torch::nn::Linear(d, d));
  norm = register_module("norm", make_layer_norm(d));
  img_pre_norm = register_module("img_pre_norm", make_layer_norm(d));

  EncoderLayerOptions o;
  o.d_model = d;
  o.num_heads = cfg.geometry.num_heads;
  o.dim_feedforward = cfg.geometry.dim_feedforward;
  o.pos_enc_at_attn = false;
  o.pos_enc_at_cross_attn_queries = false;
  o.pos_enc_at_cross_attn_keys = true;
  encode = register_module("encode", torch::nn::ModuleList());
  for (int i = 0; i < cfg.geometry.num_layers; ++i) encode->push_back(TransformerEncoderLayer(o));
  encode_norm = register_module("encode_norm", make_layer_norm(d));
}

torch::Tensor SequenceGeometryEncoderImpl::encode_points(const torch::Tensor& points, const torch::Tensor& labels,
                                                         const torch::Tensor& pooled_map) {
  const int64_t Np = points.size(0), B = points.size(1), d = d_model_;
  auto embed = points_direct_project->forward(points);

  // grid_sample wants [B, H_out = Np, W_out = 1, 2] in [-1, 1] (x, y order).
  auto grid = points.transpose(0, 1).unsqueeze(2) * 2 - 1;
  const auto opts =
      F::GridSampleFuncOptions().mode(torch::kBilinear).padding_mode(torch::kZeros).align_corners(false);
  auto sampled = F::grid_sample(pooled_map, grid, opts);
  sampled = sampled.squeeze(-1).permute({2, 0, 1});  // [B, d, Np, 1] -> [Np, B, d]
  embed = embed + points_pool_project->forward(sampled);

  // Points concatenate x then y (boxes use y then x: trap 10).
  auto xy = points.unbind(-1);
  auto [px, py] = sine_encode_xy(xy[0].flatten(), xy[1].flatten(), d);
  auto enc = torch::cat({px.view({Np, B, -1}), py.view({Np, B, -1})}, -1);
  embed = embed + points_pos_enc_project->forward(enc);

  return label_embed->forward(labels) + embed;
}

torch::Tensor SequenceGeometryEncoderImpl::encode_boxes(const torch::Tensor& boxes, const torch::Tensor& labels,
                                                        const torch::Tensor& pooled_map, torch::Tensor* roi_out) {
  const int64_t Nb = boxes.size(0), B = boxes.size(1), d = d_model_;
  const int64_t H = pooled_map.size(2), W = pooled_map.size(3);
  auto embed = boxes_direct_project->forward(boxes);

  // Normalized cxcywh -> xyxy in feature-grid pixels, then one roi per (image, box), image-major.
  auto c = boxes.unbind(-1);
  auto xyxy = torch::stack({c[0] - 0.5 * c[2], c[1] - 0.5 * c[3], c[0] + 0.5 * c[2], c[1] + 0.5 * c[3]}, -1);
  auto scale = torch::tensor({static_cast<float>(W), static_cast<float>(H), static_cast<float>(W),
                              static_cast<float>(H)}, boxes.options());
  xyxy = (xyxy * scale.view({1, 1, 4})).transpose(0, 1).reshape({B * Nb, 4});
  auto batch_idx = torch::arange(B, boxes.options()).repeat_interleave(Nb).unsqueeze(1);
  auto roi = roi_align(pooled_map, torch::cat({batch_idx, xyxy}, 1), kRoiSize, kRoiSize, 1.0, -1, false);
  if (roi_out) *roi_out = roi;
  auto pooled = boxes_pool_project->forward(roi).view({B, Nb, d}).transpose(0, 1);
  embed = embed + pooled;

  auto enc = sine_encode_boxes(c[0].flatten(), c[1].flatten(), c[2].flatten(), c[3].flatten(), d);
  embed = embed + boxes_pos_enc_project->forward(enc.view({Nb, B, -1}));

  return label_embed->forward(labels) + embed;
}

GeometryEncoding SequenceGeometryEncoderImpl::forward(const GeometryPrompt& prompt, const torch::Tensor& img_feat,
                                                      const torch::Tensor& img_pos) {
  const int64_t d = d_model_;
  TORCH_CHECK(img_feat.dim() == 4 && img_feat.size(1) == d && img_pos.sizes() == img_feat.sizes(),
              "geometry encoder expects img_feat and img_pos [B, ", d, ", H, W] of the same shape, got ",
              img_feat.sizes(), " and ", img_pos.sizes());
  const int64_t B = img_feat.size(0), H = img_feat.size(2), W = img_feat.size(3);
  const auto dev = img_feat.device();
  const Items pts = normalize_items(prompt.points, prompt.point_labels, prompt.point_mask, B, 2, dev, "points");
  const Items bxs = normalize_items(prompt.boxes, prompt.box_labels, prompt.box_mask, B, 4, dev, "boxes");

  // Seq-first image tokens [H*W, B, d] as the reference keeps them.
  auto img_tokens = img_feat.flatten(2).permute({2, 0, 1});
  auto pos_tokens = img_pos.flatten(2).permute({2, 0, 1});

  // Pooling reads the LayerNorm'd map; the cross-attention reads the raw one (trap 15).
  torch::Tensor pooled_map;
  if (pts.size() > 0 || bxs.size() > 0)
    pooled_map = img_pre_norm->forward(img_tokens).permute({1, 2, 0}).reshape({B, d, H, W});

  auto empty = torch::zeros({0, B, d}, img_feat.options());
  auto embeds = pts.size() > 0 ? encode_points(pts.seq, pts.labels, pooled_map) : empty;
  auto mask = pts.mask;

  GeometryEncoding out;
  out.roi = torch::zeros({0, d, kRoiSize, kRoiSize}, img_feat.options());
  auto box_embeds = bxs.size() > 0 ? encode_boxes(bxs.seq, bxs.labels, pooled_map, &out.roi) : empty;
  std::tie(embeds, mask) = concat_padded_sequences(embeds, mask, box_embeds, bxs.mask);

  auto cls = cls_embed->weight.view({1, 1, d}).repeat({1, B, 1});
  std::tie(embeds, mask) =
      concat_padded_sequences(embeds, mask, cls, torch::zeros({B, 1}, torch::dtype(torch::kBool).device(dev)));

  embeds = norm->forward(final_proj->forward(embeds));

  // The layers are batch-first; MHA math is layout-independent.
  auto x = embeds.transpose(0, 1);
  auto mem = img_tokens.transpose(0, 1);
  auto mem_pos = pos_tokens.transpose(0, 1);
  for (const auto& m : *encode)
    x = m->as<TransformerEncoderLayer>()->forward(x, mem, /*tgt_key_padding_mask=*/mask,
                                                  /*memory_key_padding_mask=*/{}, /*pos=*/mem_pos);
  out.tokens = encode_norm->forward(x).transpose(0, 1);
  out.mask = mask;
  return out;
}

}  // namespace sam3::core
