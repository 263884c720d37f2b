// SPDX-License-Identifier: Apache-2.0
#include "model_util.h"

#include "core/checkpoint/safetensors.h"
#include "core/image_state.h"
#include "core/model/sam3_image.h"
#include "core/model_init.h"
#include "test_util.h"

namespace sam3::test {

std::shared_ptr<const core::Sam3Model> tiny_detector(uint64_t seed) {
  c10::InferenceMode guard;
  torch::manual_seed(seed);
  const core::Sam3Config cfg = core::Sam3Config::tiny();
  return core::make_model(cfg, core::Sam3Image(cfg), std::make_shared<const core::Tokenizer>(golden_bpe_path()), "cpu",
                          false);
}

std::string write_tiny_tracking_model(const std::string& dir) {
  core::ModelInitOptions o;
  o.preset = "tiny";
  o.seed = 3;
  o.out_dir = dir;
  o.bpe_path = golden_bpe_path();
  core::init_model_folder(o);
  c10::InferenceMode guard;
  const std::string file = dir + "/model.safetensors";
  core::TensorMap out;
  {
    auto t = core::load_safetensors(file);  // memory-mapped: copy before rewriting the file
    for (auto& [k, v] : t) out[k] = v.clone();
  }
  out.at("tracker.sam_mask_decoder.pred_obj_score_head.layers.2.bias").add_(3.0);
  out.at("detector.transformer.decoder.presence_token_head.layers.2.bias").add_(6.0);
  core::save_safetensors(file, out);
  return dir;
}

std::shared_ptr<const core::Sam3Model> tiny_tracking_model() {
  static TempDir dir;
  static const std::shared_ptr<const core::Sam3Model> model = [] {
    core::ModelOptions mo;
    mo.model_dir = write_tiny_tracking_model(dir.path().string());
    mo.bpe_path = golden_bpe_path();
    mo.threads = 1;
    return core::load_model(mo);
  }();
  return model;
}

}  // namespace sam3::test
