// SPDX-License-Identifier: Apache-2.0
// JSON documents: exact field names, values and serialisation (docs/formats.md).
#include <gtest/gtest.h>

#include <stdexcept>

#include "core/errors.h"
#include "formats/result_json.h"
#include "formats/rle.h"

namespace sam3::formats {
namespace {

// 4x2 image, one instance: mask [[0,1,1,0],[1,1,0,0]] (pycocotools counts "143").
SegmentResult dog() {
  Instance inst;
  inst.mask = Mask{4, 2, {0, 1, 1, 0, 1, 1, 0, 0}};
  inst.box_xyxy = {0.f, 0.f, 3.f, 2.f};
  inst.score = 0.75f;
  return SegmentResult{4, 2, "dog", {inst}};
}

TEST(ResultJson, SegmentResultExactDocument) {
  EXPECT_EQ(segment_result_json(dog()).dump(),
            R"({"boxes":[[0.0,0.0,0.75,1.0]],"image_size":{"height":2,"width":4},)"
            R"("masks":[{"counts":"143","size":[2,4]}],"num_masks":1,"prompt":"dog","scores":[0.75]})");
  // No prompt, no instances.
  EXPECT_EQ(segment_result_json(SegmentResult{640, 480, "", {}}).dump(),
            R"({"boxes":[],"image_size":{"height":480,"width":640},"masks":[],"num_masks":0,"scores":[]})");
}

TEST(ResultJson, RoundsClampsAndAddsIous) {
  SegmentResult r = dog();
  r.prompt.clear();
  r.instances[0].score = 0.123456789f;
  r.instances[0].box_xyxy = {-5.f, 1.f, 10.f, 1.5f};  // clamped to the 4x2 image
  r.instances[0].iou = 0.8f;
  r.instances.push_back(r.instances[0]);
  r.instances[1].iou.reset();
  const json j = segment_result_json(r);
  EXPECT_EQ(j.at("scores").dump(), "[0.123457,0.123457]");
  EXPECT_EQ(j.at("boxes").at(0).dump(), "[0.0,0.5,1.0,0.25]");
  EXPECT_EQ(j.at("ious").dump(), "[0.8,null]");
  EXPECT_EQ(j.at("num_masks"), 2);
  EXPECT_FALSE(j.contains("prompt"));
  for (const auto& b : j.at("boxes"))
    for (const auto& v : b) {
      EXPECT_GE(v.get<double>(), 0.0);
      EXPECT_LE(v.get<double>(), 1.0);
    }
}

TEST(ResultJson, MasksDecodeBack) {
  const json j = segment_result_json(dog());
  const Rle rle = rle_from_json(j.at("masks").at(0));
  EXPECT_EQ(rle.height, 2);
  EXPECT_EQ(rle.width, 4);
  EXPECT_EQ(mask_from_rle(rle).data, dog().instances[0].mask.data);
}

TEST(ResultJson, BatchLines) {
  const json ok = batch_result_line("file", "images/a.jpg", dog());
  EXPECT_EQ(ok.at("file"), "images/a.jpg");
  EXPECT_EQ(ok.at("num_masks"), 1);
  EXPECT_EQ(ok.at("masks").at(0).at("counts"), "143");
  EXPECT_EQ(batch_error_line("id", "img-7", 3, "invalid_input", "cannot decode png image").dump(),
            R"({"error":{"code":3,"message":"cannot decode png image","type":"invalid_input"},"id":"img-7"})");
}

TEST(ResultJson, ErrorDocuments) {
  EXPECT_EQ(error_json(404, "not_found", "session 'x' does not exist").dump(),
            R"({"error":{"code":404,"message":"session 'x' does not exist","type":"not_found"}})");
  EXPECT_EQ(error_json(400, InvalidInput("bad box")).dump(),
            R"({"error":{"code":400,"message":"bad box","type":"invalid_input"}})");
  EXPECT_EQ(error_json(413, TooLarge("too big")).at("error").at("type"), "too_large");
  EXPECT_EQ(error_json(500, std::runtime_error("boom")).at("error").at("type"), "internal");
}

TEST(ResultJson, VideoFrameLine) {
  SegmentResult f = dog();
  f.instances[0].obj_id = 3;
  EXPECT_EQ(video_frame_json(5, f).dump(), R"({"frame_index":5,"objects":[{"box":[0.0,0.0,0.75,1.0],"id":3,)"
                                           R"("mask":{"counts":"143","size":[2,4]},"score":0.75}]})");
  f.instances[0].obj_id.reset();
  EXPECT_EQ(video_objects_json(f).at(0).at("id"), 0);
  EXPECT_EQ(video_frame_json(0, SegmentResult{4, 2, "", {}}).dump(), R"({"frame_index":0,"objects":[]})");
}

TEST(ResultJson, CocoResults) {
  SegmentResult r = dog();
  r.instances[0].box_xyxy = {0.5f, 0.25f, 3.125f, 2.f};
  EXPECT_EQ(coco_results_json(r, 42, 7).dump(),
            R"([{"bbox":[0.5,0.25,2.625,1.75],"category_id":7,"image_id":42,"prompt":"dog","score":0.75,)"
            R"("segmentation":{"counts":"143","size":[2,4]}}])");
  EXPECT_EQ(coco_results_json(SegmentResult{4, 2, "", {}}, 1).dump(), "[]");
}

TEST(ResultJson, RleFromJsonValidates) {
  EXPECT_THROW(rle_from_json(json::array()), InvalidInput);
  EXPECT_THROW(rle_from_json(json{{"counts", "143"}}), InvalidInput);
  EXPECT_THROW(rle_from_json(json{{"size", {2}}, {"counts", "143"}}), InvalidInput);
  EXPECT_THROW(rle_from_json(json{{"size", {2, "4"}}, {"counts", "143"}}), InvalidInput);
  EXPECT_THROW(rle_from_json(json{{"size", {-2, 4}}, {"counts", "143"}}), InvalidInput);
  EXPECT_THROW(rle_from_json(json{{"size", {2, 4}}, {"counts", json::array({1, 4, 3})}}), InvalidInput);
  SegmentResult bad = dog();
  bad.instances[0].mask.data.pop_back();
  EXPECT_THROW(segment_result_json(bad), InvalidInput);
}

}  // namespace
}  // namespace sam3::formats
