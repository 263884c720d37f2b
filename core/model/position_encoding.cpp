// SPDX-License-Identifier: Apache-2.0
#include "core/model/position_encoding.h"

#include <cmath>

namespace sam3::core {
namespace {

constexpr double kTemperature = 10000.0;
constexpr double kScale = 2.0 * M_PI;

// temperature ** (2 * (i // 2) / half), computed in float32 as the reference does.
torch::Tensor dim_t(int64_t half, const torch::Device& device) {
  auto i = torch::arange(half, torch::TensorOptions().dtype(torch::kFloat32).device(device));
  auto e = 2 * torch::floor_divide(i, 2) / static_cast<double>(half);
  return torch::pow(torch::full({}, kTemperature, i.options()), e);
}

// Interleave sin of even channels and cos of odd channels: stack(dim=-1).flatten.
torch::Tensor sin_cos(const torch::Tensor& p) {
  using torch::indexing::Slice;
  auto s = p.index({"...", Slice(0, torch::indexing::None, 2)}).sin();
  auto c = p.index({"...", Slice(1, torch::indexing::None, 2)}).cos();
  return torch::stack({s, c}, -1).flatten(-2);
}

}  // namespace

torch::Tensor sine_position_map(int64_t batch, int64_t height, int64_t width, int64_t num_pos_feats,
                                const torch::TensorOptions& opts) {
  const int64_t half = num_pos_feats / 2;
  auto f = torch::TensorOptions().dtype(torch::kFloat32).device(opts.device());
  auto y = torch::arange(1, height + 1, f).view({height, 1}).expand({height, width});
  auto x = torch::arange(1, width + 1, f).view({1, width}).expand({height, width});
  constexpr double eps = 1e-6;
  y = y / (static_cast<double>(height) + eps) * kScale;
  x = x / (static_cast<double>(width) + eps) * kScale;
  auto d = dim_t(half, opts.device());
  auto px = sin_cos(x.unsqueeze(-1) / d);
  auto py = sin_cos(y.unsqueeze(-1) / d);
  auto pos = torch::cat({py, px}, -1).permute({2, 0, 1}).unsqueeze(0);
  return pos.expand({batch, num_pos_feats, height, width}).contiguous().to(opts.dtype());
}

std::pair<torch::Tensor, torch::Tensor> sine_encode_xy(const torch::Tensor& x, const torch::Tensor& y,
                                                       int64_t num_pos_feats) {
  TORCH_CHECK(x.dim() == 1 && y.dim() == 1 && x.size(0) == y.size(0), "sine_encode_xy expects two [N] tensors, got ",
              x.sizes(), " and ", y.sizes());
  auto d = dim_t(num_pos_feats / 2, x.device());
  auto px = sin_cos((x * kScale).unsqueeze(-1) / d);
  auto py = sin_cos((y * kScale).unsqueeze(-1) / d);
  return {px, py};
}

torch::Tensor sine_encode_boxes(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& w,
                                const torch::Tensor& h, int64_t num_pos_feats) {
  auto [px, py] = sine_encode_xy(x, y, num_pos_feats);
  return torch::cat({py, px, h.unsqueeze(1), w.unsqueeze(1)}, 1);
}

torch::Tensor sine_encode_points(const torch::Tensor& x, const torch::Tensor& y, const torch::Tensor& labels,
                                 int64_t num_pos_feats) {
  const int64_t B = x.size(0), N = x.size(1);
  auto [px, py] = sine_encode_xy(x.flatten(), y.flatten(), num_pos_feats);
  px = px.reshape({B, N, -1});
  py = py.reshape({B, N, -1});
  return torch::cat({py, px, labels.unsqueeze(-1).to(px.scalar_type())}, 2);
}

}  // namespace sam3::core
