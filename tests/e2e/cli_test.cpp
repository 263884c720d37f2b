// SPDX-License-Identifier: Apache-2.0
// The `sam3` binary as a shell or CI would use it: exit codes, usage errors,
// configuration precedence, and the image commands on a real model.
#include <filesystem>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace sam3::test {
namespace {

using nlohmann::json;

std::string golden_model() { return golden_dir() + "/image_tiny"; }
std::string golden_bpe() { return golden_bpe_path(); }

std::vector<json> json_lines(const std::string& out) {
  std::vector<json> v;
  std::stringstream ss(out);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) v.push_back(json::parse(line));
  return v;
}

TEST(Cli, HelpListsEveryCommandAndExitsZero) {
  auto r = run_sam3("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (const char* c : {"segment", "batch", "cached-features", "video", "serve", "model", "config"})
    EXPECT_NE(r.out.find(c), std::string::npos) << c;
  for (const char* c : {"segment", "batch", "cached-features", "video track", "serve", "model", "model init",
                        "model inspect", "model convert", "config", "config show"}) {
    auto h = run_sam3(std::string(c) + " --help");
    EXPECT_EQ(h.exit_code, 0) << c;
    EXPECT_NE(h.out.find("Usage"), std::string::npos) << c;
  }
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run_sam3("").exit_code, 2);
  EXPECT_EQ(run_sam3("frobnicate").exit_code, 2);
  EXPECT_EQ(run_sam3("segment").exit_code, 2);                      // no image
  EXPECT_EQ(run_sam3("segment x.png --no-such-flag").exit_code, 2);
  EXPECT_EQ(run_sam3("segment x.png --box 1,2,3").exit_code, 2);    // malformed box
  EXPECT_EQ(run_sam3("segment x.png --text a --format gif").exit_code, 2);
  EXPECT_EQ(run_sam3("segment x.png --text a --threads many").exit_code, 2);
  EXPECT_EQ(run_sam3("video track v.mp4 --direction sideways --text a").exit_code, 2);
  EXPECT_EQ(run_sam3("video track v.mp4 --point 0.5,0.5").exit_code, 2);  // frame missing
  EXPECT_EQ(run_sam3("batch dir --shard 3/2 --text a").exit_code, 2);
  EXPECT_EQ(run_sam3("serve --port 99999").exit_code, 2);
  EXPECT_EQ(run_sam3("model init --preset huge --out /tmp/x").exit_code, 2);
  auto r = run_sam3("segment x.png --model m");  // no prompt
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no prompt"), std::string::npos) << r.err;
}

TEST(Cli, BadEnvironmentAndConfigAreNamed) {
  auto r = run_sam3("config show", "SERVER_PORT=abc");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("SERVER_PORT"), std::string::npos) << r.err;
  TempDir dir;
  write_file(dir.file("c.toml"), "[server]\nport = 1\nbogus = 2\n");
  r = run_sam3("config show --config " + dir.file("c.toml"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("server.bogus"), std::string::npos) << r.err;
}

TEST(Cli, ConfigPrecedenceThroughTheBinary) {
  TempDir dir;
  write_file(dir.file("c.toml"), "[server]\nport = 9001\nworkers = 5\n");
  auto r = run_sam3("config show --config " + dir.file("c.toml"));
  EXPECT_NE(r.out.find("server.port = 9001"), std::string::npos) << r.out;
  r = run_sam3("config show --config " + dir.file("c.toml"), "SERVER_PORT=9002");
  EXPECT_NE(r.out.find("server.port = 9002"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("server.workers = 5"), std::string::npos) << r.out;
  r = run_sam3("config show --port 9003 --config " + dir.file("c.toml"), "SERVER_PORT=9002");
  EXPECT_NE(r.out.find("server.port = 9003"), std::string::npos) << r.out;
}

TEST(Cli, ModelBackedCommandsWithoutAModelExitFour) {
  TempDir dir;
  write_file(dir.file("a.png"), "not really a png");
  auto r = run_sam3("segment " + dir.file("a.png") + " --text cat", "env -u SAM3_MODEL -u SAM3_CHECKPOINT");
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_NE(r.err.find("no model configured"), std::string::npos) << r.err;
  r = run_sam3("segment " + dir.file("a.png") + " --text cat --model " + dir.file("nowhere"));
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_EQ(run_sam3("video track " + dir.file("a.mp4") + " --text cat").exit_code, 4);
}

TEST(Cli, ManPageMatchesTheHelpOfTheBinary) {
  TempDir dir;
  const std::string cmd = "bash '" + std::string(SAM3_SOURCE_DIR) + "/scripts/gen_man.sh' '" + SAM3_BINARY + "' > '" +
                          dir.file("sam3.1") + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string fresh = read_file(dir.file("sam3.1"));
  const std::string committed = read_file(std::string(SAM3_SOURCE_DIR) + "/man/sam3.1");
  EXPECT_FALSE(fresh.empty());
  EXPECT_EQ(fresh, committed) << "man/sam3.1 is stale: run scripts/gen_man.sh build/sam3 > man/sam3.1";
  for (const char* code : {"\n.B 0\n", "\n.B 2\n", "\n.B 3\n", "\n.B 4\n", "\n.B 130\n"})
    EXPECT_NE(committed.find(code), std::string::npos) << code;
}

TEST(Cli, SegmentRunsTheModelAndKeepsGoingPastBadImages) {
  SAM3_REQUIRE_GOLDEN();
  TempDir dir;
  write_file(dir.file("corrupt.png"), std::string("\x89PNG\r\n\x1a\n garbage", 17));
  const std::string good = golden_model() + "/case0_text.png";
  auto r = run_sam3("segment " + dir.file("corrupt.png") + " " + good + " " + dir.file("missing.jpg") +
                    " --text 'red circle' --threshold 0.3 --model " + golden_model() + " --bpe " + golden_bpe());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_TRUE(lines[0].contains("error"));
  EXPECT_EQ(lines[1]["file"], good);
  EXPECT_EQ(lines[1]["image_size"]["width"], 320);
  EXPECT_GT(lines[1]["num_masks"].get<int>(), 0);
  EXPECT_EQ(lines[1]["masks"].size(), lines[1]["num_masks"].get<size_t>());
  EXPECT_TRUE(lines[2].contains("error"));
  EXPECT_NE(r.err.find("corrupt.png"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing.jpg"), std::string::npos) << r.err;
}

TEST(Cli, SegmentWritesCocoPngAndOverlayOutputs) {
  SAM3_REQUIRE_GOLDEN();
  TempDir dir;
  const std::string img = golden_model() + "/case1_text_box.png";
  const std::string base = " --text 'red circle' --box 0.22,0.3,0.211,0.281333 --threshold 0.3 --model " +
                           golden_model() + " --bpe " + golden_bpe();
  auto r = run_sam3("segment " + img + base + " --format coco --out " + dir.file("coco.json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json coco = json::parse(read_file(dir.file("coco.json")));
  ASSERT_TRUE(coco.is_array());
  ASSERT_FALSE(coco.empty());
  EXPECT_EQ(coco[0]["bbox"].size(), 4u);
  EXPECT_TRUE(coco[0]["segmentation"].contains("counts"));

  r = run_sam3("segment " + img + base + " --format png --out " + dir.file("masks"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_FALSE(lines[0]["mask_files"].empty());
  for (const auto& f : lines[0]["mask_files"]) EXPECT_TRUE(std::filesystem::exists(f.get<std::string>())) << f;

  r = run_sam3("segment " + img + base + " --format overlay --out " + dir.file("viz"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("viz") + "/case1_text_box.overlay.png"));
}

// A folder of the three golden case images, inside `dir`.
std::string golden_images(const TempDir& dir) {
  const std::string images = dir.file("images");
  std::filesystem::create_directories(images);
  for (const char* c : {"case0_text", "case1_text_box", "case2_boxes_only"})
    std::filesystem::copy_file(golden_model() + "/" + c + ".png", images + "/" + c + ".png");
  return images;
}

TEST(Cli, BatchStreamsLinesResumesAndShards) {
  SAM3_REQUIRE_GOLDEN();
  TempDir dir;
  const std::string images = golden_images(dir);
  write_file(images + "/broken.jpg", "\xff\xd8\xff truncated");
  const std::string base = " --text 'red circle' --threshold 0.3 --model " + golden_model() + " --bpe " + golden_bpe();
  auto r = run_sam3("batch " + images + base + " --out-dir " + dir.file("out"));
  EXPECT_EQ(r.exit_code, 3) << r.err;  // one input failed, the others went through
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_TRUE(lines[0].contains("error"));  // broken.jpg sorts first
  for (size_t i = 1; i < 4; ++i) EXPECT_TRUE(lines[i].contains("num_masks")) << lines[i];
  EXPECT_TRUE(std::filesystem::exists(dir.file("out") + "/case0_text.json"));

  r = run_sam3("batch " + images + base + " --out-dir " + dir.file("out") + " --resume");
  lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u) << r.out;  // only the broken one is retried
  EXPECT_TRUE(lines[0].contains("error"));

  size_t total = 0;
  for (int i = 0; i < 2; ++i) {
    r = run_sam3("batch " + images + base + " --shard " + std::to_string(i) + "/2");
    total += json_lines(r.out).size();
  }
  EXPECT_EQ(total, 4u);

  write_file(dir.file("list.txt"), "# a list file\n" + images + "/case0_text.png\n");
  r = run_sam3("batch -" + base, "", images + "/case2_boxes_only.png\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json_lines(r.out).size(), 1u);
  r = run_sam3("batch " + dir.file("list.txt") + base);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json_lines(r.out)[0]["file"], images + "/case0_text.png");
}

TEST(Cli, BatchPipelineSettingsDoNotChangeTheResults) {
  SAM3_REQUIRE_GOLDEN();
  TempDir dir;
  const std::string images = golden_images(dir);
  const std::string base = " --text 'red circle' --threshold 0.3 --model " + golden_model() + " --bpe " + golden_bpe();
  auto plain = run_sam3("batch " + images + base);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  // Sizes from the environment and flags: two IO threads, groups of two
  // images per backbone forward, out of order.
  auto tuned = run_sam3("batch " + images + base + " --in-flight 3 --unordered",
                        "SAM3_IO_THREADS=2 SAM3_BACKBONE_BATCH=2");
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  std::map<std::string, json> by_file;
  for (const auto& l : json_lines(tuned.out)) by_file[l["file"].get<std::string>()] = l;
  const auto lines = json_lines(plain.out);
  ASSERT_EQ(lines.size(), 3u);
  ASSERT_EQ(by_file.size(), 3u);
  for (const auto& l : lines) {
    const json& t = by_file[l["file"].get<std::string>()];
    EXPECT_EQ(t["masks"], l["masks"]) << l["file"];
    ASSERT_EQ(t["scores"].size(), l["scores"].size());
    for (size_t i = 0; i < l["scores"].size(); ++i)  // batched backbone: float rounding only
      EXPECT_NEAR(t["scores"][i].get<double>(), l["scores"][i].get<double>(), 1e-5);
  }
  // A device listed twice is a usage error, before any model loads.
  auto dup = run_sam3("batch " + images + base + " --devices cpu,cpu");
  EXPECT_EQ(dup.exit_code, 2) << dup.err;
  EXPECT_NE(dup.err.find("model.devices"), std::string::npos) << dup.err;
}

TEST(Cli, CachedFeaturesGivesALinePerPrompt) {
  SAM3_REQUIRE_GOLDEN();
  auto r = run_sam3("cached-features " + golden_model() + "/case0_text.png --text 'red circle' --text square "
                    "--text visual --threshold 0.3 --model " + golden_model() + " --bpe " + golden_bpe());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0]["prompt"], "red circle");
  EXPECT_EQ(lines[1]["prompt"], "square");
  EXPECT_EQ(lines[2]["prompt"], "visual");
}

TEST(Cli, ModelInitWritesALoadableFolder) {
  TempDir dir;
  auto r = run_sam3("model init --preset tiny --no-tracker --seed 7 --out " + dir.file("m"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json report = json::parse(r.out);
  EXPECT_EQ(report["tensors"], 344);  // the detector of shared/golden/image_tiny
  EXPECT_TRUE(std::filesystem::exists(dir.file("m") + "/config.json"));
  r = run_sam3("model inspect " + dir.file("m"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["tensors"], 344);
  // Same seed, same bytes.
  ASSERT_EQ(run_sam3("model init --preset tiny --no-tracker --seed 7 --out " + dir.file("m2")).exit_code, 0);
  EXPECT_EQ(read_file(dir.file("m") + "/model.safetensors"), read_file(dir.file("m2") + "/model.safetensors"));
  r = run_sam3("model convert " + dir.file("m") + " " + dir.file("m.pt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_sam3("model inspect " + dir.file("m.pt"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["format"], "pt");
}

TEST(Cli, ReadmeMainJobRuns) {
  // The README's demo: a random-weight model folder, then text prompts on the
  // project's sample image (with the interactive head: points too).
  SAM3_REQUIRE_GOLDEN();
  TempDir dir;
  auto r = run_sam3("model init --preset tiny --out " + dir.file("m") + " --bpe " + golden_bpe());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string sample = std::string(SAM3_SOURCE_DIR) + "/samples/shapes.png";
  r = run_sam3("segment " + sample + " --model " + dir.file("m") + " --text 'red circle' --threshold 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["image_size"]["width"], 640);
  EXPECT_EQ(lines[0]["num_masks"], 20);  // threshold 0 keeps every query of the tiny config
  r = run_sam3("segment " + sample + " --model " + dir.file("m") + " --point 0.25,0.42 --point 0.9,0.1:neg");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["num_masks"], 3);  // the interactive head's three candidates
  EXPECT_EQ(lines[0]["ious"].size(), 3u);
}

}  // namespace
}  // namespace sam3::test
