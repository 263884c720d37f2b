// SPDX-License-Identifier: Apache-2.0
// End-to-end parity of the image engine with the reference processor on the
// three golden cases of shared/golden/image_tiny: PNG -> set_image -> prompts
// (text, text + box, boxes only with the text "visual") -> detections. Also
// the assembled Sam3Image from golden stage inputs (backbone from the golden
// preprocessed input; grounding from golden neck levels and text features),
// which localises an end-to-end difference to a stage.
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/state_dict.h"
#include "core/image_engine.h"
#include "core/image_state.h"
#include "core/model/preprocess.h"
#include "core/model/sam3_image.h"
#include "formats/image_io.h"
#include "golden_util.h"

namespace sam3::core {
namespace {

using test::expect_close;
using test::report_diff;
using test::TensorDiff;
using test::Tolerance;

std::string dir() { return test::image_tiny_dir(); }

nlohmann::json case_json(const std::string& name) {
  std::ifstream in(dir() + name + ".json");
  return nlohmann::json::parse(in);
}

// One model for every test of this file (loading is the slow part).
std::shared_ptr<const Sam3Model> model() {
  static std::shared_ptr<const Sam3Model> m = [] {
    ModelOptions o;
    o.model_dir = dir();
    o.bpe_path = test::golden_dir() + "/bpe_simple_vocab_16e6.txt.gz";
    return load_model(o);
  }();
  return m;
}

// The processor's call sequence of a case, as one engine prompt.
Prompt case_prompt(const nlohmann::json& j) {
  Prompt p;
  const auto& pr = j.at("prompts");
  if (!pr.at("text").is_null()) p.text = pr.at("text").get<std::string>();
  for (const auto& b : pr.at("boxes")) {
    auto v = b.at("cxcywh_normalized").get<std::vector<float>>();
    p.boxes.push_back({v[0], v[1], v[2], v[3], b.at("label").get<bool>()});
  }
  p.confidence_threshold = j.at("processor").at("confidence_threshold").get<float>();
  return p;
}

// Boxes [N, 4] and labels [N] of a case, as add_geometric_prompt accumulates them.
std::pair<torch::Tensor, torch::Tensor> case_boxes(const nlohmann::json& j) {
  std::vector<float> flat;
  std::vector<int64_t> labels;
  for (const auto& b : j.at("prompts").at("boxes")) {
    for (float v : b.at("cxcywh_normalized").get<std::vector<float>>()) flat.push_back(v);
    labels.push_back(b.at("label").get<bool>() ? 1 : 0);
  }
  if (labels.empty()) return {};
  const auto n = static_cast<int64_t>(labels.size());
  return {torch::tensor(flat).reshape({n, 4}), torch::tensor(labels).to(torch::kBool)};
}

class ImageE2EParity : public ::testing::TestWithParam<std::string> {};

TEST(ImageModelLoad, GoldenWeightsLoadStrictly) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  Sam3Image net(Sam3Config::from_file(dir() + "config.json"));
  const auto weights = load_safetensors(dir() + "weights.safetensors");
  LoadReport r = load_state_dict(*net, weights, "detector.");
  std::cout << "[parity] loaded " << r.loaded << " of " << weights.size() << " tensors" << std::endl;
  EXPECT_TRUE(r.ok()) << r.summary();
  EXPECT_EQ(r.loaded, weights.size());
}

// The full-size module tree (with the interactive head) has exactly the names
// and shapes of the official sam3.pt (shared/golden/full_manifest.json).
// It allocates the 860 M parameters (3.4 GB of RAM, ~4 s here), which the
// 24 GiB CI machine affords, so it runs by default.
TEST(ImageModelLoad, FullConfigMatchesOfficialManifest) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  std::ifstream in(test::golden_dir() + "/full_manifest.json");
  const auto manifest = nlohmann::json::parse(in).at("checkpoint_keys");
  Sam3Config cfg = Sam3Config::full();
  cfg.enable_inst_interactivity = true;
  Sam3Image net(cfg);
  const std::string inst = "inst_interactive_predictor.model.";
  std::map<std::string, std::vector<int64_t>> ours;
  auto put = [&](const std::string& k, const torch::Tensor& v) {
    ours[k.rfind(inst, 0) == 0 ? "tracker." + k.substr(inst.size()) : "detector." + k] = v.sizes().vec();
  };
  for (const auto& p : net->named_parameters(true)) put(p.key(), p.value());
  for (const auto& b : net->named_buffers(true)) put(b.key(), b.value());
  size_t missing = 0, mismatched = 0;
  for (const auto& [name, spec] : manifest.items()) {
    auto shape = spec.at("shape").get<std::vector<int64_t>>();
    if (spec.at("dtype").get<std::string>().find("complex") != std::string::npos) shape.push_back(2);
    auto it = ours.find(name);
    if (it == ours.end()) {
      ++missing;
      ADD_FAILURE() << "module lacks " << name;
    } else if (it->second != shape) {
      ++mismatched;
      ADD_FAILURE() << name << ": module " << c10::IntArrayRef(it->second) << ", checkpoint " << c10::IntArrayRef(shape);
    }
  }
  for (const auto& [name, shape] : ours)
    if (!manifest.contains(name)) ADD_FAILURE() << "module has " << name << ", not in the official checkpoint";
  std::cout << "[parity] full model: " << ours.size() << " tensors, manifest " << manifest.size() << ", missing "
            << missing << ", mis-shaped " << mismatched << std::endl;
  EXPECT_EQ(ours.size(), manifest.size());
}

// Backbone from the golden preprocessed input; the image preprocessing itself.
TEST_P(ImageE2EParity, BackboneFromGoldenInput) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  const auto g = load_safetensors(dir() + GetParam() + ".safetensors");
  const auto img = formats::read_image_file(dir() + GetParam() + ".png");
  const auto pixels = preprocess_image(img, model()->config().image_size);
  // README: one grey level (2/255 after the [-1, 1] scaling).
  TensorDiff e = report_diff(GetParam() + " input.preprocessed", pixels, g.at("input.preprocessed"));
  EXPECT_LE(e.max_abs, 2.0 / 255.0 + 1e-6);

  BackboneFeatures f = compute_image_features(*model(), g.at("input.preprocessed"));
  ASSERT_EQ(f.fpn.size(), 3u);
  for (int i = 0; i < 3; ++i)
    expect_close(GetParam() + " neck.fpn." + std::to_string(i), f.fpn[static_cast<size_t>(i)],
                 g.at("neck.fpn." + std::to_string(i)), Tolerance::absolute_or_relative(1e-3, 1e-3));
  const auto g0 = load_safetensors(dir() + "case0_text.safetensors");
  for (int i = 0; i < 3; ++i)
    expect_close(GetParam() + " neck.pos." + std::to_string(i), f.pos[static_cast<size_t>(i)],
                 g0.at("neck.pos." + std::to_string(i)), Tolerance::absolute(1e-5));
}

// forward_grounding from golden neck levels and text features.
TEST_P(ImageE2EParity, GroundingFromGoldenStageInputs) {
  SAM3_REQUIRE_GOLDEN();
  c10::InferenceMode guard;
  const auto j = case_json(GetParam());
  const auto g = load_safetensors(dir() + GetParam() + ".safetensors");
  const auto g0 = load_safetensors(dir() + "case0_text.safetensors");
  BackboneFeatures f;
  for (int i = 0; i < 3; ++i) {
    f.fpn.push_back(g.at("neck.fpn." + std::to_string(i)));
    f.pos.push_back(g0.at("neck.pos." + std::to_string(i)));
  }
  // Text: tokenizer and text encoder of the model against the golden.
  const std::string text = j.at("prompts").at("text_used_by_model").get<std::string>();
  TextFeatures t = compute_text_features(*model(), {text});
  EXPECT_TRUE(torch::equal(
      torch::tensor(model()->tokenizer().tokenize({text}, 32)[0]).reshape({1, 32}), g.at("text.token_ids")));
  expect_close(GetParam() + " text.language_features", t.features, g.at("text.language_features"));
  EXPECT_TRUE(torch::equal(t.mask, g.at("text.language_mask")));

  TextFeatures golden_text{g.at("text.language_features"), g.at("text.language_mask")};
  auto [boxes, labels] = case_boxes(j);
  GroundingTrace trace;
  GroundingOutput out = model()->net().forward_grounding(f, golden_text, boxes, labels, &trace);
  const std::string c = GetParam() + " ";
  expect_close(c + "geo.out", trace.geometry.tokens, g.at("geo.out"));
  EXPECT_TRUE(torch::equal(trace.geometry.mask, g.at("geo.mask")));
  expect_close(c + "prompt.tokens", trace.prompt.tokens, g.at("prompt.tokens"));
  EXPECT_TRUE(torch::equal(trace.prompt.mask, g.at("prompt.mask")));
  expect_close(c + "encoder.memory", trace.encoder.memory, g.at("encoder.memory"));
  expect_close(c + "decoder.hs", trace.decoder.hs, g.at("decoder.hs").transpose(1, 2));
  expect_close(c + "decoder.ref_boxes", trace.decoder.ref_boxes, g.at("decoder.ref_boxes").transpose(1, 2));
  expect_close(c + "out.pred_logits", out.pred_logits, g.at("out.pred_logits"));
  expect_close(c + "out.pred_boxes", out.pred_boxes, g.at("out.pred_boxes"));
  expect_close(c + "out.presence_logit_dec", out.presence_logit_dec, g.at("out.presence_logit_dec"));
  expect_close(c + "seg.pixel_embed", trace.segmentation.pixel_embed, g.at("seg.pixel_embed"));
  expect_close(c + "out.pred_masks", out.pred_masks, g.at("out.pred_masks"),
               Tolerance::absolute_or_relative(1e-4, 1e-4));
}

// The acceptance criterion: PNG in, processor outputs out.
TEST_P(ImageE2EParity, EngineMatchesProcessorOutputs) {
  SAM3_REQUIRE_GOLDEN();
  const auto j = case_json(GetParam());
  const auto g = load_safetensors(dir() + GetParam() + ".safetensors");
  const ImageEngine engine(model());
  const auto img = formats::read_image_file(dir() + GetParam() + ".png");
  ASSERT_EQ(img.width, j.at("image_size").at("width").get<int>());
  ASSERT_EQ(img.height, j.at("image_size").at("height").get<int>());
  const auto state = engine.set_image(img);
  const formats::SegmentResult r = engine.segment(*state, case_prompt(j));

  const torch::Tensor want_scores = g.at("proc.scores");
  const torch::Tensor want_boxes = g.at("proc.boxes_xyxy_px");
  const torch::Tensor want_masks = g.at("proc.masks");
  const auto n = static_cast<size_t>(want_scores.size(0));
  std::cout << "[parity] " << GetParam() << ": " << r.instances.size() << " detections, golden " << n << std::endl;
  ASSERT_EQ(r.instances.size(), n) << "kept detections differ";
  EXPECT_EQ(r.width, img.width);
  EXPECT_EQ(r.height, img.height);
  double max_score = 0, max_box = 0, min_iou = 1;
  for (size_t i = 0; i < n; ++i) {
    const auto& inst = r.instances[i];
    const auto k = static_cast<int64_t>(i);
    max_score = std::max(max_score, std::abs(static_cast<double>(inst.score) - want_scores[k].item<double>()));
    for (int c = 0; c < 4; ++c)
      max_box = std::max(max_box, std::abs(static_cast<double>(inst.box_xyxy[static_cast<size_t>(c)]) -
                                           want_boxes[k][c].item<double>()));
    ASSERT_EQ(inst.mask.width, img.width);
    ASSERT_EQ(inst.mask.height, img.height);
    const torch::Tensor got = torch::from_blob(const_cast<uint8_t*>(inst.mask.data.data()),
                                               {img.height, img.width}, torch::kUInt8).to(torch::kBool);
    const torch::Tensor want = want_masks[k].to(torch::kBool);
    const double inter = (got & want).sum().item<double>();
    const double uni = (got | want).sum().item<double>();
    min_iou = std::min(min_iou, uni > 0 ? inter / uni : 1.0);
  }
  std::cout << "[parity] " << GetParam() << ": max score err=" << max_score << " max box err px=" << max_box
            << " min mask IoU=" << min_iou << std::endl;
  EXPECT_LE(max_score, 1e-3);
  EXPECT_LE(max_box, 0.5);
  EXPECT_GE(min_iou, 0.995);

  // The kept query indices: from the engine's own grounding on the same state.
  c10::InferenceMode guard;
  const std::string text = j.at("prompts").at("text_used_by_model").get<std::string>();
  auto [boxes, labels] = case_boxes(j);
  GroundingOutput out = model()->net().forward_grounding(state->features, compute_text_features(*model(), {text}),
                                                         boxes, labels);
  const torch::Tensor probs = (out.pred_logits[0].squeeze(-1).sigmoid() * out.presence_logit_dec[0].sigmoid());
  expect_close(GetParam() + " e2e proc.probs", probs, g.at("proc.probs"), Tolerance::absolute(1e-3));
  const torch::Tensor keep = torch::nonzero(probs > case_prompt(j).confidence_threshold).reshape({-1});
  EXPECT_TRUE(torch::equal(keep, g.at("proc.keep_idx"))) << keep << " vs " << g.at("proc.keep_idx");
  expect_close(GetParam() + " e2e out.pred_boxes", out.pred_boxes, g.at("out.pred_boxes"), Tolerance::absolute(1e-3));
}

INSTANTIATE_TEST_SUITE_P(Golden, ImageE2EParity, ::testing::ValuesIn(test::image_case_names()),
                         [](const auto& info) { return info.param; });

// segment_texts: the batched path gives what single prompts give.
TEST(ImageE2EBatch, SegmentTextsMatchesSinglePrompts) {
  SAM3_REQUIRE_GOLDEN();
  const ImageEngine engine(model());
  const auto img = formats::read_image_file(dir() + "case0_text.png");
  const auto state = engine.set_image(img);
  const std::vector<std::string> texts = {"red circle", "visual", "a blue square", "shoe", "person in blue vest"};
  const float thr = case_json("case0_text").at("processor").at("confidence_threshold").get<float>();
  const auto batched = engine.segment_texts(*state, texts, thr);
  ASSERT_EQ(batched.size(), texts.size());
  double max_score = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    Prompt p;
    p.text = texts[i];
    p.confidence_threshold = thr;
    const auto single = engine.segment(*state, p);
    EXPECT_EQ(batched[i].prompt, texts[i]);
    ASSERT_EQ(batched[i].instances.size(), single.instances.size()) << texts[i];
    for (size_t k = 0; k < single.instances.size(); ++k) {
      max_score = std::max(max_score, static_cast<double>(std::abs(batched[i].instances[k].score -
                                                                   single.instances[k].score)));
      EXPECT_EQ(batched[i].instances[k].mask.data, single.instances[k].mask.data) << texts[i] << " #" << k;
    }
  }
  std::cout << "[parity] segment_texts vs single prompts: max score diff=" << max_score << std::endl;
  EXPECT_LE(max_score, 1e-5);
}

// dtype "bf16": the backbone and text encoder run under bf16 autocast; the
// result stays close to the fp32 reference (not bit-exact: informational bounds).
TEST(ImageE2EBf16, CloseToTheFloat32Reference) {
  SAM3_REQUIRE_GOLDEN();
  ModelOptions o;
  o.model_dir = dir();
  o.bpe_path = test::golden_dir() + "/bpe_simple_vocab_16e6.txt.gz";
  o.dtype = "bf16";
  auto bf16 = load_model(o);
  c10::InferenceMode guard;
  const auto g = load_safetensors(dir() + "case1_text_box.safetensors");
  BackboneFeatures f = compute_image_features(*bf16, g.at("input.preprocessed"));
  TensorDiff e = report_diff("bf16 neck.fpn.2", f.fpn[2], g.at("neck.fpn.2"));
  EXPECT_GT(e.max_abs, 0.0) << "bf16 autocast had no effect";
  EXPECT_GE(e.cosine, 0.99);

  const auto j = case_json("case1_text_box");
  const ImageEngine engine(bf16);
  const auto state = engine.set_image(formats::read_image_file(dir() + "case1_text_box.png"));
  auto [boxes, labels] = case_boxes(j);
  GroundingOutput out = bf16->net().forward_grounding(
      state->features, compute_text_features(*bf16, {"red circle"}), boxes, labels);
  const torch::Tensor probs = out.pred_logits[0].squeeze(-1).sigmoid() * out.presence_logit_dec[0].sigmoid();
  TensorDiff p = report_diff("bf16 e2e proc.probs", probs, g.at("proc.probs"));
  TensorDiff m = report_diff("bf16 e2e out.pred_masks", out.pred_masks, g.at("out.pred_masks"));
  EXPECT_LE(p.max_abs, 0.05);
  EXPECT_GE(m.cosine, 0.99);
}

}  // namespace
}  // namespace sam3::core
