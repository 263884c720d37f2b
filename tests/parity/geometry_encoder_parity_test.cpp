// SPDX-License-Identifier: Apache-2.0
// SequenceGeometryEncoder parity against the reference goldens, fed the golden
// F_G level (neck.fpn.2) and its position encoding (neck.pos.2) with the
// boxes of each case: geometry tokens, their mask, the roi_align pooling, and
// the assembled prompt (golden text features + our geometry tokens). Plus
// golden-free checks of the padded-sequence semantics (B = 2, right padding).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/state_dict.h"
#include "core/model/config.h"
#include "core/model/fusion_encoder.h"
#include "core/model/geometry_encoder.h"
#include "golden_util.h"

namespace {

using namespace sam3::core;

using sam3::test::expect_close;  // README bound: max abs err <= 1e-4, cosine >= 0.9999 (empty: equal)
using sam3::test::image_tiny_dir;
using sam3::test::kImageCases;

// The case's boxes as the processor sends them: [N, 4] cxcywh and [N] labels.
GeometryPrompt case_prompt(const std::string& name) {
  auto doc = nlohmann::json::parse(sam3::test::read_file(image_tiny_dir() + name + ".json"));
  std::vector<float> xs;
  std::vector<int64_t> labels;
  for (const auto& b : doc.at("prompts").at("boxes")) {
    for (const auto& v : b.at("cxcywh_normalized")) xs.push_back(v.get<float>());
    labels.push_back(b.at("label").get<bool>() ? 1 : 0);
  }
  if (labels.empty()) return {};  // text only: no boxes, the CLS-only path
  const auto n = static_cast<int64_t>(labels.size());
  return GeometryPrompt::from_boxes(torch::tensor(xs).view({n, 4}), torch::tensor(labels));
}

TEST(GeometryEncoderParity, TokensRoiAndPromptFromGoldenInputs) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  auto cfg = sam3::test::image_tiny_config();
  auto geo = sam3::test::load_image_tiny(SequenceGeometryEncoder(cfg), "detector.geometry_encoder.");
  auto pos = SafeTensorsFile(image_tiny_dir() + "case0_text.safetensors").get("neck.pos.2");  // first case only
  for (const char* name : kImageCases) {
    SCOPED_TRACE(name);
    SafeTensorsFile g(image_tiny_dir() + name + ".safetensors");
    const GeometryPrompt prompt = case_prompt(name);
    const int64_t n_boxes = prompt.boxes.defined() ? prompt.boxes.size(0) : 0;
    auto out = geo->forward(prompt, g.get("neck.fpn.2"), pos);

    ASSERT_EQ(out.tokens.size(0), n_boxes + 1);
    expect_close(std::string(name) + " geo.out", out.tokens, g.get("geo.out"));
    EXPECT_TRUE(torch::equal(out.mask, g.get("geo.mask"))) << out.mask << " vs " << g.get("geo.mask");
    expect_close(std::string(name) + " geo.roi_align", out.roi, g.get("geo.roi_align"));

    auto p = assemble_prompt(g.get("text.language_features"), g.get("text.language_mask"), out.tokens, out.mask);
    expect_close(std::string(name) + " prompt.tokens", p.tokens, g.get("prompt.tokens"));
    EXPECT_TRUE(torch::equal(p.mask, g.get("prompt.mask")));
  }
}

TEST(GeometryEncoder, ConcatPaddedSequencesKeepsItemsContiguous) {
  // B = 2: image 0 has 1 valid of 2 in seq1 and 2 valid in seq2; image 1 all valid.
  auto seq1 = torch::tensor({1.f, 10.f, -1.f, 20.f}).view({2, 2, 1});  // [L1=2, B=2, C=1]
  auto m1 = torch::tensor({false, true, false, false}).view({2, 2});
  auto seq2 = torch::tensor({2.f, 30.f, 3.f, 40.f}).view({2, 2, 1});
  auto m2 = torch::zeros({2, 2}, torch::kBool);
  auto [seq, mask] = concat_padded_sequences(seq1, m1, seq2, m2);
  // Image 0: 1, 2, 3, then padding (a left-over copy of seq1's padded slot 1 is overwritten by 3).
  EXPECT_TRUE(torch::equal(seq.select(1, 0).flatten().narrow(0, 0, 3), torch::tensor({1.f, 2.f, 3.f})));
  EXPECT_TRUE(torch::equal(seq.select(1, 1).flatten(), torch::tensor({10.f, 20.f, 30.f, 40.f})));
  EXPECT_TRUE(torch::equal(mask, torch::tensor({false, false, false, true, false, false, false, false}).view({2, 4})));
}

TEST(GeometryEncoder, PaddingDoesNotLeakIntoValidTokens) {
  // Random tiny weights: image 0 has one real box and one padded slot, image 1
  // two real boxes. Image 0's valid tokens (box, then CLS) must equal a B = 1
  // run with only its box; points go through the same path.
  c10::InferenceMode guard;
  torch::manual_seed(0);
  auto cfg = Sam3Config::tiny();
  SequenceGeometryEncoder geo(cfg);
  geo->eval();
  const int64_t d = cfg.d_model, H = 6, W = 5;
  auto feat = torch::randn({2, d, H, W}), pos = torch::randn({2, d, H, W});

  GeometryPrompt both;
  both.boxes = torch::tensor({0.5f, 0.5f, 0.4f, 0.3f, 0.3f, 0.6f, 0.2f, 0.2f,  // box 0 of images 0, 1
                              0.9f, 0.9f, 0.1f, 0.1f, 0.7f, 0.3f, 0.5f, 0.4f})  // box 1 of images 0 (pad), 1
                   .view({2, 2, 4});
  both.box_labels = torch::tensor({1, 0, 0, 1}).view({2, 2});
  both.box_mask = torch::tensor({false, true, false, false}).view({2, 2});
  both.append_points(torch::tensor({0.25f, 0.75f, 0.6f, 0.1f}).view({1, 2, 2}), torch::tensor({1, 0}).view({1, 2}));
  auto out = geo->forward(both, feat, pos);
  ASSERT_EQ(out.tokens.sizes(), (std::vector<int64_t>{4, 2, d}));  // point, 2 boxes, CLS
  const auto want_mask = torch::tensor({false, false, false, true, false, false, false, false}).view({2, 4});
  EXPECT_TRUE(torch::equal(out.mask, want_mask));
  EXPECT_EQ(out.roi.sizes(), (std::vector<int64_t>{4, d, 7, 7}));

  GeometryPrompt one = GeometryPrompt::from_boxes(torch::tensor({0.5f, 0.5f, 0.4f, 0.3f}).view({1, 4}),
                                                  torch::tensor({int64_t{1}}));
  one.append_points(torch::tensor({0.25f, 0.75f}).view({1, 1, 2}), torch::tensor({int64_t{1}}).view({1, 1}));
  auto ref = geo->forward(one, feat.narrow(0, 0, 1), pos.narrow(0, 0, 1));
  ASSERT_EQ(ref.tokens.sizes(), (std::vector<int64_t>{3, 1, d}));
  const double err = (out.tokens.narrow(0, 0, 3).select(1, 0) - ref.tokens.select(1, 0)).abs().max().item<double>();
  EXPECT_LT(err, 1e-5);
  EXPECT_LT((out.roi[0] - ref.roi[0]).abs().max().item<double>(), 1e-6);
}

}  // namespace
