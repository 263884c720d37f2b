// SPDX-License-Identifier: Apache-2.0
// TransformerEncoderFusion parity against the reference goldens, fed the
// golden F_G level (neck.fpn.2), its position encoding (neck.pos.2) and the
// golden prompt (prompt.tokens / prompt.mask): every layer's output, the
// memory and the position encoding handed to the decoder, for the three cases.
#include <string>
#include <vector>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/state_dict.h"
#include "core/model/config.h"
#include "core/model/fusion_encoder.h"
#include "golden_util.h"

namespace {

using namespace sam3::core;

using sam3::test::expect_close;  // README bound: max abs err <= 1e-4, cosine >= 0.9999
using sam3::test::image_tiny_dir;
using sam3::test::kImageCases;

TEST(FusionEncoderParity, LayersAndMemoryFromGoldenInputs) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  auto cfg = sam3::test::image_tiny_config();
  auto enc = sam3::test::load_image_tiny(TransformerEncoderFusion(cfg), "detector.transformer.encoder.");
  auto pos = SafeTensorsFile(image_tiny_dir() + "case0_text.safetensors").get("neck.pos.2");  // first case only
  for (const char* name : kImageCases) {
    SCOPED_TRACE(name);
    SafeTensorsFile g(image_tiny_dir() + name + ".safetensors");
    std::vector<torch::Tensor> layers;
    auto out = enc->forward(g.get("neck.fpn.2"), pos, g.get("prompt.tokens"), g.get("prompt.mask"), &layers);
    ASSERT_EQ(static_cast<int>(layers.size()), cfg.encoder.num_layers);
    for (size_t i = 0; i < layers.size(); ++i) {
      const std::string key = "encoder.layer." + std::to_string(i);
      expect_close(std::string(name) + " " + key, layers[i], g.get(key));
    }
    expect_close(std::string(name) + " encoder.memory", out.memory, g.get("encoder.memory"));
    expect_close(std::string(name) + " encoder.pos", out.pos, g.get("encoder.pos"));
  }
}

TEST(FusionEncoder, PaddedPromptTokensAreIgnored) {
  // Appending padded prompt tokens (mask true) with arbitrary values must not
  // change the memory: the cross-attention key padding mask drops them.
  c10::InferenceMode guard;
  torch::manual_seed(0);
  auto cfg = Sam3Config::tiny();
  TransformerEncoderFusion enc(cfg);
  enc->eval();
  const int64_t d = cfg.d_model;
  auto feat = torch::randn({1, d, 4, 3}), pos = torch::randn({1, d, 4, 3});
  auto prompt = torch::randn({5, 1, d});
  auto mask = torch::zeros({1, 5}, torch::kBool);
  auto ref = enc->forward(feat, pos, prompt, mask);
  ASSERT_EQ(ref.memory.sizes(), (std::vector<int64_t>{12, 1, d}));
  auto padded = enc->forward(feat, pos, torch::cat({prompt, 100 * torch::randn({3, 1, d})}, 0),
                             torch::cat({mask, torch::ones({1, 3}, torch::kBool)}, 1));
  EXPECT_LT((padded.memory - ref.memory).abs().max().item<double>(), 1e-5);
  EXPECT_TRUE(torch::equal(ref.pos, pos.flatten(2).permute({2, 0, 1})));
}

}  // namespace
