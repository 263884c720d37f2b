// SPDX-License-Identifier: Apache-2.0
// Internal to core/: what image_engine.h only forward-declares. Sam3Model is
// the loaded network and everything needed to run it (immutable after load,
// shared by threads); ImageState is one image's cached backbone features
// (immutable after set_image, read by any number of prompts).
#pragma once

#include <memory>
#include <string>

#include "core/image_engine.h"
#include "core/model/config.h"
#include "core/model/interactive_predictor.h"
#include "core/model/sam3_image.h"
#include "core/model/tokenizer.h"
#include "core/torch.h"

namespace sam3::core {

class Sam3Model {
public:
  Sam3Model(Sam3Config config, Sam3Image net, std::shared_ptr<const Tokenizer> tokenizer, torch::Device device,
            bool bf16, std::string checkpoint);

  const Sam3Config& config() const { return config_; }
  // Forward methods of torch modules are not const-qualified, but none of the
  // Sam3Image methods modifies the module (see sam3_image.h), so a shared
  // immutable model hands out the module for inference.
  Sam3ImageImpl& net() const { return *net_.ptr(); }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const torch::Device& device() const { return device_; }
  // Whether inference runs under bf16 autocast: the backbone, the text
  // encoder and, for text prompts, the fusion encoder, decoder and scorer
  // (image_engine.cpp says why the rest stays float32).
  bool bf16() const { return bf16_; }
  const std::string& checkpoint() const { return checkpoint_; }

private:
  Sam3Config config_;
  Sam3Image net_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  torch::Device device_;
  bool bf16_;
  std::string checkpoint_;
};

class ImageState {
public:
  int width = 0;   // original image size
  int height = 0;
  BackboneFeatures features;     // float32 on the model's device
  SamImageFeatures sam_features; // interactive head only (conv_s0/s1 applied once per image)
};

// A preprocessed image: [1, 3, R, R] float32 on the model's device.
class PreparedImage {
public:
  int width = 0;  // original image size
  int height = 0;
  torch::Tensor pixels;
};

// Builds a Sam3Model from an already-constructed network (tests, `sam3 model
// init`): moves it to `device`, puts it in eval mode.
std::shared_ptr<const Sam3Model> make_model(const Sam3Config& config, Sam3Image net,
                                            std::shared_ptr<const Tokenizer> tokenizer, const std::string& device,
                                            bool bf16, const std::string& checkpoint = "");

// Backbone features of a preprocessed image [1, 3, R, R] (what set_image
// caches), with the model's autocast policy. Exposed for parity tests.
BackboneFeatures compute_image_features(const Sam3Model& model, const torch::Tensor& pixels);

// Text features of several prompts, tokenized and encoded in one batch.
TextFeatures compute_text_features(const Sam3Model& model, const std::vector<std::string>& texts);

}  // namespace sam3::core
