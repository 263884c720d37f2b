// SPDX-License-Identifier: Apache-2.0
#include "core/model/tracker_modules.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/model/position_encoding.h"

namespace sam3::core {

namespace F = torch::nn::functional;

TrackerConfig TrackerConfig::tiny() {
  TrackerConfig c;
  c.image_size = 252;
  c.hidden_dim = 64;
  c.mem_dim = 32;
  c.memory_attention_layers = 2;
  c.memory_attention_ffn = 128;
  return c;
}

// ---------------------------------------------------------------- memory attention

MemoryAttentionLayerImpl::MemoryAttentionLayerImpl(const TrackerConfig& c) {
  const int64_t d = c.hidden_dim;
  SamRoPEAttentionOptions sa{SamAttentionOptions{d, c.memory_attention_heads, 1, -1}, c.rope_theta, false};
  SamRoPEAttentionOptions ca{SamAttentionOptions{d, c.memory_attention_heads, 1, c.mem_dim}, c.rope_theta, true};
  self_attn = register_module("self_attn", SamRoPEAttention(sa));
  cross_attn_image = register_module("cross_attn_image", SamRoPEAttention(ca));
  linear1 = register_module("linear1", torch::nn::Linear(d, c.memory_attention_ffn));
  linear2 = register_module("linear2", torch::nn::Linear(c.memory_attention_ffn, d));
  norm1 = register_module("norm1", make_layer_norm(d));
  norm2 = register_module("norm2", make_layer_norm(d));
  norm3 = register_module("norm3", make_layer_norm(d));
}

torch::Tensor MemoryAttentionLayerImpl::forward(const torch::Tensor& tgt_in, const torch::Tensor& memory,
                                                const torch::Tensor& pos, int64_t num_k_exclude_rope) {
  // pos_enc_at_attn = false, pos_enc_at_cross_attn_queries = false, keys = memory + pos.
  auto h = norm1->forward(tgt_in);
  auto tgt = tgt_in + self_attn->forward(h, h, h);
  h = norm2->forward(tgt);
  tgt = tgt + cross_attn_image->forward(h, memory + pos, memory, num_k_exclude_rope);
  h = norm3->forward(tgt);
  return tgt + linear2->forward(torch::relu(linear1->forward(h)));
}

MemoryAttentionImpl::MemoryAttentionImpl(const TrackerConfig& c) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.memory_attention_layers; ++i) layers->push_back(MemoryAttentionLayer(c));
  norm = register_module("norm", make_layer_norm(c.hidden_dim));
}

torch::Tensor MemoryAttentionImpl::forward(const torch::Tensor& src, const torch::Tensor& src_pos,
                                           const torch::Tensor& prompt, const torch::Tensor& prompt_pos,
                                           int64_t num_obj_ptr_tokens) {
  TORCH_CHECK(src.dim() == 4 && src_pos.sizes() == src.sizes(), "MemoryAttention: expected src and src_pos ",
              "[B,C,H,W] of equal shape, got ", src.sizes(), " and ", src_pos.sizes());
  TORCH_CHECK(prompt.dim() == 3 && prompt.size(0) == src.size(0) && prompt_pos.sizes() == prompt.sizes(),
              "MemoryAttention: expected prompt/prompt_pos [B,Nk,mem_dim] with B=", src.size(0), ", got ",
              prompt.sizes(), " and ", prompt_pos.sizes());
  const int64_t B = src.size(0), C = src.size(1), H = src.size(2), W = src.size(3);
  auto x = src.flatten(2).transpose(1, 2);
  auto p = src_pos.flatten(2).transpose(1, 2);
  x = x + 0.1 * p;  // pos_enc_at_input
  for (const auto& m : *layers)
    x = m->as<MemoryAttentionLayer>()->forward(x, prompt, prompt_pos, num_obj_ptr_tokens);
  x = norm->forward(x);
  return x.transpose(1, 2).reshape({B, C, H, W});
}

TrackerTransformerImpl::TrackerTransformerImpl(const TrackerConfig& c) {
  encoder = register_module("encoder", MemoryAttention(c));
}

// ---------------------------------------------------------------- memory encoder

CXBlockImpl::CXBlockImpl(int64_t dim, int64_t kernel_size) {
  dwconv = register_module(
      "dwconv", torch::nn::Conv2d(torch::nn::Conv2dOptions(dim, dim, kernel_size).padding(kernel_size / 2).groups(dim)));
  norm = register_module("norm", SamLayerNorm2d(dim, 1e-6));
  pwconv1 = register_module("pwconv1", torch::nn::Linear(dim, 4 * dim));
  pwconv2 = register_module("pwconv2", torch::nn::Linear(4 * dim, dim));
  gamma = register_parameter("gamma", torch::full({dim}, 1e-6));
}

torch::Tensor CXBlockImpl::forward(const torch::Tensor& input) {
  auto x = norm->forward(dwconv->forward(input));
  x = x.permute({0, 2, 3, 1});
  x = pwconv2->forward(torch::gelu(pwconv1->forward(x)));
  x = gamma * x;
  return input + x.permute({0, 3, 1, 2});
}

MaskMemoryEncoderImpl::MaskMemoryEncoderImpl(const TrackerConfig& c)
    : interpol_size_(c.input_mask_size()), mem_dim_(c.mem_dim) {
  namespace nn = torch::nn;
  const auto num_layers = static_cast<int64_t>(
      std::llround(std::log2(static_cast<double>(c.mask_downsampler_total_stride)) /
                   std::log2(static_cast<double>(c.mask_downsampler_stride))));
  mask_downsampler_encoder = nn::Sequential();
  int64_t in_ch = 1, out_ch = 1;
  for (int64_t i = 0; i < num_layers; ++i) {
    out_ch = in_ch * c.mask_downsampler_stride * c.mask_downsampler_stride;
    mask_downsampler_encoder->push_back(nn::Conv2d(nn::Conv2dOptions(in_ch, out_ch, c.mask_downsampler_kernel)
                                                       .stride(c.mask_downsampler_stride)
                                                       .padding(c.mask_downsampler_padding)));
    mask_downsampler_encoder->push_back(SamLayerNorm2d(out_ch));
    mask_downsampler_encoder->push_back(nn::GELU());
    in_ch = out_ch;
  }
  mask_downsampler_encoder->push_back(nn::Conv2d(nn::Conv2dOptions(out_ch, c.hidden_dim, 1)));
  mask_downsampler = register_module("mask_downsampler", std::make_shared<nn::Module>());
  mask_downsampler->register_module("encoder", mask_downsampler_encoder);

  pix_feat_proj = register_module("pix_feat_proj", nn::Conv2d(nn::Conv2dOptions(c.hidden_dim, c.hidden_dim, 1)));
  fuser_layers = nn::ModuleList();
  for (int64_t i = 0; i < c.fuser_layers; ++i) fuser_layers->push_back(CXBlock(c.hidden_dim, c.fuser_kernel_size));
  fuser = register_module("fuser", std::make_shared<nn::Module>());
  fuser->register_module("layers", fuser_layers);
  TORCH_CHECK(c.mem_dim != c.hidden_dim, "MaskMemoryEncoder: mem_dim == hidden_dim (no out_proj) is not supported");
  out_proj = register_module("out_proj", nn::Conv2d(nn::Conv2dOptions(c.hidden_dim, c.mem_dim, 1)));
}

std::pair<torch::Tensor, torch::Tensor> MaskMemoryEncoderImpl::forward(const torch::Tensor& pix_feat,
                                                                       const torch::Tensor& masks_in) {
  auto masks = masks_in;
  if (masks.size(-2) != interpol_size_ || masks.size(-1) != interpol_size_) {
    masks = F::interpolate(masks.to(torch::kFloat32), F::InterpolateFuncOptions()
                                                          .size(std::vector<int64_t>{interpol_size_, interpol_size_})
                                                          .mode(torch::kBilinear)
                                                          .align_corners(false)
                                                          .antialias(true));
  }
  masks = mask_downsampler_encoder->forward(masks);
  auto x = pix_feat_proj->forward(pix_feat.to(masks.device())) + masks;
  for (const auto& m : *fuser_layers) x = m->as<CXBlock>()->forward(x);
  x = out_proj->forward(x);
  auto pos = sine_position_map(x.size(0), x.size(2), x.size(3), mem_dim_, x.options().dtype(torch::kFloat32))
                 .to(x.scalar_type());
  return {x, pos};
}

// ---------------------------------------------------------------- tracker model

TrackerModelImpl::TrackerModelImpl(const TrackerConfig& c) : c_(c) {
  namespace nn = torch::nn;
  if (c.image_size <= 0 || c.backbone_stride <= 0 || c.image_size % c.backbone_stride != 0)
    throw InvalidInput("tracker config: image_size " + std::to_string(c.image_size) +
                       " must be a positive multiple of backbone_stride " + std::to_string(c.backbone_stride));
  if (c.mem_dim <= 0 || c.hidden_dim % c.mem_dim != 0 || c.mem_dim == c.hidden_dim)
    throw InvalidInput("tracker config: mem_dim " + std::to_string(c.mem_dim) +
                       " must be a proper divisor of hidden_dim " + std::to_string(c.hidden_dim) +
                       " (object pointers are split into hidden_dim / mem_dim tokens)");
  if (c.num_maskmem < 1)
    throw InvalidInput("tracker config: num_maskmem must be >= 1, got " + std::to_string(c.num_maskmem));
  const int64_t d = c.hidden_dim, m = c.mem_dim;
  maskmem_tpos_enc = register_parameter("maskmem_tpos_enc", torch::zeros({c.num_maskmem, 1, 1, m}));
  no_mem_embed = register_parameter("no_mem_embed", torch::zeros({1, 1, d}));
  no_mem_pos_enc = register_parameter("no_mem_pos_enc", torch::zeros({1, 1, d}));
  no_obj_ptr = register_parameter("no_obj_ptr", torch::zeros({1, d}));
  no_obj_embed_spatial = register_parameter("no_obj_embed_spatial", torch::zeros({1, m}));
  mask_downsample = register_module("mask_downsample", nn::Conv2d(nn::Conv2dOptions(1, 1, 4).stride(4)));
  transformer = register_module("transformer", TrackerTransformer(c));
  maskmem_backbone = register_module("maskmem_backbone", MaskMemoryEncoder(c));

  SamPromptEncoderOptions pe;
  pe.embed_dim = d;
  pe.image_embedding_size = c.grid();
  pe.input_image_size = c.image_size;
  pe.mask_in_chans = c.sam_mask_in_chans;
  sam_prompt_encoder = register_module("sam_prompt_encoder", SamPromptEncoder(pe));

  SamMaskDecoderOptions md;
  md.transformer_dim = d;
  md.transformer = TwoWayTransformerOptions{c.two_way_depth, d, c.two_way_heads, c.two_way_mlp_dim, 2};
  md.num_multimask_outputs = c.num_multimask_outputs;
  md.iou_head_hidden_dim = c.iou_head_hidden_dim;
  md.dynamic_multimask_stability_delta = c.dynamic_multimask_stability_delta;
  md.dynamic_multimask_stability_thresh = c.dynamic_multimask_stability_thresh;
  sam_mask_decoder = register_module("sam_mask_decoder", SamMaskDecoder(md));
  obj_ptr_proj = register_module("obj_ptr_proj", Mlp(MlpOptions{d, d, d, 3}));
  obj_ptr_tpos_proj = register_module("obj_ptr_tpos_proj", nn::Linear(d, m));
}

bool TrackerModelImpl::use_multimask(bool is_init_cond_frame, int64_t num_points) const {
  return c_.multimask_output_in_sam && (is_init_cond_frame || c_.multimask_output_for_tracking) &&
         c_.multimask_min_pt_num <= num_points && num_points <= c_.multimask_max_pt_num;
}

torch::Tensor TrackerModelImpl::add_no_mem_embed(const torch::Tensor& pix_feat) const {
  return pix_feat + no_mem_embed.view({1, -1, 1, 1}).to(pix_feat.scalar_type());
}

SamHeadsOutput TrackerModelImpl::forward_sam_heads(const torch::Tensor& feats, const torch::Tensor& point_coords,
                                                   const torch::Tensor& point_labels,
                                                   const torch::Tensor& mask_inputs,
                                                   const std::vector<torch::Tensor>& high_res,
                                                   bool multimask_output, bool compute_high_res) {
  const int64_t B = feats.size(0), g = c_.grid();
  TORCH_CHECK(feats.dim() == 4 && feats.size(1) == c_.hidden_dim && feats.size(2) == g && feats.size(3) == g,
              "SAM heads: expected features [B,", c_.hidden_dim, ",", g, ",", g, "], got ", feats.sizes());
  torch::Tensor coords = point_coords, labels = point_labels;
  if (!coords.defined()) {
    coords = torch::zeros({B, 1, 2}, feats.options().dtype(torch::kFloat32));
    labels = -torch::ones({B, 1}, feats.options().dtype(torch::kInt32));
  }
  torch::Tensor mask_prompt;
  if (mask_inputs.defined()) {
    const int64_t s = sam_prompt_encoder->mask_input_size();
    mask_prompt = mask_inputs;
    if (mask_inputs.size(-2) != s || mask_inputs.size(-1) != s) {
      mask_prompt = F::interpolate(mask_inputs.to(torch::kFloat32), F::InterpolateFuncOptions()
                                                                         .size(std::vector<int64_t>{s, s})
                                                                         .mode(torch::kBilinear)
                                                                         .align_corners(false)
                                                                         .antialias(true));
    }
  }
  auto [sparse, dense] = sam_prompt_encoder->forward(coords, labels, mask_prompt);
  auto image_pe = sam_prompt_encoder->get_dense_pe();
  auto dec = sam_mask_decoder->forward(feats, image_pe, sparse, dense, multimask_output, false, high_res);

  SamHeadsOutput out;
  out.object_score_logits = dec.object_score_logits;
  auto appearing = dec.object_score_logits > 0;  // [B, 1]
  out.low_res_multimasks =
      torch::where(appearing.view({B, 1, 1, 1}), dec.masks, torch::full({}, kNoObjScore, dec.masks.options()))
          .to(torch::kFloat32);
  out.ious = dec.iou_pred;
  if (compute_high_res) {
    out.high_res_multimasks = F::interpolate(out.low_res_multimasks,
                                             F::InterpolateFuncOptions()
                                                 .size(std::vector<int64_t>{c_.image_size, c_.image_size})
                                                 .mode(torch::kBilinear)
                                                 .align_corners(false));
  }
  auto token = dec.sam_tokens_out.select(1, 0);
  if (multimask_output) {
    auto best = torch::argmax(dec.iou_pred, -1);
    auto batch = torch::arange(B, best.options());
    out.low_res_masks = out.low_res_multimasks.index({batch, best}).unsqueeze(1);
    if (compute_high_res) out.high_res_masks = out.high_res_multimasks.index({batch, best}).unsqueeze(1);
    if (dec.sam_tokens_out.size(1) > 1) token = dec.sam_tokens_out.index({batch, best});
  } else {
    out.low_res_masks = out.low_res_multimasks;
    out.high_res_masks = out.high_res_multimasks;
  }
  auto lam = appearing.to(torch::kFloat32);
  auto ptr = obj_ptr_proj->forward(token);
  out.obj_ptr = lam * ptr + (1 - lam) * no_obj_ptr;
  return out;
}

SamHeadsOutput TrackerModelImpl::use_mask_as_output(const torch::Tensor& backbone_features,
                                                   const std::vector<torch::Tensor>& high_res,
                                                   const torch::Tensor& mask_inputs) {
  TORCH_CHECK(mask_inputs.dim() == 4 && mask_inputs.size(1) == 1, "use_mask_as_output: expected [B,1,S,S], got ",
              mask_inputs.sizes());
  const int64_t B = mask_inputs.size(0);
  auto m = mask_inputs.to(torch::kFloat32);
  SamHeadsOutput out;
  out.high_res_masks = m * 20.0 - 10.0;
  out.low_res_masks = F::interpolate(out.high_res_masks,
                                     F::InterpolateFuncOptions()
                                         .size(std::vector<int64_t>{m.size(-2) / c_.backbone_stride * 4,
                                                                    m.size(-1) / c_.backbone_stride * 4})
                                         .mode(torch::kBilinear)
                                         .align_corners(false)
                                         .antialias(true));
  out.low_res_multimasks = out.low_res_masks;
  out.high_res_multimasks = out.high_res_masks;
  out.ious = torch::ones({B, 1}, m.options());
  auto sam = forward_sam_heads(backbone_features, {}, {}, mask_downsample->forward(m), high_res, false, false);
  auto lam = (m.flatten(1) > 0).any(1).to(torch::kFloat32).unsqueeze(-1);  // [B, 1]
  out.object_score_logits = 20.0 * lam - 10.0;
  out.obj_ptr = lam * sam.obj_ptr + (1 - lam) * no_obj_ptr;
  return out;
}

std::pair<torch::Tensor, torch::Tensor> TrackerModelImpl::encode_new_memory(const torch::Tensor& pix_feat,
                                                                            const torch::Tensor& masks_high_res,
                                                                            const torch::Tensor& object_score_logits,
                                                                            bool is_mask_from_pts) {
  auto m = is_mask_from_pts ? (masks_high_res > 0).to(torch::kFloat32) : torch::sigmoid(masks_high_res);
  if (c_.sigmoid_scale_for_mem_enc != 1.0) m = m * c_.sigmoid_scale_for_mem_enc;
  if (c_.sigmoid_bias_for_mem_enc != 0.0) m = m + c_.sigmoid_bias_for_mem_enc;
  auto [feat, pos] = maskmem_backbone->forward(pix_feat, m);
  auto absent = 1 - (object_score_logits > 0).to(feat.scalar_type()).view({-1, 1, 1, 1});
  feat = feat + absent * no_obj_embed_spatial.view({1, -1, 1, 1}).expand(feat.sizes());
  return {feat, pos};
}

torch::Tensor TrackerModelImpl::pointer_tpos_enc(const std::vector<int64_t>& rel_pos, int64_t max_abs_pos) {
  const int64_t t_diff_max = max_abs_pos - 1;
  auto opts = no_obj_ptr.options().dtype(torch::kFloat32);
  auto pos = torch::tensor(rel_pos, torch::kInt64).to(opts.device()).div(t_diff_max);  // true division -> float
  const int64_t pe_dim = c_.hidden_dim / 2;
  auto dim_t = torch::arange(pe_dim, opts);
  dim_t = torch::pow(10000.0, 2 * torch::floor_divide(dim_t, 2) / static_cast<double>(pe_dim));
  auto pe = pos.unsqueeze(-1) / dim_t;
  pe = torch::cat({pe.sin(), pe.cos()}, -1);
  return obj_ptr_tpos_proj->forward(pe);
}

torch::Tensor TrackerModelImpl::memory_conditioned_features(const torch::Tensor& pix_feat,
                                                            const torch::Tensor& pix_pos,
                                                            const std::vector<SpatialMemory>& memories,
                                                            const std::vector<PointerMemory>& pointers,
                                                            int64_t max_obj_ptrs) {
  const int64_t B = pix_feat.size(0), C = c_.hidden_dim, M = c_.mem_dim;
  std::vector<torch::Tensor> prompt, prompt_pos;
  for (const auto& mem : memories) {
    TORCH_CHECK(mem.t_pos >= 0 && mem.t_pos < c_.num_maskmem, "memory t_pos ", mem.t_pos, " out of [0, ",
                c_.num_maskmem, ")");
    prompt.push_back(mem.features.flatten(2).transpose(1, 2));  // [B, HW, M]
    auto p = mem.pos.flatten(2).transpose(1, 2);
    prompt_pos.push_back(p + maskmem_tpos_enc[c_.num_maskmem - mem.t_pos - 1].view({1, 1, M}));
  }
  int64_t num_ptr_tokens = 0;
  if (!pointers.empty()) {
    std::vector<torch::Tensor> ptrs;
    std::vector<int64_t> rel;
    for (const auto& p : pointers) {
      ptrs.push_back(p.obj_ptr);
      rel.push_back(p.rel_pos);
    }
    auto obj_ptrs = torch::stack(ptrs, 0);                     // [P, B, C]
    auto obj_pos = pointer_tpos_enc(rel, max_obj_ptrs);        // [P, M]
    obj_pos = obj_pos.unsqueeze(1).expand({-1, B, -1});        // [P, B, M]
    if (M < C) {
      // A C-wide pointer becomes C/M tokens of width M.
      obj_ptrs = obj_ptrs.reshape({-1, B, C / M, M}).permute({0, 2, 1, 3}).flatten(0, 1);
      obj_pos = obj_pos.repeat_interleave(C / M, 0);
    }
    prompt.push_back(obj_ptrs.transpose(0, 1));
    prompt_pos.push_back(obj_pos.transpose(0, 1));
    num_ptr_tokens = obj_ptrs.size(0);
  }
  TORCH_CHECK(!prompt.empty(), "memory attention needs at least one memory or pointer");
  // The reference concatenates bf16 memories with fp32 pointers: the result is fp32.
  for (auto& t : prompt) t = t.to(torch::kFloat32);
  for (auto& t : prompt_pos) t = t.to(torch::kFloat32);
  auto pr = torch::cat(prompt, 1), pp = torch::cat(prompt_pos, 1);
  return transformer->encoder->forward(pix_feat, pix_pos.to(pix_feat.scalar_type()), pr.to(pix_feat.scalar_type()),
                                       pp.to(pix_feat.scalar_type()), num_ptr_tokens);
}

std::vector<int64_t> select_closest_cond_frames(int64_t frame_idx, const std::vector<int64_t>& cond_frames,
                                                int64_t max_cond_frames) {
  if (max_cond_frames == -1 || static_cast<int64_t>(cond_frames.size()) <= max_cond_frames) return cond_frames;
  std::vector<int64_t> sel;
  int64_t before = -1, after = -1;
  bool has_before = false, has_after = false;
  for (int64_t t : cond_frames) {
    if (t < frame_idx && (!has_before || t > before)) before = t, has_before = true;
    if (t >= frame_idx && (!has_after || t < after)) after = t, has_after = true;
  }
  if (has_before) sel.push_back(before);
  if (has_after) sel.push_back(after);
  std::vector<int64_t> rest;
  for (int64_t t : cond_frames)
    if (std::find(sel.begin(), sel.end(), t) == sel.end()) rest.push_back(t);
  std::stable_sort(rest.begin(), rest.end(),
                   [&](int64_t a, int64_t b) { return std::llabs(a - frame_idx) < std::llabs(b - frame_idx); });
  const int64_t remain = max_cond_frames - static_cast<int64_t>(sel.size());
  for (int64_t i = 0; i < remain && i < static_cast<int64_t>(rest.size()); ++i) sel.push_back(rest[i]);
  return sel;
}

std::vector<int64_t> memory_frame_filter(int64_t frame_idx, bool reverse, int64_t num_frames,
                                         const std::map<int64_t, double>& non_cond_eff_scores,
                                         int64_t max_obj_ptrs_in_encoder, double mf_threshold, int64_t stride) {
  if ((frame_idx == 0 && !reverse) || (frame_idx == num_frames - 1 && reverse)) return {};
  const int64_t max_num = std::min(num_frames, max_obj_ptrs_in_encoder);
  std::vector<int64_t> valid;  // farthest first
  const int64_t must_include = reverse ? frame_idx + 1 : frame_idx - 1;
  auto visit = [&](int64_t i) {
    auto it = non_cond_eff_scores.find(i);
    if (it == non_cond_eff_scores.end()) return true;
    if (it->second > mf_threshold) valid.insert(valid.begin(), i);
    return static_cast<int64_t>(valid.size()) < max_num - 1;
  };
  if (!reverse) {
    for (int64_t i = frame_idx - 1; i > 0; i -= stride)
      if (!visit(i)) break;
  } else {
    for (int64_t i = frame_idx + 1; i < num_frames; i += stride)
      if (!visit(i)) break;
  }
  if (std::find(valid.begin(), valid.end(), must_include) == valid.end()) valid.push_back(must_include);
  return valid;
}

torch::Tensor memory_eff_iou_score(const torch::Tensor& object_score_logits, const torch::Tensor& iou_score) {
  auto norm = torch::where(object_score_logits > 0, object_score_logits.sigmoid() * 2 - 1,
                           torch::zeros_like(object_score_logits));
  return (norm * iou_score).mean();
}

}  // namespace sam3::core
