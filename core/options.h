// SPDX-License-Identifier: Apache-2.0
// Plain parameter structs with defaults, shared by the CLI, the daemon and the
// configuration file. Each option set is declared once, here; the CLI's
// settings table (cli/settings.cpp) binds TOML keys, environment variables and
// flags to these fields.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/image_engine.h"

namespace sam3::core {

// Options of one segmentation call (CLI `segment`/`batch`, REST image endpoints).
struct SegmentOptions {
  float confidence_threshold = 0.5f;
  bool return_visualization = false;
};

// The image pipeline of `sam3 batch`, `sam3 bench` and the daemon's batch
// endpoint (core/image_pipeline.h): how CPU threads split between IO and
// inference, and how much is in flight.
struct PipelineOptions {
  int io_threads = 0;      // read/decode/encode threads beside inference; 0: the cores model.threads leaves, >= 1
  int in_flight = 0;       // images in flight at once; 0: 2 x cores
  int backbone_batch = 1;  // images per backbone forward
  bool ordered = true;     // emit in input order (`sam3 batch --unordered` turns it off)
};

// Image input limits (decode guards).
struct InputLimits {
  int64_t max_upload_mb = 100;       // request bodies and input files
  int64_t max_image_pixels = 100'000'000;
};

// Feature cache for cached-features / repeated images.
struct CacheOptions {
  bool enabled = true;
  int ttl_seconds = 3600;
  int64_t max_size_mb = 2048;
};

// Detector-tracker orchestration parameters (reference defaults of
// build_sam3_video_model with apply_temporal_disambiguation=True).
struct TrackOptions {
  float score_threshold_detection = 0.5f;  // detections kept (and NMS pre-filter): p > this
  float det_nms_thresh = 0.1f;             // mask-IoU NMS between detections
  float assoc_iou_thresh = 0.1f;           // detection overlaps a track (not new; det_to_matched)
  float trk_assoc_iou_thresh = 0.5f;       // a track counts as matched
  float new_det_thresh = 0.7f;             // new object when tracks exist: p >= this
  int hotstart_delay = 15;                 // output lag; window in which young objects may be removed
  int hotstart_unmatch_thresh = 8;         // unmatched frames that remove a young object
  int hotstart_dup_thresh = 8;             // frames duplicating an older object that remove a young one
  int init_trk_keep_alive = 30;
  int max_trk_keep_alive = 30;
  int min_trk_keep_alive = -1;
  float occlusion_suppression_iou = 0.7f;  // suppress_overlapping_based_on_recent_occlusion_threshold (0 = off)
  int fill_hole_area = 16;                 // holes / sprinkles filled in tracker and detector masks
  int recondition_every_nth_frame = 16;    // re-anchor tracks on confident detections (0 = off)
  float high_conf_thresh = 0.8f;           // reconditioning: detection score and tracker logit
  float high_iou_thresh = 0.8f;            // reconditioning: detection-track mask IoU
  float shrink_keep_ratio = 0.3f;          // memory update keeps a mask if >= this survives non-overlap
  int max_num_objects = 10000;
  bool box_prompts_as_exemplars = false;  // a box without text: detector exemplar (reference) vs tracker box

  // The ablation apply_temporal_disambiguation=False: no hotstart and no
  // reconditioning (memory selection is a tracker-config switch,
  // TrackerConfig::use_memory_selection, fixed by the loaded model).
  static TrackOptions without_temporal_disambiguation();
};

// Video sessions.
struct SessionOptions {
  int max_concurrent_sessions = 10;
  int timeout_seconds = 1800;
  int cleanup_interval_seconds = 60;
  std::vector<std::string> gpus;          // VIDEO_MODEL_GPUS, e.g. "0,1"
  bool temporal_disambiguation = true;
  std::vector<std::string> video_roots;   // video_path must be under one of these
  std::vector<std::string> url_schemes = {"https"};
  std::vector<std::string> url_hosts;     // empty: no host allowed (no video_url fetches)
  std::string frame_storage = "auto";     // ram | ram_fp16 | ram_bf16 | disk | auto (core/video/frame_store.h)
  int64_t max_frame_ram_mb = 8192;        // decoded frames kept in RAM per session before offloading
  std::string offload_dir;                // where offloaded frames go ("" = the system temp folder)
  TrackOptions track;                     // orchestration parameters of every session
};

// The REST daemon.
struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  int workers = 8;
  bool require_api_key = false;
  std::vector<std::string> api_keys;
  bool rate_limit_enabled = false;
  int rate_limit_requests_per_minute = 60;
  std::vector<std::string> cors_origins;  // empty: CORS off
  std::string upload_dir = "/tmp/sam3/uploads";
  std::string output_dir = "/tmp/sam3/outputs";
  bool enable_metrics = true;
  int metrics_port = 0;  // 0: /metrics on the main port
  int queue_depth = 16;  // bounded queue per device; full -> 503
};

// Whether torch.compile-style options were requested (accepted for
// compatibility with the original spec's variables; no effect in C++).
struct CompileOptions {
  bool image_compile = false;
  bool video_compile = false;
};

}  // namespace sam3::core
