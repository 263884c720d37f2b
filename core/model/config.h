// SPDX-License-Identifier: Apache-2.0
// Sam3Config: every constructor argument of the SAM 3 image detector that can
// shrink, with the official checkpoint's values as defaults. Read from the
// model folder's config.json (the layout of shared/golden/image_tiny/config.json:
// {"model": {"vit": {...}, "neck": {...}, ...}}) and written back by
// `sam3 model init`. Hard-coded parts of the architecture (neck recipe, GroupNorm
// groups, ROI 7x7, clamp constants) are constants in the modules, as in the reference.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sam3::core {

struct VitConfig {
  int img_size = 1008;
  int pretrain_img_size = 336;
  int patch_size = 14;
  int embed_dim = 1024;
  int depth = 32;
  int num_heads = 16;
  double mlp_ratio = 4.625;
  int window_size = 24;
  std::vector<int> global_att_blocks = {7, 15, 23, 31};
  bool qkv_bias = true;
  bool bias_patch_embed = false;
  bool pretrain_use_cls_token = true;
  double rope_theta = 10000.0;
  int grid() const { return img_size / patch_size; }
  int mlp_hidden() const { return static_cast<int>(embed_dim * mlp_ratio); }
};

struct TextConfig {
  int width = 1024;
  int heads = 16;
  int layers = 24;
  int context_length = 32;
  int vocab_size = 49408;
  int proj_dim = 512;  // text_projection [width, proj_dim]: in the state dict, unused
};

struct TransformerConfig {
  int num_layers = 6;
  int num_heads = 8;
  int dim_feedforward = 2048;
};

struct Sam3Config {
  int image_size = 1008;  // processor resolution
  int d_model = 256;      // neck / DETR-side width
  VitConfig vit;
  TextConfig text;
  TransformerConfig encoder;              // fusion encoder
  TransformerConfig decoder;              // DETR decoder
  TransformerConfig geometry{3, 8, 2048}; // geometry encoder layers
  int num_queries = 200;
  int scorer_hidden = 2048;  // dot_prod_scoring.prompt_mlp hidden
  int mask_head_heads = 8;   // segmentation_head.cross_attend_prompt heads
  bool enable_inst_interactivity = false;  // SAM-1 style interactive head + sam2 neck

  // The official full-size configuration (same as the defaults).
  static Sam3Config full();
  // The small configuration used by `sam3 model init --preset tiny` (that of
  // shared/golden/image_tiny).
  static Sam3Config tiny();

  // Reads the {"model": {...}} document (or the inner object). Unknown fields are
  // ignored only inside informational sections; inconsistent values throw
  // InvalidInput naming the field.
  static Sam3Config from_json(const nlohmann::json& j);
  static Sam3Config from_file(const std::string& config_json_path);
  nlohmann::json to_json() const;
  // Throws InvalidInput naming the first inconsistent value.
  void validate() const;
};

}  // namespace sam3::core
