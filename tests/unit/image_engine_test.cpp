// SPDX-License-Identifier: Apache-2.0
// The processor post-processing on hand-made tensors, and the image engine's
// plumbing on a random-weight tiny model (no checkpoint download, no goldens;
// the engine tests need the CLIP BPE vocabulary and skip without it).
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/checkpoint/safetensors.h"
#include "core/errors.h"
#include "core/image_engine.h"
#include "core/image_state.h"
#include "core/model/postprocess.h"
#include "core/model/sam3_image.h"
#include "test_util.h"

namespace sam3::core {
namespace {

float logit(float p) { return std::log(p / (1.f - p)); }

TEST(Postprocess, ThresholdIsStrictAndKeepsQueryOrder) {
  c10::InferenceMode guard;
  // presence 0.5 halves every probability: 0.9 -> 0.45, 0.8 -> 0.4, 0.2 -> 0.1.
  auto logits = torch::tensor({logit(0.2f), logit(0.9f), logit(0.8f)}).reshape({3, 1});
  auto boxes = torch::tensor({0.5f, 0.5f, 0.2f, 0.2f, 0.25f, 0.5f, 0.5f, 1.0f, 0.75f, 0.25f, 0.1f, 0.5f}).reshape({3, 4});
  auto presence = torch::zeros({1});
  auto masks = torch::zeros({3, 4, 4});
  Detections d = select_detections(logits, boxes, presence, masks, 200, 100, 0.4f);
  ASSERT_EQ(d.keep_idx.numel(), 1);  // 0.4 itself is not kept (strict >)
  EXPECT_EQ(d.keep_idx[0].item<int64_t>(), 1);
  EXPECT_NEAR(d.scores[0].item<float>(), 0.45f, 1e-6);
  // cxcywh (0.25, 0.5, 0.5, 1.0) -> xyxy (0, 0, 0.5, 1) * (200, 100).
  auto b = d.boxes_xyxy[0];
  EXPECT_FLOAT_EQ(b[0].item<float>(), 0.f);
  EXPECT_FLOAT_EQ(b[1].item<float>(), 0.f);
  EXPECT_FLOAT_EQ(b[2].item<float>(), 100.f);
  EXPECT_FLOAT_EQ(b[3].item<float>(), 100.f);

  Detections all = select_detections(logits, boxes, presence, masks, 200, 100, 0.05f);
  ASSERT_EQ(all.keep_idx.numel(), 3);
  EXPECT_TRUE(torch::equal(all.keep_idx, torch::tensor({0, 1, 2}, torch::kInt64)));
}

TEST(Postprocess, MasksAreUpsampledLogitsAboveZero) {
  c10::InferenceMode guard;
  // Left column positive, right column negative: the upsampled boundary sits in the middle.
  auto m = torch::tensor({4.f, -4.f, 4.f, -4.f}).reshape({2, 2});
  auto up = upsample_mask(m, 8, 6);
  ASSERT_EQ(up.sizes(), (std::vector<int64_t>{6, 8}));
  EXPECT_EQ(up.scalar_type(), torch::kBool);
  for (int64_t y = 0; y < 6; ++y)
    for (int64_t x = 0; x < 8; ++x) EXPECT_EQ(up[y][x].item<bool>(), x < 4) << y << "," << x;

  auto logits = torch::full({1, 1}, 10.f);
  auto boxes = torch::tensor({0.5f, 0.5f, 1.f, 1.f}).reshape({1, 4});
  auto r = postprocess_grounding(logits, boxes, torch::Tensor(), m.unsqueeze(0), 8, 6, 0.5f, "thing");
  EXPECT_EQ(r.prompt, "thing");
  EXPECT_EQ(r.width, 8);
  EXPECT_EQ(r.height, 6);
  ASSERT_EQ(r.instances.size(), 1u);
  const auto& inst = r.instances[0];
  EXPECT_EQ(inst.mask.width, 8);
  EXPECT_EQ(inst.mask.height, 6);
  ASSERT_EQ(inst.mask.data.size(), 48u);
  EXPECT_EQ(inst.mask.data[0], 1);
  EXPECT_EQ(inst.mask.data[7], 0);
  EXPECT_FLOAT_EQ(inst.box_xyxy[2], 8.f);
  EXPECT_FALSE(inst.iou.has_value());
}

TEST(Postprocess, RejectsInconsistentShapes) {
  c10::InferenceMode guard;
  EXPECT_THROW(select_detections(torch::zeros({3, 1}), torch::zeros({2, 4}), {}, torch::zeros({3, 4, 4}), 4, 4, 0.5f),
               InvalidInput);
  EXPECT_THROW(select_detections(torch::zeros({3, 1}), torch::zeros({3, 4}), {}, torch::zeros({3, 4, 4}), 0, 4, 0.5f),
               InvalidInput);
}

// ---- the engine on a random-weight tiny model ------------------------------------------

// A tiny model folder: config.json + weights.safetensors with official names.
struct TinyModelDir {
  test::TempDir tmp;
  TinyModelDir() {
    c10::InferenceMode guard;
    torch::manual_seed(7);
    Sam3Config cfg = Sam3Config::tiny();
    Sam3Image net(cfg);
    TensorMap t;
    for (const auto& p : net->named_parameters(true)) t.emplace("detector." + p.key(), p.value());
    for (const auto& b : net->named_buffers(true)) t.emplace("detector." + b.key(), b.value());
    save_safetensors(tmp.file("weights.safetensors"), t);
    std::ofstream(tmp.file("config.json")) << cfg.to_json().dump();
  }
  ModelOptions options() const {
    ModelOptions o;
    o.model_dir = tmp.path().string();
    o.bpe_path = test::golden_bpe_path();
    o.threads = 1;
    return o;
  }
};

const TinyModelDir& tiny_dir() {
  static TinyModelDir d;
  return d;
}

std::shared_ptr<const Sam3Model> tiny_model() {
  static auto m = load_model(tiny_dir().options());
  return m;
}

formats::Image test_image(int w, int h) {
  formats::Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(static_cast<size_t>(w) * static_cast<size_t>(h) * 3);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = static_cast<uint8_t>((i * 37) % 251);
  return img;
}

TEST(ImageEngine, LoadsAndDescribesTheModel) {
  SAM3_REQUIRE_BPE();
  ModelInfo info = describe(*tiny_model());
  EXPECT_EQ(info.image_size, 252);
  EXPECT_EQ(info.device, "cpu");
  EXPECT_EQ(info.dtype, "fp32");
  EXPECT_GT(info.num_parameters, 1'000'000);
  EXPECT_GT(info.memory_mb, 1.0);
  EXPECT_FALSE(info.interactive);
  EXPECT_NE(info.checkpoint.find("weights.safetensors"), std::string::npos);
}

TEST(ImageEngine, SegmentsTextAndBoxesWithTheThreshold) {
  SAM3_REQUIRE_BPE();
  const ImageEngine engine(tiny_model());
  const auto state = engine.set_image(test_image(64, 48));
  EXPECT_GT(ImageEngine::state_bytes(*state), 0);

  Prompt p;
  p.text = "a red car";
  p.confidence_threshold = 0.f;  // every query (20 in the tiny config)
  auto r = engine.segment(*state, p);
  EXPECT_EQ(r.prompt, "a red car");
  EXPECT_EQ(r.width, 64);
  EXPECT_EQ(r.height, 48);
  ASSERT_EQ(r.instances.size(), 20u);
  for (const auto& inst : r.instances) {
    EXPECT_GT(inst.score, 0.f);
    EXPECT_LT(inst.score, 1.f);
    EXPECT_EQ(inst.mask.data.size(), 64u * 48u);
  }
  p.confidence_threshold = 1.f;
  EXPECT_TRUE(engine.segment(*state, p).instances.empty());

  // Boxes only: grounded with the text "visual"; the result names no prompt.
  Prompt boxes;
  boxes.boxes = {{0.5f, 0.5f, 0.3f, 0.4f, true}, {0.2f, 0.2f, 0.1f, 0.1f, false}};
  boxes.confidence_threshold = 0.f;
  auto rb = engine.segment(*state, boxes);
  EXPECT_EQ(rb.prompt, "");
  EXPECT_EQ(rb.instances.size(), 20u);
  Prompt visual;
  visual.text = "visual";
  visual.boxes = boxes.boxes;
  visual.confidence_threshold = 0.f;
  auto rv = engine.segment(*state, visual);
  ASSERT_EQ(rv.instances.size(), rb.instances.size());
  for (size_t i = 0; i < rb.instances.size(); ++i) EXPECT_EQ(rv.instances[i].score, rb.instances[i].score);

  // The cached state is read only: the same prompt gives the same answer again.
  auto again = engine.segment(*state, p.text ? p : p);
  EXPECT_TRUE(again.instances.empty());
  p.confidence_threshold = 0.f;
  auto r2 = engine.segment(*state, p);
  ASSERT_EQ(r2.instances.size(), r.instances.size());
  for (size_t i = 0; i < r.instances.size(); ++i) {
    EXPECT_EQ(r2.instances[i].score, r.instances[i].score);
    EXPECT_EQ(r2.instances[i].mask.data, r.instances[i].mask.data);
  }
}

TEST(ImageEngine, SegmentTextsBatchesLikeSinglePrompts) {
  SAM3_REQUIRE_BPE();
  const ImageEngine engine(tiny_model());
  const auto state = engine.set_image(test_image(40, 30));
  const std::vector<std::string> texts = {"shoe", "a red car", "person in blue vest", "dog", "cat", "tree"};
  auto batched = engine.segment_texts(*state, texts, 0.f);
  ASSERT_EQ(batched.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    Prompt p;
    p.text = texts[i];
    p.confidence_threshold = 0.f;
    auto single = engine.segment(*state, p);
    EXPECT_EQ(batched[i].prompt, texts[i]);
    ASSERT_EQ(batched[i].instances.size(), single.instances.size());
    for (size_t k = 0; k < single.instances.size(); ++k)
      EXPECT_NEAR(batched[i].instances[k].score, single.instances[k].score, 1e-5) << texts[i];
  }
  EXPECT_TRUE(engine.segment_texts(*state, {}, 0.5f).empty());
  EXPECT_THROW(engine.segment_texts(*state, {"ok", "  "}, 0.5f), InvalidInput);
}

TEST(ImageEngine, RejectsBadInput) {
  SAM3_REQUIRE_BPE();
  const ImageEngine engine(tiny_model());
  EXPECT_THROW(engine.set_image(formats::Image{}), InvalidInput);
  formats::Image short_rgb = test_image(8, 8);
  short_rgb.rgb.resize(10);
  EXPECT_THROW(engine.set_image(short_rgb), InvalidInput);

  const auto state = engine.set_image(test_image(16, 16));
  EXPECT_THROW(engine.segment(*state, Prompt{}), InvalidInput);  // nothing to segment
  Prompt blank;
  blank.text = "   ";
  EXPECT_THROW(engine.segment(*state, blank), InvalidInput);
  Prompt nan_box;
  nan_box.boxes = {{NAN, 0.5f, 0.1f, 0.1f, true}};
  EXPECT_THROW(engine.segment(*state, nan_box), InvalidInput);
  Prompt negative;
  negative.boxes = {{0.5f, 0.5f, -0.1f, 0.1f, true}};
  EXPECT_THROW(engine.segment(*state, negative), InvalidInput);
  Prompt points;
  points.points = {{0.5f, 0.5f, true}};
  EXPECT_THROW(engine.segment(*state, points), InvalidInput);  // no interactive head in this model
}

TEST(ImageEngine, LoadOptionsAreChecked) {
  SAM3_REQUIRE_BPE();
  ModelOptions o = tiny_dir().options();
  o.dtype = "fp16";
  EXPECT_THROW(load_model(o), InvalidInput);
  o = tiny_dir().options();
  o.resolution = 1008;
  EXPECT_THROW(load_model(o), InvalidInput);
  o = tiny_dir().options();
  o.device = "tpu";
  EXPECT_THROW(load_model(o), InvalidInput);
  o = tiny_dir().options();
  o.model_dir = tiny_dir().tmp.file("nope");
  EXPECT_THROW(load_model(o), ModelMissing);
  EXPECT_THROW(load_model(ModelOptions{}), ModelMissing);
  EXPECT_THROW(ImageEngine(nullptr), ModelMissing);
}

TEST(ImageEngine, MismatchedCheckpointFailsLoudly) {
  SAM3_REQUIRE_BPE();
  test::TempDir tmp;
  {
    c10::InferenceMode guard;
    Sam3Config cfg = Sam3Config::tiny();
    Sam3Image net(cfg);
    TensorMap t;
    for (const auto& p : net->named_parameters(true))
      if (p.key() != "dot_prod_scoring.hs_proj.bias") t.emplace("detector." + p.key(), p.value());
    for (const auto& b : net->named_buffers(true)) t.emplace("detector." + b.key(), b.value());
    save_safetensors(tmp.file("weights.safetensors"), t);
    std::ofstream(tmp.file("config.json")) << cfg.to_json().dump();
  }
  ModelOptions o;
  o.model_dir = tmp.path().string();
  o.bpe_path = test::golden_bpe_path();
  try {
    load_model(o);
    ADD_FAILURE() << "a checkpoint without dot_prod_scoring.hs_proj.bias loaded";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("dot_prod_scoring.hs_proj.bias"), std::string::npos) << e.what();
  }
}

TEST(ImageEngine, PointsRunTheInteractiveHead) {
  SAM3_REQUIRE_BPE();
  Sam3Model const* raw = nullptr;
  std::shared_ptr<const Sam3Model> model;
  {
    c10::InferenceMode guard;
    torch::manual_seed(11);
    Sam3Config cfg = Sam3Config::tiny();
    cfg.enable_inst_interactivity = true;
    model = make_model(cfg, Sam3Image(cfg), std::make_shared<const Tokenizer>(test::golden_bpe_path()), "cpu", false);
    raw = model.get();
  }
  ASSERT_TRUE(raw->net().has_interactive_head());
  EXPECT_TRUE(describe(*model).interactive);
  const ImageEngine engine(model);
  const auto state = engine.set_image(test_image(50, 40));
  // set_image prepared the SAM features once (conv_s0/s1 projections + no_mem_embed).
  ASSERT_TRUE(state->sam_features.image_embed.defined());
  ASSERT_EQ(state->sam_features.high_res.size(), 2u);
  EXPECT_TRUE(state->features.sam2_fpn.empty());

  Prompt p;
  p.points = {{0.3f, 0.4f, true}, {0.8f, 0.2f, false}};
  auto r = engine.segment(*state, p);
  ASSERT_EQ(r.instances.size(), 3u);  // multimask
  for (const auto& inst : r.instances) {
    ASSERT_TRUE(inst.iou.has_value());
    EXPECT_EQ(inst.score, *inst.iou);
    EXPECT_EQ(inst.mask.width, 50);
    EXPECT_EQ(inst.mask.height, 40);
  }
  p.multimask = false;
  p.boxes = {{0.5f, 0.5f, 0.4f, 0.4f, true}};
  EXPECT_EQ(engine.segment(*state, p).instances.size(), 1u);
  p.boxes.push_back(p.boxes[0]);
  EXPECT_THROW(engine.segment(*state, p), InvalidInput);  // one interactive box at most

  // Text prompts still go through the detector on the same state.
  Prompt t;
  t.text = "shoe";
  t.confidence_threshold = 0.f;
  EXPECT_EQ(engine.segment(*state, t).instances.size(), 20u);
}

// sam3.pt layout: the interactive head's SAM parts under "tracker.", the sam2
// neck under the detector; a config that does not mention it follows the file.
TEST(ImageEngine, LoadsTheInteractiveHeadFromTrackerNames) {
  SAM3_REQUIRE_BPE();
  test::TempDir tmp;
  {
    c10::InferenceMode guard;
    Sam3Config cfg = Sam3Config::tiny();
    cfg.enable_inst_interactivity = true;
    Sam3Image net(cfg);
    const std::string inst = "inst_interactive_predictor.model.";
    TensorMap t;
    auto put = [&](const std::string& k, const torch::Tensor& v) {
      t.emplace(k.rfind(inst, 0) == 0 ? "tracker." + k.substr(inst.size()) : "detector." + k, v);
    };
    for (const auto& p : net->named_parameters(true)) put(p.key(), p.value());
    for (const auto& b : net->named_buffers(true)) put(b.key(), b.value());
    save_safetensors(tmp.file("weights.safetensors"), t);
    cfg.enable_inst_interactivity = false;
    std::ofstream(tmp.file("config.json")) << cfg.to_json().dump();
  }
  ModelOptions o;
  o.model_dir = tmp.path().string();
  o.bpe_path = test::golden_bpe_path();
  auto model = load_model(o);
  EXPECT_TRUE(describe(*model).interactive);
}

TEST(ImageEngine, Bf16BackboneKeepsFloatFeatures) {
  SAM3_REQUIRE_BPE();
  ModelOptions o = tiny_dir().options();
  o.dtype = "bf16";
  auto model = load_model(o);
  EXPECT_EQ(describe(*model).dtype, "bf16");
  const ImageEngine engine(model);
  const auto img = test_image(32, 32);
  const auto state = engine.set_image(img);
  for (const auto& t : state->features.fpn) EXPECT_EQ(t.scalar_type(), torch::kFloat32);
  Prompt p;
  p.text = "shoe";
  p.confidence_threshold = 0.f;
  auto r = engine.segment(*state, p);
  EXPECT_EQ(r.instances.size(), 20u);
  // Close to fp32 (random weights: loose bound; golden numbers are in the parity test).
  const ImageEngine fp32(tiny_model());
  auto r32 = fp32.segment(*fp32.set_image(img), p);
  ASSERT_EQ(r32.instances.size(), r.instances.size());
  double max_diff = 0;
  for (size_t i = 0; i < r.instances.size(); ++i)
    max_diff = std::max(max_diff, static_cast<double>(std::abs(r.instances[i].score - r32.instances[i].score)));
  std::cout << "[engine] bf16 vs fp32 max score diff (random tiny model): " << max_diff << std::endl;
  EXPECT_LT(max_diff, 0.2);
}

}  // namespace
}  // namespace sam3::core
