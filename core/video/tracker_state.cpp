// SPDX-License-Identifier: Apache-2.0
// Tracker bucket: prompts, consolidation and per-frame tracking with the
// memory bank (reference: sam3_tracking_predictor.py add_new_mask,
// add_new_points_or_box, propagate_in_video_preflight, propagate_in_video,
// remove_object, clear_all_points_in_frame; sam3_tracker_base.py track_step,
// _prepare_memory_conditioned_features).
#include "core/video/tracker_state.h"

#include <algorithm>

#include "core/errors.h"

namespace sam3::core {
namespace F = torch::nn::functional;

torch::Tensor resize_logits(const torch::Tensor& x, int64_t out_h, int64_t out_w, bool antialias) {
  const bool three = x.dim() == 3;
  auto in = three ? x.unsqueeze(1) : x;
  if (in.size(-2) == out_h && in.size(-1) == out_w) return x.to(torch::kFloat32);
  auto out = F::interpolate(in.to(torch::kFloat32), F::InterpolateFuncOptions()
                                                        .size(std::vector<int64_t>{out_h, out_w})
                                                        .mode(torch::kBilinear)
                                                        .align_corners(false)
                                                        .antialias(antialias));
  return three ? out.squeeze(1) : out;
}

TrackerFrameOutput TrackerFrameOutput::rows(const torch::Tensor& idx) const {
  TrackerFrameOutput o;
  auto sel = [&](const torch::Tensor& t) { return t.defined() ? t.index_select(0, idx.to(t.device())) : t; };
  o.maskmem_features = sel(maskmem_features);
  o.maskmem_pos_enc = sel(maskmem_pos_enc);
  o.pred_masks = sel(pred_masks);
  o.obj_ptr = sel(obj_ptr);
  o.object_score_logits = sel(object_score_logits);
  o.iou_score = sel(iou_score);
  if (eff_iou_score && o.object_score_logits.defined() && o.object_score_logits.size(0) > 0)
    o.eff_iou_score = memory_eff_iou_score(o.object_score_logits, o.iou_score).item<double>();
  return o;
}

int64_t TrackerFrameOutput::bytes() const {
  int64_t b = 0;
  // maskmem_pos_enc is one shared, expanded tensor per bucket: not counted per frame.
  for (const auto* t : {&maskmem_features, &pred_masks, &obj_ptr, &object_score_logits, &iou_score})
    if (t->defined()) b += t->numel() * static_cast<int64_t>(t->element_size());
  return b;
}

TrackerBucket::TrackerBucket(TrackerModelImpl& model, int64_t num_frames, int64_t video_h, int64_t video_w)
    : model_(model), num_frames_(num_frames), video_h_(video_h), video_w_(video_w) {}

bool TrackerBucket::contains(int64_t obj_id) const {
  return std::find(obj_ids_.begin(), obj_ids_.end(), obj_id) != obj_ids_.end();
}

int64_t TrackerBucket::index_of(int64_t obj_id) const {
  auto it = std::find(obj_ids_.begin(), obj_ids_.end(), obj_id);
  if (it == obj_ids_.end()) throw NotFound("tracker bucket: no object " + std::to_string(obj_id));
  return it - obj_ids_.begin();
}

void TrackerBucket::ensure_object(int64_t obj_id) {
  if (contains(obj_id)) return;
  if (tracking_started_)
    throw InvalidInput("tracker bucket: cannot add object " + std::to_string(obj_id) +
                       " after tracking started (new objects need a new bucket)");
  obj_ids_.push_back(obj_id);
}

FrameFeatures TrackerBucket::expand(const FrameFeatures& f, int64_t b) {
  FrameFeatures e;
  e.f72 = f.f72.expand({b, -1, -1, -1});
  e.pos72 = f.pos72.expand({b, -1, -1, -1});
  for (const auto& h : f.high_res) e.high_res.push_back(h.expand({b, -1, -1, -1}));
  return e;
}

bool TrackerBucket::has_point_input(int64_t t, int64_t obj_id) const {
  auto it = point_inputs_.find(obj_id);
  return it != point_inputs_.end() && it->second.count(t) > 0;
}

bool TrackerBucket::has_mask_input(int64_t t, int64_t obj_id) const {
  auto it = mask_inputs_.find(obj_id);
  return it != mask_inputs_.end() && it->second.count(t) > 0;
}

std::vector<int64_t> TrackerBucket::mask_input_frames(int64_t obj_id) const {
  std::vector<int64_t> out;
  auto it = mask_inputs_.find(obj_id);
  if (it != mask_inputs_.end())
    for (const auto& [t, m] : it->second) out.push_back(t);
  return out;
}

void TrackerBucket::add_new_mask(int64_t t, int64_t obj_id, const torch::Tensor& mask, const FrameFeatures& f) {
  ensure_object(obj_id);
  auto m = mask.to(torch::kFloat32).view({1, 1, mask.size(-2), mask.size(-1)});
  auto video = resize_logits(m, video_h_, video_w_, /*antialias=*/true) > 0.5;  // [1,1,H,W]
  mask_inputs_[obj_id][t] = video[0][0];
  point_inputs_[obj_id].erase(t);
  SamHeadsOutput out = model_.use_mask_as_output(f.f72, f.high_res, m);
  TempOutput temp;
  temp.video_res = torch::where(video, torch::full({}, 1024.0f), torch::full({}, -1024.0f)).to(f.f72.device());
  temp.obj_ptr = out.obj_ptr;
  temp.object_score_logits = out.object_score_logits;
  temp.iou_score = out.ious.amax(-1);
  // Later-added objects win where the conditioning masks overlap.
  for (auto& [other, frames] : temp_) {
    if (other == obj_id) continue;
    auto it = frames.find(t);
    if (it != frames.end() && it->second.video_res.defined())
      it->second.video_res.masked_fill_(video.to(it->second.video_res.device()), -1024.0f);
  }
  temp_[obj_id][t] = std::move(temp);
}

std::optional<TrackerFrameOutput> TrackerBucket::stored(int64_t t) const {
  auto c = cond_.find(t);
  if (c != cond_.end()) return c->second;
  auto n = non_cond_.find(t);
  if (n != non_cond_.end()) return n->second;
  return std::nullopt;
}

torch::Tensor TrackerBucket::add_points(int64_t t, int64_t obj_id, const torch::Tensor& coords_in,
                                        const torch::Tensor& labels_in, const FrameFeatures& f) {
  if (coords_in.dim() != 2 || coords_in.size(1) != 2 || labels_in.dim() != 1 || labels_in.size(0) != coords_in.size(0))
    throw InvalidInput("tracker: expected points [N,2] and labels [N]");
  ensure_object(obj_id);
  auto coords = coords_in, labels = labels_in;
  constexpr int64_t kMaxPoints = 16;  // max_point_num_in_prompt_enc: first 8 + last 8
  if (coords.size(0) > kMaxPoints) {
    const int64_t n = coords.size(0);
    coords = torch::cat({coords.slice(0, 0, 8), coords.slice(0, n - 8, n)});
    labels = torch::cat({labels.slice(0, 0, 8), labels.slice(0, n - 8, n)});
  }
  point_inputs_[obj_id][t] = PointInput{coords, labels};
  mask_inputs_[obj_id].erase(t);
  // The previous low-res logits of this object on t refine the new prediction.
  torch::Tensor prev;
  auto tit = temp_[obj_id].find(t);
  if (tit != temp_[obj_id].end() && tit->second.low_res.defined()) {
    prev = tit->second.low_res;
  } else if (auto s = stored(t)) {
    auto idx = torch::tensor({index_of(obj_id)}, torch::kInt64);
    if (s->pred_masks.defined() && index_of(obj_id) < s->pred_masks.size(0))
      prev = s->pred_masks.index_select(0, idx.to(s->pred_masks.device()));
  }
  if (prev.defined()) prev = prev.clamp(-32.0, 32.0);
  const bool is_init = tracked_.count(t) == 0;
  const bool multimask = model_.use_multimask(is_init, coords.size(0));
  // use_prev_mem_frame=False in the video model: clicks never read the memory.
  auto feats = model_.add_no_mem_embed(f.f72);
  SamHeadsOutput out = model_.forward_sam_heads(feats, coords.unsqueeze(0).to(torch::kFloat32),
                                                labels.unsqueeze(0).to(torch::kInt32), prev, f.high_res, multimask,
                                                /*compute_high_res=*/false);
  TempOutput temp;
  temp.low_res = out.low_res_masks;
  temp.obj_ptr = out.obj_ptr;
  temp.object_score_logits = out.object_score_logits;
  temp.iou_score = out.ious.amax(-1);
  temp_[obj_id][t] = temp;
  return out.low_res_masks;
}

TrackerFrameOutput TrackerBucket::consolidate(int64_t t, const FrameFeatures& f) {
  const int64_t B = static_cast<int64_t>(obj_ids_.size());
  const int64_t lr = model_.config().low_res_mask_size();
  const auto dev = f.f72.device();
  std::vector<torch::Tensor> masks, ptrs, scores, ious;
  auto st = stored(t);
  for (int64_t i = 0; i < B; ++i) {
    const int64_t id = obj_ids_[static_cast<size_t>(i)];
    auto tf = temp_.find(id);
    if (tf != temp_.end() && tf->second.count(t)) {
      const TempOutput& o = tf->second.at(t);
      masks.push_back(o.low_res.defined() ? o.low_res.to(dev) : resize_logits(o.video_res.to(dev), lr, lr, true));
      ptrs.push_back(o.obj_ptr.to(dev));
      scores.push_back(o.object_score_logits.to(dev).to(torch::kFloat32));
      ious.push_back(o.iou_score.to(dev).to(torch::kFloat32));
    } else if (st && st->pred_masks.defined() && i < st->pred_masks.size(0)) {
      masks.push_back(st->pred_masks.slice(0, i, i + 1));
      ptrs.push_back(st->obj_ptr.slice(0, i, i + 1));
      scores.push_back(st->object_score_logits.slice(0, i, i + 1).to(torch::kFloat32));
      ious.push_back(st->iou_score.slice(0, i, i + 1).to(torch::kFloat32));
    } else {
      // Placeholder: no mask, the no-object pointer, but an object score of +10.
      masks.push_back(torch::full({1, 1, lr, lr}, kNoObjScore, f.f72.options().dtype(torch::kFloat32)));
      ptrs.push_back(model_.no_obj_ptr.to(dev));
      scores.push_back(torch::full({1, 1}, 10.0f, f.f72.options().dtype(torch::kFloat32)));
      ious.push_back(torch::zeros({1}, f.f72.options().dtype(torch::kFloat32)));
    }
  }
  TrackerFrameOutput out;
  out.pred_masks = torch::cat(masks, 0);
  out.obj_ptr = torch::cat(ptrs, 0);
  out.object_score_logits = torch::cat(scores, 0);
  out.iou_score = torch::cat(ious, 0);
  // Memory from the pixel-wise non-overlapping high-res masks (binarised).
  const int64_t S = model_.config().image_size;
  auto high = resize_logits(out.pred_masks, S, S);
  if (B > 1) {
    auto best = high.argmax(0, true);  // first index wins ties
    auto idx = torch::arange(B, best.options()).view({B, 1, 1, 1});
    high = torch::where(best == idx, high, high.clamp_max(-10.0));
  }
  auto fe = expand(f, B);
  auto [feat, pos] = model_.encode_new_memory(fe.f72, high, out.object_score_logits, /*is_mask_from_pts=*/true);
  if (!maskmem_pos_enc_.defined()) maskmem_pos_enc_ = pos.slice(0, 0, 1).clone();
  out.maskmem_features = feat.to(torch::kBFloat16);  // the reference stores memories in bf16
  out.maskmem_pos_enc = maskmem_pos_enc_.expand({B, -1, -1, -1});
  out.eff_iou_score = memory_eff_iou_score(out.object_score_logits, out.iou_score).item<double>();
  return out;
}

void TrackerBucket::add_cond_frame(int64_t t, TrackerFrameOutput out) {
  if (!cond_.count(t)) cond_order_.push_back(t);
  cond_[t] = std::move(out);
  non_cond_.erase(t);
}

void TrackerBucket::preflight(const FeatureProvider& features) {
  tracking_started_ = true;
  std::vector<int64_t> frames;
  for (const auto& [id, per_t] : temp_)
    for (const auto& [t, o] : per_t)
      if (std::find(frames.begin(), frames.end(), t) == frames.end()) frames.push_back(t);
  std::sort(frames.begin(), frames.end());
  for (int64_t t : frames) {
    const FrameFeatures f = features(t);
    add_cond_frame(t, consolidate(t, f));
  }
  temp_.clear();
}

BucketTrackResult TrackerBucket::track_frame(int64_t t, bool reverse, const FrameFeatures& f, bool run_mem_encoder) {
  BucketTrackResult r;
  r.obj_ids = obj_ids_;
  auto c = cond_.find(t);
  if (c != cond_.end()) {
    r.pred_masks = c->second.pred_masks;
    r.object_score_logits = c->second.object_score_logits;
    tracked_[t] = reverse;
    return r;
  }
  const TrackerConfig& cfg = model_.config();
  const int64_t B = static_cast<int64_t>(obj_ids_.size());
  if (cond_.empty()) {
    // Every prompt of the bucket was cleared: nothing to track from (the
    // reference resets such a bucket's results); report absent objects.
    const int64_t lr = cfg.low_res_mask_size();
    r.pred_masks = torch::full({B, 1, lr, lr}, kNoObjScore, f.f72.options().dtype(torch::kFloat32));
    r.object_score_logits = torch::full({B, 1}, -10.0f, f.f72.options().dtype(torch::kFloat32));
    return r;
  }
  const int64_t sign = reverse ? -1 : 1;
  auto fe = expand(f, B);

  std::vector<int64_t> sel = select_closest_cond_frames(t, cond_order_, cfg.max_cond_frames_in_attn);
  auto is_sel = [&](int64_t x) { return std::find(sel.begin(), sel.end(), x) != sel.end(); };
  auto lookup = [&](int64_t x) -> const TrackerFrameOutput* {
    auto n = non_cond_.find(x);
    if (n != non_cond_.end()) return &n->second;
    auto cc = cond_.find(x);
    if (cc != cond_.end() && !is_sel(x)) return &cc->second;  // unselected cond frames count as memories
    return nullptr;
  };
  std::vector<TrackerModelImpl::SpatialMemory> mems;
  for (int64_t s : sel) {
    const auto& o = cond_.at(s);
    if (o.maskmem_features.defined()) mems.push_back({o.maskmem_features, o.maskmem_pos_enc, 0});
  }
  std::vector<int64_t> valid;
  if (cfg.use_memory_selection) {
    std::map<int64_t, double> eff;
    for (const auto& [x, o] : non_cond_)
      if (o.eff_iou_score) eff[x] = *o.eff_iou_score;
    valid = memory_frame_filter(t, reverse, num_frames_, eff, cfg.max_obj_ptrs_in_encoder, cfg.mf_threshold);
  }
  const auto nvalid = static_cast<int64_t>(valid.size());
  for (int64_t t_pos = 1; t_pos < cfg.num_maskmem; ++t_pos) {
    const int64_t t_rel = cfg.num_maskmem - t_pos;
    int64_t prev;
    if (cfg.use_memory_selection) {
      if (t_rel > nvalid) continue;
      prev = valid[static_cast<size_t>(nvalid - t_rel)];
    } else {
      prev = t - sign * t_rel;
    }
    const TrackerFrameOutput* o = lookup(prev);
    if (o && o->maskmem_features.defined()) mems.push_back({o->maskmem_features, o->maskmem_pos_enc, t_pos});
  }
  const int64_t max_ptrs = std::min(num_frames_, cfg.max_obj_ptrs_in_encoder);
  std::vector<TrackerModelImpl::PointerMemory> ptrs;
  for (int64_t s : sel)
    if (reverse ? s >= t : s <= t) ptrs.push_back({cond_.at(s).obj_ptr, (t - s) * sign});
  for (int64_t d = 1; d < max_ptrs; ++d) {
    int64_t prev;
    if (cfg.use_memory_selection) {
      if (d >= nvalid) break;
      prev = valid[static_cast<size_t>(nvalid - d)];
    } else {
      prev = t - sign * d;
      if (prev < 0 || prev >= num_frames_) break;
    }
    if (const TrackerFrameOutput* o = lookup(prev)) ptrs.push_back({o->obj_ptr, d});
  }
  torch::Tensor pix;
  if (mems.empty() && ptrs.empty())
    pix = model_.add_no_mem_embed(fe.f72);
  else
    pix = model_.memory_conditioned_features(fe.f72, fe.pos72, mems, ptrs, max_ptrs);
  SamHeadsOutput sam = model_.forward_sam_heads(pix, {}, {}, {}, fe.high_res, model_.use_multimask(false, 0),
                                                /*compute_high_res=*/run_mem_encoder);
  TrackerFrameOutput out;
  out.pred_masks = sam.low_res_masks;
  out.obj_ptr = sam.obj_ptr;
  out.object_score_logits = sam.object_score_logits.to(torch::kFloat32);
  out.iou_score = sam.ious.amax(-1).to(torch::kFloat32);
  out.eff_iou_score = memory_eff_iou_score(out.object_score_logits, out.iou_score).item<double>();
  if (run_mem_encoder) {
    auto [feat, pos] = model_.encode_new_memory(fe.f72, sam.high_res_masks, out.object_score_logits, false);
    if (!maskmem_pos_enc_.defined()) maskmem_pos_enc_ = pos.slice(0, 0, 1).clone();
    out.maskmem_features = feat.to(torch::kBFloat16);  // the reference stores memories in bf16
    out.maskmem_pos_enc = maskmem_pos_enc_.expand({B, -1, -1, -1});
  }
  non_cond_[t] = out;
  tracked_[t] = reverse;
  r.pred_masks = out.pred_masks;
  r.object_score_logits = out.object_score_logits;
  return r;
}

void TrackerBucket::overwrite_memory(int64_t t, const FrameFeatures& f, const torch::Tensor& masks,
                                     const torch::Tensor& obj_logits) {
  const int64_t B = static_cast<int64_t>(obj_ids_.size());
  TORCH_CHECK(masks.size(0) == B, "overwrite_memory: expected ", B, " masks, got ", masks.size(0));
  auto fe = expand(f, B);
  auto [feat, pos] = model_.encode_new_memory(fe.f72, masks, obj_logits, /*is_mask_from_pts=*/false);
  if (!maskmem_pos_enc_.defined()) maskmem_pos_enc_ = pos.slice(0, 0, 1).clone();
  for (auto* store : {&cond_, &non_cond_}) {
    auto it = store->find(t);
    if (it == store->end()) continue;
    it->second.maskmem_features = feat.to(torch::kBFloat16);
    it->second.maskmem_pos_enc = maskmem_pos_enc_.expand({B, -1, -1, -1});
  }
}

bool TrackerBucket::remove_object(int64_t obj_id) {
  const int64_t i = index_of(obj_id);
  point_inputs_.erase(obj_id);
  mask_inputs_.erase(obj_id);
  temp_.erase(obj_id);
  if (obj_ids_.size() == 1) {
    obj_ids_.clear();
    cond_.clear();
    non_cond_.clear();
    cond_order_.clear();
    tracked_.clear();
    return true;
  }
  std::vector<int64_t> keep;
  for (int64_t k = 0; k < static_cast<int64_t>(obj_ids_.size()); ++k)
    if (k != i) keep.push_back(k);
  auto idx = torch::tensor(keep, torch::kInt64);
  for (auto* store : {&cond_, &non_cond_})
    for (auto& [t, o] : *store) o = o.rows(idx);
  obj_ids_.erase(obj_ids_.begin() + i);
  // Frames left without any input stop being conditioning frames.
  std::vector<int64_t> order;
  for (int64_t t : cond_order_) {
    bool any = false;
    for (int64_t id : obj_ids_) any = any || has_point_input(t, id) || has_mask_input(t, id);
    if (any) {
      order.push_back(t);
    } else {
      non_cond_[t] = std::move(cond_.at(t));
      cond_.erase(t);
    }
  }
  cond_order_ = order;
  return false;
}

void TrackerBucket::clear_inputs_in_frame(int64_t t, int64_t obj_id) {
  if (point_inputs_.count(obj_id)) point_inputs_[obj_id].erase(t);
  if (mask_inputs_.count(obj_id)) mask_inputs_[obj_id].erase(t);
  if (temp_.count(obj_id)) temp_[obj_id].erase(t);
  bool any = false;
  for (int64_t id : obj_ids_) any = any || has_point_input(t, id) || has_mask_input(t, id);
  if (any || !cond_.count(t)) return;
  non_cond_[t] = std::move(cond_.at(t));
  cond_.erase(t);
  cond_order_.erase(std::remove(cond_order_.begin(), cond_order_.end(), t), cond_order_.end());
  tracked_.erase(t);
  if (cond_.empty()) {
    // No conditioning frame left: the tracking results are meaningless.
    non_cond_.clear();
    tracked_.clear();
  }
}

int64_t TrackerBucket::memory_bytes() const {
  int64_t b = 0;
  for (const auto* store : {&cond_, &non_cond_})
    for (const auto& [t, o] : *store) b += o.bytes();
  if (maskmem_pos_enc_.defined()) b += maskmem_pos_enc_.numel() * static_cast<int64_t>(maskmem_pos_enc_.element_size());
  for (const auto& [id, per_t] : mask_inputs_)
    for (const auto& [t, m] : per_t) b += m.numel();
  return b;
}

}  // namespace sam3::core
