// SPDX-License-Identifier: Apache-2.0
// roi_align against values derived by hand (torchvision semantics): constant
// maps, linear ramps (where bilinear sampling is exact, so a bin's mean is the
// ramp at the bin centre), x^2 (which exposes the adaptive sample count), and
// the border rules (clamp inside [-1, size], zero outside).
#include <gtest/gtest.h>

#include "core/model/roi_align.h"

namespace sam3::core {
namespace {

using torch::indexing::Slice;

torch::Tensor rois1(float b, float x1, float y1, float x2, float y2) {
  return torch::tensor({b, x1, y1, x2, y2}, torch::kFloat32).view({1, 5});
}

// f(c, y, x) = 2y + 0.5x + c on an [1, C, H, W] map.
torch::Tensor ramp(int64_t C, int64_t H, int64_t W) {
  auto y = torch::arange(H, torch::kFloat32).view({1, 1, H, 1});
  auto x = torch::arange(W, torch::kFloat32).view({1, 1, 1, W});
  auto c = torch::arange(C, torch::kFloat32).view({1, C, 1, 1});
  return (2 * y + 0.5 * x + c).expand({1, C, H, W}).contiguous();
}

TEST(RoiAlign, ConstantMapGivesConstant) {
  auto in = torch::full({1, 2, 10, 12}, 3.0f);
  auto out = roi_align(in, rois1(0, 1.f, 2.f, 8.f, 9.f), 7, 7);
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 2, 7, 7}));
  EXPECT_NEAR((out - 3.0f).abs().max().item<float>(), 0.f, 1e-6);
}

TEST(RoiAlign, RampEqualsValueAtBinCentres) {
  // roi 7x7 px -> 1 px bins, 1 sample per bin at the bin centre.
  auto out = roi_align(ramp(2, 10, 12), rois1(0, 1.5f, 2.25f, 8.5f, 9.25f), 7, 7);
  for (int c = 0; c < 2; ++c)
    for (int ph = 0; ph < 7; ++ph)
      for (int pw = 0; pw < 7; ++pw) {
        const float want = 2.f * (2.75f + ph) + 0.5f * (2.f + pw) + c;
        EXPECT_NEAR(out[0][c][ph][pw].item<float>(), want, 1e-5) << c << "," << ph << "," << pw;
      }
}

TEST(RoiAlign, AdaptiveSamplingUsesCeilRoiOverBins) {
  // f = x^2 at integer x (constant in y). roi 14 px wide -> bins of 2 px,
  // ceil(14/7) = 2 samples per bin at 2p+0.5 and 2p+1.5; bilinear at n+0.5 is
  // (n^2 + (n+1)^2)/2, so bin p averages four squares: ((2p)^2 + 2(2p+1)^2 + (2p+2)^2)/4.
  auto x = torch::arange(20, torch::kFloat32);
  auto in = (x * x).view({1, 1, 1, 20}).expand({1, 1, 20, 20}).contiguous();
  auto out = roi_align(in, rois1(0, 0.f, 0.f, 14.f, 14.f), 7, 7);
  auto fixed1 = roi_align(in, rois1(0, 0.f, 0.f, 14.f, 14.f), 7, 7, 1.0, /*sampling_ratio=*/1);
  for (int pw = 0; pw < 7; ++pw) {
    const float a = 2.f * pw, b = a + 1, c = a + 2;
    const float want = (a * a + 2 * b * b + c * c) / 4.f;
    for (int ph = 0; ph < 7; ++ph) {
      EXPECT_NEAR(out[0][0][ph][pw].item<float>(), want, 1e-4) << ph << "," << pw;
      // One sample per bin lands on the integer 2p+1.
      EXPECT_NEAR(fixed1[0][0][ph][pw].item<float>(), b * b, 1e-4) << ph << "," << pw;
    }
  }
}

TEST(RoiAlign, BorderClampAndOutsideZero) {
  // f = x + 1 on a 4x4 map, 1x1 output; roi height 1 (y sample 1.5).
  auto x = torch::arange(4, torch::kFloat32) + 1;
  auto in = x.view({1, 1, 1, 4}).expand({1, 1, 4, 4}).contiguous();
  auto one = [&](float x1, float x2) { return roi_align(in, rois1(0, x1, 1.f, x2, 2.f), 1, 1).item<float>(); };
  EXPECT_NEAR(one(3.5f, 4.5f), 4.f, 1e-6);    // sample x=4.0 <= W: clamped to column 3
  EXPECT_NEAR(one(4.5f, 5.5f), 0.f, 1e-6);    // sample x=5.0 > W: contributes 0
  EXPECT_NEAR(one(-1.5f, -0.5f), 1.f, 1e-6);  // sample x=-1.0: not < -1, clamped to column 0
  EXPECT_NEAR(one(-1.75f, -0.75f), 0.f, 1e-6);  // sample x=-1.25 < -1: 0
  // Width 4 -> 4 samples at 2.5, 3.5, 4.5, 5.5 -> 3.5, 4 (clamped), 0, 0; mean over all 4.
  EXPECT_NEAR(one(2.f, 6.f), (3.5f + 4.f) / 4.f, 1e-6);
}

TEST(RoiAlign, SubPixelRoiIsWidenedToOnePixelWhenNotAligned) {
  // x1 == x2, y1 == y2: width/height clamped to 1 -> bins of 1/7, 1 sample each.
  auto out = roi_align(ramp(1, 10, 12), rois1(0, 3.f, 2.f, 3.f, 2.f), 7, 7);
  for (int ph = 0; ph < 7; ++ph)
    for (int pw = 0; pw < 7; ++pw) {
      const float want = 2.f * (2.f + (ph + .5f) / 7.f) + 0.5f * (3.f + (pw + .5f) / 7.f);
      EXPECT_NEAR(out[0][0][ph][pw].item<float>(), want, 1e-5);
    }
}

TEST(RoiAlign, BatchIndexSpatialScaleAndAligned) {
  auto in = torch::cat({torch::full({1, 1, 8, 8}, 1.f), torch::full({1, 1, 8, 8}, 5.f)}, 0);
  auto r = torch::tensor({{1.f, 1.f, 1.f, 6.f, 6.f}, {0.f, 1.f, 1.f, 6.f, 6.f}});
  auto out = roi_align(in, r, 3, 3);
  EXPECT_NEAR((out[0] - 5.f).abs().max().item<float>(), 0.f, 1e-6);
  EXPECT_NEAR((out[1] - 1.f).abs().max().item<float>(), 0.f, 1e-6);

  auto ref = roi_align(ramp(2, 10, 12), rois1(0, 1.5f, 2.25f, 8.5f, 9.25f), 7, 7);
  // Boxes in 2x coordinates with spatial_scale 0.5 give the same bins.
  auto scaled = roi_align(ramp(2, 10, 12), rois1(0, 3.f, 4.5f, 17.f, 18.5f), 7, 7, 0.5);
  EXPECT_LT((scaled - ref).abs().max().item<float>(), 1e-5);
  // aligned=true shifts corners by -0.5 pixel.
  auto al = roi_align(ramp(2, 10, 12), rois1(0, 2.f, 2.75f, 9.f, 9.75f), 7, 7, 1.0, -1, /*aligned=*/true);
  EXPECT_LT((al - ref).abs().max().item<float>(), 1e-5);
}

TEST(RoiAlign, NoRoisGivesEmptyOutputAndBadShapesThrow) {
  auto in = torch::zeros({1, 4, 5, 5});
  auto out = roi_align(in, torch::zeros({0, 5}), 7, 7);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{0, 4, 7, 7}));
  EXPECT_THROW(roi_align(in, torch::zeros({1, 4}), 7, 7), c10::Error);
  EXPECT_THROW(roi_align(in, rois1(2, 0, 0, 1, 1), 7, 7), c10::Error);
}

}  // namespace
}  // namespace sam3::core
