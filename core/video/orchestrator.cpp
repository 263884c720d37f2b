// SPDX-License-Identifier: Apache-2.0
// Detector-tracker orchestration (reference: sam3_video_base.py
// _det_track_one_frame, _associate_det_trk, _process_hotstart,
// _suppress_overlapping_based_on_recent_occlusion,
// run_tracker_update_planning_phase / execution_phase, build_outputs;
// sam3_video_inference.py add_tracker_new_points for clicks).
#include "core/video/orchestrator.h"

#include <algorithm>
#include <numeric>

#include "core/errors.h"
#include "core/model/interactive_predictor.h"

namespace sam3::core {
namespace {

constexpr float kNoObjLogit = -10.0f;
constexpr int64_t kNeverOccluded = -1;
constexpr int64_t kAlwaysOccluded = 100000;
constexpr int64_t kDetectorCondFrameRemovalWindow = 16;

std::vector<float> to_floats(const torch::Tensor& t) {
  auto c = t.to(torch::kCPU).to(torch::kFloat32).contiguous().view(-1);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

TrackOptions TrackOptions::without_temporal_disambiguation() {
  TrackOptions o;
  o.hotstart_delay = 0;
  o.hotstart_unmatch_thresh = 0;
  o.hotstart_dup_thresh = 0;
  o.recondition_every_nth_frame = 0;
  return o;
}

torch::Tensor mask_iou(const torch::Tensor& a, const torch::Tensor& b) {
  auto fa = a.flatten(1).to(torch::kFloat32), fb = b.flatten(1).to(torch::kFloat32);
  auto inter = torch::matmul(fa, fb.t());
  auto area_a = fa.sum(1), area_b = fb.sum(1);
  auto uni = (area_a.unsqueeze(1) + area_b.unsqueeze(0) - inter).clamp_min(1.0);
  return inter / uni;
}

VideoDetections select_video_detections(const torch::Tensor& dot_logits, const torch::Tensor& presence_logit,
                                        const torch::Tensor& masks, float threshold, float nms_thresh, bool allow_new) {
  auto logit = dot_logits.reshape({-1}).to(torch::kFloat32);
  const int64_t Q = logit.size(0);
  TORCH_CHECK(masks.dim() == 3 && masks.size(0) == Q, "video detections: expected masks [", Q, ",h,w], got ",
              masks.sizes());
  auto p = torch::sigmoid(logit);
  if (presence_logit.defined()) p = p * torch::sigmoid(presence_logit.reshape({-1})[0].to(torch::kFloat32));
  p = p.clamp(1e-3, 1.0 - 1e-3);
  VideoDetections out;
  const auto dev = masks.device();
  if (!allow_new) {
    out.mask_logits = torch::empty({0, masks.size(1), masks.size(2)}, masks.options().dtype(torch::kFloat32));
    out.scores = torch::empty({0}, p.options());
    return out;
  }
  std::vector<float> pv = to_floats(p);
  std::vector<int64_t> cand;
  for (int64_t q = 0; q < Q; ++q)
    if (pv[static_cast<size_t>(q)] > threshold) cand.push_back(q);
  std::stable_sort(cand.begin(), cand.end(),
                   [&](int64_t a, int64_t b) { return pv[static_cast<size_t>(a)] > pv[static_cast<size_t>(b)]; });
  std::vector<char> suppressed(static_cast<size_t>(Q), 0);
  if (cand.size() > 1) {
    auto idx = torch::tensor(cand, torch::kInt64).to(dev);
    auto iou = mask_iou(masks.index_select(0, idx) > 0, masks.index_select(0, idx) > 0).to(torch::kCPU);
    auto acc = iou.accessor<float, 2>();
    for (size_t i = 0; i < cand.size(); ++i) {
      if (suppressed[static_cast<size_t>(cand[i])]) continue;
      for (size_t j = i + 1; j < cand.size(); ++j)
        if (acc[static_cast<int64_t>(i)][static_cast<int64_t>(j)] > nms_thresh)
          suppressed[static_cast<size_t>(cand[j])] = 1;
    }
  }
  std::vector<int64_t> keep;
  for (int64_t q = 0; q < Q; ++q)
    if (pv[static_cast<size_t>(q)] > threshold && !suppressed[static_cast<size_t>(q)]) keep.push_back(q);
  auto kidx = torch::tensor(keep, torch::kInt64).to(dev);
  out.mask_logits = masks.index_select(0, kidx).to(torch::kFloat32);
  out.scores = p.index_select(0, kidx.to(p.device()));
  return out;
}

torch::Tensor fill_holes_in_mask_scores(const torch::Tensor& x_in, int64_t max_area) {
  auto x = x_in.to(torch::kFloat32).clone();
  if (max_area <= 0 || x.numel() == 0) return x;
  auto cpu = x.to(torch::kCPU).contiguous();
  for (int64_t n = 0; n < cpu.size(0); ++n) {
    auto m = cpu[n];
    auto bg = m <= 0;
    auto bg_area = connected_component_areas(bg);
    m.masked_fill_(bg & (bg_area <= max_area), 0.1f);
    auto fg = m > 0;
    const int64_t total = fg.sum().item<int64_t>();
    const int64_t thr = std::min<int64_t>(max_area, total / 2);
    auto fg_area = connected_component_areas(fg);
    m.masked_fill_(fg & (fg_area <= thr), -0.1f);
  }
  return cpu.to(x_in.device());
}

Association associate_detections(const torch::Tensor& det_masks, const std::vector<float>& det_scores,
                                 const torch::Tensor& trk_masks, const std::vector<int64_t>& trk_ids,
                                 const TrackOptions& o) {
  const auto N = static_cast<int64_t>(trk_ids.size());
  const auto D = static_cast<int64_t>(det_scores.size());
  Association as;
  as.det_to_matched.resize(static_cast<size_t>(D));
  as.nonempty.assign(static_cast<size_t>(N), 0);
  if (N) {
    auto ne = to_floats((trk_masks > 0).flatten(1).any(1));
    for (int64_t n = 0; n < N; ++n) as.nonempty[static_cast<size_t>(n)] = ne[static_cast<size_t>(n)] > 0;
  }
  if (N == 0) {  // new_det_thresh is not applied without tracks
    for (int64_t d = 0; d < D; ++d) as.new_dets.push_back(d);
    return as;
  }
  if (D == 0) {
    for (int64_t n = 0; n < N; ++n)
      if (as.nonempty[static_cast<size_t>(n)]) as.unmatched_ids.push_back(trk_ids[static_cast<size_t>(n)]);
    return as;
  }
  auto iou = mask_iou(det_masks > 0, trk_masks > 0).to(torch::kCPU).contiguous();
  auto a = iou.accessor<float, 2>();
  for (int64_t n = 0; n < N; ++n) {
    bool matched = false;
    for (int64_t d = 0; d < D; ++d) matched = matched || a[d][n] >= o.trk_assoc_iou_thresh;
    if (as.nonempty[static_cast<size_t>(n)] && !matched) as.unmatched_ids.push_back(trk_ids[static_cast<size_t>(n)]);
  }
  for (int64_t d = 0; d < D; ++d) {
    bool overlaps = false;
    int64_t best = 0;
    for (int64_t n = 0; n < N; ++n) {
      if (a[d][n] >= o.assoc_iou_thresh) {
        overlaps = true;
        as.det_to_matched[static_cast<size_t>(d)].push_back(trk_ids[static_cast<size_t>(n)]);
      }
      if (a[d][n] > a[d][best]) best = n;  // first maximum
    }
    const float s = det_scores[static_cast<size_t>(d)];
    const bool is_new = s >= o.new_det_thresh && !overlaps;
    if (is_new) as.new_dets.push_back(d);
    if (s >= o.high_conf_thresh && !is_new && a[d][best] >= o.high_iou_thresh) {
      const int64_t id = trk_ids[static_cast<size_t>(best)];
      // A dict in the reference: a later detection overwrites, the key keeps its place.
      auto it = std::find_if(as.high_conf.begin(), as.high_conf.end(), [&](const auto& p) { return p.first == id; });
      if (it != as.high_conf.end())
        it->second = d;
      else
        as.high_conf.emplace_back(id, d);
    }
  }
  return as;
}

std::set<int64_t> HotstartState::update(int64_t t, bool reverse, const std::vector<int64_t>& new_ids,
                                        const Association& as, const std::function<bool(int64_t)>& alive) {
  const int64_t diff = reverse ? t + opt_.hotstart_delay : t - opt_.hotstart_delay;
  auto young = [&](int64_t id) {
    auto it = first_frame_.find(id);
    if (it == first_frame_.end()) return false;  // click objects are never hotstart-checked
    return reverse ? it->second < diff : it->second > diff;
  };
  for (int64_t id : new_ids) {
    if (!first_frame_.count(id)) first_frame_[id] = t;
    keep_alive_[id] = opt_.init_trk_keep_alive;
  }
  std::set<int64_t> matched_ids;
  for (const auto& v : as.det_to_matched) matched_ids.insert(v.begin(), v.end());
  for (int64_t id : matched_ids) keep_alive_[id] = std::min<int64_t>(opt_.max_trk_keep_alive, keep_alive_[id] + 1);
  for (int64_t id : as.unmatched_ids) {
    auto it = std::find_if(unmatched_.begin(), unmatched_.end(), [&](const auto& p) { return p.first == id; });
    if (it == unmatched_.end())
      unmatched_.push_back({id, {t}});
    else
      it->second.push_back(t);
    keep_alive_[id] = std::max<int64_t>(opt_.min_trk_keep_alive, keep_alive_[id] - 1);
  }
  std::set<int64_t> removed;
  for (const auto& [id, frames] : unmatched_) {
    if (removed_.count(id) || removed.count(id) || !alive(id)) continue;
    if (static_cast<int64_t>(frames.size()) >= opt_.hotstart_unmatch_thresh && young(id)) removed.insert(id);
  }
  for (const auto& matched : as.det_to_matched) {
    if (matched.size() < 2) continue;
    // The leader appeared first (last, in reverse); ties: first in list order.
    auto first = [&](int64_t id) {
      auto it = first_frame_.find(id);
      return it != first_frame_.end() ? it->second : (reverse ? INT64_MIN : INT64_MAX);
    };
    int64_t leader = matched[0];
    for (int64_t id : matched)
      if (reverse ? first(id) > first(leader) : first(id) < first(leader)) leader = id;
    for (int64_t id : matched) {
      if (id == leader) continue;
      auto key = std::make_pair(leader, id);
      auto it = std::find_if(overlaps_.begin(), overlaps_.end(), [&](const auto& p) { return p.first == key; });
      if (it == overlaps_.end())
        overlaps_.push_back({key, {t}});
      else
        it->second.push_back(t);
    }
  }
  for (const auto& [key, frames] : overlaps_) {
    const int64_t id = key.second;
    if (removed_.count(id) || removed.count(id) || !alive(id)) continue;
    if (young(id) && static_cast<int64_t>(frames.size()) >= opt_.hotstart_dup_thresh) removed.insert(id);
  }
  removed_.insert(removed.begin(), removed.end());
  return removed;
}

int64_t HotstartState::keep_alive(int64_t id) const {
  auto it = keep_alive_.find(id);
  return it == keep_alive_.end() ? 0 : it->second;
}

std::vector<char> occlusion_suppression(const torch::Tensor& binary, const std::vector<int64_t>& last_occluded,
                                        bool reverse, float iou_thresh) {
  const int64_t N = binary.size(0);
  std::vector<char> sup(static_cast<size_t>(N), 0);
  if (N <= 1) return sup;
  auto iou = mask_iou(binary, binary).to(torch::kCPU).contiguous();
  auto a = iou.accessor<float, 2>();
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = i + 1; j < N; ++j) {
      if (a[i][j] < iou_thresh) continue;
      const int64_t li = last_occluded[static_cast<size_t>(i)], lj = last_occluded[static_cast<size_t>(j)];
      // The more recently occluded one yields, but only to one occluded before (> -1).
      if ((reverse ? li < lj : li > lj) && lj > kNeverOccluded) sup[static_cast<size_t>(i)] = 1;
      if ((reverse ? lj < li : lj > li) && li > kNeverOccluded) sup[static_cast<size_t>(j)] = 1;
    }
  return sup;
}

Orchestrator::Orchestrator(TrackerModelImpl& tracker, const TrackOptions& options, int64_t num_frames, int64_t video_h,
                           int64_t video_w)
    : tracker_(tracker),
      opt_(options),
      num_frames_(num_frames),
      video_h_(video_h),
      video_w_(video_w),
      hotstart_(options) {}

std::vector<int64_t> Orchestrator::object_ids() const {
  std::vector<int64_t> ids;
  for (const auto& b : buckets_) ids.insert(ids.end(), b->obj_ids().begin(), b->obj_ids().end());
  return ids;
}

bool Orchestrator::has_object(int64_t obj_id) const {
  for (const auto& b : buckets_)
    if (b->contains(obj_id)) return true;
  return false;
}

TrackerBucket* Orchestrator::bucket_of(int64_t obj_id) {
  for (auto& b : buckets_)
    if (b->contains(obj_id)) return b.get();
  return nullptr;
}

float Orchestrator::object_score(int64_t obj_id) const {
  auto it = obj_score_.find(obj_id);
  return it == obj_score_.end() ? 0.f : it->second;
}

float Orchestrator::frame_score(int64_t t, int64_t obj_id) const {
  auto f = frame_scores_.find(t);
  if (f == frame_scores_.end()) return 0.f;
  auto it = f->second.find(obj_id);
  return it == f->second.end() ? 0.f : it->second;
}

int64_t Orchestrator::memory_bytes() const {
  int64_t b = 0;
  for (const auto& bk : buckets_) b += bk->memory_bytes();
  return b;
}

torch::Tensor Orchestrator::to_video(const torch::Tensor& logits) const {
  if (logits.size(0) == 0) return torch::zeros({0, video_h_, video_w_}, torch::kBool);
  return (resize_logits(logits, video_h_, video_w_) > 0).to(torch::kCPU);
}

FrameObjects Orchestrator::step(int64_t t, bool reverse, const VideoDetections& det, const FrameFeatures& f,
                                const FeatureProvider& features, std::vector<int64_t>& removed_now) {
  const int64_t lr = tracker_.config().low_res_mask_size();
  const int64_t S = tracker_.config().input_mask_size();
  const auto dev = f.f72.device();
  // (b) propagate every bucket one frame, memory encoder off.
  std::vector<int64_t> ids;
  std::vector<torch::Tensor> trk_l, obj_l;
  for (auto& b : buckets_) {
    if (b->empty()) continue;
    BucketTrackResult r = b->track_frame(t, reverse, f, /*run_mem_encoder=*/false);
    ids.insert(ids.end(), r.obj_ids.begin(), r.obj_ids.end());
    trk_l.push_back(r.pred_masks.squeeze(1));
    obj_l.push_back(r.object_score_logits.reshape({-1}));
  }
  const auto N = static_cast<int64_t>(ids.size());
  torch::Tensor trk = N ? fill_holes_in_mask_scores(torch::cat(trk_l), opt_.fill_hole_area)
                        : torch::empty({0, lr, lr}, f.f72.options().dtype(torch::kFloat32));
  std::vector<float> obj = N ? to_floats(torch::cat(obj_l)) : std::vector<float>{};
  const int64_t D = det.scores.defined() ? det.scores.size(0) : 0;
  std::vector<float> dscore = D ? to_floats(det.scores) : std::vector<float>{};

  // (c) association (on the hole-filled, not yet suppressed tracker masks).
  Association as = associate_detections(det.mask_logits.to(dev), dscore, trk, ids, opt_);
  std::vector<int64_t> new_dets = as.new_dets;
  // Object cap: keep the highest-scoring new detections.
  const int64_t room = std::max<int64_t>(0, opt_.max_num_objects - N);
  if (static_cast<int64_t>(new_dets.size()) > room) {
    std::vector<int64_t> by_score = new_dets;
    std::stable_sort(by_score.begin(), by_score.end(), [&](int64_t x, int64_t y) {
      return dscore[static_cast<size_t>(x)] > dscore[static_cast<size_t>(y)];
    });
    by_score.resize(static_cast<size_t>(room));
    std::vector<int64_t> kept;
    for (int64_t d : new_dets)
      if (std::find(by_score.begin(), by_score.end(), d) != by_score.end()) kept.push_back(d);
    new_dets = kept;
  }
  std::vector<int64_t> new_ids;
  for (size_t i = 0; i < new_dets.size(); ++i) new_ids.push_back(++max_obj_id_);

  // (d) hotstart and keep-alive.
  const std::set<int64_t> removed_set =
      hotstart_.update(t, reverse, new_ids, as, [this](int64_t id) { return has_object(id); });
  removed_now.assign(removed_set.begin(), removed_set.end());
  removed_.insert(removed_set.begin(), removed_set.end());

  // (e) periodic reconditioning on confident detections.
  if (opt_.recondition_every_nth_frame > 0 && t % opt_.recondition_every_nth_frame == 0 && !as.high_conf.empty()) {
    // As the reference: each reconditioned object's bucket is consolidated
    // at once (the whole bucket gets a conditioning frame at t).
    for (const auto& [id, d] : as.high_conf) {
      const auto n = std::find(ids.begin(), ids.end(), id) - ids.begin();
      if (obj[static_cast<size_t>(n)] <= opt_.high_conf_thresh) continue;            // the raw object logit
      auto m = resize_logits(det.mask_logits.slice(0, d, d + 1).to(dev), S, S) > 0;  // [1, S, S]
      TrackerBucket* b = bucket_of(id);
      b->add_new_mask(t, id, m[0], f);
      b->preflight(features);
    }
  }

  // (f) suppress tracks overlapping a more recently occluded one.
  std::vector<char> suppressed(static_cast<size_t>(N), 0);
  if (N > 0 && opt_.occlusion_suppression_iou > 0) {
    std::vector<int64_t> last(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) {
      const int64_t id = ids[static_cast<size_t>(n)];
      auto it = last_occluded_.find(id);
      last[static_cast<size_t>(n)] = it != last_occluded_.end() ? it->second
                                     : removed_set.count(id)    ? kAlwaysOccluded
                                                                : kNeverOccluded;
    }
    suppressed = occlusion_suppression(trk > 0, last, reverse, opt_.occlusion_suppression_iou);
    for (int64_t n = 0; n < N; ++n) {
      const int64_t id = ids[static_cast<size_t>(n)];
      const bool occluded = !as.nonempty[static_cast<size_t>(n)] || suppressed[static_cast<size_t>(n)];
      last_occluded_[id] = occluded ? t : last[static_cast<size_t>(n)];
      if (suppressed[static_cast<size_t>(n)]) trk[n].fill_(kNoObjLogit);  // in place: outputs see it too
    }
  }

  // (g) memory update from the tracker masks, with the shrink guard.
  if (N > 0) {
    auto hr = resize_logits(trk.unsqueeze(1), S, S);  // [N, 1, S, S]
    if (N > 1) {
      auto best = hr.argmax(0, true);
      auto idx = torch::arange(N, best.options()).view({N, 1, 1, 1});
      auto nov = torch::where(best == idx, hr, hr.clamp_max(kNoObjLogit));
      auto area_nov = (nov > 0).flatten(1).sum(1).to(torch::kFloat32);
      auto area = (hr > 0).flatten(1).sum(1).to(torch::kFloat32).clamp_min(1.0);
      auto shrink = (area_nov / area < opt_.shrink_keep_ratio).view({N, 1, 1, 1});
      hr = torch::where(shrink, hr.clamp_max(kNoObjLogit), hr);
    }
    auto ol = torch::where((hr > 0).flatten(1).any(1), torch::full({}, 10.0f), torch::full({}, -10.0f)).view({N, 1});
    int64_t off = 0;
    for (auto& b : buckets_) {
      const auto B = static_cast<int64_t>(b->obj_ids().size());
      if (B == 0) continue;
      b->overwrite_memory(t, f, hr.slice(0, off, off + B), ol.slice(0, off, off + B).to(dev));
      off += B;
    }
  }

  // (h) metadata.
  for (size_t i = 0; i < new_ids.size(); ++i) {
    obj_score_[new_ids[i]] = dscore[static_cast<size_t>(new_dets[i])];
    frame_scores_[t][new_ids[i]] = dscore[static_cast<size_t>(new_dets[i])];
  }
  for (int64_t id : removed_set) {
    obj_score_.erase(id);
    last_occluded_.erase(id);
  }

  // (i) execution: one bucket for the objects born on this frame; removals.
  if (!new_ids.empty()) {
    auto b = std::make_unique<TrackerBucket>(tracker_, num_frames_, video_h_, video_w_);
    auto idx = torch::tensor(new_dets, torch::kInt64).to(dev);
    auto masks = resize_logits(det.mask_logits.to(dev).index_select(0, idx), S, S) > 0;  // not hole-filled
    for (size_t i = 0; i < new_ids.size(); ++i) b->add_new_mask(t, new_ids[i], masks[static_cast<int64_t>(i)], f);
    b->preflight(features);
    buckets_.push_back(std::move(b));
  }
  for (int64_t id : removed_set)
    if (TrackerBucket* b = bucket_of(id)) b->remove_object(id);
  buckets_.erase(std::remove_if(buckets_.begin(), buckets_.end(), [](const auto& b) { return b->empty(); }),
                 buckets_.end());

  // (j) outputs at the video size.
  FrameObjects out;
  if (N > 0) {
    auto video = to_video(trk);
    for (int64_t n = 0; n < N; ++n) {
      const int64_t id = ids[static_cast<size_t>(n)];
      frame_scores_[t][id] = 1.0f / (1.0f + std::exp(-obj[static_cast<size_t>(n)]));
      if (!removed_set.count(id)) out.masks[id] = video[n];
    }
  }
  if (!new_ids.empty()) {
    auto idx = torch::tensor(new_dets, torch::kInt64).to(dev);
    auto video = to_video(fill_holes_in_mask_scores(det.mask_logits.to(dev).index_select(0, idx), opt_.fill_hole_area));
    for (size_t i = 0; i < new_ids.size(); ++i) out.masks[new_ids[i]] = video[static_cast<int64_t>(i)];
  }
  out.num_tracked = static_cast<int64_t>(object_ids().size());
  return out;
}

torch::Tensor Orchestrator::add_points(int64_t t, int64_t obj_id, const torch::Tensor& coords,
                                       const torch::Tensor& labels, const FrameFeatures& f,
                                       const FeatureProvider& features) {
  TrackerBucket* b = bucket_of(obj_id);
  if (!b) {
    if (static_cast<int64_t>(object_ids().size()) >= opt_.max_num_objects)
      throw Overloaded("video session: the object cap (" + std::to_string(opt_.max_num_objects) + ") is reached");
    buckets_.push_back(std::make_unique<TrackerBucket>(tracker_, num_frames_, video_h_, video_w_));
    b = buckets_.back().get();
    max_obj_id_ = std::max(max_obj_id_, obj_id);
  }
  obj_score_[obj_id] = 1.0f;
  frame_scores_[t][obj_id] = 1.0f;
  removed_.erase(obj_id);
  torch::Tensor low = b->add_points(t, obj_id, coords, labels, f);  // [1, 1, 4g, 4g]
  auto video_logits = resize_logits(low, video_h_, video_w_)[0];    // [1, H, W]
  video_logits = fill_holes_in_mask_scores(video_logits, opt_.fill_hole_area);
  b->preflight(features);
  // Detector-added conditioning frames near a click stop conditioning the object.
  for (int64_t ft : b->mask_input_frames(obj_id)) {
    if (ft == t || std::llabs(ft - t) > kDetectorCondFrameRemovalWindow || b->has_point_input(ft, obj_id)) continue;
    for (int64_t other : std::vector<int64_t>(b->obj_ids())) b->clear_inputs_in_frame(ft, other);
  }
  return (video_logits[0] > 0).to(torch::kCPU);
}

void Orchestrator::preflight_buckets_with(const std::set<int64_t>& ids, const FeatureProvider& features) {
  for (auto& b : buckets_)
    for (int64_t id : b->obj_ids())
      if (ids.count(id)) {
        b->preflight(features);
        break;
      }
}

std::map<int64_t, std::pair<torch::Tensor, float>> Orchestrator::track_only(int64_t t, bool reverse,
                                                                            const std::set<int64_t>& ids,
                                                                            const FrameFeatures& f) {
  std::map<int64_t, std::pair<torch::Tensor, float>> out;
  for (auto& b : buckets_) {
    bool any = false;
    for (int64_t id : b->obj_ids()) any = any || ids.count(id) > 0;
    if (!any) continue;
    BucketTrackResult r = b->track_frame(t, reverse, f, /*run_mem_encoder=*/true);
    auto filled = fill_holes_in_mask_scores(r.pred_masks.squeeze(1), opt_.fill_hole_area);
    auto scores = to_floats(r.object_score_logits);
    for (size_t i = 0; i < r.obj_ids.size(); ++i)
      if (ids.count(r.obj_ids[i])) out[r.obj_ids[i]] = {filled[static_cast<int64_t>(i)], scores[i]};
  }
  return out;
}

void Orchestrator::remove_object(int64_t obj_id) {
  TrackerBucket* b = bucket_of(obj_id);
  if (!b) throw NotFound("video session: no object with id " + std::to_string(obj_id));
  b->remove_object(obj_id);
  buckets_.erase(std::remove_if(buckets_.begin(), buckets_.end(), [](const auto& x) { return x->empty(); }),
                 buckets_.end());
  obj_score_.erase(obj_id);
  last_occluded_.erase(obj_id);
  removed_.insert(obj_id);
}

}  // namespace sam3::core
