// SPDX-License-Identifier: Apache-2.0
// The image engine: load the model once, set an image once (backbone features
// cached in an ImageState), then run any number of prompts against it.
// Torch-free header: the CLI and the daemon include it without LibTorch.
//
// Thread-safety: Sam3Model and ImageEngine are immutable after construction and
// may be shared by threads; an ImageState may be read by several threads at once
// (prompts never modify it).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "formats/types.h"

namespace sam3::core {

// How to load and run the model. Filled from config/env/flags by the front-ends.
struct ModelOptions {
  std::string model_dir;      // folder with the checkpoint + config.json
  std::string checkpoint;     // explicit checkpoint file (overrides model_dir's)
  std::string bpe_path;       // CLIP BPE vocab; default: model_dir, then SAM3_BPE_PATH given by front-end
  std::string device = "cpu"; // "cpu", "cuda", "cuda:N"
  std::vector<std::string> devices;  // one replica each (core/device_pool.h); empty: `device` alone
  std::string dtype = "fp32"; // "fp32" or "bf16"
  int threads = 0;            // intra-op threads, 0 = all cores
  int64_t attention_budget_mb = 512;
  int resolution = 0;         // expected input resolution; 0 = the model's own (checked at load)
  int64_t cpu_cache_mb = 2048; // freed large CPU tensor blocks kept for reuse (see core/cpu_allocator.h); 0 = off
};

// Box prompt: normalized [cx, cy, w, h] in [0,1]; positive or negative exemplar.
struct BoxPrompt {
  float cx = 0, cy = 0, w = 0, h = 0;
  bool positive = true;
};

// Point prompt: normalized [x, y]; positive (foreground) or negative click.
struct PointPrompt {
  float x = 0, y = 0;
  bool positive = true;
};

// A prompt set for one image. Text and/or boxes alone: concept segmentation
// (every instance). Any point: the interactive head (3 candidate masks with IoU;
// a single box given with points is the interactive box).
struct Prompt {
  std::optional<std::string> text;
  std::vector<BoxPrompt> boxes;
  std::vector<PointPrompt> points;
  float confidence_threshold = 0.5f;
  bool multimask = true;  // interactive head only
};

class Sam3Model;   // weights, immutable after load
class ImageState;  // one image's cached features
class PreparedImage;  // one preprocessed model input (see ImageEngine::prepare_image)

// Loads the model described by opts. \throws ModelMissing, ModelError, InvalidInput.
std::shared_ptr<const Sam3Model> load_model(const ModelOptions& opts);

// Describes a loaded model for /models/info and `sam3 model inspect`.
struct ModelInfo {
  std::string checkpoint;
  std::string device;
  std::string dtype;
  int image_size = 0;
  int64_t num_parameters = 0;
  double memory_mb = 0;
  bool interactive = false;
};
ModelInfo describe(const Sam3Model& model);

class ImageEngine {
public:
  explicit ImageEngine(std::shared_ptr<const Sam3Model> model);

  // Preprocesses and runs the backbone once. \throws InvalidInput for an empty image.
  std::shared_ptr<const ImageState> set_image(const formats::Image& image) const;

  // set_image in two steps, so that a pipeline can preprocess on its IO
  // threads and batch the backbone: prepare_image resizes and normalises one
  // image (no model weights involved); set_images runs the backbone once for
  // several prepared images (every image has the model's square input size,
  // so any originals batch together) and returns what set_image would, one
  // state per image, in order. Both are thread-safe.
  // \throws InvalidInput for an empty image (set_images: a null entry).
  std::shared_ptr<const PreparedImage> prepare_image(const formats::Image& image) const;
  std::vector<std::shared_ptr<const ImageState>> set_images(
      const std::vector<std::shared_ptr<const PreparedImage>>& images) const;

  // Runs one prompt set against cached features. \throws InvalidInput for a bad prompt.
  formats::SegmentResult segment(const ImageState& state, const Prompt& prompt) const;

  // Several text prompts against one cached image, batched through the detector.
  std::vector<formats::SegmentResult> segment_texts(const ImageState& state, const std::vector<std::string>& texts,
                                                     float confidence_threshold) const;

  // Approximate bytes held by a cached state (for the feature cache's budget).
  static int64_t state_bytes(const ImageState& state);

  const Sam3Model& model() const { return *model_; }

private:
  std::shared_ptr<const Sam3Model> model_;
};

}  // namespace sam3::core
