// SPDX-License-Identifier: Apache-2.0
// Neck (Sam3DualViTDetNeck + scalp=1) parity against the reference goldens:
// every FPN level from the golden trunk output (including the discarded 0.5
// level, to check its weights), the sine position encodings, and the whole
// backbone from the preprocessed image. Also the sam2 (interactive) copy.
#include <chrono>
#include <iostream>
#include <string>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/state_dict.h"
#include "core/errors.h"
#include "core/model/config.h"
#include "core/model/neck.h"
#include "golden_util.h"

namespace {

using namespace sam3::core;

using sam3::test::expect_close;
using sam3::test::image_tiny_dir;
using sam3::test::kImageCases;
using sam3::test::Tolerance;

const std::string kPrefix = "detector.backbone.vision_backbone.";

Sam3DualViTDetNeck load_tiny_neck() {
  return sam3::test::load_image_tiny(Sam3DualViTDetNeck(sam3::test::image_tiny_config()), kPrefix);
}

TEST(NeckParity, LevelsFromGoldenTrunkOutput) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  auto neck = load_tiny_neck();
  for (const char* name : kImageCases) {
    SCOPED_TRACE(name);
    SafeTensorsFile g(image_tiny_dir() + name + ".safetensors");
    auto trunk_out = g.get("vit.out");
    auto out = neck->forward_features(trunk_out);
    ASSERT_EQ(out.features.size(), 3u);
    ASSERT_EQ(out.pos.size(), 3u);
    EXPECT_TRUE(out.sam2_features.empty());
    for (int i = 0; i < 3; ++i) {
      const std::string key = "neck.fpn." + std::to_string(i);
      expect_close(std::string(name) + " " + key, out.features[static_cast<size_t>(i)], g.get(key),
                   Tolerance::absolute_or_relative(1e-4, 1e-4));
    }
    // The 0.5 level is dropped by scalp=1 but its weights must still be right.
    expect_close(std::string(name) + " neck.fpn.3", neck->forward_level(3, trunk_out), g.get("neck.fpn.3"),
                 Tolerance::absolute_or_relative(1e-4, 1e-4));
    if (g.contains("neck.pos.0")) {  // stored in the first case only
      for (int i = 0; i < 3; ++i) {
        const std::string key = "neck.pos." + std::to_string(i);
        expect_close(std::string(name) + " " + key, out.pos[static_cast<size_t>(i)], g.get(key),
                     Tolerance::absolute_or_relative(1e-5, 1e-5));
      }
    }
  }
}

TEST(NeckParity, WholeBackboneFromImage) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  auto neck = load_tiny_neck();
  for (const char* name : kImageCases) {
    SCOPED_TRACE(name);
    SafeTensorsFile g(image_tiny_dir() + name + ".safetensors");
    auto input = g.get("input.preprocessed");
    const auto t0 = std::chrono::steady_clock::now();
    auto out = neck->forward(input);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "[neck] " << name << ": tiny backbone (trunk + neck + pos) forward " << ms << " ms\n";
    RecordProperty(std::string(name) + "_backbone_ms", std::to_string(ms));
    ASSERT_EQ(out.features.size(), 3u);
    // From the image the trunk's error propagates: relative 1e-3 as for the ViT.
    for (int i = 0; i < 3; ++i) {
      const std::string key = "neck.fpn." + std::to_string(i);
      expect_close(std::string(name) + " " + key + " (from image)", out.features[static_cast<size_t>(i)], g.get(key),
                   Tolerance::absolute_or_relative(1e-4, 1e-3));
    }
  }
}

TEST(NeckParity, InteractiveConfigAddsSam2Neck) {
  c10::InferenceMode guard;
  auto cfg = Sam3Config::tiny();
  cfg.enable_inst_interactivity = true;
  Sam3DualViTDetNeck neck(cfg);
  auto params = neck->named_parameters();
  EXPECT_TRUE(params.contains("sam2_convs.0.dconv_2x2_0.weight"));
  EXPECT_TRUE(params.contains("sam2_convs.1.dconv_2x2.bias"));
  EXPECT_TRUE(params.contains("sam2_convs.3.conv_3x3.weight"));
  EXPECT_TRUE(params.contains("convs.2.conv_1x1.weight"));
  const int64_t G = cfg.vit.grid();
  torch::manual_seed(7);
  auto x = torch::randn({2, cfg.vit.embed_dim, G, G});
  auto out = neck->forward_features(x);
  ASSERT_EQ(out.sam2_features.size(), 3u);
  ASSERT_EQ(out.sam2_pos.size(), 3u);
  const int64_t sizes[] = {4 * G, 2 * G, G};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(out.sam2_features[i].sizes(), (std::vector<int64_t>{2, cfg.d_model, sizes[i], sizes[i]}));
    EXPECT_EQ(out.features[i].sizes(), out.sam2_features[i].sizes());
    EXPECT_EQ(out.pos[i].sizes(), out.features[i].sizes());
    // Separate weights: the two necks disagree on random init.
    EXPECT_GT((out.features[i] - out.sam2_features[i]).abs().max().item<double>(), 0.0);
  }
  EXPECT_THROW(neck->forward_level(4, x), sam3::InvalidInput);
}

TEST(NeckParity, GoldenCheckpointHasNoSam2Neck) {
  SAM3_REQUIRE_GOLDEN();
  auto weights = load_safetensors(image_tiny_dir() + "weights.safetensors");
  auto cfg = Sam3Config::from_file(image_tiny_dir() + "config.json");
  cfg.enable_inst_interactivity = true;
  Sam3DualViTDetNeck neck(cfg);
  auto report = load_state_dict(*neck, weights, kPrefix);
  EXPECT_TRUE(report.unexpected.empty());
  EXPECT_TRUE(report.mismatched.empty());
  ASSERT_FALSE(report.missing.empty());
  for (const auto& m : report.missing) EXPECT_EQ(m.rfind(kPrefix + "sam2_convs.", 0), 0u) << m;
}

}  // namespace
