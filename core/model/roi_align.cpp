// SPDX-License-Identifier: Apache-2.0
#include "core/model/roi_align.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace sam3::core {
namespace {

// Bilinear taps of the samples along one axis: for each sample, the low and
// high indices and their weights. Invalid samples (outside [-1, size]) get
// zero weights, which zeroes every corner of that sample as torchvision does.
struct AxisTaps {
  std::vector<int64_t> low, high;
  std::vector<float> w_low, w_high;
};

AxisTaps axis_taps(float start, float bin, int64_t pooled, int64_t grid, int64_t size) {
  AxisTaps t;
  const int64_t n = pooled * grid;
  t.low.reserve(n);
  t.high.reserve(n);
  t.w_low.reserve(n);
  t.w_high.reserve(n);
  for (int64_t p = 0; p < pooled; ++p) {
    for (int64_t i = 0; i < grid; ++i) {
      // Same float expression and evaluation order as torchvision's pre_calc.
      float v = start + static_cast<float>(p) * bin +
                static_cast<float>(static_cast<float>(i) + .5f) * bin / static_cast<float>(grid);
      if (v < -1.0f || v > static_cast<float>(size)) {
        t.low.push_back(0);
        t.high.push_back(0);
        t.w_low.push_back(0.f);
        t.w_high.push_back(0.f);
        continue;
      }
      if (v <= 0.f) v = 0.f;
      auto lo = static_cast<int64_t>(v);
      int64_t hi;
      if (lo >= size - 1) {
        hi = lo = size - 1;
        v = static_cast<float>(lo);
      } else {
        hi = lo + 1;
      }
      const float l = v - static_cast<float>(lo);
      t.low.push_back(lo);
      t.high.push_back(hi);
      t.w_low.push_back(1.f - l);
      t.w_high.push_back(l);
    }
  }
  return t;
}

torch::Tensor to_long(const std::vector<int64_t>& v, const torch::Device& d) {
  return torch::tensor(v, torch::kLong).to(d);
}
torch::Tensor to_float(const std::vector<float>& v, const torch::Device& d) {
  return torch::tensor(v, torch::kFloat32).to(d);
}

}  // namespace

torch::Tensor roi_align(const torch::Tensor& input, const torch::Tensor& rois, int64_t pooled_h, int64_t pooled_w,
                        double spatial_scale, int64_t sampling_ratio, bool aligned) {
  TORCH_CHECK(input.dim() == 4, "roi_align: input must be [N, C, H, W], got ", input.sizes());
  TORCH_CHECK(rois.dim() == 2 && rois.size(1) == 5, "roi_align: rois must be [K, 5], got ", rois.sizes());
  TORCH_CHECK(pooled_h > 0 && pooled_w > 0, "roi_align: output size must be positive, got ", pooled_h, "x",
              pooled_w);
  TORCH_CHECK(input.is_floating_point(), "roi_align: input must be floating point, got ", input.scalar_type());
  const int64_t N = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  const int64_t K = rois.size(0);
  const auto dev = input.device();
  if (K == 0) return torch::zeros({0, C, pooled_h, pooled_w}, input.options());

  auto feats = input.to(torch::kFloat32);
  // torchvision reads the rois in the input's dtype (float for our use).
  auto r = rois.to(torch::kCPU, torch::kFloat32).contiguous();
  auto ra = r.accessor<float, 2>();
  const auto scale = static_cast<float>(spatial_scale);
  const float offset = aligned ? 0.5f : 0.f;

  std::vector<torch::Tensor> outs;
  outs.reserve(K);
  for (int64_t k = 0; k < K; ++k) {
    const auto b = static_cast<int64_t>(ra[k][0]);
    TORCH_CHECK(b >= 0 && b < N, "roi_align: roi ", k, " has batch index ", b, ", input batch is ", N);
    const float x1 = ra[k][1] * scale - offset, y1 = ra[k][2] * scale - offset;
    const float x2 = ra[k][3] * scale - offset, y2 = ra[k][4] * scale - offset;
    float rw = x2 - x1, rh = y2 - y1;
    if (!aligned) {
      rw = std::max(rw, 1.f);
      rh = std::max(rh, 1.f);
    }
    const float bin_h = rh / static_cast<float>(pooled_h), bin_w = rw / static_cast<float>(pooled_w);
    const int64_t gh = sampling_ratio > 0 ? sampling_ratio
                                          : static_cast<int64_t>(std::ceil(rh / static_cast<float>(pooled_h)));
    const int64_t gw = sampling_ratio > 0 ? sampling_ratio
                                          : static_cast<int64_t>(std::ceil(rw / static_cast<float>(pooled_w)));
    const auto count = static_cast<float>(std::max<int64_t>(gh * gw, 1));
    // A degenerate (negative-size, aligned=true) roi gives an empty grid and 0 output, as in torchvision.
    if (gh <= 0 || gw <= 0) {
      outs.push_back(torch::zeros({C, pooled_h, pooled_w}, feats.options()));
      continue;
    }
    const AxisTaps ty = axis_taps(y1, bin_h, pooled_h, gh, H);
    const AxisTaps tx = axis_taps(x1, bin_w, pooled_w, gw, W);
    const auto yl = to_long(ty.low, dev), yh = to_long(ty.high, dev);
    const auto xl = to_long(tx.low, dev), xh = to_long(tx.high, dev);
    const auto wyl = to_float(ty.w_low, dev).view({-1, 1}), wyh = to_float(ty.w_high, dev).view({-1, 1});
    const auto wxl = to_float(tx.w_low, dev).view({1, -1}), wxh = to_float(tx.w_high, dev).view({1, -1});

    const auto f = feats[b];                                  // [C, H, W]
    const auto rows_l = f.index_select(1, yl), rows_h = f.index_select(1, yh);  // [C, Ny, W]
    // w1*v1 + w2*v2 + w3*v3 + w4*v4 per sample (torchvision's order), then the bin mean.
    auto v = (wyl * wxl) * rows_l.index_select(2, xl) + (wyl * wxh) * rows_l.index_select(2, xh) +
             (wyh * wxl) * rows_h.index_select(2, xl) + (wyh * wxh) * rows_h.index_select(2, xh);
    v = v.view({C, pooled_h, gh, pooled_w, gw}).sum({2, 4}) / count;
    outs.push_back(v);
  }
  return torch::stack(outs, 0).to(input.scalar_type());
}

}  // namespace sam3::core
