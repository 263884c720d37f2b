// SPDX-License-Identifier: Apache-2.0
// One tracker "bucket" (reference: the per-bucket inference state of
// sam3/model/sam3_tracking_predictor.py Sam3TrackerPredictor and the track_step
// of sam3_tracker_base.py): a set of objects tracked together, their prompts
// per frame, and the memory bank (conditioning and non-conditioning frame
// outputs, batched over the bucket's objects). The orchestrator creates one
// bucket per detector birth frame and one per click-created object.
//
// Simplification vs the reference: the per-object output dicts are slices of
// the batched outputs (the reference's single-object clearing of per-object
// non-conditioning entries around an input only affects those views).
//
// Thread-safety: none; a bucket belongs to one session, which runs one
// operation at a time. The TrackerModel is only read.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "core/model/tracker_modules.h"
#include "core/torch.h"

namespace sam3::core {

// What the tracker reads from the detector's sam2 neck for one frame (batch 1).
struct FrameFeatures {
  torch::Tensor f72;                    // [1, C, g, g] raw F72
  torch::Tensor pos72;                  // [1, C, g, g] its sine PE
  std::vector<torch::Tensor> high_res;  // {conv_s0(F288) [1,C/8,4g,4g], conv_s1(F144) [1,C/4,2g,2g]}
};
using FeatureProvider = std::function<FrameFeatures(int64_t frame)>;

// One stored frame output, batched over the bucket's B objects.
struct TrackerFrameOutput {
  torch::Tensor maskmem_features;     // [B, mem_dim, g, g] (undefined until the memory is encoded)
  torch::Tensor maskmem_pos_enc;      // [B, mem_dim, g, g]
  torch::Tensor pred_masks;           // [B, 1, 4g, 4g] low-res logits
  torch::Tensor obj_ptr;              // [B, C]
  torch::Tensor object_score_logits;  // [B, 1]
  torch::Tensor iou_score;            // [B]
  std::optional<double> eff_iou_score;
  // Rows `idx` (int64 indices) of every tensor; eff_iou_score recomputed.
  TrackerFrameOutput rows(const torch::Tensor& idx) const;
  int64_t bytes() const;
};

// One tracked frame of a bucket.
struct BucketTrackResult {
  std::vector<int64_t> obj_ids;
  torch::Tensor pred_masks;           // [B, 1, 4g, 4g]
  torch::Tensor object_score_logits;  // [B, 1]
};

class TrackerBucket {
 public:
  TrackerBucket(TrackerModelImpl& model, int64_t num_frames, int64_t video_h, int64_t video_w);

  const std::vector<int64_t>& obj_ids() const { return obj_ids_; }
  bool contains(int64_t obj_id) const;
  bool empty() const { return obj_ids_.empty(); }
  bool tracking_started() const { return tracking_started_; }

  // add_new_mask: mask [S, S] bool at the tracker's input mask size (4x the
  // low-res size). A new id is accepted only before the first preflight.
  // \throws InvalidInput for a new id after tracking started.
  void add_new_mask(int64_t t, int64_t obj_id, const torch::Tensor& mask, const FrameFeatures& f);

  // add_new_points_or_box (clear_old_points, no memory): coords [N, 2] pixels
  // at image_size, labels [N] int (1 fg, 0 bg, 2/3 box corners). Replaces the
  // object's clicks on frame t. Returns the object's low-res logits [1,1,4g,4g].
  torch::Tensor add_points(int64_t t, int64_t obj_id, const torch::Tensor& coords, const torch::Tensor& labels,
                           const FrameFeatures& f);

  // propagate_in_video_preflight(run_mem_encoder=True): consolidates every
  // frame with new inputs into conditioning outputs (with memory).
  void preflight(const FeatureProvider& features);

  // Tracks one frame (a consolidated conditioning frame returns its stored
  // output; a bucket left without conditioning frame reports absent objects).
  BucketTrackResult track_frame(int64_t t, bool reverse, const FrameFeatures& f, bool run_mem_encoder);

  // Re-encodes the memory of frame t from masks [B, 1, S, S] (logits, passed
  // through a sigmoid) and object logits [B, 1]; overwrites the stored
  // cond and/or non-cond output of t.
  void overwrite_memory(int64_t t, const FrameFeatures& f, const torch::Tensor& masks, const torch::Tensor& obj_logits);

  // Removes an object; returns true when the bucket is now empty.
  bool remove_object(int64_t obj_id);

  // clear_all_points_in_frame: drops (t, obj) inputs; a frame left without
  // inputs goes back to non-conditioning.
  void clear_inputs_in_frame(int64_t t, int64_t obj_id);
  bool has_point_input(int64_t t, int64_t obj_id) const;
  bool has_mask_input(int64_t t, int64_t obj_id) const;
  std::vector<int64_t> mask_input_frames(int64_t obj_id) const;

  int64_t memory_bytes() const;

 private:
  struct TempOutput {
    torch::Tensor low_res;    // [1, 1, 4g, 4g] (clicks)
    torch::Tensor video_res;  // [1, 1, H, W] (masks)
    torch::Tensor obj_ptr, object_score_logits, iou_score;
  };
  struct PointInput {
    torch::Tensor coords, labels;
  };
  int64_t index_of(int64_t obj_id) const;
  void ensure_object(int64_t obj_id);
  void add_cond_frame(int64_t t, TrackerFrameOutput out);
  TrackerFrameOutput consolidate(int64_t t, const FrameFeatures& f);
  std::optional<TrackerFrameOutput> stored(int64_t t) const;
  static FrameFeatures expand(const FrameFeatures& f, int64_t b);

  TrackerModelImpl& model_;
  int64_t num_frames_, video_h_, video_w_;
  std::vector<int64_t> obj_ids_;
  std::map<int64_t, std::map<int64_t, PointInput>> point_inputs_;    // id -> t -> clicks
  std::map<int64_t, std::map<int64_t, torch::Tensor>> mask_inputs_;  // id -> t -> bool [H, W]
  std::map<int64_t, std::map<int64_t, TempOutput>> temp_;            // id -> t -> unconsolidated
  std::map<int64_t, TrackerFrameOutput> cond_, non_cond_;
  std::vector<int64_t> cond_order_;  // insertion order of cond_ (select_closest_cond_frames reads it)
  std::map<int64_t, bool> tracked_;  // frame -> reverse
  bool tracking_started_ = false;
  torch::Tensor maskmem_pos_enc_;  // [1, mem_dim, g, g], first encoder call
};

// Bilinear resize of [N, 1, h, w] (or [N, h, w]) logits to size x size.
torch::Tensor resize_logits(const torch::Tensor& x, int64_t out_h, int64_t out_w, bool antialias = false);

}  // namespace sam3::core
