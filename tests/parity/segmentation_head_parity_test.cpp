// SPDX-License-Identifier: Apache-2.0
// Parity of the mask head (UniversalSegmentationHead) from the golden neck
// levels, encoder memory, prompt and last-layer decoder queries.
#include <string>
#include <vector>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/state_dict.h"
#include "core/model/config.h"
#include "core/model/segmentation_head.h"
#include "golden_util.h"

namespace sam3::core {
namespace {

// README tolerance: max abs error <= 1e-4 (the default); the error relative to max |golden| is printed too.
using test::expect_close;

class SegmentationHeadParity : public ::testing::TestWithParam<std::string> {};

TEST_P(SegmentationHeadParity, MatchesGoldenAndLeavesInputsUntouched) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  const std::string dir = test::image_tiny_dir();
  auto head = test::load_image_tiny(UniversalSegmentationHead(test::image_tiny_config()), "detector.segmentation_head.");
  const auto g = load_safetensors(dir + GetParam() + ".safetensors");

  // The neck levels kept after scalp (finest -> coarsest), copied so that an
  // in-place write would be visible against the mapped golden.
  std::vector<torch::Tensor> fpn;
  for (int i = 0; i < 3; ++i) fpn.push_back(g.at("neck.fpn." + std::to_string(i)).clone());
  const auto memory = g.at("encoder.memory").clone();
  const auto out = head->forward(fpn, g.at("out.queries"), memory, g.at("prompt.tokens"), g.at("prompt.mask"));

  expect_close(GetParam() + " seg.encoder_after_prompt_xattn", out.encoder_after_xattn,
               g.at("seg.encoder_after_prompt_xattn"));
  expect_close(GetParam() + " seg.pixel_embed", out.pixel_embed, g.at("seg.pixel_embed"));
  expect_close(GetParam() + " out.pred_masks", out.pred_masks, g.at("out.pred_masks"));
  expect_close(GetParam() + " out.semantic_seg", out.semantic_seg, g.at("out.semantic_seg"));

  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(torch::equal(fpn[i], g.at("neck.fpn." + std::to_string(i)))) << "neck level " << i << " modified";
  EXPECT_TRUE(torch::equal(memory, g.at("encoder.memory"))) << "encoder memory modified";

  // The same head accepts the stacked [L, B, Q, D] decoder output (last layer used).
  auto hs = g.at("decoder.hs").transpose(1, 2);
  auto again = head->forward(fpn, hs, memory, g.at("prompt.tokens"), g.at("prompt.mask"));
  expect_close(GetParam() + " out.pred_masks (from decoder.hs)", again.pred_masks, g.at("out.pred_masks"));
}

// Two prompts against one cached image: backbone levels of batch 1 broadcast
// against a memory/prompt batch of 2, and each item matches its single run.
TEST(SegmentationHeadBatch, PromptBatchBroadcastsOverOneImage) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  const std::string dir = test::image_tiny_dir();
  auto head = test::load_image_tiny(UniversalSegmentationHead(test::image_tiny_config()), "detector.segmentation_head.");
  const auto g0 = load_safetensors(dir + "case0_text.safetensors");
  std::vector<torch::Tensor> fpn;
  for (int i = 0; i < 3; ++i) fpn.push_back(g0.at("neck.fpn." + std::to_string(i)));
  const auto& mem = g0.at("encoder.memory");
  const auto& prompt = g0.at("prompt.tokens");
  const auto& mask = g0.at("prompt.mask");
  const auto& q = g0.at("out.queries");
  auto mask1 = mask.clone();
  mask1[0][0] = true;
  auto both = head->forward(fpn, torch::cat({q, q.flip(1)}, 0), torch::cat({mem, mem * 0.5}, 1),
                            torch::cat({prompt, prompt}, 1), torch::cat({mask, mask1}, 0));
  auto one1 = head->forward(fpn, q.flip(1), mem * 0.5, prompt, mask1);
  ASSERT_EQ(both.pred_masks.size(0), 2);
  expect_close("batch item 0 pred_masks", both.pred_masks.narrow(0, 0, 1), g0.at("out.pred_masks"));
  expect_close("batch item 1 pred_masks", both.pred_masks.narrow(0, 1, 1), one1.pred_masks);
}

INSTANTIATE_TEST_SUITE_P(Golden, SegmentationHeadParity, ::testing::ValuesIn(test::image_case_names()));

}  // namespace
}  // namespace sam3::core
