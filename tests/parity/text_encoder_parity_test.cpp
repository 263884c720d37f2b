// SPDX-License-Identifier: Apache-2.0
// The text encoder of the tiny golden model against the reference's tensors
// (text.* in shared/golden/image_tiny/case*.safetensors): tokenizer ids,
// token embeddings, every residual block, ln_final tokens, resized features
// and the padding mask. Tolerance: max abs err <= 1e-4, cosine >= 0.9999.
#include <nlohmann/json.hpp>

#include <fstream>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/state_dict.h"
#include "core/errors.h"
#include "core/model/config.h"
#include "core/model/text_encoder.h"
#include "core/model/tokenizer.h"
#include "golden_util.h"

namespace sam3::core {
namespace {

using test::expect_close;  // default bound: max abs err <= 1e-4, cosine >= 0.9999

class TextEncoderParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TextEncoderParity, MatchesGolden) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  const std::string dir = test::image_tiny_dir();
  const auto cfg = test::image_tiny_config();
  auto enc = test::load_image_tiny(VETextEncoder(cfg), "detector.backbone.language_backbone.");

  const SafeTensorsFile golden(dir + GetParam() + ".safetensors");
  const auto ids = golden.get("text.token_ids");
  ASSERT_EQ(ids.sizes(), (std::vector<int64_t>{1, cfg.text.context_length}));

  // The tokenizer gives the golden ids for the text the model saw.
  std::ifstream in(dir + GetParam() + ".json");
  const auto meta = nlohmann::json::parse(in);
  const Tokenizer tok(test::golden_dir() + "/bpe_simple_vocab_16e6.txt.gz");
  const auto row = tok.tokenize({meta.at("prompts").at("text_used_by_model").get<std::string>()},
                                cfg.text.context_length);
  EXPECT_TRUE(torch::equal(torch::tensor(row.at(0), torch::kLong).unsqueeze(0), ids));

  const TextEncoding out = enc->forward(ids);
  EXPECT_EQ(out.attention_mask.scalar_type(), torch::kBool);
  EXPECT_TRUE(torch::equal(out.attention_mask, golden.get("text.language_mask")));
  expect_close(GetParam() + " text.token_embeds", out.input_embeds, golden.get("text.token_embeds"));
  expect_close(GetParam() + " text.language_features", out.memory, golden.get("text.language_features"));

  // Stage by stage inside the TextTransformer, each from the golden input.
  auto& tt = *enc->encoder;
  const int64_t L = ids.size(1);
  const auto mask = TextTransformerImpl::causal_mask(L, torch::TensorOptions().dtype(torch::kFloat32));
  auto x = golden.get("text.token_embeds").transpose(0, 1) + tt.positional_embedding.slice(0, 0, L);
  for (int64_t i = 0; i < cfg.text.layers; ++i) {
    const auto name = "text.block." + std::to_string(i);
    const auto y = tt.transformer->resblocks[i]->as<ResidualAttentionBlockImpl>()->forward(x, mask);
    expect_close(GetParam() + " " + name, y, golden.get(name));
    x = golden.get(name);
  }
  expect_close(GetParam() + " text.encoder_tokens", tt.forward(ids), golden.get("text.encoder_tokens"));
}

INSTANTIATE_TEST_SUITE_P(Cases, TextEncoderParity, ::testing::ValuesIn(test::image_case_names()));

TEST(TextEncoder, ParameterNamesAndShapesMatchTheCheckpoint) {
  SAM3_REQUIRE_GOLDEN();
  const std::string dir = test::image_tiny_dir();
  const auto cfg = Sam3Config::from_file(dir + "config.json");
  VETextEncoder enc(cfg);
  const auto report = load_state_dict(*enc, load_safetensors(dir + "weights.safetensors"),
                                      "detector.backbone.language_backbone.");
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(enc->named_parameters().size(), 5u + 12u * static_cast<size_t>(cfg.text.layers) + 2u);
  EXPECT_EQ(enc->encoder->text_projection.sizes(), (std::vector<int64_t>{cfg.text.width, cfg.text.proj_dim}));
}

TEST(TextEncoder, RejectsBadTokenIds) {
  c10::InferenceMode guard;
  auto cfg = Sam3Config::tiny();
  VETextEncoder enc(cfg);
  EXPECT_THROW(enc->forward(torch::zeros({32}, torch::kLong)), InvalidInput);
  EXPECT_THROW(enc->forward(torch::zeros({1, cfg.text.context_length + 1}, torch::kLong)), InvalidInput);
  EXPECT_THROW(enc->forward(torch::full({1, 4}, cfg.text.vocab_size, torch::kLong)), InvalidInput);
  EXPECT_THROW(enc->forward(torch::zeros({1, 4}, torch::kFloat32)), InvalidInput);
  const auto out = enc->forward(torch::tensor({49406, 320, 49407, 0}, torch::kLong).unsqueeze(0));
  EXPECT_EQ(out.memory.sizes(), (std::vector<int64_t>{4, 1, cfg.d_model}));
  EXPECT_EQ(out.input_embeds.sizes(), (std::vector<int64_t>{4, 1, cfg.text.width}));
  EXPECT_TRUE(torch::equal(out.attention_mask, torch::tensor({false, false, false, true}).unsqueeze(0)));
}

}  // namespace
}  // namespace sam3::core
