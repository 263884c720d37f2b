// SPDX-License-Identifier: Apache-2.0
// ViT trunk parity against the reference goldens (shared/golden/image_tiny):
// RoPE tables vs the checkpoint's freqs_cis, patch embedding, ln_pre, every
// block (from the golden input of that block and chained end to end), and the
// trunk output. Also the chunked-attention path and the full-size RoPE table.
#include <chrono>
#include <cmath>
#include <iostream>
#include <string>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/state_dict.h"
#include "core/errors.h"
#include "core/model/attention.h"
#include "core/model/config.h"
#include "core/model/vit_backbone.h"
#include "golden_util.h"

namespace {

using namespace sam3::core;

using sam3::test::expect_close;
using sam3::test::image_tiny_dir;
using sam3::test::kImageCases;
using sam3::test::Tolerance;

const std::string kTrunkPrefix = "detector.backbone.vision_backbone.trunk.";

ViT load_tiny_vit() {
  return sam3::test::load_image_tiny(ViT(sam3::test::image_tiny_config().vit), kTrunkPrefix);
}

TEST(VitParity, ConfigMatchesTinyPreset) {
  SAM3_REQUIRE_GOLDEN();
  auto cfg = Sam3Config::from_file(image_tiny_dir() + "config.json");
  auto tiny = Sam3Config::tiny();
  EXPECT_EQ(cfg.vit.embed_dim, tiny.vit.embed_dim);
  EXPECT_EQ(cfg.vit.depth, tiny.vit.depth);
  EXPECT_EQ(cfg.vit.num_heads, tiny.vit.num_heads);
  EXPECT_EQ(cfg.vit.window_size, tiny.vit.window_size);
  EXPECT_EQ(cfg.vit.global_att_blocks, tiny.vit.global_att_blocks);
  EXPECT_EQ(cfg.vit.grid(), 18);
}

// The tables computed from the config equal the checkpoint's freqs_cis.
TEST(VitParity, RopeTablesMatchCheckpoint) {
  SAM3_REQUIRE_GOLDEN();
  auto weights = load_safetensors(image_tiny_dir() + "weights.safetensors");
  auto cfg = Sam3Config::from_file(image_tiny_dir() + "config.json");
  ViT vit(cfg.vit);  // freshly computed buffers, nothing loaded
  for (int i = 0; i < cfg.vit.depth; ++i) {
    const std::string key = kTrunkPrefix + "blocks." + std::to_string(i) + ".attn.freqs_cis";
    ASSERT_TRUE(weights.count(key)) << key;
    auto computed = vit->blocks[static_cast<size_t>(i)]->as<VitBlockImpl>()->attn->freqs_cis;
    const auto& want = weights.at(key);
    ASSERT_EQ(computed.sizes(), want.sizes()) << key;
    const double err = (computed - want).abs().max().item<double>();
    std::cout << "[vit] rope block " << i << " " << want.sizes() << ": max abs err " << err << "\n";
    EXPECT_LE(err, 1e-5) << key;
  }
}

TEST(VitParity, RopeRotatesAdjacentPairs) {
  // Pair (0,1) of token 1 (column 1, row 0) rotates by angle 1 * f_0 = 1 rad;
  // the row pairs (second half) stay put since row = 0.
  auto f = compute_axial_rope(8, 2, 2, 10000.0, 1.0);
  ASSERT_EQ(f.sizes(), (std::vector<int64_t>{4, 4, 2}));
  auto x = torch::zeros({1, 1, 4, 8});
  x.index_put_({0, 0, 1, 0}, 1.0);
  x.index_put_({0, 0, 1, 4}, 1.0);
  auto y = apply_axial_rope(x, f);
  EXPECT_NEAR(y[0][0][1][0].item<double>(), std::cos(1.0), 1e-6);
  EXPECT_NEAR(y[0][0][1][1].item<double>(), std::sin(1.0), 1e-6);
  EXPECT_NEAR(y[0][0][1][4].item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(y[0][0][1][5].item<double>(), 0.0, 1e-6);
}

TEST(VitParity, FullSizeRopeTables) {
  // The official config: windowed 24x24 at scale 1, global 72x72 at scale 1/3.
  auto cfg = Sam3Config::full();
  const int64_t hd = cfg.vit.embed_dim / cfg.vit.num_heads;
  auto g = compute_axial_rope(hd, cfg.vit.grid(), cfg.vit.grid(), cfg.vit.rope_theta, 24.0 / 72.0);
  EXPECT_EQ(g.sizes(), (std::vector<int64_t>{5184, 32, 2}));
  // Token 5183 = (71, 71): position 71/3 on both axes, first frequency is 1.
  EXPECT_NEAR(g[5183][0][0].item<double>(), std::cos(71.0 / 3.0), 1e-5);
  EXPECT_NEAR(g[5183][16][1].item<double>(), std::sin(71.0 / 3.0), 1e-5);
}

TEST(VitParity, MatchesReferencePerStage) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  auto vit = load_tiny_vit();
  for (const char* name : kImageCases) {
    SCOPED_TRACE(name);
    SafeTensorsFile g(image_tiny_dir() + name + ".safetensors");
    auto input = g.get("input.preprocessed");

    VitTrace trace;
    const auto t0 = std::chrono::steady_clock::now();
    auto out = vit->forward(input, &trace);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "[vit] " << name << ": tiny trunk forward " << ms << " ms\n";

    expect_close(std::string(name) + " patch_embed", trace.patch_embed, g.get("vit.patch_embed"),
                 Tolerance::relative(1e-4));
    expect_close(std::string(name) + " ln_pre", trace.ln_pre, g.get("vit.ln_pre"), Tolerance::relative(1e-4));
    ASSERT_EQ(trace.blocks.size(), 4u);
    for (size_t i = 0; i < trace.blocks.size(); ++i) {
      const std::string key = "vit.block." + std::to_string(i);
      // Chained from the image.
      expect_close(std::string(name) + " " + key + " (chained)", trace.blocks[i], g.get(key),
                   Tolerance::relative(1e-3));
      // Isolated: from the golden input of this block.
      auto in = i == 0 ? g.get("vit.ln_pre") : g.get("vit.block." + std::to_string(i - 1));
      auto got = vit->blocks[i]->as<VitBlockImpl>()->forward(in);
      expect_close(std::string(name) + " " + key + " (from golden input)", got, g.get(key), Tolerance::relative(1e-3));
    }
    expect_close(std::string(name) + " vit.out", out, g.get("vit.out"), Tolerance::relative(1e-3));
  }
}

// With a tiny attention budget every attention is split into many query
// chunks; the result must not change (the path the 5184-token blocks take).
TEST(VitParity, ChunkedAttentionGivesSameOutput) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  auto vit = load_tiny_vit();
  SafeTensorsFile g(image_tiny_dir() + std::string(kImageCases[0]) + ".safetensors");
  auto input = g.get("input.preprocessed");
  auto full = vit->forward(input);
  const int64_t saved = attention_budget_bytes();
  set_attention_budget_bytes(4096);  // 3 heads x 324 keys x 4 B = one query row per chunk
  auto chunked = vit->forward(input);
  set_attention_budget_bytes(saved);
  const double err = (full - chunked).abs().max().item<double>();
  std::cout << "[vit] chunked vs unchunked max abs diff " << err << "\n";
  EXPECT_LE(err, 1e-5);
}

TEST(VitParity, RejectsWrongInputSize) {
  c10::InferenceMode guard;
  ViT vit(Sam3Config::tiny().vit);
  EXPECT_THROW(vit->forward(torch::zeros({1, 3, 224, 224})), sam3::InvalidInput);
  EXPECT_THROW(vit->forward(torch::zeros({1, 1, 252, 252})), sam3::InvalidInput);
}

}  // namespace
