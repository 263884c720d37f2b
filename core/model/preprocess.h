// SPDX-License-Identifier: Apache-2.0
// Image preprocessing of Sam3Processor.set_image: RGB uint8 -> square RxR
// (aspect not kept) with antialiased bilinear resize, rounded back to 8 bits
// as torchvision does on GPU, then scaled to [-1, 1] (mean = std = 0.5).
#pragma once

#include "core/torch.h"
#include "formats/types.h"

namespace sam3::core {

// img: 8-bit RGB (HWC). Returns [1, 3, resolution, resolution] float32 on
// `device` (the resize runs there). \throws InvalidInput for an empty or
// inconsistent image or a non-positive resolution.
torch::Tensor preprocess_image(const formats::Image& img, int resolution,
                               const torch::Device& device = torch::kCPU);

// Same from a uint8 tensor [H, W, 3] (HWC, e.g. a decoded video frame) on any
// device. Returns [1, 3, resolution, resolution] float32 on the tensor's device.
torch::Tensor preprocess_rgb_tensor(const torch::Tensor& rgb_hwc, int resolution);

}  // namespace sam3::core
