// SPDX-License-Identifier: Apache-2.0
#include "core/checkpoint/hf_layout.h"

#include <array>
#include <cctype>
#include <map>

#include "core/errors.h"

namespace sam3::core {
namespace {

// One renaming rule between an official and a transformers name prefix. '#'
// stands for a decimal index, copied across in order. A pattern ending in '.'
// matches a prefix (the rest of the key is kept); any other pattern must match
// the whole key. The longest matching pattern wins, so rule order is free.
struct Rule {
  const char* official;
  const char* hf;
  bool official_to_hf_only = false;  // several official names share this HF name
};

// clang-format off
const Rule kRules[] = {
    // ---- detector: ViT trunk
    {"detector.backbone.vision_backbone.trunk.pos_embed", "detector_model.vision_encoder.backbone.embeddings.position_embeddings"},
    {"detector.backbone.vision_backbone.trunk.patch_embed.proj.", "detector_model.vision_encoder.backbone.embeddings.patch_embeddings.projection."},
    {"detector.backbone.vision_backbone.trunk.ln_pre.", "detector_model.vision_encoder.backbone.layer_norm."},
    {"detector.backbone.vision_backbone.trunk.blocks.#.norm1.", "detector_model.vision_encoder.backbone.layers.#.layer_norm1."},
    {"detector.backbone.vision_backbone.trunk.blocks.#.norm2.", "detector_model.vision_encoder.backbone.layers.#.layer_norm2."},
    {"detector.backbone.vision_backbone.trunk.blocks.#.attn.qkv.", "detector_model.vision_encoder.backbone.layers.#.attention.qkv."},
    {"detector.backbone.vision_backbone.trunk.blocks.#.attn.proj.", "detector_model.vision_encoder.backbone.layers.#.attention.o_proj."},
    {"detector.backbone.vision_backbone.trunk.blocks.#.attn.freqs_cis", "detector_model.vision_encoder.backbone.layers.#.rotary_emb.rope_embeddings"},
    {"detector.backbone.vision_backbone.trunk.blocks.#.mlp.", "detector_model.vision_encoder.backbone.layers.#.mlp."},
    // ---- detector: neck (and the tracker's copy, a top-level module in transformers)
    {"detector.backbone.vision_backbone.convs.#.dconv_2x2_0.", "detector_model.vision_encoder.neck.fpn_layers.#.scale_layers.0."},
    {"detector.backbone.vision_backbone.convs.#.dconv_2x2_1.", "detector_model.vision_encoder.neck.fpn_layers.#.scale_layers.2."},
    {"detector.backbone.vision_backbone.convs.#.dconv_2x2.", "detector_model.vision_encoder.neck.fpn_layers.#.scale_layers.0.", true},
    {"detector.backbone.vision_backbone.convs.#.conv_1x1.", "detector_model.vision_encoder.neck.fpn_layers.#.proj1."},
    {"detector.backbone.vision_backbone.convs.#.conv_3x3.", "detector_model.vision_encoder.neck.fpn_layers.#.proj2."},
    {"detector.backbone.vision_backbone.sam2_convs.#.dconv_2x2_0.", "tracker_neck.fpn_layers.#.scale_layers.0."},
    {"detector.backbone.vision_backbone.sam2_convs.#.dconv_2x2_1.", "tracker_neck.fpn_layers.#.scale_layers.2."},
    {"detector.backbone.vision_backbone.sam2_convs.#.dconv_2x2.", "tracker_neck.fpn_layers.#.scale_layers.0.", true},
    {"detector.backbone.vision_backbone.sam2_convs.#.conv_1x1.", "tracker_neck.fpn_layers.#.proj1."},
    {"detector.backbone.vision_backbone.sam2_convs.#.conv_3x3.", "tracker_neck.fpn_layers.#.proj2."},
    // ---- detector: text encoder
    {"detector.backbone.language_backbone.encoder.token_embedding.", "detector_model.text_encoder.text_model.embeddings.token_embedding."},
    {"detector.backbone.language_backbone.encoder.positional_embedding", "detector_model.text_encoder.text_model.embeddings.position_embedding.weight"},
    {"detector.backbone.language_backbone.encoder.ln_final.", "detector_model.text_encoder.text_model.final_layer_norm."},
    {"detector.backbone.language_backbone.encoder.text_projection", "detector_model.text_encoder.text_projection.weight"},
    {"detector.backbone.language_backbone.encoder.transformer.resblocks.#.attn.", "detector_model.text_encoder.text_model.encoder.layers.#.self_attn."},
    {"detector.backbone.language_backbone.encoder.transformer.resblocks.#.ln_1.", "detector_model.text_encoder.text_model.encoder.layers.#.layer_norm1."},
    {"detector.backbone.language_backbone.encoder.transformer.resblocks.#.ln_2.", "detector_model.text_encoder.text_model.encoder.layers.#.layer_norm2."},
    {"detector.backbone.language_backbone.encoder.transformer.resblocks.#.mlp.c_fc.", "detector_model.text_encoder.text_model.encoder.layers.#.mlp.fc1."},
    {"detector.backbone.language_backbone.encoder.transformer.resblocks.#.mlp.c_proj.", "detector_model.text_encoder.text_model.encoder.layers.#.mlp.fc2."},
    {"detector.backbone.language_backbone.resizer.", "detector_model.text_projection."},
    // ---- detector: geometry encoder
    {"detector.geometry_encoder.encode.#.cross_attn_image.out_proj.", "detector_model.geometry_encoder.layers.#.cross_attn.o_proj."},
    {"detector.geometry_encoder.encode.#.cross_attn_image.", "detector_model.geometry_encoder.layers.#.cross_attn."},
    {"detector.geometry_encoder.encode.#.self_attn.out_proj.", "detector_model.geometry_encoder.layers.#.self_attn.o_proj."},
    {"detector.geometry_encoder.encode.#.self_attn.", "detector_model.geometry_encoder.layers.#.self_attn."},
    {"detector.geometry_encoder.encode.#.linear1.", "detector_model.geometry_encoder.layers.#.mlp.fc1."},
    {"detector.geometry_encoder.encode.#.linear2.", "detector_model.geometry_encoder.layers.#.mlp.fc2."},
    {"detector.geometry_encoder.encode.#.norm1.", "detector_model.geometry_encoder.layers.#.layer_norm1."},
    {"detector.geometry_encoder.encode.#.norm2.", "detector_model.geometry_encoder.layers.#.layer_norm2."},
    {"detector.geometry_encoder.encode.#.norm3.", "detector_model.geometry_encoder.layers.#.layer_norm3."},
    {"detector.geometry_encoder.img_pre_norm.", "detector_model.geometry_encoder.vision_layer_norm."},
    {"detector.geometry_encoder.norm.", "detector_model.geometry_encoder.prompt_layer_norm."},
    {"detector.geometry_encoder.encode_norm.", "detector_model.geometry_encoder.output_layer_norm."},
    {"detector.geometry_encoder.label_embed.", "detector_model.geometry_encoder.label_embed."},
    {"detector.geometry_encoder.cls_embed.", "detector_model.geometry_encoder.cls_embed."},
    {"detector.geometry_encoder.boxes_direct_project.", "detector_model.geometry_encoder.boxes_direct_project."},
    {"detector.geometry_encoder.boxes_pool_project.", "detector_model.geometry_encoder.boxes_pool_project."},
    {"detector.geometry_encoder.boxes_pos_enc_project.", "detector_model.geometry_encoder.boxes_pos_enc_project."},
    {"detector.geometry_encoder.final_proj.", "detector_model.geometry_encoder.final_proj."},
    // ---- detector: fusion encoder
    {"detector.transformer.encoder.layers.#.cross_attn_image.out_proj.", "detector_model.detr_encoder.layers.#.cross_attn.o_proj."},
    {"detector.transformer.encoder.layers.#.cross_attn_image.", "detector_model.detr_encoder.layers.#.cross_attn."},
    {"detector.transformer.encoder.layers.#.self_attn.out_proj.", "detector_model.detr_encoder.layers.#.self_attn.o_proj."},
    {"detector.transformer.encoder.layers.#.self_attn.", "detector_model.detr_encoder.layers.#.self_attn."},
    {"detector.transformer.encoder.layers.#.linear1.", "detector_model.detr_encoder.layers.#.mlp.fc1."},
    {"detector.transformer.encoder.layers.#.linear2.", "detector_model.detr_encoder.layers.#.mlp.fc2."},
    {"detector.transformer.encoder.layers.#.norm1.", "detector_model.detr_encoder.layers.#.layer_norm1."},
    {"detector.transformer.encoder.layers.#.norm2.", "detector_model.detr_encoder.layers.#.layer_norm2."},
    {"detector.transformer.encoder.layers.#.norm3.", "detector_model.detr_encoder.layers.#.layer_norm3."},
    // ---- detector: decoder
    {"detector.transformer.decoder.query_embed.", "detector_model.detr_decoder.query_embed."},
    {"detector.transformer.decoder.reference_points.", "detector_model.detr_decoder.reference_points."},
    {"detector.transformer.decoder.instance_query_embed.", "detector_model.detr_decoder.instance_query_embed."},
    {"detector.transformer.decoder.instance_reference_points.", "detector_model.detr_decoder.instance_reference_points."},
    {"detector.transformer.decoder.presence_token.", "detector_model.detr_decoder.presence_token."},
    {"detector.transformer.decoder.presence_token_head.layers.0.", "detector_model.detr_decoder.presence_head.layer1."},
    {"detector.transformer.decoder.presence_token_head.layers.1.", "detector_model.detr_decoder.presence_head.layer2."},
    {"detector.transformer.decoder.presence_token_head.layers.2.", "detector_model.detr_decoder.presence_head.layer3."},
    {"detector.transformer.decoder.presence_token_out_norm.", "detector_model.detr_decoder.presence_layer_norm."},
    {"detector.transformer.decoder.norm.", "detector_model.detr_decoder.output_layer_norm."},
    {"detector.transformer.decoder.bbox_embed.layers.0.", "detector_model.detr_decoder.box_head.layer1."},
    {"detector.transformer.decoder.bbox_embed.layers.1.", "detector_model.detr_decoder.box_head.layer2."},
    {"detector.transformer.decoder.bbox_embed.layers.2.", "detector_model.detr_decoder.box_head.layer3."},
    {"detector.transformer.decoder.instance_bbox_embed.layers.0.", "detector_model.detr_decoder.instance_box_head.layer1."},
    {"detector.transformer.decoder.instance_bbox_embed.layers.1.", "detector_model.detr_decoder.instance_box_head.layer2."},
    {"detector.transformer.decoder.instance_bbox_embed.layers.2.", "detector_model.detr_decoder.instance_box_head.layer3."},
    {"detector.transformer.decoder.ref_point_head.layers.0.", "detector_model.detr_decoder.ref_point_head.layer1."},
    {"detector.transformer.decoder.ref_point_head.layers.1.", "detector_model.detr_decoder.ref_point_head.layer2."},
    {"detector.transformer.decoder.boxRPB_embed_x.layers.0.", "detector_model.detr_decoder.box_rpb_embed_x.layer1."},
    {"detector.transformer.decoder.boxRPB_embed_x.layers.1.", "detector_model.detr_decoder.box_rpb_embed_x.layer2."},
    {"detector.transformer.decoder.boxRPB_embed_y.layers.0.", "detector_model.detr_decoder.box_rpb_embed_y.layer1."},
    {"detector.transformer.decoder.boxRPB_embed_y.layers.1.", "detector_model.detr_decoder.box_rpb_embed_y.layer2."},
    {"detector.transformer.decoder.layers.#.self_attn.out_proj.", "detector_model.detr_decoder.layers.#.self_attn.o_proj."},
    {"detector.transformer.decoder.layers.#.self_attn.", "detector_model.detr_decoder.layers.#.self_attn."},
    {"detector.transformer.decoder.layers.#.ca_text.out_proj.", "detector_model.detr_decoder.layers.#.text_cross_attn.o_proj."},
    {"detector.transformer.decoder.layers.#.ca_text.", "detector_model.detr_decoder.layers.#.text_cross_attn."},
    {"detector.transformer.decoder.layers.#.cross_attn.out_proj.", "detector_model.detr_decoder.layers.#.vision_cross_attn.o_proj."},
    {"detector.transformer.decoder.layers.#.cross_attn.", "detector_model.detr_decoder.layers.#.vision_cross_attn."},
    {"detector.transformer.decoder.layers.#.linear1.", "detector_model.detr_decoder.layers.#.mlp.fc1."},
    {"detector.transformer.decoder.layers.#.linear2.", "detector_model.detr_decoder.layers.#.mlp.fc2."},
    {"detector.transformer.decoder.layers.#.norm1.", "detector_model.detr_decoder.layers.#.vision_cross_attn_layer_norm."},
    {"detector.transformer.decoder.layers.#.catext_norm.", "detector_model.detr_decoder.layers.#.text_cross_attn_layer_norm."},
    {"detector.transformer.decoder.layers.#.norm2.", "detector_model.detr_decoder.layers.#.self_attn_layer_norm."},
    {"detector.transformer.decoder.layers.#.norm3.", "detector_model.detr_decoder.layers.#.mlp_layer_norm."},
    // ---- detector: scorer and segmentation head
    {"detector.dot_prod_scoring.prompt_mlp.layers.0.", "detector_model.dot_product_scoring.text_mlp.layer1."},
    {"detector.dot_prod_scoring.prompt_mlp.layers.1.", "detector_model.dot_product_scoring.text_mlp.layer2."},
    {"detector.dot_prod_scoring.prompt_mlp.out_norm.", "detector_model.dot_product_scoring.text_mlp_out_norm."},
    {"detector.dot_prod_scoring.prompt_proj.", "detector_model.dot_product_scoring.text_proj."},
    {"detector.dot_prod_scoring.hs_proj.", "detector_model.dot_product_scoring.query_proj."},
    {"detector.segmentation_head.pixel_decoder.conv_layers.#.", "detector_model.mask_decoder.pixel_decoder.conv_layers.#."},
    {"detector.segmentation_head.pixel_decoder.norms.#.", "detector_model.mask_decoder.pixel_decoder.norms.#."},
    {"detector.segmentation_head.mask_predictor.mask_embed.layers.#.", "detector_model.mask_decoder.mask_embedder.layers.#."},
    {"detector.segmentation_head.mask_embed.layers.#.", "detector_model.mask_decoder.mask_embedder.layers.#.", true},
    {"detector.segmentation_head.instance_seg_head.", "detector_model.mask_decoder.instance_projection."},
    {"detector.segmentation_head.semantic_seg_head.", "detector_model.mask_decoder.semantic_projection."},
    {"detector.segmentation_head.cross_attend_prompt.out_proj.", "detector_model.mask_decoder.prompt_cross_attn.o_proj."},
    {"detector.segmentation_head.cross_attend_prompt.", "detector_model.mask_decoder.prompt_cross_attn."},
    {"detector.segmentation_head.cross_attn_norm.", "detector_model.mask_decoder.prompt_cross_attn_norm."},
    // ---- tracker: top-level tensors
    {"tracker.maskmem_tpos_enc", "tracker_model.memory_temporal_positional_encoding"},
    {"tracker.no_mem_embed", "tracker_model.no_memory_embedding"},
    {"tracker.no_mem_pos_enc", "tracker_model.no_memory_positional_encoding"},
    {"tracker.no_obj_ptr", "tracker_model.no_object_pointer"},
    {"tracker.no_obj_embed_spatial", "tracker_model.occlusion_spatial_embedding_parameter"},
    {"tracker.mask_downsample.", "tracker_model.mask_downsample."},
    {"tracker.obj_ptr_proj.layers.0.", "tracker_model.object_pointer_proj.proj_in."},
    {"tracker.obj_ptr_proj.layers.1.", "tracker_model.object_pointer_proj.layers.0."},
    {"tracker.obj_ptr_proj.layers.2.", "tracker_model.object_pointer_proj.proj_out."},
    {"tracker.obj_ptr_tpos_proj.", "tracker_model.temporal_positional_encoding_projection_layer."},
    // ---- tracker: memory attention (q/k/v stay separate on both sides)
    {"tracker.transformer.encoder.layers.#.self_attn.out_proj.", "tracker_model.memory_attention.layers.#.self_attn.o_proj."},
    {"tracker.transformer.encoder.layers.#.self_attn.", "tracker_model.memory_attention.layers.#.self_attn."},
    {"tracker.transformer.encoder.layers.#.cross_attn_image.out_proj.", "tracker_model.memory_attention.layers.#.cross_attn_image.o_proj."},
    {"tracker.transformer.encoder.layers.#.cross_attn_image.", "tracker_model.memory_attention.layers.#.cross_attn_image."},
    {"tracker.transformer.encoder.layers.#.linear1.", "tracker_model.memory_attention.layers.#.linear1."},
    {"tracker.transformer.encoder.layers.#.linear2.", "tracker_model.memory_attention.layers.#.linear2."},
    {"tracker.transformer.encoder.layers.#.norm1.", "tracker_model.memory_attention.layers.#.layer_norm1."},
    {"tracker.transformer.encoder.layers.#.norm2.", "tracker_model.memory_attention.layers.#.layer_norm2."},
    {"tracker.transformer.encoder.layers.#.norm3.", "tracker_model.memory_attention.layers.#.layer_norm3."},
    {"tracker.transformer.encoder.norm.", "tracker_model.memory_attention.layer_norm."},
    // ---- tracker: memory encoder
    {"tracker.maskmem_backbone.mask_downsampler.encoder.0.", "tracker_model.memory_encoder.mask_downsampler.layers.0.conv."},
    {"tracker.maskmem_backbone.mask_downsampler.encoder.1.", "tracker_model.memory_encoder.mask_downsampler.layers.0.layer_norm."},
    {"tracker.maskmem_backbone.mask_downsampler.encoder.3.", "tracker_model.memory_encoder.mask_downsampler.layers.1.conv."},
    {"tracker.maskmem_backbone.mask_downsampler.encoder.4.", "tracker_model.memory_encoder.mask_downsampler.layers.1.layer_norm."},
    {"tracker.maskmem_backbone.mask_downsampler.encoder.6.", "tracker_model.memory_encoder.mask_downsampler.layers.2.conv."},
    {"tracker.maskmem_backbone.mask_downsampler.encoder.7.", "tracker_model.memory_encoder.mask_downsampler.layers.2.layer_norm."},
    {"tracker.maskmem_backbone.mask_downsampler.encoder.9.", "tracker_model.memory_encoder.mask_downsampler.layers.3.conv."},
    {"tracker.maskmem_backbone.mask_downsampler.encoder.10.", "tracker_model.memory_encoder.mask_downsampler.layers.3.layer_norm."},
    {"tracker.maskmem_backbone.mask_downsampler.encoder.12.", "tracker_model.memory_encoder.mask_downsampler.final_conv."},
    {"tracker.maskmem_backbone.pix_feat_proj.", "tracker_model.memory_encoder.feature_projection."},
    {"tracker.maskmem_backbone.fuser.layers.#.gamma", "tracker_model.memory_encoder.memory_fuser.layers.#.scale"},
    {"tracker.maskmem_backbone.fuser.layers.#.dwconv.", "tracker_model.memory_encoder.memory_fuser.layers.#.depthwise_conv."},
    {"tracker.maskmem_backbone.fuser.layers.#.norm.", "tracker_model.memory_encoder.memory_fuser.layers.#.layer_norm."},
    {"tracker.maskmem_backbone.fuser.layers.#.pwconv1.", "tracker_model.memory_encoder.memory_fuser.layers.#.pointwise_conv1."},
    {"tracker.maskmem_backbone.fuser.layers.#.pwconv2.", "tracker_model.memory_encoder.memory_fuser.layers.#.pointwise_conv2."},
    {"tracker.maskmem_backbone.out_proj.", "tracker_model.memory_encoder.projection."},
    // ---- tracker: SAM prompt encoder
    {"tracker.sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix", "tracker_model.prompt_encoder.shared_embedding.positional_embedding"},
    {"tracker.sam_prompt_encoder.point_embeddings.#.", "tracker_model.prompt_encoder.point_embed.#."},
    {"tracker.sam_prompt_encoder.not_a_point_embed.", "tracker_model.prompt_encoder.not_a_point_embed."},
    {"tracker.sam_prompt_encoder.no_mask_embed.", "tracker_model.prompt_encoder.no_mask_embed."},
    {"tracker.sam_prompt_encoder.mask_downscaling.0.", "tracker_model.prompt_encoder.mask_embed.conv1."},
    {"tracker.sam_prompt_encoder.mask_downscaling.1.", "tracker_model.prompt_encoder.mask_embed.layer_norm1."},
    {"tracker.sam_prompt_encoder.mask_downscaling.3.", "tracker_model.prompt_encoder.mask_embed.conv2."},
    {"tracker.sam_prompt_encoder.mask_downscaling.4.", "tracker_model.prompt_encoder.mask_embed.layer_norm2."},
    {"tracker.sam_prompt_encoder.mask_downscaling.6.", "tracker_model.prompt_encoder.mask_embed.conv3."},
    // ---- tracker: SAM mask decoder
    {"tracker.sam_mask_decoder.transformer.layers.#.self_attn.out_proj.", "tracker_model.mask_decoder.transformer.layers.#.self_attn.o_proj."},
    {"tracker.sam_mask_decoder.transformer.layers.#.self_attn.", "tracker_model.mask_decoder.transformer.layers.#.self_attn."},
    {"tracker.sam_mask_decoder.transformer.layers.#.cross_attn_token_to_image.out_proj.", "tracker_model.mask_decoder.transformer.layers.#.cross_attn_token_to_image.o_proj."},
    {"tracker.sam_mask_decoder.transformer.layers.#.cross_attn_token_to_image.", "tracker_model.mask_decoder.transformer.layers.#.cross_attn_token_to_image."},
    {"tracker.sam_mask_decoder.transformer.layers.#.cross_attn_image_to_token.out_proj.", "tracker_model.mask_decoder.transformer.layers.#.cross_attn_image_to_token.o_proj."},
    {"tracker.sam_mask_decoder.transformer.layers.#.cross_attn_image_to_token.", "tracker_model.mask_decoder.transformer.layers.#.cross_attn_image_to_token."},
    {"tracker.sam_mask_decoder.transformer.layers.#.mlp.lin1.", "tracker_model.mask_decoder.transformer.layers.#.mlp.proj_in."},
    {"tracker.sam_mask_decoder.transformer.layers.#.mlp.lin2.", "tracker_model.mask_decoder.transformer.layers.#.mlp.proj_out."},
    {"tracker.sam_mask_decoder.transformer.layers.#.norm#.", "tracker_model.mask_decoder.transformer.layers.#.layer_norm#."},
    {"tracker.sam_mask_decoder.transformer.final_attn_token_to_image.out_proj.", "tracker_model.mask_decoder.transformer.final_attn_token_to_image.o_proj."},
    {"tracker.sam_mask_decoder.transformer.final_attn_token_to_image.", "tracker_model.mask_decoder.transformer.final_attn_token_to_image."},
    {"tracker.sam_mask_decoder.transformer.norm_final_attn.", "tracker_model.mask_decoder.transformer.layer_norm_final_attn."},
    {"tracker.sam_mask_decoder.iou_token.", "tracker_model.mask_decoder.iou_token."},
    {"tracker.sam_mask_decoder.mask_tokens.", "tracker_model.mask_decoder.mask_tokens."},
    {"tracker.sam_mask_decoder.obj_score_token.", "tracker_model.mask_decoder.obj_score_token."},
    {"tracker.sam_mask_decoder.conv_s0.", "tracker_model.mask_decoder.conv_s0."},
    {"tracker.sam_mask_decoder.conv_s1.", "tracker_model.mask_decoder.conv_s1."},
    {"tracker.sam_mask_decoder.output_upscaling.0.", "tracker_model.mask_decoder.upscale_conv1."},
    {"tracker.sam_mask_decoder.output_upscaling.1.", "tracker_model.mask_decoder.upscale_layer_norm."},
    {"tracker.sam_mask_decoder.output_upscaling.3.", "tracker_model.mask_decoder.upscale_conv2."},
    {"tracker.sam_mask_decoder.output_hypernetworks_mlps.#.layers.0.", "tracker_model.mask_decoder.output_hypernetworks_mlps.#.proj_in."},
    {"tracker.sam_mask_decoder.output_hypernetworks_mlps.#.layers.1.", "tracker_model.mask_decoder.output_hypernetworks_mlps.#.layers.0."},
    {"tracker.sam_mask_decoder.output_hypernetworks_mlps.#.layers.2.", "tracker_model.mask_decoder.output_hypernetworks_mlps.#.proj_out."},
    {"tracker.sam_mask_decoder.iou_prediction_head.layers.0.", "tracker_model.mask_decoder.iou_prediction_head.proj_in."},
    {"tracker.sam_mask_decoder.iou_prediction_head.layers.1.", "tracker_model.mask_decoder.iou_prediction_head.layers.0."},
    {"tracker.sam_mask_decoder.iou_prediction_head.layers.2.", "tracker_model.mask_decoder.iou_prediction_head.proj_out."},
    {"tracker.sam_mask_decoder.pred_obj_score_head.layers.0.", "tracker_model.mask_decoder.pred_obj_score_head.proj_in."},
    {"tracker.sam_mask_decoder.pred_obj_score_head.layers.1.", "tracker_model.mask_decoder.pred_obj_score_head.layers.0."},
    {"tracker.sam_mask_decoder.pred_obj_score_head.layers.2.", "tracker_model.mask_decoder.pred_obj_score_head.proj_out."},
};
// clang-format on

constexpr const char* kPosEmbed = "detector.backbone.vision_backbone.trunk.pos_embed";
constexpr const char* kTextProjection = "detector.backbone.language_backbone.encoder.text_projection";
constexpr const char* kPointEmbedHf = "tracker_model.prompt_encoder.point_embed.weight";
constexpr const char* kSharedEmbeddingHf = "tracker_model.shared_image_embedding.positional_embedding";
constexpr const char* kGaussianHf = "tracker_model.prompt_encoder.shared_embedding.positional_embedding";
constexpr const char* kPointsPrefix = "detector.geometry_encoder.points_";

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// Matches `pat` against the start of `key`; returns the matched length (0 = no match).
size_t match(const char* pat, const std::string& key, std::vector<std::string>& caps) {
  caps.clear();
  size_t k = 0;
  const char* p = pat;
  for (; *p; ++p) {
    if (*p == '#') {
      const size_t b = k;
      while (k < key.size() && std::isdigit(static_cast<unsigned char>(key[k]))) ++k;
      if (k == b) return 0;
      caps.push_back(key.substr(b, k - b));
    } else {
      if (k >= key.size() || key[k] != *p) return 0;
      ++k;
    }
  }
  const bool prefix_rule = p != pat && p[-1] == '.';
  if (!prefix_rule && k != key.size()) return 0;
  return k;
}

std::string expand(const char* pat, const std::vector<std::string>& caps) {
  std::string out;
  size_t c = 0;
  for (const char* p = pat; *p; ++p) out += (*p == '#' && c < caps.size()) ? caps[c++] : std::string(1, *p);
  return out;
}

// Renames one key; empty when no rule matches.
std::string rename(const std::string& key, bool to_hf) {
  size_t best = 0;
  const Rule* rule = nullptr;
  std::vector<std::string> caps, best_caps;
  for (const auto& r : kRules) {
    if (!to_hf && r.official_to_hf_only) continue;
    const size_t n = match(to_hf ? r.official : r.hf, key, caps);
    if (n > best) {
      best = n;
      rule = &r;
      best_caps = caps;
    }
  }
  if (!rule) return {};
  return expand(to_hf ? rule->hf : rule->official, best_caps) + key.substr(best);
}

bool dropped_in_hf(const std::string& official) {
  return ends_with(official, ".attn.freqs_cis") || starts_with(official, kPointsPrefix);
}

// The HF-side fused name whose q/k/v split gives `hf` ("...q_proj.weight" -> "...in_proj_weight" or "...qkv.weight").
bool fused_name(const std::string& hf, std::string& fused, int& part) {
  static const char* kParts[] = {"q_proj.", "k_proj.", "v_proj."};
  if (!starts_with(hf, "detector_model.")) return false;  // tracker attention keeps q/k/v apart
  for (int i = 0; i < 3; ++i)
    for (const char* leaf : {"weight", "bias"}) {
      const std::string tail = std::string(".") + kParts[i] + leaf;
      if (!ends_with(hf, tail)) continue;
      const std::string base = hf.substr(0, hf.size() - tail.size());
      fused = ends_with(base, ".attention") ? base + ".qkv." + leaf : base + ".in_proj_" + leaf;
      part = i;
      return true;
    }
  return false;
}

}  // namespace

bool looks_like_hf(const TensorMap& tensors) {
  for (const auto& [k, v] : tensors)
    if (starts_with(k, "detector_model.") || starts_with(k, "tracker_model.") || starts_with(k, "tracker_neck.") ||
        starts_with(k, "vision_encoder.backbone.") || starts_with(k, "detr_decoder.") || starts_with(k, "detr_encoder."))
      return true;
  return false;
}

std::vector<std::string> official_to_hf_names(const std::string& key) {
  if (dropped_in_hf(key)) return {};
  std::string hf = rename(key, true);
  if (hf.empty()) return {};
  for (const char* leaf : {"weight", "bias"}) {
    const std::string qkv = std::string(".qkv.") + leaf, in_proj = std::string(".in_proj_") + leaf;
    std::string base;
    if (starts_with(hf, "detector_model.") && ends_with(hf, qkv)) base = hf.substr(0, hf.size() - qkv.size());
    else if (starts_with(hf, "detector_model.") && ends_with(hf, in_proj)) base = hf.substr(0, hf.size() - in_proj.size());
    else continue;
    return {base + ".q_proj." + leaf, base + ".k_proj." + leaf, base + ".v_proj." + leaf};
  }
  return {hf};
}

TensorMap official_to_hf(const TensorMap& official, std::vector<std::string>* unmapped) {
  TensorMap out;
  std::map<int, torch::Tensor> point_embeds;
  for (const auto& [key, t] : official) {
    if (dropped_in_hf(key)) continue;
    auto names = official_to_hf_names(key);
    if (names.empty()) {
      if (unmapped) unmapped->push_back(key);
      continue;
    }
    torch::Tensor v = t;
    if (key == kPosEmbed) v = t.slice(1, 1);  // drop the cls row
    if (key == kTextProjection) v = t.t().contiguous();
    if (names.size() == 3) {
      if (t.size(0) % 3 != 0)
        throw ModelError("'" + key + "': a fused q/k/v tensor needs a first dimension divisible by 3, got " +
                         std::to_string(t.size(0)));
      auto parts = t.chunk(3, 0);
      for (int i = 0; i < 3; ++i) out[names[i]] = parts[i];
      continue;
    }
    const std::string& hf = names[0];
    static const std::string pe = "tracker_model.prompt_encoder.point_embed.";
    if (starts_with(hf, pe) && ends_with(hf, ".weight")) {
      point_embeds[std::stoi(hf.substr(pe.size()))] = v;
      continue;
    }
    out[hf] = v;
    if (hf == kGaussianHf) out[kSharedEmbeddingHf] = v;
  }
  if (!point_embeds.empty()) {
    std::vector<torch::Tensor> rows;
    for (auto& [i, t] : point_embeds) rows.push_back(t);
    out[kPointEmbedHf] = torch::cat(rows, 0);
  }
  return out;
}

TensorMap hf_to_official(const TensorMap& hf_in, std::vector<std::string>* unmapped) {
  // 1. Canonical HF names: image-only checkpoints get the detector_model. prefix;
  //    the stacked point embeddings become one tensor per point type.
  TensorMap hf;
  for (const auto& [k, t] : hf_in) {
    std::string key = k;
    if (!starts_with(key, "detector_model.") && !starts_with(key, "tracker_model.") && !starts_with(key, "tracker_neck."))
      key = "detector_model." + key;
    if (key == kSharedEmbeddingHf) continue;  // duplicate of the prompt encoder's gaussian matrix
    if (key == kPointEmbedHf) {
      for (int64_t i = 0; i < t.size(0); ++i)
        hf["tracker_model.prompt_encoder.point_embed." + std::to_string(i) + ".weight"] = t.slice(0, i, i + 1);
      continue;
    }
    hf[key] = t;
  }
  // 2. Fuse q/k/v triples of the detector back into qkv / in_proj tensors.
  std::map<std::string, std::array<torch::Tensor, 3>> fused;
  for (auto it = hf.begin(); it != hf.end();) {
    std::string name;
    int part = 0;
    if (fused_name(it->first, name, part)) {
      fused[name][part] = it->second;
      it = hf.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [name, parts] : fused) {
    for (int i = 0; i < 3; ++i)
      if (!parts[i].defined())
        throw ModelError("transformers checkpoint: '" + name + "' lacks its " + std::string(1, "qkv"[i]) +
                         "_proj part (q, k and v are needed to rebuild the fused projection)");
    hf[name] = torch::cat({parts[0], parts[1], parts[2]}, 0);
  }
  // 3. Rename and undo the tensor changes.
  TensorMap out;
  for (const auto& [key, t] : hf) {
    std::string off = rename(key, false);
    if (off.empty()) {
      if (unmapped) unmapped->push_back(key);
      continue;
    }
    torch::Tensor v = t;
    if (off == kPosEmbed) {
      if (t.dim() != 3) throw ModelError("transformers checkpoint: position_embeddings must be [1, P, C], got rank " + std::to_string(t.dim()));
      v = torch::cat({torch::zeros({t.size(0), 1, t.size(2)}, t.options()), t}, 1);  // unused cls row
    }
    if (off == kTextProjection) v = t.t().contiguous();
    out[off] = v;
  }
  // 4. A neck level with one transposed conv was dconv_2x2, not dconv_2x2_0.
  std::vector<std::pair<std::string, std::string>> renames;
  for (const auto& [key, t] : out) {
    const auto pos = key.find(".dconv_2x2_0.");
    if (pos == std::string::npos) continue;
    const std::string second = key.substr(0, pos) + ".dconv_2x2_1.weight";
    if (!out.count(second)) renames.emplace_back(key, key.substr(0, pos) + ".dconv_2x2." + key.substr(pos + 13));
  }
  for (const auto& [from, to] : renames) {
    out[to] = out[from];
    out.erase(from);
  }
  // 5. Point projections have no slot in transformers: zeros keep strict loaders happy.
  auto fp = out.find("detector.geometry_encoder.final_proj.weight");
  if (fp != out.end() && !out.count(std::string(kPointsPrefix) + "direct_project.weight")) {
    const int64_t d = fp->second.size(0);
    const auto opt = fp->second.options();
    out[std::string(kPointsPrefix) + "direct_project.weight"] = torch::zeros({d, 2}, opt);
    out[std::string(kPointsPrefix) + "direct_project.bias"] = torch::zeros({d}, opt);
    out[std::string(kPointsPrefix) + "pool_project.weight"] = torch::zeros({d, d}, opt);
    out[std::string(kPointsPrefix) + "pool_project.bias"] = torch::zeros({d}, opt);
    out[std::string(kPointsPrefix) + "pos_enc_project.weight"] = torch::zeros({d, d}, opt);
    out[std::string(kPointsPrefix) + "pos_enc_project.bias"] = torch::zeros({d}, opt);
  }
  return out;
}

}  // namespace sam3::core
