// SPDX-License-Identifier: Apache-2.0
// Parity of the DETR decoder (TransformerDecoder) with the reference, from the
// golden stage inputs (encoder memory + pos, prompt tokens + mask) of each case.
#include <cmath>
#include <string>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/state_dict.h"
#include "core/model/config.h"
#include "core/model/detr_decoder.h"
#include "golden_util.h"

namespace sam3::core {
namespace {

using test::expect_close;
using test::Tolerance;

class DecoderParity : public ::testing::TestWithParam<std::string> {};

TEST_P(DecoderParity, MatchesGoldenPerLayer) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  const std::string dir = test::image_tiny_dir();
  const auto cfg = test::image_tiny_config();
  auto dec = test::load_image_tiny(TransformerDecoder(cfg), "detector.transformer.decoder.");
  const auto g = load_safetensors(dir + GetParam() + ".safetensors");

  const auto& memory = g.at("encoder.memory");  // [HW, 1, D]
  const int64_t grid = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(memory.size(0)))));
  ASSERT_EQ(grid * grid, memory.size(0));
  const auto out = dec->forward(memory, g.at("encoder.pos"), g.at("prompt.tokens"), g.at("prompt.mask"), grid, grid);

  const int64_t L = cfg.decoder.num_layers;
  ASSERT_EQ(static_cast<int64_t>(out.layer_queries.size()), L);
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "decoder.layer." + std::to_string(l);
    // Golden layer outputs are seq-first [Q, 1, D] / [1, 1, D]; ours batch-first.
    expect_close(GetParam() + " " + p + ".tgt", out.layer_queries[l].transpose(0, 1), g.at(p + ".tgt"));
    expect_close(GetParam() + " " + p + ".presence", out.layer_presence[l].transpose(0, 1), g.at(p + ".presence"));
  }
  expect_close(GetParam() + " decoder.hs", out.hs.transpose(1, 2), g.at("decoder.hs"));
  expect_close(GetParam() + " decoder.ref_boxes", out.ref_boxes.transpose(1, 2), g.at("decoder.ref_boxes"),
               Tolerance::absolute(1e-5));
  expect_close(GetParam() + " decoder.presence_logits", out.presence_logits.transpose(1, 2),
               g.at("decoder.presence_logits"));

  // Final boxes from our own decoder outputs, and from the golden hs/refs (stage-isolated).
  auto boxes = dec->predict_boxes(out.hs.select(0, L - 1), out.ref_boxes.select(0, L - 1));
  expect_close(GetParam() + " out.pred_boxes", boxes, g.at("out.pred_boxes"), Tolerance::absolute(1e-5));
  expect_close(GetParam() + " out.pred_boxes_xyxy", box_cxcywh_to_xyxy(boxes), g.at("out.pred_boxes_xyxy"),
               Tolerance::absolute(1e-5));
  auto iso = dec->predict_boxes(g.at("decoder.hs").select(0, L - 1).transpose(0, 1),
                                g.at("decoder.ref_boxes").select(0, L - 1).transpose(0, 1));
  expect_close(GetParam() + " out.pred_boxes (from golden hs)", iso, g.at("out.pred_boxes"), Tolerance::absolute(1e-5));
  expect_close(GetParam() + " out.presence_logit_dec", out.presence_logits.select(0, L - 1),
               g.at("out.presence_logit_dec"));
  expect_close(GetParam() + " out.queries", out.hs.select(0, L - 1), g.at("out.queries"));
}

// A batch of two prompts must give each item what it gives alone (checks the
// batch-major, then head, layout of the boxRPB bias and the mask handling).
TEST(DecoderBatch, EachItemMatchesItsSingleRun) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  const std::string dir = test::image_tiny_dir();
  const auto cfg = test::image_tiny_config();
  auto dec = test::load_image_tiny(TransformerDecoder(cfg), "detector.transformer.decoder.");
  const auto g = load_safetensors(dir + "case1_text_box.safetensors");
  const auto& memory = g.at("encoder.memory");
  const auto& pos = g.at("encoder.pos");
  const auto& prompt = g.at("prompt.tokens");
  const auto& mask = g.at("prompt.mask");
  const int64_t grid = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(memory.size(0)))));
  // Item 1: another image (scaled memory) and one more prompt token masked out.
  auto mem1 = memory * 0.5;
  auto mask1 = mask.clone();
  mask1[0][0] = true;
  auto both = dec->forward(torch::cat({memory, mem1}, 1), torch::cat({pos, pos}, 1), torch::cat({prompt, prompt}, 1),
                           torch::cat({mask, mask1}, 0), grid, grid);
  auto one0 = dec->forward(memory, pos, prompt, mask, grid, grid);
  auto one1 = dec->forward(mem1, pos, prompt, mask1, grid, grid);
  ASSERT_EQ(both.hs.size(1), 2);
  expect_close("batch item 0 hs", both.hs.narrow(1, 0, 1), one0.hs, Tolerance::absolute(1e-5));
  expect_close("batch item 1 hs", both.hs.narrow(1, 1, 1), one1.hs, Tolerance::absolute(1e-5));
  expect_close("batch item 1 ref_boxes", both.ref_boxes.narrow(1, 1, 1), one1.ref_boxes, Tolerance::absolute(1e-6));
  expect_close("batch item 1 presence", both.presence_logits.narrow(1, 1, 1), one1.presence_logits,
               Tolerance::absolute(1e-5));
  EXPECT_GT((one1.hs - one0.hs).abs().max().item<double>(), 1e-3) << "the two items should differ";
}

INSTANTIATE_TEST_SUITE_P(Golden, DecoderParity, ::testing::ValuesIn(test::image_case_names()));

}  // namespace
}  // namespace sam3::core
