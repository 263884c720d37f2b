// SPDX-License-Identifier: Apache-2.0
// The image engine: Sam3Processor's set_image / set_text_prompt /
// add_geometric_prompt flow over the C++ Sam3Image, plus the interactive head
// for point prompts. Loading lives in model_loader.cpp.
#include <algorithm>
#include <chrono>
#include <cmath>

#include <ATen/autocast_mode.h>

#include "core/errors.h"
#include "core/image_engine.h"
#include "core/image_state.h"
#include "core/log.h"
#include "core/model/interactive_predictor.h"
#include "core/model/postprocess.h"
#include "core/model/preprocess.h"

namespace sam3::core {
namespace {

// Prompts grounded in one batch by segment_texts: bounds the per-prompt
// activations (pixel decoder and mask logits at 4x the grid) at full size.
constexpr int64_t kMaxGroundingBatch = 4;

// Enables bf16 autocast on the model's device for a scope, restoring the
// previous thread-local state afterwards.
class AutocastScope {
public:
  AutocastScope(bool enable, const torch::Device& device) : enable_(enable), cuda_(device.is_cuda()) {
    if (!enable_) return;
    if (cuda_) {
      prev_enabled_ = at::autocast::is_enabled();
      prev_dtype_ = at::autocast::get_autocast_gpu_dtype();
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      prev_enabled_ = at::autocast::is_cpu_enabled();
      prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
  }
  ~AutocastScope() {
    if (!enable_) return;
    if (cuda_) {
      at::autocast::set_enabled(prev_enabled_);
      at::autocast::set_autocast_gpu_dtype(prev_dtype_);
    } else {
      at::autocast::set_cpu_enabled(prev_enabled_);
      at::autocast::set_autocast_cpu_dtype(prev_dtype_);
    }
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

private:
  bool enable_, cuda_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

// Logs a stage's wall time at debug level (STYLE 8: named timing ranges).
class StageTimer {
public:
  explicit StageTimer(const char* stage) : stage_(stage), start_(std::chrono::steady_clock::now()) {}
  ~StageTimer() {
    SAM3_LOG_DBG(stage_ << ": " << std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count()
                        << " ms");
  }
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

private:
  const char* stage_;
  std::chrono::steady_clock::time_point start_;
};

torch::Tensor to_float(const torch::Tensor& t) {
  return t.defined() && t.scalar_type() != torch::kFloat32 ? t.to(torch::kFloat32) : t;
}

void check_unit_coordinate(float v, const char* what) {
  if (!std::isfinite(v)) throw InvalidInput(std::string("prompt: ") + what + " must be a finite number");
}

// Boxes as the processor builds them: [N, 4] float32 cxcywh and [N] bool labels.
std::pair<torch::Tensor, torch::Tensor> box_tensors(const std::vector<BoxPrompt>& boxes, const torch::Device& device) {
  std::vector<float> flat;
  std::vector<uint8_t> labels;
  for (size_t i = 0; i < boxes.size(); ++i) {
    const BoxPrompt& b = boxes[i];
    check_unit_coordinate(b.cx, "box cx");
    check_unit_coordinate(b.cy, "box cy");
    check_unit_coordinate(b.w, "box w");
    check_unit_coordinate(b.h, "box h");
    if (b.w < 0 || b.h < 0)
      throw InvalidInput("prompt: box " + std::to_string(i) + " has a negative size (w " + std::to_string(b.w) +
                         ", h " + std::to_string(b.h) + ")");
    flat.insert(flat.end(), {b.cx, b.cy, b.w, b.h});
    labels.push_back(b.positive ? 1 : 0);
  }
  const auto n = static_cast<int64_t>(boxes.size());
  torch::Tensor t = torch::from_blob(flat.data(), {n, 4}, torch::kFloat32).clone().to(device);
  torch::Tensor l = torch::from_blob(labels.data(), {n}, torch::kUInt8).to(torch::kBool).to(device);
  return {t, l};
}

// Tight pixel box of a binary mask (zeros when empty).
std::array<float, 4> mask_box(const formats::Mask& m) {
  int x0 = m.width, y0 = m.height, x1 = -1, y1 = -1;
  for (int y = 0; y < m.height; ++y)
    for (int x = 0; x < m.width; ++x)
      if (m.data[static_cast<size_t>(y) * static_cast<size_t>(m.width) + static_cast<size_t>(x)]) {
        x0 = std::min(x0, x);
        x1 = std::max(x1, x);
        y0 = std::min(y0, y);
        y1 = std::max(y1, y);
      }
  if (x1 < 0) return {0, 0, 0, 0};
  return {static_cast<float>(x0), static_cast<float>(y0), static_cast<float>(x1 + 1), static_cast<float>(y1 + 1)};
}

formats::SegmentResult segment_interactive(const Sam3Model& model, const ImageState& state, const Prompt& prompt) {
  Sam3ImageImpl& net = model.net();
  if (!net.has_interactive_head())
    throw InvalidInput("prompt: point prompts need the interactive head, which this checkpoint does not have "
                       "(use text or box prompts, or a model with enable_inst_interactivity)");
  if (prompt.boxes.size() > 1)
    throw InvalidInput("prompt: with points at most one box (the interactive box) may be given, got " +
                       std::to_string(prompt.boxes.size()));
  const auto W = static_cast<float>(state.width), H = static_cast<float>(state.height);
  const torch::Device dev = model.device();
  PredictInstPrompt p;
  std::vector<float> coords;
  std::vector<int64_t> labels;
  for (const PointPrompt& pt : prompt.points) {
    check_unit_coordinate(pt.x, "point x");
    check_unit_coordinate(pt.y, "point y");
    coords.insert(coords.end(), {pt.x * W, pt.y * H});
    labels.push_back(pt.positive ? 1 : 0);
  }
  const auto n = static_cast<int64_t>(prompt.points.size());
  p.point_coords = torch::from_blob(coords.data(), {n, 2}, torch::kFloat32).clone().to(dev);
  p.point_labels = torch::from_blob(labels.data(), {n}, torch::kInt64).clone().to(dev);
  if (!prompt.boxes.empty()) {
    const BoxPrompt& b = prompt.boxes[0];
    check_unit_coordinate(b.cx, "box cx");
    check_unit_coordinate(b.cy, "box cy");
    check_unit_coordinate(b.w, "box w");
    check_unit_coordinate(b.h, "box h");
    std::vector<float> xyxy = {(b.cx - 0.5f * b.w) * W, (b.cy - 0.5f * b.h) * H, (b.cx + 0.5f * b.w) * W,
                               (b.cy + 0.5f * b.h) * H};
    p.box = torch::from_blob(xyxy.data(), {4}, torch::kFloat32).clone().to(dev);
  }
  PredictInstOptions opts;
  opts.multimask_output = prompt.multimask;
  PredictInstResult r = predict_inst(*net.inst_interactive_predictor->model, state.sam_features, state.height,
                                     state.width, p, opts);
  torch::Tensor masks = r.masks.to(torch::kCPU).to(torch::kUInt8).contiguous();
  torch::Tensor iou = r.iou.to(torch::kCPU).to(torch::kFloat32).contiguous();
  formats::SegmentResult res;
  res.width = state.width;
  res.height = state.height;
  const size_t plane = static_cast<size_t>(state.width) * static_cast<size_t>(state.height);
  for (int64_t c = 0; c < masks.size(0); ++c) {
    formats::Instance inst;
    inst.mask.width = state.width;
    inst.mask.height = state.height;
    const uint8_t* src = masks[c].data_ptr<uint8_t>();
    inst.mask.data.assign(src, src + plane);
    inst.iou = iou[c].item<float>();
    inst.score = *inst.iou;
    inst.box_xyxy = mask_box(inst.mask);
    res.instances.push_back(std::move(inst));
  }
  return res;
}

}  // namespace

Sam3Model::Sam3Model(Sam3Config config, Sam3Image net, std::shared_ptr<const Tokenizer> tokenizer,
                     torch::Device device, bool bf16, std::string checkpoint)
    : config_(std::move(config)),
      net_(std::move(net)),
      tokenizer_(std::move(tokenizer)),
      device_(device),
      bf16_(bf16),
      checkpoint_(std::move(checkpoint)) {}

std::shared_ptr<const Sam3Model> make_model(const Sam3Config& config, Sam3Image net,
                                            std::shared_ptr<const Tokenizer> tokenizer, const std::string& device,
                                            bool bf16, const std::string& checkpoint) {
  torch::Device dev(torch::kCPU);
  try {
    dev = torch::Device(device);
  } catch (const c10::Error&) {
    throw InvalidInput("device: expected \"cpu\", \"cuda\" or \"cuda:N\", got \"" + device + "\"");
  }
  if (dev.is_cuda() && !torch::cuda::is_available())
    throw InvalidInput("device \"" + device + "\" requested but this build of LibTorch sees no CUDA device");
  if (!tokenizer) throw ModelError("make_model: a tokenizer is required");
  net->eval();
  net->to(dev);
  return std::make_shared<const Sam3Model>(config, std::move(net), std::move(tokenizer), dev, bf16, checkpoint);
}

// forward_grounding with the model's autocast policy. Under bf16, text
// prompts run the fusion encoder, decoder and scorer under autocast too, as
// the reference runs the whole detector on CUDA (the decoder FFN opts out
// itself, trap 2); on CPU the fusion encoder is most of each prompt's cost.
// The geometry encoder and the mask head stay float32 (on CPU they mix bf16
// and float32 tensors in ops that autocast does not cast), and prompts with
// boxes run as float32 throughout. Outputs are float32.
static GroundingOutput ground(const Sam3Model& model, const BackboneFeatures& image, const TextFeatures& text,
                              const torch::Tensor& boxes = {}, const torch::Tensor& labels = {}) {
  Sam3ImageImpl& net = model.net();
  if (!model.bf16() || (boxes.defined() && boxes.numel() > 0)) return net.forward_grounding(image, text, boxes, labels);
  try {
    const int64_t batch = text.count();
    auto expand = [batch](const torch::Tensor& t) {
      return t.size(0) == batch ? t : t.expand({batch, t.size(1), t.size(2), t.size(3)});
    };
    const torch::Tensor img_feat = expand(image.fpn.back()), img_pos = expand(image.pos.back());
    const GeometryEncoding geo = net.geometry_encoder->forward(GeometryPrompt{}, img_feat, img_pos);
    const char* stage = "prompt assembly";
    try {
      const PromptSequence prompt = assemble_prompt(text.features, text.mask, geo.tokens, geo.mask);
      FusionEncoderOutput enc;
      DetectionOutput det;
      {
        AutocastScope autocast(true, model.device());
        stage = "fusion encoder";
        enc = net.transformer->encoder->forward(img_feat, img_pos, prompt.tokens, prompt.mask);
        stage = "decoder";
        const DecoderOutput dec = net.transformer->decoder->forward(enc.memory, enc.pos, prompt.tokens, prompt.mask,
                                                                    img_feat.size(2), img_feat.size(3));
        stage = "scoring";
        det = finalize_detections(*net.transformer->decoder, *net.dot_prod_scoring, dec, prompt.tokens, prompt.mask);
      }
      // The mask head stays float32: its GroupNorms take no bf16 input on CPU.
      stage = "segmentation head";
      const SegmentationOutput seg = net.segmentation_head->forward(image.fpn, to_float(det.queries),
                                                                    to_float(enc.memory), prompt.tokens, prompt.mask);
      return {to_float(det.pred_logits), to_float(det.pred_boxes), to_float(det.presence_logit_dec), seg.pred_masks};
    } catch (const c10::Error& e) {
      throw ModelError(std::string("forward stage '") + stage + "' (bf16) failed: " + e.what_without_backtrace());
    }
  } catch (const c10::Error& e) {
    throw ModelError(std::string("forward stage 'grounding (bf16)' failed: ") + e.what_without_backtrace());
  }
}

BackboneFeatures compute_image_features(const Sam3Model& model, const torch::Tensor& pixels) {
  BackboneFeatures f;
  {
    AutocastScope autocast(model.bf16(), model.device());
    f = model.net().forward_image(pixels.to(model.device()));
  }
  // The cache and everything after the backbone stay in float32.
  for (auto* v : {&f.fpn, &f.pos, &f.sam2_fpn, &f.sam2_pos})
    for (auto& t : *v) t = to_float(t);
  return f;
}

TextFeatures compute_text_features(const Sam3Model& model, const std::vector<std::string>& texts) {
  const int ctx = model.config().text.context_length;
  const auto rows = model.tokenizer().tokenize(texts, ctx);
  torch::Tensor ids = torch::zeros({static_cast<int64_t>(rows.size()), ctx}, torch::kInt64);
  for (size_t i = 0; i < rows.size(); ++i)
    std::copy(rows[i].begin(), rows[i].end(), ids[static_cast<int64_t>(i)].data_ptr<int64_t>());
  TextFeatures t;
  {
    AutocastScope autocast(model.bf16(), model.device());
    t = model.net().encode_text(ids.to(model.device()));
  }
  t.features = to_float(t.features);
  return t;
}

ModelInfo describe(const Sam3Model& model) {
  ModelInfo info;
  info.checkpoint = model.checkpoint();
  info.device = model.device().str();
  info.dtype = model.bf16() ? "bf16" : "fp32";
  info.image_size = model.config().image_size;
  int64_t bytes = 0;
  for (const auto& p : model.net().parameters()) {
    info.num_parameters += p.numel();
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
  for (const auto& b : model.net().buffers()) bytes += b.numel() * static_cast<int64_t>(b.element_size());
  info.memory_mb = static_cast<double>(bytes) / (1024.0 * 1024.0);
  info.interactive = model.net().has_interactive_head();
  return info;
}

ImageEngine::ImageEngine(std::shared_ptr<const Sam3Model> model) : model_(std::move(model)) {
  if (!model_) throw ModelMissing("ImageEngine: no model loaded");
}

namespace {

void check_image_not_empty(const formats::Image& image, const std::string& what) {
  if (image.width <= 0 || image.height <= 0 || image.rgb.empty())
    throw InvalidInput(what + ": empty image (" + std::to_string(image.width) + "x" + std::to_string(image.height) + ")");
}

// Image b of batched backbone features as set_image caches it. With a batch
// of one the tensors are taken as they are; otherwise each level is copied
// out, so a cached state owns exactly its own bytes (the feature cache's
// budget counts them) instead of pinning the whole batch.
std::shared_ptr<ImageState> state_of(const Sam3Model& model, const BackboneFeatures& f, int64_t b, int width,
                                     int height) {
  auto state = std::make_shared<ImageState>();
  state->width = width;
  state->height = height;
  const int64_t batch = f.batch();
  auto take = [&](const torch::Tensor& t) {
    if (!t.defined() || batch == 1 || t.size(0) == 1) return t;
    return t.slice(0, b, b + 1).clone();
  };
  for (const auto& t : f.fpn) state->features.fpn.push_back(take(t));
  // Grounding reads only the coarsest position encoding: the finer ones (the
  // largest tensors of the state) are the same for every image and are dropped.
  for (size_t i = 0; i < f.pos.size(); ++i)
    state->features.pos.push_back(i + 1 == f.pos.size() ? take(f.pos[i]) : torch::Tensor());
  Sam3ImageImpl& net = model.net();
  if (net.has_interactive_head() && f.sam2_fpn.size() == 3) {
    // As Sam3Processor.set_image: conv_s0/conv_s1 are applied once per image.
    const auto& s = f.sam2_fpn;
    state->sam_features =
        prepare_sam_image_features(*net.inst_interactive_predictor->model, take(s[0]), take(s[1]), take(s[2]));
  }
  return state;
}

}  // namespace

std::shared_ptr<const PreparedImage> ImageEngine::prepare_image(const formats::Image& image) const {
  check_image_not_empty(image, "set_image");
  c10::InferenceMode inference;
  auto p = std::make_shared<PreparedImage>();
  p->width = image.width;
  p->height = image.height;
  p->pixels = preprocess_image(image, model_->config().image_size, model_->device());
  return p;
}

std::shared_ptr<const ImageState> ImageEngine::set_image(const formats::Image& image) const {
  return set_images({prepare_image(image)}).front();
}

std::vector<std::shared_ptr<const ImageState>> ImageEngine::set_images(
    const std::vector<std::shared_ptr<const PreparedImage>>& images) const {
  std::vector<std::shared_ptr<const ImageState>> out;
  if (images.empty()) return out;
  std::vector<torch::Tensor> pixels;
  pixels.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i) {
    if (!images[i] || !images[i]->pixels.defined())
      throw InvalidInput("set_images: image " + std::to_string(i) + " is missing (expected prepare_image's result)");
    pixels.push_back(images[i]->pixels);
  }
  c10::InferenceMode inference;
  StageTimer timer("set_image");
  const BackboneFeatures f = compute_image_features(*model_, pixels.size() == 1 ? pixels[0] : torch::cat(pixels, 0));
  out.reserve(images.size());
  for (size_t i = 0; i < images.size(); ++i)
    out.push_back(state_of(*model_, f, static_cast<int64_t>(i), images[i]->width, images[i]->height));
  return out;
}

formats::SegmentResult ImageEngine::segment(const ImageState& state, const Prompt& prompt) const {
  if (!prompt.points.empty()) {
    c10::InferenceMode inference;
    return segment_interactive(*model_, state, prompt);
  }
  const bool has_text = prompt.text && prompt.text->find_first_not_of(" \t\r\n") != std::string::npos;
  if (!has_text && prompt.boxes.empty())
    throw InvalidInput("prompt: expected a text, at least one box or at least one point; got none");
  c10::InferenceMode inference;
  StageTimer timer("segment");
  // Without text the processor grounds the boxes with the text "visual".
  const std::string text = has_text ? *prompt.text : std::string("visual");
  TextFeatures tf = compute_text_features(*model_, {text});
  torch::Tensor boxes, labels;
  if (!prompt.boxes.empty()) std::tie(boxes, labels) = box_tensors(prompt.boxes, model_->device());
  GroundingOutput g = ground(*model_, state.features, tf, boxes, labels);
  return postprocess_grounding(g.pred_logits[0], g.pred_boxes[0], g.presence_logit_dec[0], g.pred_masks[0],
                               state.width, state.height, prompt.confidence_threshold,
                               has_text ? *prompt.text : std::string());
}

std::vector<formats::SegmentResult> ImageEngine::segment_texts(const ImageState& state,
                                                               const std::vector<std::string>& texts,
                                                               float confidence_threshold) const {
  std::vector<formats::SegmentResult> out;
  if (texts.empty()) return out;
  for (size_t i = 0; i < texts.size(); ++i)
    if (texts[i].find_first_not_of(" \t\r\n") == std::string::npos)
      throw InvalidInput("segment_texts: text " + std::to_string(i) + " is empty");
  c10::InferenceMode inference;
  StageTimer timer("segment_texts");
  // One text-encoder batch for all prompts; the image features are shared
  // (broadcast, not copied) by every grounding batch.
  TextFeatures all = compute_text_features(*model_, texts);
  const auto n = static_cast<int64_t>(texts.size());
  out.reserve(texts.size());
  // bf16 on CPU: one prompt per pass. Batched bf16 passes cost more than the
  // same prompts one by one there (full size, 2 threads: 8.8 CPU seconds for
  // two prompts together, 3.5 each alone); float32 is linear either way.
  const int64_t group = model_->bf16() && model_->device().is_cpu() ? 1 : kMaxGroundingBatch;
  for (int64_t begin = 0; begin < n; begin += group) {
    const int64_t end = std::min(n, begin + group);
    GroundingOutput g = ground(*model_, state.features, all.slice(begin, end));
    for (int64_t b = 0; b < end - begin; ++b)
      out.push_back(postprocess_grounding(g.pred_logits[b], g.pred_boxes[b], g.presence_logit_dec[b], g.pred_masks[b],
                                          state.width, state.height, confidence_threshold,
                                          texts[static_cast<size_t>(begin + b)]));
  }
  return out;
}

int64_t ImageEngine::state_bytes(const ImageState& state) {
  int64_t bytes = 0;
  auto add = [&](const torch::Tensor& t) {
    if (t.defined()) bytes += t.numel() * static_cast<int64_t>(t.element_size());
  };
  for (const auto* v : {&state.features.fpn, &state.features.pos, &state.features.sam2_fpn, &state.features.sam2_pos,
                        &state.sam_features.high_res})
    for (const auto& t : *v) add(t);
  add(state.sam_features.image_embed);
  return bytes;
}

}  // namespace sam3::core
