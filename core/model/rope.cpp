// SPDX-License-Identifier: Apache-2.0
// 2-D axial rotary position embedding of the SAM 3 ViT (vitdet.compute_axial_cis
// and apply_rotary_enc), in real arithmetic: pairs are ADJACENT channels
// (2i, 2i+1), not the half-split convention of Llama/NeoX (trap 7).
#include <string>

#include "core/errors.h"
#include "core/model/vit_backbone.h"

namespace sam3::core {

torch::Tensor compute_axial_rope(int64_t head_dim, int64_t end_x, int64_t end_y, double theta,
                                 double scale_pos) {
  if (head_dim <= 0 || head_dim % 4 != 0)
    throw InvalidInput("axial RoPE: head_dim must be a positive multiple of 4, got " + std::to_string(head_dim));
  torch::NoGradGuard no_grad;
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  // Same float32 op sequence as the reference so the table matches it bit for bit:
  // 1 / theta^(arange(0, D, 4)[:D/4] / D).
  auto expo = torch::arange(0, head_dim, 4, torch::kInt64).slice(0, 0, head_dim / 4).to(torch::kFloat32) /
              static_cast<double>(head_dim);
  auto freqs = torch::reciprocal(torch::pow(theta, expo));
  auto t = torch::arange(end_x * end_y, f32);
  auto t_x = torch::remainder(t, static_cast<double>(end_x)) * scale_pos;
  auto t_y = torch::div(t, static_cast<double>(end_x), "floor") * scale_pos;
  auto angles = torch::cat({torch::outer(t_x, freqs), torch::outer(t_y, freqs)}, -1);  // [N, D/2]
  return torch::stack({angles.cos(), angles.sin()}, -1).contiguous();                  // [N, D/2, 2]
}

torch::Tensor apply_axial_rope(const torch::Tensor& x, const torch::Tensor& freqs) {
  const int64_t L = x.size(-2), D = x.size(-1);
  TORCH_CHECK(freqs.dim() == 3 && freqs.size(0) == L && freqs.size(1) * 2 == D && freqs.size(2) == 2,
              "apply_axial_rope: table [", L, ", ", D / 2, ", 2] expected for x ", x.sizes(), ", got ",
              freqs.sizes());
  // RoPE runs in float32 even under bf16 (trap 2), then casts back.
  auto shape = x.sizes().vec();
  shape.back() = D / 2;
  shape.push_back(2);
  auto xf = x.to(torch::kFloat32).reshape(shape);
  auto a = xf.select(-1, 0), b = xf.select(-1, 1);
  auto fc = freqs.to(torch::kFloat32);
  auto c = fc.select(-1, 0), s = fc.select(-1, 1);
  // (a + ib)(c + is) = (ac - bs) + i(as + bc)
  auto out = torch::stack({a * c - b * s, a * s + b * c}, -1).flatten(-2);
  return out.to(x.scalar_type());
}

}  // namespace sam3::core
