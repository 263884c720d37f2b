// SPDX-License-Identifier: Apache-2.0
// Parity of the SAM heads and the tracker against shared/golden/tracker_tiny
// (tiny Sam3TrackerPredictor with its own tiny backbone; one positive point on
// frame 0, then propagation over frames 1..5). The goldens hold no backbone
// features, so the tiny backbone (ViT + sam2 neck, other modules of this
// port) computes them from the preprocessed frames.
//
// Frame 0 (conditioning frame): F18 + no_mem_embed -> prompt encoder + mask
// decoder (multimask, best IoU) -> low-res logits, IoU, object score, pointer;
// then the memory encoder on the thresholded mask.
// Frames 1..5: memory attention over the golden memory bank of earlier frames
// (golden maskmem_features / obj_ptr / scores as inputs), SAM heads, memory encoder.
#include <cmath>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/state_dict.h"
#include "core/model/config.h"
#include "core/model/interactive_predictor.h"
#include "core/model/neck.h"
#include "core/model/preprocess.h"
#include "core/model/tracker_modules.h"
#include "formats/image_io.h"
#include "golden_util.h"

namespace sam3::core {
namespace {

constexpr int64_t kFrames = 6;
constexpr double kTol = 1e-4;

// Max |a - b|, EXPECTing equal shapes (infinity when they differ).
using test::max_abs_error;

// An fp32 result against a bf16-rounded golden (the reference stores memories
// in bf16): returns the largest excess of |ours - golden| over the bf16
// rounding bound 2^-8 |golden| (<= 0 when every element is within rounding + 0).
double max_excess_over_bf16_rounding(const torch::Tensor& ours, const torch::Tensor& golden) {
  EXPECT_EQ(ours.sizes(), golden.sizes());
  auto diff = (ours.to(torch::kFloat32) - golden).abs();
  return (diff - golden.abs() * std::pow(2.0, -8)).max().item<double>();
}

struct Fixture {
  TensorMap golden;
  TensorMap weights;
  Sam3DualViTDetNeck neck{nullptr};
  TrackerModel tracker{nullptr};
};

Fixture& fixture() {
  static Fixture f = [] {
    Fixture x;
    const std::string dir = sam3::test::golden_dir() + "/tracker_tiny";
    x.golden = load_safetensors(dir + "/case_point.safetensors");
    x.weights = load_safetensors(dir + "/weights.safetensors");
    x.neck = Sam3DualViTDetNeck(test::tracker_tiny_backbone_config());
    load_state_dict_strict(*x.neck, x.weights, "tracker.backbone.vision_backbone.");
    x.tracker = TrackerModel(TrackerConfig::tiny());
    load_state_dict_strict(*x.tracker, x.weights, "tracker.", {"backbone."});
    x.neck->eval();
    x.tracker->eval();
    return x;
  }();
  return f;
}

struct FrameFeatures {
  std::vector<torch::Tensor> high_res;  // conv_s0(F72), conv_s1(F36)
  torch::Tensor f18, p18;
};

FrameFeatures frame_features(Fixture& fx, const torch::Tensor& image) {
  auto out = fx.neck->forward(image);
  FrameFeatures f;
  auto& md = fx.tracker->sam_mask_decoder;
  f.high_res = {md->conv_s0->forward(out.sam2_features[0]), md->conv_s1->forward(out.sam2_features[1])};
  f.f18 = out.sam2_features[2];
  f.p18 = out.sam2_pos[2];
  return f;
}

torch::Tensor point_coords() {
  // normalised (0.22, 0.5) -> x 252 (rel_coordinates=True in the reference)
  return torch::tensor({0.22f * 252.0f, 0.5f * 252.0f}).view({1, 1, 2});
}

TEST(SamHeadParity, Frame0PointOnConditioningFrame) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  auto& fx = fixture();
  auto& g = fx.golden;
  auto& tr = fx.tracker;
  auto feats = frame_features(fx, g.at("frame0.preprocessed"));

  auto coords = point_coords();
  auto labels = torch::ones({1, 1}, torch::kInt32);
  ASSERT_TRUE(tr->use_multimask(true, 1));
  auto heads = tr->forward_sam_heads(tr->add_no_mem_embed(feats.f18), coords, labels, {}, feats.high_res, true);
  const double e_low = max_abs_error(heads.low_res_masks, g.at("frame0.low_res_mask_logits"));
  const double e_obj = max_abs_error(heads.object_score_logits, g.at("frame0.object_score_logits"));
  const double e_ptr = max_abs_error(heads.obj_ptr, g.at("frame0.obj_ptr"));
  const double e_iou = max_abs_error(std::get<0>(heads.ious.max(-1)).view({1, 1}), g.at("frame0.iou_score"));
  std::cout << "frame0: low-res logits max err " << e_low << " (|max| "
            << g.at("frame0.low_res_mask_logits").abs().max().item<double>() << "), object score " << e_obj
            << ", IoU " << e_iou << ", obj_ptr " << e_ptr << "\n";
  EXPECT_LE(e_low, kTol);
  EXPECT_LE(e_obj, kTol);
  EXPECT_LE(e_iou, kTol);
  EXPECT_LE(e_ptr, kTol);

  // Preflight memory of the conditioning frame: low-res -> image size, binarised.
  namespace F = torch::nn::functional;
  auto high = F::interpolate(heads.low_res_masks, F::InterpolateFuncOptions()
                                                      .size(std::vector<int64_t>{252, 252})
                                                      .mode(torch::kBilinear)
                                                      .align_corners(false));
  auto [mem, pos] = tr->encode_new_memory(feats.f18, high, heads.object_score_logits, true);
  const double e_mem = max_excess_over_bf16_rounding(mem, g.at("frame0.maskmem_features"));
  const double e_pos = max_abs_error(pos, g.at("maskmem_pos_enc"));
  std::cout << "frame0: maskmem_features max err beyond bf16 rounding " << e_mem << ", fp32 max err "
            << max_abs_error(mem, g.at("frame0.maskmem_features")) << ", pos " << e_pos << "\n";
  EXPECT_LE(e_mem, kTol);
  EXPECT_LE(e_pos, 1e-5);

  // add_new_points_or_box's video-resolution logits.
  auto video = F::interpolate(heads.low_res_masks, F::InterpolateFuncOptions()
                                                       .size(std::vector<int64_t>{240, 320})
                                                       .mode(torch::kBilinear)
                                                       .align_corners(false));
  const double e_video = max_abs_error(video, g.at("prompt.frame0.video_res_mask_logits"));
  std::cout << "frame0: video-res logits max err " << e_video << "\n";
  EXPECT_LE(e_video, kTol);
  EXPECT_TRUE(torch::equal((video > 0).to(torch::kUInt8), g.at("frame0.video_res_mask")));
}

// One tracked frame's entries in the memory bank.
struct BankEntry {
  torch::Tensor maskmem;  // bf16-rounded, as float
  torch::Tensor obj_ptr;
};

// Propagates frames 1..5 after the conditioning frame 0. own_memory = false:
// every frame reads the golden memory bank (stage isolation, tolerance 1e-4);
// true: the port's own outputs feed the next frames (the whole loop chained).
void run_propagation(bool own_memory, double tol) {
  auto& fx = fixture();
  auto& g = fx.golden;
  auto& tr = fx.tracker;
  const auto& cfg = tr->config();
  const std::string dir = sam3::test::golden_dir() + "/tracker_tiny";
  namespace F = torch::nn::functional;
  auto golden_key = [](int64_t t, const char* what) { return "frame" + std::to_string(t) + "." + what; };

  std::map<int64_t, BankEntry> bank;
  auto pos = g.at("maskmem_pos_enc");
  if (own_memory) {
    auto feats = frame_features(fx, g.at("frame0.preprocessed"));
    auto heads = tr->forward_sam_heads(tr->add_no_mem_embed(feats.f18), point_coords(),
                                       torch::ones({1, 1}, torch::kInt32), {}, feats.high_res, true);
    auto high = F::interpolate(heads.low_res_masks, F::InterpolateFuncOptions()
                                                        .size(std::vector<int64_t>{252, 252})
                                                        .mode(torch::kBilinear)
                                                        .align_corners(false));
    auto mem = tr->encode_new_memory(feats.f18, high, heads.object_score_logits, true);
    bank[0] = {mem.first.to(torch::kBFloat16).to(torch::kFloat32), heads.obj_ptr};
    pos = mem.second;
  } else {
    bank[0] = {g.at("frame0.maskmem_features"), g.at("frame0.obj_ptr")};
  }

  std::map<int64_t, double> eff;  // non-conditioning frames' eff_iou_score
  const int64_t max_ptrs = std::min<int64_t>(kFrames, cfg.max_obj_ptrs_in_encoder);
  for (int64_t t = 1; t < kFrames; ++t) {
    auto img = formats::read_image_file(dir + "/frame" + std::to_string(t) + ".png");
    auto feats = frame_features(fx, preprocess_image(img, 252));

    // Memory bank as _prepare_memory_conditioned_features builds it: the
    // conditioning frame 0 (t_pos 0), then up to num_maskmem-1 selected frames.
    auto valid = memory_frame_filter(t, false, kFrames, eff, cfg.max_obj_ptrs_in_encoder, cfg.mf_threshold);
    std::vector<TrackerModelImpl::SpatialMemory> mems{{bank[0].maskmem, pos, 0}};
    for (int64_t t_pos = 1; t_pos < cfg.num_maskmem; ++t_pos) {
      const int64_t t_rel = cfg.num_maskmem - t_pos;
      if (t_rel > static_cast<int64_t>(valid.size())) continue;
      const int64_t f = valid[valid.size() - t_rel];
      if (f == 0) continue;  // a selected conditioning frame is already in
      mems.push_back({bank.at(f).maskmem, pos, t_pos});
    }
    std::vector<TrackerModelImpl::PointerMemory> ptrs{{bank[0].obj_ptr, t}};
    for (int64_t d = 1; d < max_ptrs; ++d) {
      if (d >= static_cast<int64_t>(valid.size())) break;
      const int64_t f = valid[valid.size() - d];
      if (f != 0) ptrs.push_back({bank.at(f).obj_ptr, d});
    }
    auto pix = tr->memory_conditioned_features(feats.f18, feats.p18, mems, ptrs, max_ptrs);
    ASSERT_TRUE(tr->use_multimask(false, 0));
    auto heads = tr->forward_sam_heads(pix, {}, {}, {}, feats.high_res, true);
    auto iou = std::get<0>(heads.ious.max(-1));
    auto [mem, mpos] = tr->encode_new_memory(feats.f18, heads.high_res_masks, heads.object_score_logits, false);

    const double e_low = max_abs_error(heads.low_res_masks, g.at(golden_key(t, "low_res_mask_logits")));
    const double e_obj = max_abs_error(heads.object_score_logits, g.at(golden_key(t, "object_score_logits")));
    const double e_iou = max_abs_error(iou, g.at(golden_key(t, "iou_score")));
    const double e_ptr = max_abs_error(heads.obj_ptr, g.at(golden_key(t, "obj_ptr")));
    const auto& gmem = g.at(golden_key(t, "maskmem_features"));
    const double e_mem = max_excess_over_bf16_rounding(mem, gmem);
    std::cout << (own_memory ? "chained " : "") << "frame" << t << ": " << mems.size() << " memories, "
              << ptrs.size() << " pointers; low-res max err " << e_low << ", object score " << e_obj << ", IoU "
              << e_iou << ", obj_ptr " << e_ptr << ", maskmem beyond bf16 rounding " << e_mem << "\n";
    EXPECT_LE(e_low, tol) << "frame " << t;
    EXPECT_LE(e_obj, tol) << "frame " << t;
    EXPECT_LE(e_iou, tol) << "frame " << t;
    EXPECT_LE(e_ptr, tol) << "frame " << t;
    EXPECT_LE(e_mem, tol) << "frame " << t;
    auto video = F::interpolate(heads.low_res_masks, F::InterpolateFuncOptions()
                                                         .size(std::vector<int64_t>{240, 320})
                                                         .mode(torch::kBilinear)
                                                         .align_corners(false));
    auto ours = video > 0, theirs = g.at(golden_key(t, "video_res_mask")).to(torch::kBool);
    if (!own_memory) {
      EXPECT_TRUE(torch::equal(ours, theirs)) << "frame " << t;
    } else {  // logits within 1e-3 may flip a pixel sitting at 0: end-to-end mask IoU (README)
      const double inter = (ours & theirs).sum().item<double>(), uni = (ours | theirs).sum().item<double>();
      EXPECT_GE(uni > 0 ? inter / uni : 1.0, 0.995) << "frame " << t;
    }

    if (own_memory) {
      bank[t] = {mem.to(torch::kBFloat16).to(torch::kFloat32), heads.obj_ptr};
      eff[t] = memory_eff_iou_score(heads.object_score_logits, iou).item<double>();
    } else {
      bank[t] = {gmem, g.at(golden_key(t, "obj_ptr"))};
      eff[t] = memory_eff_iou_score(g.at(golden_key(t, "object_score_logits")), g.at(golden_key(t, "iou_score")))
                   .item<double>();
    }
  }
}

TEST(SamHeadParity, PropagationFrames1To5FromGoldenMemory) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  {  // the port's preprocessing reproduces the golden frame 0 input
    auto img = formats::read_image_file(sam3::test::golden_dir() + "/tracker_tiny/frame0.png");
    std::cout << "frame0 preprocessing max err "
              << max_abs_error(preprocess_image(img, 252), fixture().golden.at("frame0.preprocessed")) << "\n";
  }
  run_propagation(false, kTol);
}

TEST(SamHeadParity, PropagationChainedOnOwnMemory) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  run_propagation(true, 1e-3);
}

TEST(SamHeadParity, PredictInstOnFrame0) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  auto& fx = fixture();
  auto& g = fx.golden;
  auto out = fx.neck->forward(g.at("frame0.preprocessed"));
  auto feats = prepare_sam_image_features(*fx.tracker, out.sam2_features[0], out.sam2_features[1],
                                          out.sam2_features[2]);
  PredictInstPrompt p;
  p.point_coords = torch::tensor({0.22f * 320.0f, 0.5f * 240.0f}).view({1, 2});
  p.point_labels = torch::ones({1}, torch::kInt32);
  auto r = predict_inst(*fx.tracker, feats, 240, 320, p);
  ASSERT_EQ(r.masks.sizes(), (std::vector<int64_t>{3, 240, 320}));
  ASSERT_EQ(r.iou.sizes(), (std::vector<int64_t>{3}));
  ASSERT_EQ(r.low_res_logits.sizes(), (std::vector<int64_t>{3, 72, 72}));
  EXPECT_EQ(r.masks.scalar_type(), torch::kBool);
  // The same click through the tracker path gives the same best mask (the
  // tracker path's point is in model pixels already).
  auto best = std::get<1>(r.iou.max(0)).item<int64_t>();
  auto golden_low = g.at("frame0.low_res_mask_logits")[0][0];
  const double e = max_abs_error(r.low_res_logits[best], golden_low.clamp(-32, 32));
  std::cout << "predict_inst best-mask low-res max err vs tracker golden " << e << "\n";
  EXPECT_LE(e, kTol);

  // Single-mask output: token 0 if its stability score >= 0.98, else the best-IoU multimask output.
  PredictInstOptions single;
  single.multimask_output = false;
  auto r1 = predict_inst(*fx.tracker, feats, 240, 320, p, single);
  ASSERT_EQ(r1.masks.sizes(), (std::vector<int64_t>{1, 240, 320}));
  ASSERT_EQ(r1.iou.sizes(), (std::vector<int64_t>{1}));
  auto& pe = fx.tracker->sam_prompt_encoder;
  auto [sparse, dense] = pe->forward(point_coords(), torch::ones({1, 1}, torch::kInt32), {});
  auto all = fx.tracker->sam_mask_decoder->predict_masks(feats.image_embed, pe->get_dense_pe(), sparse, dense, false,
                                                         feats.high_res);
  const double stability = sam_stability_scores(all.masks.slice(1, 0, 1), 0.05).item<double>();
  const int64_t expect = stability >= 0.98 ? 0 : 1 + std::get<1>(all.iou_pred.slice(1, 1).max(-1)).item<int64_t>();
  std::cout << "single-mask: token 0 stability " << stability << " -> mask token " << expect << "\n";
  EXPECT_LE(max_abs_error(r1.low_res_logits[0], all.masks[0][expect].clamp(-32, 32)), 1e-6);
  EXPECT_LE(max_abs_error(r1.iou, all.iou_pred[0][expect].view({1})), 1e-6);

  // Box prompt: corners labelled 2/3 before the clicks; a box alone works too.
  PredictInstPrompt b;
  b.box = torch::tensor({40.f, 80.f, 110.f, 160.f});
  auto rb = predict_inst(*fx.tracker, feats, 240, 320, b);
  EXPECT_EQ(rb.masks.sizes(), (std::vector<int64_t>{3, 240, 320}));
  b.point_coords = p.point_coords;
  b.point_labels = p.point_labels;
  b.mask_input = r.low_res_logits[best].unsqueeze(0);
  auto rbp = predict_inst(*fx.tracker, feats, 240, 320, b, single);
  EXPECT_EQ(rbp.masks.sizes(), (std::vector<int64_t>{1, 240, 320}));
  EXPECT_TRUE(torch::isfinite(rbp.low_res_logits).all().item<bool>());
}

TEST(SamHeadParity, MaskAsOutputOnFrame0) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  auto& fx = fixture();
  auto feats = frame_features(fx, fx.golden.at("frame0.preprocessed"));
  auto mask = torch::zeros({2, 1, 252, 252});
  mask[0].slice(1, 100, 150).slice(2, 30, 90).fill_(1);
  auto out = fx.tracker->use_mask_as_output(feats.f18.expand({2, -1, -1, -1}),
                                            {feats.high_res[0].expand({2, -1, -1, -1}),
                                             feats.high_res[1].expand({2, -1, -1, -1})},
                                            mask);
  EXPECT_EQ(out.low_res_masks.sizes(), (std::vector<int64_t>{2, 1, 72, 72}));
  EXPECT_FLOAT_EQ(out.object_score_logits[0].item<float>(), 10.f);
  EXPECT_FLOAT_EQ(out.object_score_logits[1].item<float>(), -10.f);
  EXPECT_TRUE(torch::allclose(out.obj_ptr[1], fx.tracker->no_obj_ptr[0]));
  EXPECT_GT((out.low_res_masks[0] > 0).sum().item<int64_t>(), 0);
}

}  // namespace
}  // namespace sam3::core
