// SPDX-License-Identifier: Apache-2.0
// The video tracker's bucket logic (core/video/tracker_state: click on a
// frame, preflight/consolidation with the memory encoder, per-frame tracking
// with memory selection, pointers and the bf16 memory bank) against
// shared/golden/tracker_tiny: one positive point on frame 0 of a 6-frame
// video, then propagation over frames 1..5. The golden tracker has its own
// tiny backbone (ViT + sam2 neck); this test computes the frame features with
// the port's neck, then runs everything else through TrackerBucket, chained on
// its own memory (as a session does).
#include <cmath>
#include <iostream>
#include <string>

#include <gtest/gtest.h>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/state_dict.h"
#include "core/model/config.h"
#include "core/model/neck.h"
#include "core/model/preprocess.h"
#include "core/model/tracker_modules.h"
#include "core/video/tracker_state.h"
#include "formats/image_io.h"
#include "golden_util.h"

namespace sam3::core {
namespace {

constexpr int64_t kFrames = 6;
constexpr double kTol = 1e-4;  // README stage tolerance, although chained on its own (bf16) memory

double mask_iou(const torch::Tensor& a, const torch::Tensor& b) {
  const double inter = (a & b).sum().item<double>(), uni = (a | b).sum().item<double>();
  return uni > 0 ? inter / uni : 1.0;
}

TEST(TrackerSessionParity, ClickThenPropagateThroughTheBucket) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  const std::string dir = sam3::test::golden_dir() + "/tracker_tiny";
  TensorMap golden = load_safetensors(dir + "/case_point.safetensors");
  TensorMap weights = load_safetensors(dir + "/weights.safetensors");
  Sam3DualViTDetNeck neck(test::tracker_tiny_backbone_config());
  load_state_dict_strict(*neck, weights, "tracker.backbone.vision_backbone.");
  TrackerModel tracker(TrackerConfig::tiny());
  load_state_dict_strict(*tracker, weights, "tracker.", {"backbone."});
  neck->eval();
  tracker->eval();

  std::vector<FrameFeatures> feats;
  for (int64_t t = 0; t < kFrames; ++t) {
    auto img = formats::read_image_file(dir + "/frame" + std::to_string(t) + ".png");
    auto out = neck->forward(preprocess_image(img, 252));
    FrameFeatures f;
    f.f72 = out.sam2_features[2];
    f.pos72 = out.sam2_pos[2];
    auto& md = tracker->sam_mask_decoder;
    f.high_res = {md->conv_s0->forward(out.sam2_features[0]), md->conv_s1->forward(out.sam2_features[1])};
    feats.push_back(f);
  }
  namespace F = torch::nn::functional;
  auto to_video = [](const torch::Tensor& low) {
    return F::interpolate(
        low,
        F::InterpolateFuncOptions().size(std::vector<int64_t>{240, 320}).mode(torch::kBilinear).align_corners(false));
  };

  TrackerBucket bucket(*tracker, kFrames, 240, 320);
  // add_new_points_or_box(frame 0, obj 1, (0.22, 0.5) normalised -> x 252, label 1).
  auto low0 = bucket.add_points(0, 1, torch::tensor({0.22f * 252.0f, 0.5f * 252.0f}).view({1, 2}),
                                torch::tensor({1}, torch::kInt64), feats[0]);
  const double e_prompt = test::max_abs_error(to_video(low0), golden.at("prompt.frame0.video_res_mask_logits"));
  std::cout << "prompt frame0 video-res logits max err " << e_prompt << "\n";
  EXPECT_LE(e_prompt, kTol);

  bucket.preflight([&](int64_t t) { return feats[static_cast<size_t>(t)]; });
  for (int64_t t = 0; t < kFrames; ++t) {
    BucketTrackResult r = bucket.track_frame(t, false, feats[static_cast<size_t>(t)], /*run_mem_encoder=*/true);
    ASSERT_EQ(r.obj_ids, std::vector<int64_t>{1});
    const std::string k = "frame" + std::to_string(t) + ".";
    const double e_low = test::max_abs_error(r.pred_masks, golden.at(k + "low_res_mask_logits"));
    const double e_obj = test::max_abs_error(r.object_score_logits, golden.at(k + "object_score_logits"));
    const double iou = mask_iou(to_video(r.pred_masks) > 0, golden.at(k + "video_res_mask").to(torch::kBool));
    std::cout << "frame" << t << ": low-res max err " << e_low << ", object score err " << e_obj << ", video mask IoU "
              << iou << "\n";
    EXPECT_LE(e_low, kTol) << "frame " << t;
    EXPECT_LE(e_obj, kTol) << "frame " << t;
    EXPECT_GE(iou, 0.995) << "frame " << t;
  }
  EXPECT_GT(bucket.memory_bytes(), 0);
}

}  // namespace
}  // namespace sam3::core
