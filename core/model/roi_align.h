// SPDX-License-Identifier: Apache-2.0
// torchvision.ops.roi_align (forward only), which LibTorch does not ship.
// The geometry encoder pools each box exemplar with it (7x7, spatial_scale 1,
// sampling_ratio -1, aligned=false), so the semantics follow torchvision's
// CPU/CUDA kernels exactly:
//  - roi corners are scaled by spatial_scale; aligned=true shifts them by -0.5,
//    aligned=false instead clamps the roi width/height to >= 1;
//  - each of the P_h x P_w bins averages a grid of G_h x G_w bilinear samples,
//    G = sampling_ratio if > 0, else ceil(roi_size / P) (adaptive), at
//    start + p*bin + (i + 0.5)*bin/G;
//  - a sample with y < -1, y > H, x < -1 or x > W contributes 0 (but still
//    counts in the average); otherwise coordinates <= 0 are clamped to 0 and
//    those past the last row/column to it.
// Sample positions are computed in float scalars as torchvision does; the
// gather and average run as tensor ops on the input's device.
// Thread-safety: a pure function.
#pragma once

#include <cstdint>

#include "core/torch.h"

namespace sam3::core {

// input: [N, C, H, W] float (any floating dtype; computed in float32, returned
//   in the input dtype).
// rois:  [K, 5] (batch_index, x1, y1, x2, y2) in input-pixel units before
//   spatial_scale (torchvision's "Tensor[K, 5]" form; convert a per-image box
//   list by prepending the image index).
// returns [K, C, pooled_h, pooled_w]; K may be 0.
// \throws c10::Error on bad shapes or an out-of-range batch index.
torch::Tensor roi_align(const torch::Tensor& input, const torch::Tensor& rois, int64_t pooled_h, int64_t pooled_w,
                        double spatial_scale = 1.0, int64_t sampling_ratio = -1, bool aligned = false);

}  // namespace sam3::core
