// SPDX-License-Identifier: Apache-2.0
// `sam3 video track` end to end: the binary on short synthetic videos made
// here (moving squares, as an MP4 and as a JPEG folder) with a random-weight
// tiny model folder (biases shifted so that objects are present).
#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/checkpoint/safetensors.h"
#include "core/model_init.h"
#include "formats/image_io.h"
#include "formats/video_decode.h"
#include "formats/video_encode.h"
#include "tests/model_util.h"
#include "tests/test_util.h"

namespace sam3 {
namespace {

using nlohmann::json;

// Model folder + an 8-frame MP4 + the same frames as a JPEG folder, made once.
struct Fixture {
  test::TempDir dir;
  std::string model, mp4, jpegs;
  Fixture() {
    model = dir.file("model");
    test::write_tiny_tracking_model(model);
    const auto frames = test::moving_squares(8);
    mp4 = dir.file("squares.mp4");
    formats::VideoEncodeOptions eo;
    eo.fps = 10;
    formats::write_video(mp4, frames, eo);
    jpegs = dir.file("frames");
    std::filesystem::create_directories(jpegs);
    for (size_t i = 0; i < frames.size(); ++i)
      test::write_file(jpegs + "/" + std::to_string(i) + ".jpg", formats::encode_jpeg(frames[i], 95));
  }
};

const Fixture& fixture() {
  static Fixture f;
  return f;
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

class VideoTrackCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test::golden_bpe_path().empty()) GTEST_SKIP() << "CLIP BPE vocabulary (shared/golden) absent";
  }
  test::CommandResult track(const std::string& input, const std::string& args) {
    return test::run_sam3("video track '" + input + "' --model '" + fixture().model + "' --threads 1 " + args);
  }
};

TEST_F(VideoTrackCli, PointPromptWritesOneLinePerFrameWithStableIds) {
  auto r = track(fixture().mp4, "--point 0:0.2,0.28 --point 0:0.8,0.7:neg");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = json_lines(r.out);
  ASSERT_EQ(lines.size(), 8u);
  int visible = 0;
  for (size_t t = 0; t < lines.size(); ++t) {
    EXPECT_EQ(lines[t]["frame_index"].get<int64_t>(), static_cast<int64_t>(t));
    for (const auto& o : lines[t]["objects"]) {
      EXPECT_EQ(o["id"].get<int64_t>(), 0);  // the first free id, on every frame
      EXPECT_EQ(o["mask"]["size"], json::array({72, 96}));
      EXPECT_EQ(o["box"].size(), 4u);
      ++visible;
    }
  }
  std::cout << "[ measured ] point object visible on " << visible << " of 8 frames\n";
  EXPECT_GT(visible, 0);
}

TEST_F(VideoTrackCli, JpegFolderBothDirectionsAndFrameRange) {
  auto r = track(fixture().jpegs, "--box 4:0.3,0.3,0.3,0.3 --direction both --start-frame 4 --max-frames 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = json_lines(r.out);
  std::vector<int64_t> order;
  for (const auto& l : lines) order.push_back(l["frame_index"].get<int64_t>());
  EXPECT_EQ(order, (std::vector<int64_t>{4, 5, 6, 3, 2}));
}

TEST_F(VideoTrackCli, TextPromptCocoFileAndOverlay) {
  test::TempDir out;
  auto r = track(fixture().mp4,
                 "--text square -f coco -o '" + out.file("res.json") + "' --overlay '" + out.file("ov.mp4") + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty());
  json doc = json::parse(test::read_file(out.file("res.json")));
  ASSERT_EQ(doc["videos"].size(), 1u);
  EXPECT_EQ(doc["videos"][0]["length"].get<int64_t>(), 8);
  EXPECT_EQ(doc["videos"][0]["width"].get<int>(), 96);
  std::set<int64_t> ids;
  for (const auto& a : doc["annotations"]) {
    EXPECT_TRUE(ids.insert(a["obj_id"].get<int64_t>()).second) << "one entry per object";
    ASSERT_EQ(a["segmentations"].size(), 8u);
    ASSERT_EQ(a["bboxes"].size(), 8u);
  }
  std::cout << "[ measured ] text prompt: " << ids.size() << " tracked objects\n";
  auto info = formats::probe_video(out.file("ov.mp4"));
  EXPECT_EQ(info.total_frames, 8);
  EXPECT_EQ(info.width, 96);
}

TEST_F(VideoTrackCli, JsonLinesFileIsWrittenAtomically) {
  test::TempDir out;
  auto r = track(fixture().mp4, "--point 1:0.3,0.3 -o '" + out.file("res.jsonl") + "' --max-frames 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = json_lines(test::read_file(out.file("res.jsonl")));
  ASSERT_EQ(lines.size(), 4u);  // frames 1..4: the start frame and 3 more
  EXPECT_EQ(lines.front()["frame_index"].get<int64_t>(), 1);
  for (const auto& e : std::filesystem::directory_iterator(out.path()))
    EXPECT_EQ(e.path().filename().string(), "res.jsonl") << "no temporary file left behind";
}

TEST_F(VideoTrackCli, BadPromptsAndInputsGiveTheDocumentedExitCodes) {
  EXPECT_EQ(track(fixture().mp4, "--point 8:0.5,0.5").exit_code, 2);  // frame past the end
  EXPECT_EQ(track(fixture().mp4, "--text a --text b").exit_code, 2);  // one text per run
  EXPECT_EQ(track(fixture().mp4, "").exit_code, 2);                   // no prompt
  EXPECT_EQ(track(fixture().mp4, "--point 0:0.5,0.5 --start-frame 9").exit_code, 2);
  EXPECT_EQ(track(fixture().dir.file("missing.mp4"), "--point 0:0.5,0.5").exit_code, 3);
}

}  // namespace
}  // namespace sam3
