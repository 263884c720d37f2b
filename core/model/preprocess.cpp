// SPDX-License-Identifier: Apache-2.0
#include "core/model/preprocess.h"

#include <string>

#include "core/errors.h"

namespace sam3::core {

torch::Tensor preprocess_rgb_tensor(const torch::Tensor& rgb_hwc, int resolution) {
  if (resolution <= 0) throw InvalidInput("preprocess: resolution must be positive, got " + std::to_string(resolution));
  if (rgb_hwc.dim() != 3 || rgb_hwc.size(2) != 3 || rgb_hwc.scalar_type() != torch::kUInt8 ||
      rgb_hwc.size(0) == 0 || rgb_hwc.size(1) == 0)
    throw InvalidInput("preprocess: expected a non-empty uint8 [H, W, 3] RGB tensor, got " +
                       std::string(c10::toString(rgb_hwc.scalar_type())) + " " + c10::str(rgb_hwc.sizes()));
  torch::NoGradGuard no_grad;
  auto x = rgb_hwc.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);
  if (x.size(2) != resolution || x.size(3) != resolution) {
    // LibTorch's antialiased kernel is float-only; torchvision on CUDA does the
    // same float resize and then rounds back to uint8 (clamp, round half-even).
    namespace F = torch::nn::functional;
    x = F::interpolate(x, F::InterpolateFuncOptions()
                              .size(std::vector<int64_t>{resolution, resolution})
                              .mode(torch::kBilinear)
                              .align_corners(false)
                              .antialias(true));
    x = x.round().clamp(0.0, 255.0);
  }
  // ToDtype(float32, scale=True) then Normalize(0.5, 0.5).
  return ((x / 255.0) - 0.5) / 0.5;
}

torch::Tensor preprocess_image(const formats::Image& img, int resolution, const torch::Device& device) {
  if (img.width <= 0 || img.height <= 0)
    throw InvalidInput("preprocess: empty image (" + std::to_string(img.width) + "x" + std::to_string(img.height) + ")");
  const size_t expected = static_cast<size_t>(img.width) * static_cast<size_t>(img.height) * 3;
  if (img.rgb.size() != expected)
    throw InvalidInput("preprocess: image " + std::to_string(img.width) + "x" + std::to_string(img.height) +
                       " expects " + std::to_string(expected) + " RGB bytes, got " + std::to_string(img.rgb.size()));
  // from_blob does not own the bytes; the float conversion inside copies them,
  // so the result never aliases img.rgb.
  auto hwc = torch::from_blob(const_cast<uint8_t*>(img.rgb.data()), {img.height, img.width, 3}, torch::kUInt8);
  return preprocess_rgb_tensor(device.is_cpu() ? hwc : hwc.to(device), resolution);
}

}  // namespace sam3::core
