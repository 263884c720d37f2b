// SPDX-License-Identifier: Apache-2.0
// The `tracker.` part of the SAM 3 checkpoint (reference:
// sam3/model/sam3_tracker_base.py, memory.py, decoder.py
// TransformerEncoderCrossAttention / TransformerDecoderLayerv2,
// sam3/sam/transformer.py RoPEAttention, model_builder.build_tracker).
//
// TrackerModel has exactly the tracker.* parameter names and shapes of
// sam3.pt (without the "tracker." prefix; the official tracker has no
// backbone: it reads the detector's sam2 neck features). It provides the
// pure per-frame pieces of the video tracker and of the interactive image head:
// SAM heads, memory encoder, memory attention, pointer position encodings.
// The per-session state (memory bank, frame selection) lives with the caller.
//
// Thread-safety: immutable after loading; every forward takes its inputs
// explicitly and may run concurrently. Inference only (fp32 or the dtype of
// the inputs; no autocast handling here).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "core/model/attention.h"
#include "core/model/sam_mask_decoder.h"
#include "core/model/sam_prompt_encoder.h"
#include "core/model/two_way_transformer.h"
#include "core/torch.h"

namespace sam3::core {

// Constructor arguments of build_tracker (defaults = the official checkpoint).
struct TrackerConfig {
  int64_t image_size = 1008;
  int64_t backbone_stride = 14;
  int64_t hidden_dim = 256;  // d_model of the memory attention / SAM heads
  int64_t mem_dim = 64;      // maskmem_backbone out_dim
  int64_t num_maskmem = 7;
  // memory attention (TransformerEncoderCrossAttention of TransformerDecoderLayerv2)
  int64_t memory_attention_layers = 4;
  int64_t memory_attention_heads = 1;
  int64_t memory_attention_ffn = 2048;
  double rope_theta = 10000.0;
  // memory encoder (SimpleMaskEncoder)
  int64_t fuser_layers = 2;
  int64_t fuser_kernel_size = 7;
  int64_t mask_downsampler_kernel = 3;
  int64_t mask_downsampler_stride = 2;
  int64_t mask_downsampler_padding = 1;
  int64_t mask_downsampler_total_stride = 16;
  // SAM heads (hard-coded in _build_sam_heads)
  int64_t sam_mask_in_chans = 16;
  int64_t two_way_depth = 2;
  int64_t two_way_heads = 8;
  int64_t two_way_mlp_dim = 2048;
  int64_t iou_head_hidden_dim = 256;
  int64_t num_multimask_outputs = 3;
  double dynamic_multimask_stability_delta = 0.05;
  double dynamic_multimask_stability_thresh = 0.98;
  // tracking behaviour
  int64_t max_cond_frames_in_attn = 4;
  int64_t max_obj_ptrs_in_encoder = 16;
  bool multimask_output_in_sam = true;
  bool multimask_output_for_tracking = true;
  int64_t multimask_min_pt_num = 0;
  int64_t multimask_max_pt_num = 1;
  double sigmoid_scale_for_mem_enc = 20.0;
  double sigmoid_bias_for_mem_enc = -10.0;
  bool use_memory_selection = true;
  double mf_threshold = 0.01;

  int64_t grid() const { return image_size / backbone_stride; }     // 72
  int64_t low_res_mask_size() const { return grid() * 4; }          // 288
  int64_t input_mask_size() const { return low_res_mask_size() * 4; }  // 1152

  static TrackerConfig full() { return {}; }
  // shared/golden/tracker_tiny: image 252, hidden 64, mem 32, 2 memory-attention layers, FFN 128.
  static TrackerConfig tiny();
};

// One memory-attention layer (TransformerDecoderLayerv2, pre-norm, self-attn
// first): x += SA(LN1 x) with RoPE; x += CA(LN2 x, mem + mem_pos, mem) with
// RoPE on the spatial keys; x += W2 relu(W1 LN3 x).
class MemoryAttentionLayerImpl : public torch::nn::Module {
public:
  explicit MemoryAttentionLayerImpl(const TrackerConfig& c);
  // tgt [B, HW, C], memory/pos [B, Nk, mem_dim].
  torch::Tensor forward(const torch::Tensor& tgt, const torch::Tensor& memory, const torch::Tensor& pos,
                        int64_t num_k_exclude_rope);

  SamRoPEAttention self_attn{nullptr}, cross_attn_image{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
};
TORCH_MODULE(MemoryAttentionLayer);

// TransformerEncoderCrossAttention: `layers.N` + final `norm`.
class MemoryAttentionImpl : public torch::nn::Module {
public:
  explicit MemoryAttentionImpl(const TrackerConfig& c);
  // src [B, C, H, W] (current frame's F72), src_pos [B, C, H, W] (its sine PE),
  // prompt / prompt_pos [B, Nk, mem_dim] (spatial memories then pointer
  // tokens), num_obj_ptr_tokens: trailing keys that get no RoPE.
  // Returns the memory-conditioned features [B, C, H, W].
  torch::Tensor forward(const torch::Tensor& src, const torch::Tensor& src_pos, const torch::Tensor& prompt,
                        const torch::Tensor& prompt_pos, int64_t num_obj_ptr_tokens);

  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm norm{nullptr};
};
TORCH_MODULE(MemoryAttention);

// TransformerWrapper (encoder only): registered as `transformer` with child `encoder`.
class TrackerTransformerImpl : public torch::nn::Module {
public:
  explicit TrackerTransformerImpl(const TrackerConfig& c);
  MemoryAttention encoder{nullptr};
};
TORCH_MODULE(TrackerTransformer);

// ConvNeXt block of the memory fuser: dwconv, norm (LN2d), pwconv1, GELU, pwconv2, gamma.
class CXBlockImpl : public torch::nn::Module {
public:
  CXBlockImpl(int64_t dim, int64_t kernel_size);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Conv2d dwconv{nullptr};
  SamLayerNorm2d norm{nullptr};
  torch::nn::Linear pwconv1{nullptr}, pwconv2{nullptr};
  torch::Tensor gamma;
};
TORCH_MODULE(CXBlock);

// SimpleMaskEncoder: mask_downsampler.encoder (Conv/LN2d/GELU ladder 1->4->16->64->256,
// then Conv1x1 -> hidden), pix_feat_proj, fuser.layers.N (CXBlock), out_proj (hidden -> mem_dim).
class MaskMemoryEncoderImpl : public torch::nn::Module {
public:
  explicit MaskMemoryEncoderImpl(const TrackerConfig& c);
  // pix_feat [B, C, H, W] (raw F72), masks [B, 1, S, S] already scaled mask
  // values (sigmoid/binarised * 20 - 10); resized to the input mask size
  // (bilinear, antialias) when S differs. Returns {features [B, mem_dim, H, W],
  // pos [B, mem_dim, H, W]} (sine PE).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& pix_feat, const torch::Tensor& masks);

  // mask_downsampler and fuser are plain containers holding `encoder` and `layers`.
  std::shared_ptr<torch::nn::Module> mask_downsampler, fuser;
  torch::nn::Sequential mask_downsampler_encoder{nullptr};  // mask_downsampler.encoder
  torch::nn::Conv2d pix_feat_proj{nullptr}, out_proj{nullptr};
  torch::nn::ModuleList fuser_layers{nullptr};  // fuser.layers

private:
  int64_t interpol_size_, mem_dim_;
};
TORCH_MODULE(MaskMemoryEncoder);

// Output of the SAM heads for one bucket of B objects (_forward_sam_heads).
struct SamHeadsOutput {
  torch::Tensor low_res_multimasks;   // [B, M, 4h, 4w] fp32, NO_OBJ_SCORE where the object is absent
  torch::Tensor high_res_multimasks;  // [B, M, image, image] (bilinear); only when requested
  torch::Tensor ious;                 // [B, M]
  torch::Tensor low_res_masks;        // [B, 1, 4h, 4w] best (argmax IoU) or the single mask
  torch::Tensor high_res_masks;       // [B, 1, image, image]
  torch::Tensor obj_ptr;              // [B, C]
  torch::Tensor object_score_logits;  // [B, 1]
};

inline constexpr double kNoObjScore = -1024.0;

class TrackerModelImpl : public torch::nn::Module {
public:
  // \throws InvalidInput for an inconsistent config (image_size not a multiple
  // of backbone_stride, mem_dim not a proper divisor of hidden_dim).
  explicit TrackerModelImpl(const TrackerConfig& c = {});
  const TrackerConfig& config() const { return c_; }

  // Whether the SAM heads output 3 masks for this prompt (_use_multimask).
  bool use_multimask(bool is_init_cond_frame, int64_t num_points) const;

  // _forward_sam_heads. backbone_features [B, C, h, w] (memory-conditioned or
  // F72 + no_mem_embed); point_coords [B, N, 2] pixels at image_size and
  // point_labels [B, N] (undefined: one (0,0)/-1 point); mask_inputs
  // [B, 1, S, S] logits (undefined: none; resized with antialias to 4*grid);
  // high_res {S0 = conv_s0(F288), S1 = conv_s1(F144)}.
  SamHeadsOutput forward_sam_heads(const torch::Tensor& backbone_features, const torch::Tensor& point_coords,
                                   const torch::Tensor& point_labels, const torch::Tensor& mask_inputs,
                                   const std::vector<torch::Tensor>& high_res, bool multimask_output,
                                   bool compute_high_res = true);

  // _use_mask_as_output: a binary mask [B, 1, S, S] (S = image_size for user
  // masks, input_mask_size in add_new_mask) used directly as the output:
  // high = mask*20-10; low = antialiased bilinear resize to S/stride*4; IoU 1;
  // object score +-10 by whether the mask is empty; the pointer comes from the
  // SAM heads run on the RAW features (no no_mem_embed) with
  // mask_downsample(mask) as mask prompt (no_obj_ptr for empty masks).
  SamHeadsOutput use_mask_as_output(const torch::Tensor& backbone_features, const std::vector<torch::Tensor>& high_res,
                                    const torch::Tensor& mask_inputs);

  // _encode_new_memory: pix_feat [B, C, h, w] raw F72, pred_masks_high_res
  // [B, 1, image, image] logits, object_score_logits [B, 1]. Returns
  // {maskmem_features [B, mem_dim, h, w] (fp32; the reference stores bf16),
  //  maskmem_pos_enc [B, mem_dim, h, w]}.
  std::pair<torch::Tensor, torch::Tensor> encode_new_memory(const torch::Tensor& pix_feat,
                                                            const torch::Tensor& pred_masks_high_res,
                                                            const torch::Tensor& object_score_logits,
                                                            bool is_mask_from_pts);

  // Object-pointer temporal encodings: obj_ptr_tpos_proj(sine1d(rel / (max_abs_pos - 1), C)) -> [P, mem_dim].
  torch::Tensor pointer_tpos_enc(const std::vector<int64_t>& rel_pos, int64_t max_abs_pos);

  // One spatial memory for memory attention.
  struct SpatialMemory {
    torch::Tensor features;  // [B, mem_dim, h, w]
    torch::Tensor pos;       // [B, mem_dim, h, w]
    int64_t t_pos = 0;       // 0 for conditioning frames, 1..num_maskmem-1 otherwise
  };
  struct PointerMemory {
    torch::Tensor obj_ptr;  // [B, C]
    int64_t rel_pos = 0;    // |t - t'| for conditioning frames, rank d otherwise
  };
  // The memory-attention part of _prepare_memory_conditioned_features, given
  // the memories the caller selected (in the reference's order). pix_feat
  // [B, C, h, w] raw F72, pix_pos its sine PE; max_obj_ptrs = min(T, max_obj_ptrs_in_encoder).
  torch::Tensor memory_conditioned_features(const torch::Tensor& pix_feat, const torch::Tensor& pix_pos,
                                            const std::vector<SpatialMemory>& memories,
                                            const std::vector<PointerMemory>& pointers, int64_t max_obj_ptrs);

  // F72 + no_mem_embed (conditioning frames and images).
  torch::Tensor add_no_mem_embed(const torch::Tensor& pix_feat) const;

  torch::Tensor maskmem_tpos_enc, no_mem_embed, no_mem_pos_enc, no_obj_ptr, no_obj_embed_spatial;
  torch::nn::Conv2d mask_downsample{nullptr};
  TrackerTransformer transformer{nullptr};
  MaskMemoryEncoder maskmem_backbone{nullptr};
  SamPromptEncoder sam_prompt_encoder{nullptr};
  SamMaskDecoder sam_mask_decoder{nullptr};
  Mlp obj_ptr_proj{nullptr};
  torch::nn::Linear obj_ptr_tpos_proj{nullptr};

private:
  TrackerConfig c_;
};
TORCH_MODULE(TrackerModel);

// Tracker-side frame bookkeeping helpers (pure functions, reference
// sam3_tracker_utils.select_closest_cond_frames): indices of the selected
// conditioning frames in insertion order (closest before, closest at/after,
// then by |t - frame|), given the sorted-by-insertion list of cond frames.
std::vector<int64_t> select_closest_cond_frames(int64_t frame_idx, const std::vector<int64_t>& cond_frames,
                                                int64_t max_cond_frames);

// Memory selection (Sam3TrackerBase.frame_filter, SAM2Long-style): the valid
// past frames, farthest first. non_cond_eff_scores maps each non-conditioning
// frame that has an eff_iou_score to it. Forward: scans frame_idx-1 down to 1
// (frame 0 never scanned), keeps scores > mf_threshold, stops at
// min(num_frames, max_obj_ptrs_in_encoder) - 1 frames, then appends frame_idx-1
// if absent. Reverse mirrors it (scans up to num_frames-1). Empty for the first
// frame in the tracking direction.
std::vector<int64_t> memory_frame_filter(int64_t frame_idx, bool reverse, int64_t num_frames,
                                         const std::map<int64_t, double>& non_cond_eff_scores,
                                         int64_t max_obj_ptrs_in_encoder, double mf_threshold, int64_t stride = 1);

// cal_mem_score: mean over objects of (obj > 0 ? 2 sigmoid(obj) - 1 : 0) times
// mean of iou ([B,1] x [B] broadcast, as the reference) -> scalar tensor.
torch::Tensor memory_eff_iou_score(const torch::Tensor& object_score_logits, const torch::Tensor& iou_score);

}  // namespace sam3::core
