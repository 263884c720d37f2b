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

}  // namespace
}  // namespace sam3::core
