// SPDX-License-Identifier: Apache-2.0
// The image pipeline of core/image_pipeline.h on a random-weight tiny model
// (needs the CLIP BPE vocabulary of shared/golden): its results equal the
// engine's own, on one device or several, with batched backbones; per-input
// failures become error lines in place; the feature cache is used per device.
#include <algorithm>
#include <mutex>
#include <set>

#include "core/device_pool.h"
#include "core/errors.h"
#include "core/feature_cache.h"
#include "core/image_engine.h"
#include "core/image_pipeline.h"
#include "core/image_state.h"
#include "core/model/sam3_image.h"
#include "formats/result_json.h"
#include "model_util.h"
#include "test_util.h"

namespace sam3::core {
namespace {

std::shared_ptr<const Sam3Model> tiny_model() {
  static auto m = test::tiny_detector(5);
  return m;
}

formats::Image test_image(int w, int h, int salt) {
  formats::Image img{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * static_cast<size_t>(h) * 3)};
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = static_cast<uint8_t>((i * 31 + salt * 97) % 253);
  return img;
}

Prompt text_prompt() {
  Prompt p;
  p.text = "object";
  p.confidence_threshold = 0.0f;  // keep every detection: more to compare
  return p;
}

std::string line_of(size_t i, const formats::SegmentResult& r) {
  return formats::batch_result_line("index", std::to_string(i), r).dump();
}

// What the pipeline emitted, in emit order.
struct Collected {
  std::mutex mu;
  std::vector<PipelineOutput> outputs;
};

struct Inputs {
  std::vector<formats::Image> images;
  std::vector<Prompt> prompts;
  std::set<size_t> unreadable;
  bool with_cache_keys = false;

  PipelineCallbacks callbacks(Collected& c) const {
    PipelineCallbacks cb;
    cb.read = [this](size_t i) {
      if (unreadable.count(i)) throw InvalidInput("input " + std::to_string(i) + " is corrupt");
      return PipelineInput{images[i], prompts[i], with_cache_keys ? "image-" + std::to_string(i) : std::string()};
    };
    cb.encode = [](size_t i, const formats::SegmentResult& r) { return line_of(i, r); };
    cb.error = [](size_t i, const std::exception& e) { return std::string("error ") + std::to_string(i) + ": " + e.what(); };
    cb.emit = [&c](const PipelineOutput& o) {
      std::lock_guard<std::mutex> lk(c.mu);
      c.outputs.push_back(o);
    };
    return cb;
  }
};

Inputs make_run(size_t n) {
  Inputs r;
  for (size_t i = 0; i < n; ++i) {
    // Different sizes: groups mix originals of several sizes.
    r.images.push_back(test_image(48 + 8 * static_cast<int>(i % 3), 40 + 4 * static_cast<int>(i % 2), static_cast<int>(i)));
    r.prompts.push_back(text_prompt());
  }
  return r;
}

std::vector<std::string> expected_lines(const Inputs& run) {
  c10::InferenceMode guard;
  const ImageEngine engine(tiny_model());
  std::vector<std::string> out;
  for (size_t i = 0; i < run.images.size(); ++i) {
    try {
      out.push_back(line_of(i, engine.segment(*engine.set_image(run.images[i]), run.prompts[i])));
    } catch (const InvalidInput& e) {
      out.push_back(std::string("error ") + std::to_string(i) + ": " + e.what());
    }
  }
  return out;
}

TEST(ImagePipeline, EqualsTheEngineInInputOrderOnOneOrTwoDevices) {
  SAM3_REQUIRE_BPE();
  Inputs run = make_run(7);
  run.unreadable = {3};
  std::vector<std::string> expected = expected_lines(run);
  expected[3] = "error 3: input 3 is corrupt";
  for (size_t devices : {1u, 2u})
    for (int backbone_batch : {1, 3}) {
      SCOPED_TRACE("devices " + std::to_string(devices) + ", backbone batch " + std::to_string(backbone_batch));
      DevicePool pool(std::vector<std::shared_ptr<const Sam3Model>>(devices, tiny_model()), 8);
      PipelineOptions po;
      po.backbone_batch = backbone_batch;
      po.io_threads = 2;
      po.in_flight = 4;
      Collected c;
      const PipelineStats st = run_image_pipeline(pool, run.images.size(), po, run.callbacks(c));
      EXPECT_EQ(st.done, 7u);
      EXPECT_EQ(st.failed, 1u);
      EXPECT_GT(st.model_seconds, 0.0);
      ASSERT_EQ(c.outputs.size(), 7u);
      for (size_t i = 0; i < 7; ++i) {
        EXPECT_EQ(c.outputs[i].index, i) << "ordered output";
        EXPECT_EQ(c.outputs[i].failed, i == 3);
        EXPECT_EQ(c.outputs[i].line, expected[i]) << "input " << i;
      }
    }
}

TEST(ImagePipeline, UnorderedEmitsEveryInputOnce) {
  SAM3_REQUIRE_BPE();
  const Inputs run = make_run(6);
  DevicePool pool({tiny_model(), tiny_model()}, 8);
  PipelineOptions po;
  po.ordered = false;
  Collected c;
  run_image_pipeline(pool, run.images.size(), po, run.callbacks(c));
  std::vector<size_t> seen;
  for (const auto& o : c.outputs) seen.push_back(o.index);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<size_t>{0, 1, 2, 3, 4, 5}));
}

TEST(ImagePipeline, APromptTheModelRejectsFailsOnlyItsInput) {
  SAM3_REQUIRE_BPE();
  Inputs run = make_run(4);
  run.prompts[2] = Prompt{};  // no text, box or point
  const std::vector<std::string> expected = expected_lines(run);
  ASSERT_EQ(expected[2].rfind("error 2:", 0), 0u) << "the engine itself rejects the empty prompt: " << expected[2];
  DevicePool pool({tiny_model()}, 8);
  PipelineOptions po;
  po.backbone_batch = 2;  // the failing input shares its backbone forward with input 3
  Collected c;
  const PipelineStats st = run_image_pipeline(pool, run.images.size(), po, run.callbacks(c));
  EXPECT_EQ(st.failed, 1u);
  ASSERT_EQ(c.outputs.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(c.outputs[i].line, expected[i]) << "input " << i;
}

TEST(ImagePipeline, ReusesCachedFeaturesPerDevice) {
  SAM3_REQUIRE_BPE();
  Inputs run = make_run(4);
  run.with_cache_keys = true;
  const std::vector<std::string> expected = expected_lines(run);
  for (size_t devices : {1u, 2u}) {
    SCOPED_TRACE("devices " + std::to_string(devices));
    DevicePool pool(std::vector<std::shared_ptr<const Sam3Model>>(devices, tiny_model()), 8);
    FeatureCache cache(CacheOptions{});
    for (int pass = 0; pass < 2; ++pass) {
      Collected c;
      run_image_pipeline(pool, run.images.size(), PipelineOptions{}, run.callbacks(c), &cache);
      ASSERT_EQ(c.outputs.size(), 4u);
      for (const auto& o : c.outputs) {
        EXPECT_EQ(o.line, expected[o.index]) << "pass " << pass << ", input " << o.index;
        // One device: every second-pass input hits. Two: the replicas share
        // the device name "cpu", so any replica finds what another stored.
        EXPECT_EQ(o.cache_hit, pass == 1) << "pass " << pass << ", input " << o.index;
      }
    }
    // Entries are keyed by device.
    EXPECT_NE(cache.get(feature_cache_device_key("image-0", "cpu")), nullptr);
    EXPECT_EQ(cache.get("image-0"), nullptr);
  }
}

}  // namespace
}  // namespace sam3::core
