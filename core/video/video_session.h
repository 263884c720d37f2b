// SPDX-License-Identifier: Apache-2.0
// A video tracking session (reference: sam3/model/sam3_video_predictor.py
// Sam3VideoPredictor and sam3_video_inference.py): the decoded frames, the
// tracked objects with their memory, the prompts and the per-frame outputs.
// Torch-free header: the CLI and the daemon include it without LibTorch.
//
// Semantics (see docs and sam3-video-port-spec.md):
//  - add_prompt with a text (optionally with box exemplars) starts over: the
//    session is reset (frames kept), the detector runs on that frame and
//    every instance becomes an object; propagation then detects on every
//    frame and keeps the objects with stable ids (association, NMS, new
//    detection threshold, hotstart, keep-alive, occlusion suppression,
//    reconditioning: TrackOptions).
//  - add_prompt with points and/or one box (no text) adds a tracker-only
//    object (obj_id given or the next free id) or refines obj_id on that
//    frame; the clicks of that object on that frame are replaced.
//    Difference from the reference: a frame without earlier outputs is
//    treated as empty (the reference asserts), and a box alone is a tracker
//    box (the reference's box-only detector exemplar is removed by hotstart
//    after 8 frames; set TrackOptions::box_prompts_as_exemplars for it).
//  - propagate: forward, backward or both from start_frame (default: the
//    first prompted frame) for up to max_frames frames after it (forward
//    includes the start frame, backward starts at start-1). The first
//    propagation after a text prompt runs the detector-tracker loop (clicked
//    objects included; the reference would re-track only those); after
//    clicks only the clicked objects are re-tracked; otherwise the cached
//    outputs are replayed (the reference's FULL / PARTIAL / FETCH modes and
//    its action-history rules). With hotstart, frames are emitted with a lag
//    of hotstart_delay frames, and objects removed by hotstart are hidden on
//    every frame emitted afterwards.
//  - Outputs: masks at the video size (object-wise non-overlapping by
//    frame-wise score), pixel boxes from the masks before that step, score =
//    the detection score at the object's birth (1 for click objects). The
//    per-frame output cache is kept as COCO RLE on the CPU.
//  - Not reproduced: the reference detector's one-frame look-ahead (a box
//    exemplar also affecting frame f+1), multi-GPU object sharding, bf16
//    autocast of the tracker (fp32 here; memories are stored in bf16 as the
//    reference does).
//
// Thread-safety: every method may be called from any thread; operations on
// one session are serialised (a second call waits). status() and info() do
// not wait for a running propagation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/image_engine.h"
#include "core/options.h"
#include "formats/types.h"

namespace sam3::core {

// TrackOptions (the orchestration parameters) is declared in core/options.h.

// Prompts for one frame. Text (+ optional box exemplars) -> detector path;
// points and/or a box without text -> tracker path (one object).
struct VideoPrompt {
  std::optional<std::string> text;
  std::vector<PointPrompt> points;  // normalized x, y
  std::vector<BoxPrompt> boxes;     // normalized cx, cy, w, h
};

enum class PropagateDirection { forward, backward, both };
// "forward" / "backward" / "both". \throws InvalidInput otherwise.
PropagateDirection propagate_direction_from_string(std::string_view s);

struct VideoSessionInfo {
  int64_t total_frames = 0;
  double fps = 0;
  int width = 0;
  int height = 0;
  double duration_seconds = 0;
};

struct VideoSessionStatus {
  int64_t frames_processed = 0;  // frames with outputs (cached)
  int64_t total_frames = 0;
  int64_t frames_loaded = 0;  // frames decoded and stored so far (reaches total_frames once the load is done)
  std::vector<int64_t> object_ids;
  int64_t memory_bytes = 0;  // frames + tracker memory + cached outputs
  std::string device;
  bool busy = false;  // an operation is running
};

struct VideoSessionOptions {
  TrackOptions track;
  std::string frame_storage = "ram";  // see core/video/frame_store.h: ram, ram_fp16, disk, auto
  int64_t max_frame_ram_bytes = 0;    // RAM kinds: TooLarge beyond; auto: offload beyond (0 = no limit)
  std::string offload_dir;            // disk kinds ("" = the system temp folder)
  int64_t max_frames = 100'000;       // decode guard
  uint64_t max_pixels = 100'000'000;
  int64_t feature_cache_frames = 2;  // backbone outputs kept (recent frames; ~150 MB each at 1008 px)
  int loader_threads = 0;            // frame preprocessing threads of open()'s loader (0 = cores - model threads, >= 1)
};

// (frame_index, that frame's objects: Instance::obj_id set, score = the
// object's detection score at birth, 1 for click objects).
using VideoFrameCallback = std::function<void(int64_t, const formats::SegmentResult&)>;

class VideoSession {
 public:
  // Opens `path` (video file, frame folder or one image) and decodes ahead:
  // a background loader (decode -> parallel preprocess -> store) fills the
  // frames while open returns as soon as frame 0 is stored; prompts and
  // propagation wait for a frame only when they get ahead of the loader.
  // info().total_frames is the container's count (when the container has
  // none, open waits for the whole load and counts). should_stop and
  // on_progress(stored, total) are copied and called from the loader thread
  // until the load ends or the session is destroyed (which stops the loader
  // and joins it). A load that fails later (corrupt or truncated data,
  // should_stop) surfaces as that error, typed, from add_prompt / propagate
  // on the first frame it lacks; fewer frames than announced without an
  // error -> InvalidInput naming the frame and the decoded count.
  // \throws NotFound, InvalidInput, TooLarge (probe, frame 0, RAM budget),
  // ModelError (no tracker in the model), Cancelled (should_stop before frame 0).
  static std::unique_ptr<VideoSession> open(std::shared_ptr<const Sam3Model> model, const std::string& path,
                                            const VideoSessionOptions& options = {},
                                            const std::function<bool()>& should_stop = {},
                                            const std::function<void(int64_t, int64_t)>& on_progress = {});
  // From frames already decoded (tests, uploads). \throws InvalidInput for no frames.
  static std::unique_ptr<VideoSession> from_frames(std::shared_ptr<const Sam3Model> model,
                                                   const std::vector<formats::Image>& frames, double fps = 30.0,
                                                   const VideoSessionOptions& options = {});
  ~VideoSession();
  VideoSession(const VideoSession&) = delete;
  VideoSession& operator=(const VideoSession&) = delete;

  // Returns the frame's objects after the prompt.
  // \throws InvalidInput for a frame out of range or a malformed prompt.
  formats::SegmentResult add_prompt(int64_t frame_index, const VideoPrompt& prompt,
                                    std::optional<int64_t> obj_id = std::nullopt);

  // Calls on_frame for each frame in processing order as it is ready.
  // Returns the number of frames emitted. \throws InvalidInput (no prompt
  // yet and no start frame, start out of range), Cancelled (should_stop).
  int64_t propagate(PropagateDirection direction, std::optional<int64_t> start_frame, std::optional<int64_t> max_frames,
                    const VideoFrameCallback& on_frame, const std::function<bool()>& should_stop = {});

  // The cached objects of one frame (as last emitted; empty when the frame
  // was not processed yet). \throws InvalidInput for a frame out of range.
  formats::SegmentResult frame_objects(int64_t frame_index);

  // \throws NotFound for an unknown id.
  void remove_object(int64_t obj_id);

  // Clears prompts, objects, memory and outputs (the frames stay); returns
  // the ids that were cleared.
  std::vector<int64_t> reset();

  VideoSessionStatus status() const;
  const VideoSessionInfo& info() const;
  std::string device() const;

  struct Impl;

 private:
  explicit VideoSession(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sam3::core
