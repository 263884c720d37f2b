// SPDX-License-Identifier: Apache-2.0
// Detector-tracker orchestration of one video (reference:
// sam3/model/sam3_video_base.py Sam3VideoBase._det_track_one_frame and its
// helpers): per frame, track every bucket, associate the detections with the
// tracks, manage hotstart / keep-alive, recondition on confident detections,
// suppress tracks overlapping recently occluded ones, update the memory
// (with the shrink guard), and create buckets for new detections. Also the
// click path (add_tracker_new_points) and object removal.
//
// Thread-safety: none; owned by one session.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "core/model/tracker_modules.h"
#include "core/torch.h"
#include "core/video/tracker_state.h"
#include "core/video/video_session.h"

namespace sam3::core {

// Detections of one frame, kept by score (> threshold, after NMS).
struct VideoDetections {
  torch::Tensor mask_logits;  // [D, 4g, 4g]
  torch::Tensor scores;       // [D] probabilities
};

// The video detector's selection: joint score clamp(sig(logit)*sig(presence),
// 1e-3, 1-1e-3); greedy mask NMS (IoU > nms_thresh suppressed) among p >
// threshold; keep p > threshold in query order; nothing when !allow_new.
// dot_logits [Q] (or [Q,1]), presence_logit: one element or undefined,
// masks [Q, h, w].
VideoDetections select_video_detections(const torch::Tensor& dot_logits, const torch::Tensor& presence_logit,
                                        const torch::Tensor& masks, float threshold, float nms_thresh, bool allow_new);

// Mask IoU of binary masks a [A, h, w] vs b [B, h, w] -> [A, B] (union >= 1).
torch::Tensor mask_iou(const torch::Tensor& a, const torch::Tensor& b);

// fill_holes_in_mask_scores: background components (8-connected, x <= 0) of
// area <= max_area -> 0.1; then foreground components of area <=
// min(max_area, total/2) -> -0.1. x [N, h, w]; returns a new tensor.
torch::Tensor fill_holes_in_mask_scores(const torch::Tensor& x, int64_t max_area);

// _associate_det_trk: detections (mask logits [D, h, w], scores) against
// the tracks (logits [N, h, w], ids in global order).
struct Association {
  std::vector<int64_t> new_dets;                       // detection indices that become objects
  std::vector<int64_t> unmatched_ids;                  // non-empty tracks no detection matches (IoU < trk thresh)
  std::vector<std::vector<int64_t>> det_to_matched;    // per detection: ids with IoU >= assoc thresh
  std::vector<std::pair<int64_t, int64_t>> high_conf;  // (id, detection) for reconditioning, insertion-ordered
  std::vector<char> nonempty;                          // per track
};
Association associate_detections(const torch::Tensor& det_masks, const std::vector<float>& det_scores,
                                 const torch::Tensor& trk_masks, const std::vector<int64_t>& trk_ids,
                                 const TrackOptions& options);

// _process_hotstart's metadata and decisions (accumulated over the whole
// session, both directions): young objects unmatched for
// hotstart_unmatch_thresh frames, or duplicating an older one for
// hotstart_dup_thresh frames, are removed; keep-alive counters follow matches.
class HotstartState {
 public:
  explicit HotstartState(const TrackOptions& o) : opt_(o) {}
  // Returns the ids removed on this frame; alive(id) tells whether an id still exists.
  std::set<int64_t> update(int64_t t, bool reverse, const std::vector<int64_t>& new_ids, const Association& as,
                           const std::function<bool(int64_t)>& alive);
  int64_t keep_alive(int64_t id) const;

 private:
  TrackOptions opt_;
  std::map<int64_t, int64_t> first_frame_, keep_alive_;
  std::vector<std::pair<int64_t, std::vector<int64_t>>> unmatched_;
  std::vector<std::pair<std::pair<int64_t, int64_t>, std::vector<int64_t>>> overlaps_;
  std::set<int64_t> removed_;
};

// _get_objects_to_suppress_based_on_most_recently_occluded: binary [N, h, w],
// last occluded frame per track (-1 never, 100000 removed by hotstart now).
std::vector<char> occlusion_suppression(const torch::Tensor& binary, const std::vector<int64_t>& last_occluded,
                                        bool reverse, float iou_thresh);

// One frame's raw output: binary masks at the video size per object id.
struct FrameObjects {
  std::map<int64_t, torch::Tensor> masks;  // id -> bool [H, W] (CPU)
  int64_t num_tracked = 0;
};

class Orchestrator {
 public:
  Orchestrator(TrackerModelImpl& tracker, const TrackOptions& options, int64_t num_frames, int64_t video_h,
               int64_t video_w);

  // Steps (b)-(j) for frame t (the detections come from the caller).
  // removed_now receives the ids removed by hotstart on this frame.
  FrameObjects step(int64_t t, bool reverse, const VideoDetections& det, const FrameFeatures& f,
                    const FeatureProvider& features, std::vector<int64_t>& removed_now);

  // Click path: adds or refines obj_id on frame t; returns the object's mask
  // at the video size (bool [H, W]). coords [N,2] pixels at image size.
  torch::Tensor add_points(int64_t t, int64_t obj_id, const torch::Tensor& coords, const torch::Tensor& labels,
                           const FrameFeatures& f, const FeatureProvider& features);

  // Tracker-only propagation of the buckets holding any of ids (PARTIAL).
  // Returns id -> low-res logits [4g, 4g] (hole-filled) and raw object logits.
  std::map<int64_t, std::pair<torch::Tensor, float>> track_only(int64_t t, bool reverse, const std::set<int64_t>& ids,
                                                                const FrameFeatures& f);
  void preflight_buckets_with(const std::set<int64_t>& ids, const FeatureProvider& features);

  // \throws NotFound for an unknown id.
  void remove_object(int64_t obj_id);

  std::vector<int64_t> object_ids() const;  // global order (bucket creation, then insertion)
  bool has_object(int64_t obj_id) const;
  int64_t max_obj_id() const { return max_obj_id_; }
  // The object's score at birth (detection probability; 1 for clicks).
  float object_score(int64_t obj_id) const;
  // Frame-wise tracker score used by the post-processing non-overlap.
  float frame_score(int64_t t, int64_t obj_id) const;
  void set_frame_score(int64_t t, int64_t obj_id, float s) { frame_scores_[t][obj_id] = s; }
  const std::set<int64_t>& removed_ids() const { return removed_; }
  int64_t memory_bytes() const;
  const TrackOptions& options() const { return opt_; }

 private:
  TrackerBucket* bucket_of(int64_t obj_id);
  torch::Tensor to_video(const torch::Tensor& logits) const;  // [N, h, w] -> bool [N, H, W] (CPU)

  TrackerModelImpl& tracker_;
  TrackOptions opt_;
  int64_t num_frames_, video_h_, video_w_;
  std::vector<std::unique_ptr<TrackerBucket>> buckets_;
  int64_t max_obj_id_ = -1;
  std::map<int64_t, float> obj_score_;
  std::map<int64_t, std::map<int64_t, float>> frame_scores_;  // t -> id -> score
  std::map<int64_t, int64_t> last_occluded_;
  HotstartState hotstart_;
  std::set<int64_t> removed_;  // by hotstart or the user: hidden from outputs
};

}  // namespace sam3::core
