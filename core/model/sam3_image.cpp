// SPDX-License-Identifier: Apache-2.0
#include "core/model/sam3_image.h"

#include <algorithm>

#include "core/errors.h"
#include "core/tensor_text.h"

namespace sam3::core {
namespace {

// Runs one forward stage; LibTorch errors gain the stage's name (STYLE 7).
template <typename F>
auto run_stage(const char* stage, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const sam3::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw ModelError(std::string("forward stage '") + stage + "' failed: " + e.what_without_backtrace());
  }
}

// Image features of batch 1 serve B prompts as a broadcast view (no copy).
torch::Tensor expand_batch(const torch::Tensor& t, int64_t batch) {
  if (t.size(0) == batch) return t;
  if (t.size(0) != 1)
    throw InvalidInput("forward_grounding: the image batch is " + std::to_string(t.size(0)) + " but " +
                       std::to_string(batch) + " prompts were given (expected 1 or the same)");
  std::vector<int64_t> sizes(t.sizes().begin(), t.sizes().end());
  sizes[0] = batch;
  return t.expand(sizes);
}

}  // namespace

TextFeatures TextFeatures::slice(int64_t begin, int64_t end) const {
  return {features.slice(1, begin, end), mask.slice(0, begin, end)};
}

Sam3VLBackboneImpl::Sam3VLBackboneImpl(const Sam3Config& cfg) {
  vision_backbone = register_module("vision_backbone", Sam3DualViTDetNeck(cfg));
  language_backbone = register_module("language_backbone", VETextEncoder(cfg));
}

Sam3TransformerImpl::Sam3TransformerImpl(const Sam3Config& cfg) {
  encoder = register_module("encoder", TransformerEncoderFusion(cfg));
  decoder = register_module("decoder", TransformerDecoder(cfg));
}

InteractivePredictorHolderImpl::InteractivePredictorHolderImpl(const TrackerConfig& cfg) {
  model = register_module("model", TrackerModel(cfg));
}

TrackerConfig interactive_tracker_config(const Sam3Config& cfg) {
  // build_tracker takes no size arguments: the official detector gets the
  // official tracker; a shrunken detector gets the tracker's tiny recipe (that
  // of shared/golden/tracker_tiny), whose memory width stays below hidden_dim.
  TrackerConfig t = cfg.d_model == TrackerConfig::full().hidden_dim ? TrackerConfig::full() : TrackerConfig::tiny();
  t.image_size = cfg.image_size;
  t.backbone_stride = cfg.vit.patch_size;
  t.hidden_dim = cfg.d_model;
  if (t.mem_dim >= t.hidden_dim) t.mem_dim = std::max<int64_t>(t.hidden_dim / 2, 1);
  return t;
}

Sam3ImageImpl::Sam3ImageImpl(const Sam3Config& cfg) : cfg_(cfg) {
  cfg_.validate();
  backbone = register_module("backbone", Sam3VLBackbone(cfg_));
  geometry_encoder = register_module("geometry_encoder", SequenceGeometryEncoder(cfg_));
  transformer = register_module("transformer", Sam3Transformer(cfg_));
  segmentation_head = register_module("segmentation_head", UniversalSegmentationHead(cfg_));
  dot_prod_scoring = register_module("dot_prod_scoring", DotProductScoring(cfg_));
  if (cfg_.enable_inst_interactivity)
    inst_interactive_predictor =
        register_module("inst_interactive_predictor", InteractivePredictorHolder(interactive_tracker_config(cfg_)));
}

BackboneFeatures Sam3ImageImpl::forward_image(const torch::Tensor& pixels) {
  const int64_t r = cfg_.image_size;
  if (!pixels.defined() || pixels.dim() != 4 || pixels.size(1) != 3 || pixels.size(2) != r || pixels.size(3) != r)
    throw InvalidInput("forward_image: expected pixels [B, 3, " + std::to_string(r) + ", " + std::to_string(r) +
                       "], got " + shape_text(pixels));
  NeckOutput n = run_stage("backbone", [&] { return backbone->vision_backbone->forward(pixels); });
  BackboneFeatures f;
  f.fpn = std::move(n.features);
  f.pos = std::move(n.pos);
  f.sam2_fpn = std::move(n.sam2_features);
  f.sam2_pos = std::move(n.sam2_pos);
  return f;
}

TextFeatures Sam3ImageImpl::encode_text(const torch::Tensor& token_ids) {
  TextEncoding e = run_stage("text encoder", [&] { return backbone->language_backbone->forward(token_ids); });
  return {e.memory, e.attention_mask};
}

GroundingOutput Sam3ImageImpl::forward_grounding(const BackboneFeatures& image, const TextFeatures& text,
                                                 const torch::Tensor& boxes, const torch::Tensor& box_labels,
                                                 GroundingTrace* trace) {
  GeometryPrompt geo;
  if (boxes.defined() && boxes.numel() > 0) {
    torch::Tensor labels = box_labels;
    if (boxes.dim() == 2) {
      if (boxes.size(1) != 4)
        throw InvalidInput("forward_grounding: expected boxes [N, 4], got " + shape_text(boxes));
      if (!labels.defined()) labels = torch::ones({boxes.size(0)}, torch::TensorOptions(torch::kBool).device(boxes.device()));
      geo = GeometryPrompt::from_boxes(boxes, labels);
    } else if (boxes.dim() == 3 && boxes.size(2) == 4) {
      if (!labels.defined()) labels = torch::ones({boxes.size(0), boxes.size(1)}, torch::TensorOptions(torch::kBool).device(boxes.device()));
      if (labels.dim() != 2 || labels.size(0) != boxes.size(0) || labels.size(1) != boxes.size(1))
        throw InvalidInput("forward_grounding: expected labels [N, B] for boxes " + shape_text(boxes) + ", got " +
                           shape_text(labels));
      geo.boxes = boxes;
      geo.box_labels = labels;
    } else {
      throw InvalidInput("forward_grounding: expected boxes [N, 4] or [N, B, 4], got " + shape_text(boxes));
    }
  }
  return forward_grounding(image, text, geo, trace);
}

GroundingOutput Sam3ImageImpl::forward_grounding(const BackboneFeatures& image, const TextFeatures& text,
                                                 const GeometryPrompt& geometry, GroundingTrace* trace) {
  if (image.fpn.size() != static_cast<size_t>(Sam3DualViTDetNeckImpl::kKeptLevels) || image.pos.size() != image.fpn.size())
    throw InvalidInput("forward_grounding: expected " + std::to_string(Sam3DualViTDetNeckImpl::kKeptLevels) +
                       " backbone levels with position encodings, got " + std::to_string(image.fpn.size()) + " and " +
                       std::to_string(image.pos.size()));
  if (!image.fpn.back().defined() || !image.pos.back().defined())
    throw InvalidInput("forward_grounding: the coarsest backbone level or its position encoding is missing");
  if (!text.features.defined() || text.features.dim() != 3 || !text.mask.defined() ||
      text.mask.size(0) != text.features.size(1))
    throw InvalidInput("forward_grounding: expected text features [ctx, B, d] with mask [B, ctx], got " +
                       shape_text(text.features) + " and " + shape_text(text.mask));
  const int64_t batch = text.count();
  if (geometry.boxes.defined() && geometry.boxes.numel() > 0 && geometry.boxes.size(1) != batch)
    throw InvalidInput("forward_grounding: the box prompt has batch " + std::to_string(geometry.boxes.size(1)) +
                       ", the text " + std::to_string(batch));

  // Sam3Image._get_img_feats with num_feature_levels = 1: the coarsest kept level.
  const torch::Tensor img_feat = expand_batch(image.fpn.back(), batch);
  const torch::Tensor img_pos = expand_batch(image.pos.back(), batch);
  const int64_t feat_h = img_feat.size(2), feat_w = img_feat.size(3);

  // _encode_prompt: geometry tokens, then cat(text, geometry).
  GeometryEncoding geo = run_stage("geometry encoder", [&] { return geometry_encoder->forward(geometry, img_feat, img_pos); });
  PromptSequence prompt = run_stage("prompt assembly", [&] {
    return assemble_prompt(text.features, text.mask, geo.tokens, geo.mask);
  });
  // _run_encoder.
  FusionEncoderOutput enc = run_stage("fusion encoder", [&] {
    return transformer->encoder->forward(img_feat, img_pos, prompt.tokens, prompt.mask);
  });
  // _run_decoder + _update_scores_and_boxes (the decoder and scorer see the pre-encoder prompt).
  DecoderOutput dec = run_stage("decoder", [&] {
    return transformer->decoder->forward(enc.memory, enc.pos, prompt.tokens, prompt.mask, feat_h, feat_w);
  });
  DetectionOutput det = run_stage("scoring", [&] {
    return finalize_detections(*transformer->decoder, *dot_prod_scoring, dec, prompt.tokens, prompt.mask);
  });
  // _run_segmentation_heads: the cached levels are only read (the head replaces the last one).
  std::vector<torch::Tensor> fpn = image.fpn;
  SegmentationOutput seg = run_stage("segmentation head", [&] {
    return segmentation_head->forward(fpn, det.queries, enc.memory, prompt.tokens, prompt.mask);
  });

  GroundingOutput out{det.pred_logits, det.pred_boxes, det.presence_logit_dec, seg.pred_masks};
  if (trace) {
    trace->geometry = std::move(geo);
    trace->prompt = std::move(prompt);
    trace->encoder = std::move(enc);
    trace->decoder = std::move(dec);
    trace->detections = std::move(det);
    trace->segmentation = std::move(seg);
  }
  return out;
}

}  // namespace sam3::core
