// SPDX-License-Identifier: Apache-2.0
#include "core/model/neck.h"

#include <string>

#include "core/errors.h"
#include "core/model/position_encoding.h"

namespace sam3::core {
namespace {

constexpr double kScales[Sam3DualViTDetNeckImpl::kNumLevels] = {4.0, 2.0, 1.0, 0.5};

torch::nn::ConvTranspose2d up2x(int64_t in, int64_t out) {
  return torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(in, out, 2).stride(2));
}

std::vector<FpnLevel> make_levels(torch::nn::ModuleList& list, int64_t dim, int64_t d_model) {
  std::vector<FpnLevel> levels;
  for (double s : kScales) {
    levels.push_back(FpnLevel(s, dim, d_model));
    list->push_back(levels.back());
  }
  return levels;
}

}  // namespace

FpnLevelImpl::FpnLevelImpl(double scale, int64_t dim, int64_t d_model) : scale_(scale) {
  int64_t out_dim = dim;
  if (scale == 4.0) {
    dconv_2x2_0 = register_module("dconv_2x2_0", up2x(dim, dim / 2));
    dconv_2x2_1 = register_module("dconv_2x2_1", up2x(dim / 2, dim / 4));
    out_dim = dim / 4;
  } else if (scale == 2.0) {
    dconv_2x2 = register_module("dconv_2x2", up2x(dim, dim / 2));
    out_dim = dim / 2;
  } else if (scale != 1.0 && scale != 0.5) {
    throw InvalidInput("neck: unsupported FPN scale " + std::to_string(scale) + " (expected 4, 2, 1 or 0.5)");
  }
  conv_1x1 = register_module("conv_1x1", torch::nn::Conv2d(torch::nn::Conv2dOptions(out_dim, d_model, 1)));
  conv_3x3 = register_module("conv_3x3", torch::nn::Conv2d(torch::nn::Conv2dOptions(d_model, d_model, 3).padding(1)));
}

torch::Tensor FpnLevelImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = x;
  if (scale_ == 4.0) {
    y = dconv_2x2_1->forward(torch::gelu(dconv_2x2_0->forward(y)));
  } else if (scale_ == 2.0) {
    y = dconv_2x2->forward(y);
  } else if (scale_ == 0.5) {
    y = torch::max_pool2d(y, {2, 2}, {2, 2});
  }
  return conv_3x3->forward(conv_1x1->forward(y));
}

Sam3DualViTDetNeckImpl::Sam3DualViTDetNeckImpl(const Sam3Config& cfg) : d_model_(cfg.d_model) {
  trunk = register_module("trunk", ViT(cfg.vit));
  const int64_t dim = cfg.vit.embed_dim;
  convs = register_module("convs", torch::nn::ModuleList());
  levels_ = make_levels(convs, dim, d_model_);
  if (cfg.enable_inst_interactivity) {
    // A separate copy with its own weights (deepcopy in the reference).
    sam2_convs = register_module("sam2_convs", torch::nn::ModuleList());
    sam2_levels_ = make_levels(sam2_convs, dim, d_model_);
  }
}

torch::Tensor Sam3DualViTDetNeckImpl::forward_level(int level, const torch::Tensor& trunk_out, bool sam2) {
  if (level < 0 || level >= kNumLevels)
    throw InvalidInput("neck: level must be in 0.." + std::to_string(kNumLevels - 1) + ", got " + std::to_string(level));
  if (sam2 && !has_sam2_neck()) throw InvalidInput("neck: sam2_convs requested but the model is not interactive");
  auto& levels = sam2 ? sam2_levels_ : levels_;
  return levels[static_cast<size_t>(level)]->forward(trunk_out);
}

NeckOutput Sam3DualViTDetNeckImpl::forward_features(const torch::Tensor& trunk_out) {
  if (trunk_out.dim() != 4 || trunk_out.size(1) != trunk->config().embed_dim)
    throw InvalidInput("neck: expected trunk features [B, " + std::to_string(trunk->config().embed_dim) +
                       ", G, G], got " + c10::str(trunk_out.sizes()));
  NeckOutput out;
  try {
    const int64_t B = trunk_out.size(0);
    for (int i = 0; i < kKeptLevels; ++i) {
      auto f = levels_[static_cast<size_t>(i)]->forward(trunk_out);
      // Computed in float32 and cast to the feature dtype, as the reference does
      // (so it is rounded under bf16). It depends only on the size: the sam2
      // neck shares it.
      auto p = sine_position_map(B, f.size(2), f.size(3), d_model_,
                                 torch::TensorOptions().dtype(f.scalar_type()).device(f.device()));
      out.features.push_back(f);
      out.pos.push_back(p);
      if (has_sam2_neck()) {
        out.sam2_features.push_back(sam2_levels_[static_cast<size_t>(i)]->forward(trunk_out));
        out.sam2_pos.push_back(p);
      }
    }
  } catch (const c10::Error& e) {
    throw ModelError(std::string("neck forward failed: ") + e.what_without_backtrace());
  }
  return out;
}

NeckOutput Sam3DualViTDetNeckImpl::forward(const torch::Tensor& image) { return forward_features(trunk->forward(image)); }

}  // namespace sam3::core
