// SPDX-License-Identifier: Apache-2.0
// Parity of the dot-product scorer and of the final detections
// (Sam3Image._update_scores_and_boxes) from the golden decoder outputs.
#include <string>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/state_dict.h"
#include "core/model/config.h"
#include "core/model/dot_product_scoring.h"
#include "golden_util.h"

namespace sam3::core {
namespace {

using test::expect_close;
using test::Tolerance;

struct Loaded {
  Sam3Config cfg;
  TransformerDecoder dec{nullptr};
  DotProductScoring scorer{nullptr};
};

Loaded load() {
  Loaded m{test::image_tiny_config()};
  m.dec = test::load_image_tiny(TransformerDecoder(m.cfg), "detector.transformer.decoder.");
  m.scorer = test::load_image_tiny(DotProductScoring(m.cfg), "detector.dot_prod_scoring.");
  return m;
}

class ScoringParity : public ::testing::TestWithParam<std::string> {};

TEST_P(ScoringParity, LogitsBoxesAndPresenceMatchGolden) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  auto m = load();
  const auto g = load_safetensors(test::image_tiny_dir() + GetParam() + ".safetensors");
  const auto& prompt = g.at("prompt.tokens");
  const auto& mask = g.at("prompt.mask");

  // Golden decoder outputs are seq-first [L, Q, 1, *]; ours are batch-first.
  DecoderOutput dec;
  dec.hs = g.at("decoder.hs").transpose(1, 2);
  dec.ref_boxes = g.at("decoder.ref_boxes").transpose(1, 2);
  dec.presence_logits = g.at("decoder.presence_logits").transpose(1, 2);

  // All layers at once, as the reference scores them; the last is pred_logits.
  auto all = m.scorer->forward(dec.hs, prompt, mask);
  ASSERT_EQ(all.sizes(), (std::vector<int64_t>{m.cfg.decoder.num_layers, 1, m.cfg.num_queries, 1}));
  expect_close(GetParam() + " out.pred_logits (all layers, last)", all.select(0, all.size(0) - 1),
               g.at("out.pred_logits"));

  const auto det = finalize_detections(*m.dec, *m.scorer, dec, prompt, mask);
  expect_close(GetParam() + " out.pred_logits", det.pred_logits, g.at("out.pred_logits"));
  expect_close(GetParam() + " out.pred_boxes", det.pred_boxes, g.at("out.pred_boxes"), Tolerance::absolute(1e-5));
  expect_close(GetParam() + " out.pred_boxes_xyxy", det.pred_boxes_xyxy, g.at("out.pred_boxes_xyxy"),
               Tolerance::absolute(1e-5));
  expect_close(GetParam() + " out.presence_logit_dec", det.presence_logit_dec, g.at("out.presence_logit_dec"));
  expect_close(GetParam() + " out.queries", det.queries, g.at("out.queries"));
  // What the processor thresholds.
  auto probs = (torch::sigmoid(det.pred_logits.squeeze(-1)) * torch::sigmoid(det.presence_logit_dec)).view(-1);
  expect_close(GetParam() + " proc.probs", probs, g.at("proc.probs"), Tolerance::absolute(1e-5));
}

TEST(ScoringBehaviour, PoolsOnlyValidTokensAndClamps) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  auto m = load();
  const int64_t D = m.cfg.d_model;
  torch::manual_seed(0);
  auto prompt = torch::randn({5, 1, D});
  auto mask = torch::tensor({false, true, false, true, false}).view({1, 5});
  auto hs = torch::randn({1, 3, D});
  // Changing a padded token must not change the scores.
  auto a = m.scorer->forward(hs, prompt, mask);
  auto p2 = prompt.clone();
  p2[1] += 100.0;
  auto b = m.scorer->forward(hs, p2, mask);
  EXPECT_TRUE(torch::allclose(a, b));
  // Huge queries saturate at the +-12 clamp.
  auto big = m.scorer->forward(hs * 1e6, prompt, mask);
  EXPECT_LE(big.abs().max().item<double>(), 12.0);
  EXPECT_GE(big.abs().max().item<double>(), 12.0);
}

INSTANTIATE_TEST_SUITE_P(Golden, ScoringParity, ::testing::ValuesIn(test::image_case_names()));

}  // namespace
}  // namespace sam3::core
