// SPDX-License-Identifier: Apache-2.0
// The tracker module tree has exactly the tracker.* names and shapes of the
// official sam3.pt (shared/golden/full_manifest.json) and of the tiny golden tracker.
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/state_dict.h"
#include "core/errors.h"
#include "core/model/interactive_predictor.h"
#include "core/model/tracker_modules.h"
#include "tests/test_util.h"

namespace sam3::core {
namespace {

std::map<std::string, std::vector<int64_t>> module_keys(torch::nn::Module& m, const std::string& prefix) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& p : m.named_parameters(true)) out[prefix + p.key()] = p.value().sizes().vec();
  for (const auto& b : m.named_buffers(true)) out[prefix + b.key()] = b.value().sizes().vec();
  return out;
}

TEST(TrackerKeys, FullTreeMatchesOfficialCheckpoint) {
  SAM3_REQUIRE_GOLDEN();
  std::ifstream in(sam3::test::golden_dir() + "/full_manifest.json");
  ASSERT_TRUE(in.good());
  const auto manifest = nlohmann::json::parse(in);
  std::map<std::string, std::vector<int64_t>> expected;
  for (const auto& [name, v] : manifest.at("checkpoint_keys").items())
    if (name.rfind("tracker.", 0) == 0) expected[name] = v.at("shape").get<std::vector<int64_t>>();
  ASSERT_EQ(expected.size(), 309u);

  TrackerModel model(TrackerConfig::full());
  const auto got = module_keys(*model, "tracker.");
  std::vector<std::string> missing, unexpected, misshaped;
  for (const auto& [k, s] : expected) {
    auto it = got.find(k);
    if (it == got.end())
      missing.push_back(k);
    else if (it->second != s)
      misshaped.push_back(k);
  }
  for (const auto& [k, s] : got)
    if (!expected.count(k)) unexpected.push_back(k);
  for (const auto& k : missing) ADD_FAILURE() << "missing " << k;
  for (const auto& k : unexpected) ADD_FAILURE() << "unexpected " << k;
  for (const auto& k : misshaped) ADD_FAILURE() << "mis-shaped " << k;
  EXPECT_EQ(got.size(), expected.size());
  int64_t numel = 0;
  for (const auto& p : model->parameters()) numel += p.numel();
  std::cout << "tracker parameters: " << numel << " in " << got.size() << " tensors\n";
}

TEST(TrackerKeys, TinyTreeLoadsGoldenWeightsStrictly) {
  SAM3_REQUIRE_GOLDEN();
  const auto weights = load_safetensors(sam3::test::golden_dir() + "/tracker_tiny/weights.safetensors");
  TrackerModel model(TrackerConfig::tiny());
  const auto report = load_state_dict(*model, weights, "tracker.", {"backbone."});
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.loaded, module_keys(*model, "").size());
}

TEST(TrackerKeys, SelectClosestCondFrames) {
  EXPECT_EQ(select_closest_cond_frames(5, {0, 3, 9}, 4), (std::vector<int64_t>{0, 3, 9}));
  // before (3), at/after (5), then closest by distance with ties in input order.
  EXPECT_EQ(select_closest_cond_frames(5, {0, 3, 5, 8, 2, 9}, 4), (std::vector<int64_t>{3, 5, 8, 2}));
  EXPECT_EQ(select_closest_cond_frames(0, {4, 1, 7}, 2), (std::vector<int64_t>{1, 4}));
}

TEST(TrackerKeys, RejectsInconsistentConfig) {
  auto c = TrackerConfig::tiny();
  c.image_size = 250;  // not a multiple of 14
  EXPECT_THROW(TrackerModel{c}, InvalidInput);
  c = TrackerConfig::tiny();
  c.mem_dim = 48;  // does not divide 64
  EXPECT_THROW(TrackerModel{c}, InvalidInput);
}

TEST(TrackerKeys, MemoryFrameFilter) {
  // Frame 0 forward: no memory selection.
  EXPECT_TRUE(memory_frame_filter(0, false, 6, {}, 16, 0.01).empty());
  // Frame 1: nothing scanned, frame 0 appended.
  EXPECT_EQ(memory_frame_filter(1, false, 6, {}, 16, 0.01), (std::vector<int64_t>{0}));
  // Low-score frames dropped, farthest first; t-1 always appended.
  std::map<int64_t, double> eff{{1, 0.5}, {2, 0.001}, {3, 0.7}, {4, 0.005}};
  EXPECT_EQ(memory_frame_filter(5, false, 10, eff, 16, 0.01), (std::vector<int64_t>{1, 3, 4}));
  // Capped at min(T, max_ptrs) - 1 frames.
  std::map<int64_t, double> all{{1, 1}, {2, 1}, {3, 1}, {4, 1}, {5, 1}};
  EXPECT_EQ(memory_frame_filter(6, false, 10, all, 3, 0.01), (std::vector<int64_t>{4, 5}));
  // Reverse scans forward up to T-1.
  EXPECT_EQ(memory_frame_filter(2, true, 5, {{3, 1}, {4, 1}}, 16, 0.01), (std::vector<int64_t>{4, 3}));
}

TEST(InteractivePostprocess, ConnectedComponentsAreEightConnected) {
  auto m = torch::zeros({5, 5}, torch::kUInt8);
  m[0][0] = 1;
  m[1][1] = 1;  // diagonal neighbour: same component
  m[3][3] = 1;
  m[3][4] = 1;
  auto areas = connected_component_areas(m);
  EXPECT_EQ(areas[0][0].item<int64_t>(), 2);
  EXPECT_EQ(areas[1][1].item<int64_t>(), 2);
  EXPECT_EQ(areas[3][4].item<int64_t>(), 2);
  EXPECT_EQ(areas[2][2].item<int64_t>(), 0);
  EXPECT_EQ(areas.sum().item<int64_t>(), 8);
}

TEST(InteractivePostprocess, FillsSmallBackgroundComponentsOnly) {
  // Foreground ring with a 1-pixel hole, plus a large background outside.
  auto logits = torch::full({1, 1, 8, 8}, -5.0f);
  logits[0][0].slice(0, 2, 5).slice(1, 2, 5).fill_(3.0f);
  logits[0][0][3][3] = -1.0f;  // hole
  auto filled = fill_holes_and_sprinkles(logits, 0.0, 4, 0);
  EXPECT_FLOAT_EQ(filled[0][0][3][3].item<float>(), 10.0f);  // threshold + 10
  EXPECT_FLOAT_EQ(filled[0][0][0][0].item<float>(), -5.0f);  // large background untouched
  EXPECT_FLOAT_EQ(filled[0][0][2][2].item<float>(), 3.0f);
  // Sprinkles: a lone foreground pixel becomes background.
  auto sp = torch::full({1, 1, 6, 6}, -2.0f);
  sp[0][0][1][1] = 4.0f;
  auto cleaned = fill_holes_and_sprinkles(sp, 0.0, 0, 2);
  EXPECT_FLOAT_EQ(cleaned[0][0][1][1].item<float>(), -10.0f);
}

TEST(InteractivePostprocess, StabilityScore) {
  auto m = torch::tensor({0.1f, 0.02f, -0.02f, -0.1f}).view({1, 1, 2, 2});
  // > 0.05: 1 pixel; > -0.05: 3 pixels.
  EXPECT_NEAR(sam_stability_scores(m, 0.05).item<float>(), 1.0f / 3.0f, 1e-6);
  EXPECT_FLOAT_EQ(sam_stability_scores(torch::full({1, 1, 2, 2}, -1.0f), 0.05).item<float>(), 1.0f);
}

}  // namespace
}  // namespace sam3::core
