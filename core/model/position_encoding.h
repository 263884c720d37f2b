// SPDX-License-Identifier: Apache-2.0
// The reference's PositionEmbeddingSine (normalize=True, temperature 1e4,
// scale 2*pi). No parameters. num_pos_feats is the full width d (each axis
// gets d/2 channels); channel order is y then x.
#pragma once

#include <utility>

#include "core/torch.h"

namespace sam3::core {

// Map encoding [B, d, H, W]: positions (i+1)/(H+1e-6)*2pi (trap 10).
torch::Tensor sine_position_map(int64_t batch, int64_t height, int64_t width, int64_t num_pos_feats,
                                const torch::TensorOptions& opts = torch::kFloat32);

// _encode_xy: x, y are 1-D already-normalised coordinates [N] -> (pos_x, pos_y), each [N, d/2].
std::pair<torch::Tensor, torch::Tensor> sine_encode_xy(const torch::Tensor& x, const torch::Tensor& y,
                                                       int64_t num_pos_feats);

// encode_boxes: [N] each -> [N, d + 2] = cat(pos_y, pos_x, h, w).
torch::Tensor sine_encode_boxes(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& w,
                                const torch::Tensor& h, int64_t num_pos_feats);

// encode_points: x, y, labels [B, N] -> [B, N, d + 1] = cat(pos_y, pos_x, label).
torch::Tensor sine_encode_points(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& labels,
                                 int64_t num_pos_feats);

}  // namespace sam3::core
