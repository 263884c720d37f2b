// SPDX-License-Identifier: Apache-2.0
// Model folders, checkpoint loading/inspection/conversion and random checkpoints.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/checkpoint/hf_layout.h"
#include "core/checkpoint/model_files.h"
#include "core/checkpoint/pt_zip.h"
#include "core/errors.h"
#include "test_util.h"

namespace sam3::core {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

std::string tiny_dir() { return test::golden_dir() + "/image_tiny"; }
std::string full_manifest() { return test::golden_dir() + "/full_manifest.json"; }

void touch(const std::string& path) { test::write_file(path, "x"); }

// The full key list with tiny shapes (each dimension capped at 4).
std::vector<KeySpec> tiny_full_keys() {
  auto keys = manifest_keys(full_manifest());
  for (auto& k : keys)
    for (auto& d : k.shape) d = std::min<int64_t>(d, 4);
  return keys;
}

TEST(LocateModel, GoldenTinyFolderWorksAsIs) {
  SAM3_REQUIRE_GOLDEN();
  const auto m = locate_model(tiny_dir());
  EXPECT_EQ(fs::path(m.checkpoint).filename(), "weights.safetensors");
  EXPECT_EQ(fs::path(m.config_json).filename(), "config.json");
  EXPECT_EQ(fs::path(m.bpe).filename(), "bpe_simple_vocab_16e6.txt.gz");  // found in the parent folder
  EXPECT_EQ(m.dir, tiny_dir());
}

TEST(LocateModel, PicksCheckpointsInOrderAndExplainsFailures) {
  TempDir tmp;
  const auto dir = tmp.path().string();
  try {
    locate_model(dir);
    FAIL() << "expected ModelMissing";
  } catch (const ModelMissing& e) {
    const std::string msg = e.what();
    for (const char* want : {"sam3.pt", "model.safetensors", "weights.safetensors", dir.c_str()})
      EXPECT_NE(msg.find(want), std::string::npos) << msg;
  }
  EXPECT_THROW(locate_model(tmp.file("nope")), ModelMissing);

  touch(tmp.file("a.safetensors"));
  EXPECT_EQ(locate_model(dir).checkpoint, tmp.file("a.safetensors"));
  touch(tmp.file("b.safetensors"));
  EXPECT_THROW(locate_model(dir), ModelError);  // ambiguous
  touch(tmp.file("weights.safetensors"));
  EXPECT_EQ(locate_model(dir).checkpoint, tmp.file("weights.safetensors"));
  touch(tmp.file("model.safetensors"));
  EXPECT_EQ(locate_model(dir).checkpoint, tmp.file("model.safetensors"));
  touch(tmp.file("sam3.pt"));
  touch(tmp.file("config.json"));
  const auto m = locate_model(dir);
  EXPECT_EQ(m.checkpoint, tmp.file("sam3.pt"));
  EXPECT_EQ(m.config_json, tmp.file("config.json"));

  const auto f = locate_model(tmp.file("b.safetensors"));  // a file names itself
  EXPECT_EQ(f.checkpoint, tmp.file("b.safetensors"));
  EXPECT_EQ(f.dir, dir);
}

TEST(DetectFormat, ByFirstBytes) {
  TempDir tmp;
  TensorMap m{{"x", torch::ones({2})}};
  save_pt(tmp.file("a.bin"), m);
  save_safetensors(tmp.file("b.pt"), m);  // names lie; bytes decide
  EXPECT_EQ(detect_format(tmp.file("a.bin")), "pt");
  EXPECT_EQ(detect_format(tmp.file("b.pt")), "safetensors");
  test::write_file(tmp.file("c"), "hello world, not a model");
  EXPECT_THROW(detect_format(tmp.file("c")), ModelError);
  test::write_file(tmp.file("empty"), "");
  EXPECT_THROW(detect_format(tmp.file("empty")), ModelError);
  EXPECT_THROW(detect_format(tmp.file("absent")), NotFound);
  EXPECT_TRUE(torch::equal(load_checkpoint(tmp.file("a.bin")).at("x"), torch::ones({2})));
}

TEST(LoadCheckpoint, GoldenTinyWeights) {
  SAM3_REQUIRE_GOLDEN();
  const auto m = load_checkpoint(tiny_dir());  // a folder is resolved by locate_model
  EXPECT_EQ(m.size(), 344u);
  const auto& f = m.at("detector.backbone.vision_backbone.trunk.blocks.1.attn.freqs_cis");
  EXPECT_EQ(f.sizes(), (std::vector<int64_t>{324, 16, 2}));
  EXPECT_EQ(f.scalar_type(), torch::kFloat32);
}

TEST(ConvertCheckpoint, SafetensorsToPtAndBack) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode inference;  // as the model loader runs it
  TempDir tmp;
  const auto src = tiny_dir() + "/weights.safetensors";
  const auto pt = tmp.file("sam3.pt"), st = tmp.file("again.safetensors");
  convert_checkpoint(src, pt);
  // Stored like the official file: RoPE tables complex64, nested under "model".
  for (const auto& e : read_pt_index(pt)) {
    if (e.name.find("freqs_cis") != std::string::npos) {
      EXPECT_EQ(e.dtype, torch::kComplexFloat) << e.name;
    }
  }
  convert_checkpoint(pt, st);
  const auto want = load_checkpoint(src);
  for (const auto& path : {pt, st}) {
    const auto got = load_checkpoint(path);
    ASSERT_EQ(got.size(), want.size());
    for (const auto& [k, t] : want) EXPECT_TRUE(torch::equal(got.at(k), t)) << path << ": " << k;
  }
  EXPECT_THROW(convert_checkpoint(src, tmp.file("x.bin")), InvalidInput);
  EXPECT_THROW(convert_checkpoint(st, st), InvalidInput);
}

TEST(LoadCheckpoint, TransformersLayoutIsMappedToOfficialNames) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode inference;
  TempDir tmp;
  const auto official = load_checkpoint(tiny_dir());
  save_safetensors(tmp.file("model.safetensors"), official_to_hf(official));
  const auto info = inspect_checkpoint(tmp.path().string());
  EXPECT_EQ(info["layout"], "hf");
  const auto back = load_checkpoint(tmp.path().string());
  size_t same = 0;
  for (const auto& [k, t] : official) {
    if (k.find("freqs_cis") != std::string::npos) {
      EXPECT_FALSE(back.count(k));
      continue;
    }
    ASSERT_TRUE(back.count(k)) << k;
    if (k.find("pos_embed") != std::string::npos || k.find("points_") != std::string::npos) continue;
    EXPECT_TRUE(torch::equal(back.at(k), t)) << k;
    ++same;
  }
  EXPECT_GT(same, 300u);
}

TEST(ManifestKeys, FullManifestCounts) {
  SAM3_REQUIRE_GOLDEN();
  const auto keys = manifest_keys(full_manifest());
  ASSERT_EQ(keys.size(), 1465u);
  int64_t params = 0;
  size_t complex = 0;
  for (const auto& k : keys) {
    if (!is_buffer_name(k.name)) params += c10::multiply_integers(k.shape);
    complex += k.dtype == "complex64";
  }
  EXPECT_EQ(params, 860055224);
  EXPECT_EQ(complex, 32u);
  EXPECT_THROW(manifest_keys(tiny_dir() + "/absent.json"), NotFound);
  EXPECT_THROW(manifest_keys_from_json(nlohmann::json::object()), ModelError);
}

TEST(RandomCheckpoint, FullKeyListWithTinyShapes) {
  SAM3_REQUIRE_GOLDEN();
  TempDir tmp;
  const auto keys = tiny_full_keys();
  for (const std::string ext : {".pt", ".safetensors"}) {
    const auto path = tmp.file("r" + ext);
    write_random_checkpoint(keys, 7, path);
    const auto m = load_checkpoint(path);
    ASSERT_EQ(m.size(), keys.size()) << ext;
    for (const auto& k : keys) {
      auto want = k.shape;
      if (k.dtype == "complex64") want.push_back(2);  // loaded as float32 [..., 2]
      ASSERT_TRUE(m.count(k.name)) << k.name;
      EXPECT_EQ(m.at(k.name).sizes().vec(), want) << k.name;
    }
    const auto info = inspect_checkpoint(path, &keys);
    EXPECT_TRUE(info["manifest"]["matches"].get<bool>()) << info["manifest"].dump();
    EXPECT_EQ(info["tensors"], 1465);
    EXPECT_EQ(info["format"], ext == ".pt" ? "pt" : "safetensors");
    EXPECT_EQ(info["layout"], "official");
    EXPECT_EQ(info["buffers"], 33);
  }
  const auto a = load_checkpoint(tmp.file("r.pt")), b = load_checkpoint(tmp.file("r.safetensors"));
  for (const auto& [k, t] : a) EXPECT_TRUE(torch::equal(t, b.at(k))) << "formats differ for " << k;

  // Initialisation rules.
  EXPECT_TRUE(torch::equal(a.at("detector.transformer.decoder.norm.weight"), torch::ones({4})));
  EXPECT_TRUE(torch::equal(a.at("detector.segmentation_head.pixel_decoder.norms.0.weight"), torch::ones({4})));
  EXPECT_TRUE(torch::equal(a.at("detector.transformer.decoder.layers.0.self_attn.in_proj_bias"), torch::zeros({4})));
  EXPECT_TRUE(torch::equal(a.at("tracker.sam_mask_decoder.conv_s0.bias"), torch::zeros({4})));
  const auto w = a.at("detector.transformer.decoder.layers.0.linear1.weight");
  EXPECT_GT(w.abs().max().item<float>(), 0.f);
  EXPECT_LT(w.abs().max().item<float>(), 0.2f);
}

TEST(RandomCheckpoint, DeterministicPerSeedAndPerName) {
  TempDir tmp;
  std::vector<KeySpec> keys = {{"m.linear.weight", {64, 64}}, {"m.linear.bias", {64}}, {"m.norm.weight", {64}},
                               {"m.embed", {3, 8}, "bfloat16"}};
  write_random_checkpoint(keys, 1, tmp.file("a.safetensors"));
  write_random_checkpoint(keys, 1, tmp.file("b.safetensors"));
  write_random_checkpoint(keys, 2, tmp.file("c.safetensors"));
  write_random_checkpoint({keys[0]}, 1, tmp.file("d.safetensors"));
  EXPECT_EQ(test::read_file(tmp.file("a.safetensors")), test::read_file(tmp.file("b.safetensors")));
  const auto a = load_checkpoint(tmp.file("a.safetensors")), c = load_checkpoint(tmp.file("c.safetensors")),
             d = load_checkpoint(tmp.file("d.safetensors"));
  EXPECT_FALSE(torch::equal(a.at("m.linear.weight"), c.at("m.linear.weight")));
  EXPECT_TRUE(torch::equal(a.at("m.linear.weight"), d.at("m.linear.weight")));  // independent of other keys
  const double sd = a.at("m.linear.weight").std().item<double>();
  EXPECT_NEAR(sd, 0.02, 0.002);
  EXPECT_NEAR(a.at("m.linear.weight").mean().item<double>(), 0.0, 0.002);
  EXPECT_EQ(a.at("m.embed").scalar_type(), torch::kBFloat16);
  EXPECT_THROW(write_random_checkpoint(keys, 1, tmp.file("x.bin")), InvalidInput);
  EXPECT_THROW(write_random_checkpoint({{"a", {2}, "int4"}}, 1, tmp.file("x.pt")), InvalidInput);
  EXPECT_THROW(write_random_checkpoint({keys[0], keys[0]}, 1, tmp.file("x.pt")), InvalidInput);
}

// RoPE tables of a random checkpoint equal the reference's own tables.
TEST(RandomCheckpoint, RopeTablesMatchTheGoldenModel) {
  SAM3_REQUIRE_GOLDEN();
  TempDir tmp;
  const auto golden = load_checkpoint(tiny_dir());
  std::vector<KeySpec> keys;
  for (const auto& [k, t] : golden) keys.push_back({k, t.sizes().vec()});
  write_random_checkpoint(keys, 0, tmp.file("tiny.safetensors"));
  const auto m = load_checkpoint(tmp.file("tiny.safetensors"));
  int tables = 0;
  for (const auto& [k, t] : golden) {
    if (k.find("freqs_cis") == std::string::npos) continue;
    const double err = (m.at(k) - t).abs().max().item<double>();
    std::cout << "[ rope ] " << k << " max abs err " << err << "\n";
    EXPECT_LE(err, 1e-6) << k;
    ++tables;
  }
  EXPECT_EQ(tables, 4);
}

TEST(InspectCheckpoint, ReportsMismatchesAgainstAManifest) {
  TempDir tmp;
  std::vector<KeySpec> keys = {{"detector.a.weight", {4, 2}},
                               {"detector.a.bias", {4}},
                               {"tracker.b.freqs_cis", {9, 2}, "complex64"}};
  write_random_checkpoint(keys, 3, tmp.file("m.pt"));
  auto info = inspect_checkpoint(tmp.file("m.pt"), &keys);
  EXPECT_TRUE(info["manifest"]["matches"].get<bool>());
  EXPECT_EQ(info["parameters"], 12);
  EXPECT_EQ(info["elements"], 30);
  EXPECT_EQ(info["dtypes"]["complex64"], 1);
  EXPECT_EQ(info["prefixes"]["detector.a"]["tensors"], 2);

  auto other = keys;
  other[0].shape = {4, 3};
  other.pop_back();
  other.push_back({"detector.c.weight", {1}});
  info = inspect_checkpoint(tmp.file("m.pt"), &other);
  const auto& r = info["manifest"];
  EXPECT_FALSE(r["matches"].get<bool>());
  EXPECT_EQ(r["missing"], nlohmann::json::array({"detector.c.weight"}));
  EXPECT_EQ(r["unexpected"], nlohmann::json::array({"tracker.b.freqs_cis"}));
  ASSERT_EQ(r["mismatched_count"], 1);
  EXPECT_NE(r["mismatched"][0].get<std::string>().find("expected [4, 3], got [4, 2]"), std::string::npos);
}

// The full-size checkpoint (860M parameters, ~3.4 GB): run with SAM3_SLOW_TESTS=1.
TEST(FullManifest, WritesAndReloadsTheFullSizeCheckpoint) {
  SAM3_REQUIRE_GOLDEN();
  if (!std::getenv("SAM3_SLOW_TESTS")) GTEST_SKIP() << "set SAM3_SLOW_TESTS=1 (writes ~3.4 GB to /tmp)";
  const auto keys = manifest_keys(full_manifest());
  const std::string path = (fs::temp_directory_path() / ("sam3-full-" + std::to_string(::getpid()) + ".pt")).string();
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  write_random_checkpoint(keys, 1, path);
  auto t1 = clock::now();
  const auto info = inspect_checkpoint(path, &keys);
  auto t2 = clock::now();
  size_t loaded = 0;
  {
    const auto m = load_checkpoint(path);
    loaded = m.size();
  }
  auto t3 = clock::now();
  const auto bytes = fs::file_size(path);
  fs::remove(path);
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  std::cout << "[ full ] write " << secs(t0, t1) << " s, inspect " << secs(t1, t2) << " s, load " << secs(t2, t3)
            << " s, " << bytes << " bytes\n";
  EXPECT_EQ(info["tensors"], 1465);
  EXPECT_EQ(info["parameters"], 860055224);
  EXPECT_TRUE(info["manifest"]["matches"].get<bool>()) << info["manifest"].dump();
  EXPECT_EQ(loaded, 1465u);
}

}  // namespace
}  // namespace sam3::core
