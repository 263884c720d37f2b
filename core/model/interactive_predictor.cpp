// SPDX-License-Identifier: Apache-2.0
#include "core/model/interactive_predictor.h"

#include <vector>

#include "core/errors.h"

namespace sam3::core {

namespace F = torch::nn::functional;

SamImageFeatures prepare_sam_image_features(TrackerModelImpl& model, const torch::Tensor& f288,
                                            const torch::Tensor& f144, const torch::Tensor& f72) {
  SamImageFeatures f;
  f.image_embed = model.add_no_mem_embed(f72);
  f.high_res = {model.sam_mask_decoder->conv_s0->forward(f288), model.sam_mask_decoder->conv_s1->forward(f144)};
  return f;
}

torch::Tensor connected_component_areas(const torch::Tensor& binary) {
  TORCH_CHECK(binary.dim() == 2, "connected_component_areas: expected [H, W], got ", binary.sizes());
  auto m = binary.to(torch::kCPU).ne(0).to(torch::kUInt8).contiguous();
  const int64_t H = m.size(0), W = m.size(1);
  const uint8_t* in = m.data_ptr<uint8_t>();
  auto areas = torch::zeros({H, W}, torch::kInt64);
  int64_t* out = areas.data_ptr<int64_t>();
  std::vector<int32_t> label(static_cast<size_t>(H * W), 0);
  std::vector<int64_t> stack, members;
  int32_t next = 0;
  for (int64_t start = 0; start < H * W; ++start) {
    if (!in[start] || label[start]) continue;
    ++next;
    members.clear();
    stack.assign(1, start);
    label[start] = next;
    while (!stack.empty()) {
      const int64_t p = stack.back();
      stack.pop_back();
      members.push_back(p);
      const int64_t y = p / W, x = p % W;
      for (int64_t dy = -1; dy <= 1; ++dy)
        for (int64_t dx = -1; dx <= 1; ++dx) {
          const int64_t ny = y + dy, nx = x + dx;
          if (ny < 0 || ny >= H || nx < 0 || nx >= W) continue;
          const int64_t q = ny * W + nx;
          if (in[q] && !label[q]) {
            label[q] = next;
            stack.push_back(q);
          }
        }
    }
    const auto n = static_cast<int64_t>(members.size());
    for (int64_t p : members) out[p] = n;
  }
  return areas.to(binary.device());
}

torch::Tensor fill_holes_and_sprinkles(const torch::Tensor& mask_logits, double threshold, int64_t max_hole_area,
                                       int64_t max_sprinkle_area) {
  auto masks = mask_logits.to(torch::kFloat32);
  if (max_hole_area <= 0 && max_sprinkle_area <= 0) return masks;
  auto flat = masks.flatten(0, 1);  // [B*C, H, W]
  auto apply = [&](const torch::Tensor& cur, bool holes) {
    std::vector<torch::Tensor> small;
    const int64_t limit = holes ? max_hole_area : max_sprinkle_area;
    for (int64_t i = 0; i < cur.size(0); ++i) {
      auto set = holes ? cur[i] <= threshold : cur[i] > threshold;
      auto areas = connected_component_areas(set);
      small.push_back((areas > 0) & (areas <= limit));
    }
    auto sel = torch::stack(small, 0).to(cur.device());
    return torch::where(sel, torch::full({}, holes ? threshold + 10.0 : threshold - 10.0, cur.options()), cur);
  };
  if (max_hole_area > 0) flat = apply(flat, true);
  if (max_sprinkle_area > 0) flat = apply(flat, false);
  return flat.reshape(masks.sizes());
}

namespace {

// coords [..., 2] in original pixels -> model pixels.
torch::Tensor transform_coords(const torch::Tensor& coords, bool normalize, int64_t h, int64_t w,
                               int64_t resolution) {
  auto c = coords.to(torch::kFloat32).clone();
  if (normalize) {
    c.select(-1, 0).div_(static_cast<double>(w));
    c.select(-1, 1).div_(static_cast<double>(h));
  }
  return c * static_cast<double>(resolution);
}

}  // namespace

namespace {

PredictInstResult predict_inst_impl(TrackerModelImpl& model, const SamImageFeatures& features, int64_t orig_h,
                                    int64_t orig_w, const PredictInstPrompt& prompt, const PredictInstOptions& opt) {
  const auto& cfg = model.config();
  const auto device = features.image_embed.device();
  if (orig_h <= 0 || orig_w <= 0)
    throw InvalidInput("predict_inst: image size must be positive, got " + std::to_string(orig_w) + "x" +
                       std::to_string(orig_h));
  torch::Tensor coords, labels;
  if (prompt.point_coords.defined()) {
    if (!prompt.point_labels.defined()) throw InvalidInput("predict_inst: point_labels must accompany point_coords");
    coords = transform_coords(prompt.point_coords, opt.normalize_coords, orig_h, orig_w, cfg.image_size);
    labels = prompt.point_labels.to(torch::kInt32);
    if (coords.dim() == 2) coords = coords.unsqueeze(0), labels = labels.unsqueeze(0);
    if (coords.dim() != 3 || coords.size(2) != 2 || labels.dim() != 2 || labels.size(0) != coords.size(0) ||
        labels.size(1) != coords.size(1))
      throw InvalidInput("predict_inst: expected point_coords [N,2] or [B,N,2] and matching labels");
    coords = coords.to(device), labels = labels.to(device);
  }
  if (prompt.box.defined()) {
    if (prompt.box.numel() % 4 != 0 || prompt.box.numel() == 0)
      throw InvalidInput("predict_inst: expected box [4] or [B,4] (xyxy)");
    auto box = transform_coords(prompt.box.reshape({-1, 2, 2}), opt.normalize_coords, orig_h, orig_w,
                                cfg.image_size)
                   .to(device);
    auto box_labels = torch::tensor({2, 3}, torch::TensorOptions().dtype(torch::kInt32).device(device))
                          .unsqueeze(0)
                          .repeat({box.size(0), 1});
    // The box corners go BEFORE the clicks.
    if (coords.defined()) {
      if (coords.size(0) != box.size(0)) throw InvalidInput("predict_inst: box and point batches differ");
      coords = torch::cat({box, coords}, 1);
      labels = torch::cat({box_labels, labels}, 1);
    } else {
      coords = box, labels = box_labels;
    }
  }
  torch::Tensor mask_input;
  const int64_t lowres = cfg.low_res_mask_size();
  if (prompt.mask_input.defined()) {
    mask_input = prompt.mask_input.to(torch::kFloat32).to(device);
    if (mask_input.dim() == 3) mask_input = mask_input.unsqueeze(0);
    if (mask_input.dim() != 4 || mask_input.size(1) != 1 || mask_input.size(2) != lowres ||
        mask_input.size(3) != lowres)
      throw InvalidInput("predict_inst: mask_input must be [1," + std::to_string(lowres) + "," +
                         std::to_string(lowres) + "] low-res logits");
  }

  auto [sparse, dense] = model.sam_prompt_encoder->forward(coords, labels, mask_input);
  const bool batched = coords.defined() && coords.size(0) > 1;
  auto dec = model.sam_mask_decoder->forward(features.image_embed, model.sam_prompt_encoder->get_dense_pe(), sparse,
                                             dense, opt.multimask_output, batched, features.high_res);
  auto low = dec.masks.to(torch::kFloat32);
  auto filled = fill_holes_and_sprinkles(low, opt.mask_threshold, opt.max_hole_area, opt.max_sprinkle_area);
  auto masks = F::interpolate(filled, F::InterpolateFuncOptions()
                                          .size(std::vector<int64_t>{orig_h, orig_w})
                                          .mode(torch::kBilinear)
                                          .align_corners(false));
  if (!opt.return_logits) masks = masks > opt.mask_threshold;

  PredictInstResult r;
  r.low_res_logits = torch::clamp(low, -32.0, 32.0);
  r.masks = masks;
  r.iou = dec.iou_pred.to(torch::kFloat32);
  if (r.masks.size(0) == 1) {  // squeeze(0) of the reference
    r.masks = r.masks.squeeze(0);
    r.iou = r.iou.squeeze(0);
    r.low_res_logits = r.low_res_logits.squeeze(0);
  }
  return r;
}

}  // namespace

PredictInstResult predict_inst(TrackerModelImpl& model, const SamImageFeatures& features, int64_t orig_h,
                               int64_t orig_w, const PredictInstPrompt& prompt, const PredictInstOptions& opt) {
  try {
    return predict_inst_impl(model, features, orig_h, orig_w, prompt, opt);
  } catch (const c10::Error& e) {
    throw ModelError(std::string("interactive prediction (SAM prompt encoder / mask decoder) failed: ") +
                     e.what_without_backtrace());
  }
}

}  // namespace sam3::core
