// SPDX-License-Identifier: Apache-2.0
// The SAM 3 image detector (reference: sam3/model/sam3_image.py Sam3Image,
// vl_combiner.py SAM3VLBackbone), assembled from its parts with the
// reference's module tree, so that the official state dict loads by name
// under the prefix "detector.":
//   backbone.vision_backbone      Sam3DualViTDetNeck (ViT trunk + FPN convs)
//   backbone.language_backbone    VETextEncoder
//   geometry_encoder              SequenceGeometryEncoder
//   transformer.encoder           TransformerEncoderFusion
//   transformer.decoder           TransformerDecoder
//   segmentation_head             UniversalSegmentationHead
//   dot_prod_scoring              DotProductScoring
//   inst_interactive_predictor.model  TrackerModel (only with enable_inst_interactivity)
//
// The three entry points match the processor's caching: forward_image once
// per image (cached), encode_text once per text, forward_grounding per prompt.
//
// Thread-safety: no method modifies the module or its inputs (the cached
// backbone features stay untouched across prompts); one instance may serve
// several threads at once under c10::InferenceMode.
#pragma once

#include <vector>

#include "core/model/config.h"
#include "core/model/detr_decoder.h"
#include "core/model/dot_product_scoring.h"
#include "core/model/fusion_encoder.h"
#include "core/model/geometry_encoder.h"
#include "core/model/neck.h"
#include "core/model/segmentation_head.h"
#include "core/model/text_encoder.h"
#include "core/model/tracker_modules.h"
#include "core/torch.h"

namespace sam3::core {

// SAM3VLBackbone.forward_image after scalp=1, finest level first:
// fpn = {[B,d,4G,4G], [B,d,2G,2G], [B,d,G,G]}, pos the same shapes.
// sam2_* only with the interactive head (the sam2 neck copy).
struct BackboneFeatures {
  std::vector<torch::Tensor> fpn;
  std::vector<torch::Tensor> pos;
  std::vector<torch::Tensor> sam2_fpn;
  std::vector<torch::Tensor> sam2_pos;
  int64_t batch() const { return fpn.empty() ? 0 : fpn.back().size(0); }
};

// SAM3VLBackbone.forward_text: one column per text.
struct TextFeatures {
  torch::Tensor features;  // language_features [ctx, T, d] seq-first
  torch::Tensor mask;      // language_mask [T, ctx] bool, true = padding
  int64_t count() const { return features.defined() ? features.size(1) : 0; }
  // Columns [begin, end) (views).
  TextFeatures slice(int64_t begin, int64_t end) const;
};

// What Sam3Image.forward_grounding returns that the processor reads.
struct GroundingOutput {
  torch::Tensor pred_logits;         // [B, Q, 1] dot-product logits (before sigmoid)
  torch::Tensor pred_boxes;          // [B, Q, 4] normalized cxcywh
  torch::Tensor presence_logit_dec;  // [B, 1]
  torch::Tensor pred_masks;          // [B, Q, 4G, 4G] mask logits
};

// Intermediate tensors of one forward_grounding (parity tests and debugging).
struct GroundingTrace {
  GeometryEncoding geometry;
  PromptSequence prompt;
  FusionEncoderOutput encoder;
  DecoderOutput decoder;
  DetectionOutput detections;
  SegmentationOutput segmentation;
};

class Sam3VLBackboneImpl : public torch::nn::Module {
public:
  explicit Sam3VLBackboneImpl(const Sam3Config& cfg);
  Sam3DualViTDetNeck vision_backbone{nullptr};
  VETextEncoder language_backbone{nullptr};
};
TORCH_MODULE(Sam3VLBackbone);

// TransformerWrapper: only holds the encoder and the decoder.
class Sam3TransformerImpl : public torch::nn::Module {
public:
  explicit Sam3TransformerImpl(const Sam3Config& cfg);
  TransformerEncoderFusion encoder{nullptr};
  TransformerDecoder decoder{nullptr};
};
TORCH_MODULE(Sam3Transformer);

// SAM3InteractiveImagePredictor: holds the tracker's SAM heads as `model`.
class InteractivePredictorHolderImpl : public torch::nn::Module {
public:
  explicit InteractivePredictorHolderImpl(const TrackerConfig& cfg);
  TrackerModel model{nullptr};
};
TORCH_MODULE(InteractivePredictorHolder);

// The tracker configuration of the interactive head for this detector: the
// official one at d_model 256, TrackerConfig::tiny() widths otherwise.
TrackerConfig interactive_tracker_config(const Sam3Config& cfg);

class Sam3ImageImpl : public torch::nn::Module {
public:
  explicit Sam3ImageImpl(const Sam3Config& cfg);

  // pixels [B, 3, R, R] preprocessed (see preprocess.h) -> cached features.
  // \throws InvalidInput for a wrong shape, ModelError naming the stage.
  BackboneFeatures forward_image(const torch::Tensor& pixels);

  // token_ids [T, ctx] int64 (Tokenizer::tokenize rows) -> T text columns.
  TextFeatures encode_text(const torch::Tensor& token_ids);

  // One grounding pass (geometry encoder, prompt assembly, fusion encoder,
  // decoder, scorer, mask head) for B prompts against one image:
  //   image: batch 1 (broadcast to the B prompts) or B;
  //   text:  B columns;
  //   boxes: normalized cxcywh, [N, 4] with labels [N] (bool or 0/1) when
  //          B == 1, or [N, B, 4] with labels [N, B]; undefined/empty = none.
  // trace, when given, receives the intermediate tensors.
  GroundingOutput forward_grounding(const BackboneFeatures& image, const TextFeatures& text,
                                    const torch::Tensor& boxes = {}, const torch::Tensor& box_labels = {},
                                    GroundingTrace* trace = nullptr);

  // Same with an explicit geometric prompt (padding masks, points).
  GroundingOutput forward_grounding(const BackboneFeatures& image, const TextFeatures& text,
                                    const GeometryPrompt& geometry, GroundingTrace* trace = nullptr);

  const Sam3Config& config() const { return cfg_; }
  bool has_interactive_head() const { return !inst_interactive_predictor.is_empty(); }

  Sam3VLBackbone backbone{nullptr};
  SequenceGeometryEncoder geometry_encoder{nullptr};
  Sam3Transformer transformer{nullptr};
  UniversalSegmentationHead segmentation_head{nullptr};
  DotProductScoring dot_prod_scoring{nullptr};
  InteractivePredictorHolder inst_interactive_predictor{nullptr};  // enable_inst_interactivity only

private:
  Sam3Config cfg_;
};
TORCH_MODULE(Sam3Image);

}  // namespace sam3::core
