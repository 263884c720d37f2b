// SPDX-License-Identifier: Apache-2.0
// Sam3DualViTDetNeck (reference: sam3/model/necks.py) with the ViT trunk and
// the scalp=1 of SAM3VLBackbone.forward_image (vl_combiner.py): a simple FPN
// from the last trunk map at scales 4, 2, 1 (and 0.5, which scalp discards),
// plus sine position encodings of every kept level. Parameter names mirror the
// checkpoint under "detector.backbone.vision_backbone.": trunk.*,
// convs.{0..3}.{dconv_2x2_0, dconv_2x2_1, dconv_2x2, conv_1x1, conv_3x3}.*,
// and sam2_convs.* (a second copy) when enable_inst_interactivity.
//
// Thread-safety: forward() does not modify the module.
#pragma once

#include <vector>

#include "core/model/config.h"
#include "core/model/vit_backbone.h"
#include "core/torch.h"

namespace sam3::core {

// One FPN level (a Sequential in the reference): for scale 4:
// dconv_2x2_0 (ConvT C->C/2, k2 s2) . GELU . dconv_2x2_1 (ConvT C/2->C/4);
// scale 2: dconv_2x2 (ConvT C->C/2); scale 1: nothing; scale 0.5:
// maxpool_2x2 (no parameters); then conv_1x1 (-> d) and conv_3x3 (d -> d, pad 1).
class FpnLevelImpl : public torch::nn::Module {
public:
  FpnLevelImpl(double scale, int64_t dim, int64_t d_model);
  torch::Tensor forward(const torch::Tensor& x);  // [B, C, G, G] -> [B, d, s*G, s*G]
  double scale() const { return scale_; }

  torch::nn::ConvTranspose2d dconv_2x2_0{nullptr}, dconv_2x2_1{nullptr}, dconv_2x2{nullptr};
  torch::nn::Conv2d conv_1x1{nullptr}, conv_3x3{nullptr};

private:
  double scale_;
};
TORCH_MODULE(FpnLevel);

// Backbone features of one image batch, finest level first (after scalp=1):
// [B, d, 4G, 4G], [B, d, 2G, 2G], [B, d, G, G]; pos has the same shapes.
// sam2_* are filled only when the neck has sam2_convs (interactive head).
struct NeckOutput {
  std::vector<torch::Tensor> features;
  std::vector<torch::Tensor> pos;
  std::vector<torch::Tensor> sam2_features;
  std::vector<torch::Tensor> sam2_pos;
};

class Sam3DualViTDetNeckImpl : public torch::nn::Module {
public:
  static constexpr int kNumLevels = 4;   // scale factors 4, 2, 1, 0.5
  static constexpr int kKeptLevels = 3;  // SAM3VLBackbone scalp = 1 drops the 0.5 level

  explicit Sam3DualViTDetNeckImpl(const Sam3Config& cfg);

  // image [B, 3, R, R] (preprocessed) -> trunk -> FPN levels 0..2 + pos.
  NeckOutput forward(const torch::Tensor& image);
  // From a trunk output [B, C, G, G] (e.g. a golden one): FPN levels 0..2 + pos.
  NeckOutput forward_features(const torch::Tensor& trunk_out);
  // One level i in 0..3 of convs (or sam2_convs), including the discarded
  // 0.5 level, for tests. \throws InvalidInput for a bad index or a missing sam2 neck.
  torch::Tensor forward_level(int level, const torch::Tensor& trunk_out, bool sam2 = false);

  bool has_sam2_neck() const { return !sam2_levels_.empty(); }
  int64_t d_model() const { return d_model_; }

  ViT trunk{nullptr};
  torch::nn::ModuleList convs{nullptr};
  torch::nn::ModuleList sam2_convs{nullptr};  // registered only with enable_inst_interactivity

private:
  int64_t d_model_;
  std::vector<FpnLevel> levels_, sam2_levels_;
};
TORCH_MODULE(Sam3DualViTDetNeck);

}  // namespace sam3::core
