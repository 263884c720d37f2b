// SPDX-License-Identifier: Apache-2.0
// `sam3 video track VIDEO|FRAMES_DIR`: prompts on chosen frames, propagation,
// per-frame JSON lines or a COCO-video-style results file, optionally an
// overlay MP4. Calls the same core::VideoSession API as the daemon.
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/prompt_args.h"
#include "core/errors.h"
#include "core/video/session_manager.h"
#include "core/video/video_session.h"
#include "formats/atomic_file.h"
#include "formats/overlay.h"
#include "formats/result_json.h"
#include "formats/rle.h"
#include "formats/video_decode.h"
#include "formats/video_encode.h"

namespace sam3::cli {
namespace {

struct TrackOptions {
  CommonOptions common;
  std::string input;
  std::vector<std::string> texts;
  std::vector<std::string> points;  // FRAME:X,Y[:LABEL]
  std::vector<std::string> boxes;   // FRAME:CX,CY,W,H[:LABEL]
  std::string direction = "forward";
  int start_frame = 0;
  bool start_frame_given = false;
  int max_frames = 0;  // 0 = to the end
  std::string format = "jsonl";
  std::string out = "-";
  std::string overlay;  // optional overlay MP4
};

// The tracker objects the flags describe: all points on one frame (and the
// first box on that frame) form one object; every other box is an object.
struct ObjectPrompt {
  int frame = 0;
  core::VideoPrompt prompt;
};

std::vector<ObjectPrompt> object_prompts(const TrackOptions& o) {
  std::map<int, core::VideoPrompt> by_frame;
  std::vector<FrameBox> boxes;
  for (const auto& s : o.points) {
    const FramePoint p = parse_frame_point(s);
    by_frame[p.frame].points.push_back(p.point);
  }
  for (const auto& s : o.boxes) boxes.push_back(parse_frame_box(s));
  std::vector<ObjectPrompt> out;
  for (auto& [frame, prompt] : by_frame) {
    auto it = std::find_if(boxes.begin(), boxes.end(), [&](const FrameBox& b) { return b.frame == frame; });
    if (it != boxes.end()) {
      prompt.boxes.push_back(it->box);
      boxes.erase(it);
    }
    out.push_back({frame, prompt});
  }
  for (const FrameBox& b : boxes) {
    ObjectPrompt p{b.frame, {}};
    p.prompt.boxes.push_back(b.box);
    out.push_back(p);
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.frame < b.frame; });
  return out;
}

bool stderr_is_terminal() {
  return isatty(STDERR_FILENO) == 1;
}

class Progress {
 public:
  explicit Progress(bool on) : on_(on) {}
  void show(const char* what, int64_t done, int64_t total, const std::string& note = "") {
    if (!on_) return;
    std::cerr << "\r" << what << " " << done;
    if (total > 0) std::cerr << "/" << total;
    std::cerr << note << "   " << std::flush;
    dirty_ = true;
  }
  void end() {
    if (on_ && dirty_) std::cerr << "\n";
    dirty_ = false;
  }

 private:
  bool on_;
  bool dirty_ = false;
};

// YouTube-VIS-style results: one entry per object with a segmentation (RLE
// or null) and a pixel box per frame of the video.
nlohmann::json coco_video_json(const std::string& input, const core::VideoSessionInfo& info,
                               const std::map<int64_t, formats::SegmentResult>& frames, const std::string& prompt) {
  using nlohmann::json;
  std::map<int64_t, json> objects;
  const auto T = static_cast<size_t>(info.total_frames);
  for (const auto& [t, r] : frames)
    for (const auto& inst : r.instances) {
      const int64_t id = inst.obj_id.value_or(-1);
      json& o = objects[id];
      if (o.is_null()) {
        o = {{"id", static_cast<int64_t>(objects.size())},
             {"video_id", 1},
             {"category_id", 1},
             {"obj_id", id},
             {"score", inst.score},
             {"segmentations", json::array()},
             {"bboxes", json::array()},
             {"areas", json::array()}};
        for (size_t i = 0; i < T; ++i) {
          o["segmentations"].push_back(nullptr);
          o["bboxes"].push_back(nullptr);
          o["areas"].push_back(nullptr);
        }
      }
      const formats::Rle rle = formats::mask_to_rle(inst.mask);
      const auto& b = inst.box_xyxy;
      o["segmentations"][static_cast<size_t>(t)] = formats::rle_to_json(rle);
      o["bboxes"][static_cast<size_t>(t)] = {b[0], b[1], b[2] - b[0], b[3] - b[1]};
      o["areas"][static_cast<size_t>(t)] = formats::rle_area(rle);
    }
  json doc;
  doc["info"] = {{"description", "sam3 video track"}, {"prompt", prompt}};
  doc["videos"] = json::array({{{"id", 1},
                                {"file_name", input},
                                {"width", info.width},
                                {"height", info.height},
                                {"length", info.total_frames},
                                {"fps", info.fps}}});
  doc["categories"] = json::array({{{"id", 1}, {"name", prompt.empty() ? std::string("object") : prompt}}});
  doc["annotations"] = json::array();
  for (auto& [id, o] : objects) doc["annotations"].push_back(std::move(o));
  return doc;
}

void write_overlay(const std::string& input, const std::string& path, double fps,
                   const std::map<int64_t, formats::SegmentResult>& frames, Progress& progress) {
  auto src = formats::open_video_source(input);
  formats::VideoEncodeOptions eo;
  eo.fps = fps > 0 ? fps : 30.0;
  formats::VideoWriter writer(path, eo);
  formats::VideoFrame f;
  int64_t n = 0;
  while (src->next(f)) {
    auto it = frames.find(f.index);
    writer.write(it == frames.end() ? f.image : formats::render_overlay(f.image, it->second));
    progress.show("overlay", ++n, src->info().total_frames);
  }
  writer.finish();
  progress.end();
}

int run_track(const TrackOptions& o) {
  if (o.texts.size() > 1)
    throw UsageError("video track: one --text per run (a new text prompt restarts the tracking), got " +
                     std::to_string(o.texts.size()));
  const std::vector<ObjectPrompt> clicks = object_prompts(o);
  if (o.texts.empty() && clicks.empty())
    throw UsageError("video track needs at least one prompt (--text, --point or --box)");
  const AppConfig cfg = resolve(o.common);
  const auto direction = core::propagate_direction_from_string(o.direction);
  Progress progress(stderr_is_terminal());

  const core::VideoSessionOptions so = core::video_session_options(cfg.session);
  auto model = load_model(cfg);
  // Returns once frame 0 is decoded; the rest decode ahead of the tracker
  // (the tracking progress line shows how far).
  auto session = core::VideoSession::open(model, o.input, so);
  const core::VideoSessionInfo info = session->info();
  auto check_frame = [&](int f, const char* what) {
    if (f < 0 || f >= info.total_frames)
      throw UsageError(std::string(what) + ": frame " + std::to_string(f) + " is outside the video's 0.." +
                       std::to_string(info.total_frames - 1));
  };
  if (o.start_frame_given) check_frame(o.start_frame, "--start-frame");
  for (const auto& c : clicks) check_frame(c.frame, "--point/--box");

  if (!o.texts.empty()) {
    core::VideoPrompt p;
    p.text = o.texts.front();
    session->add_prompt(o.start_frame, p);
  }
  for (const auto& c : clicks) session->add_prompt(c.frame, c.prompt);

  // Output: JSON lines streamed to stdout, or collected and written atomically.
  const bool to_stdout = o.out == "-";
  const bool jsonl = o.format == "jsonl";
  const bool keep_frames = !jsonl || !o.overlay.empty();
  std::ostringstream buffer;
  std::map<int64_t, formats::SegmentResult> frames;
  int64_t done = 0;
  const int64_t total = info.total_frames;
  session->propagate(direction, o.start_frame_given ? std::optional<int64_t>(o.start_frame) : std::nullopt,
                     o.max_frames > 0 ? std::optional<int64_t>(o.max_frames) : std::nullopt,
                     [&](int64_t t, const formats::SegmentResult& r) {
                       if (jsonl) {
                         const std::string line = formats::video_frame_json(t, r).dump();
                         if (to_stdout)
                           std::cout << line << '\n' << std::flush;
                         else
                           buffer << line << '\n';
                       }
                       if (keep_frames) frames[t] = r;
                       const int64_t loaded = session->status().frames_loaded;
                       progress.show("tracking frame", ++done, total,
                                     loaded < total ? " (decoded " + std::to_string(loaded) + ")" : "");
                     });
  progress.end();
  if (!jsonl) {
    const std::string doc = coco_video_json(o.input, info, frames, o.texts.empty() ? "" : o.texts.front()).dump();
    if (to_stdout)
      std::cout << doc << '\n';
    else
      formats::write_file_atomic(o.out, doc + "\n");
  } else if (!to_stdout) {
    formats::write_file_atomic(o.out, buffer.str());
  }
  if (!o.overlay.empty()) write_overlay(o.input, o.overlay, info.fps, frames, progress);
  const auto st = session->status();
  std::cerr << "tracked " << st.object_ids.size() << " object(s) over " << done << " frame(s)\n";
  return 0;
}

}  // namespace

void add_video_command(CLI::App& root) {
  auto* video = root.add_subcommand("video", "Video object tracking");
  video->require_subcommand(1);
  auto o = std::make_shared<TrackOptions>();
  auto* cmd = video->add_subcommand("track", "Track objects through a video (MP4, any FFmpeg input) or a JPEG folder");
  cmd->add_option("input", o->input, "video file or folder of JPEG frames")->required()->type_name("VIDEO|DIR");
  cmd->add_option("-t,--text", o->texts, "text prompt applied on the start frame (every instance is tracked)");
  cmd->add_option("-p,--point", o->points,
                  "point prompt FRAME:X,Y[:pos|neg] (normalized; repeatable; the points of one frame are one object)");
  cmd->add_option("-b,--box", o->boxes,
                  "box prompt FRAME:CX,CY,W,H[:pos|neg] (normalized; repeatable; one object each)");
  cmd->add_option("--direction", o->direction, "propagation direction")
      ->check(CLI::IsMember({"forward", "backward", "both"}))
      ->capture_default_str();
  auto* start =
      cmd->add_option("--start-frame", o->start_frame,
                      "frame to start propagating from (default: the first prompted frame; --text applies here)");
  start->check(CLI::NonNegativeNumber);
  cmd->add_option("--max-frames", o->max_frames, "frames to propagate after the start frame (0 = all)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-f,--format", o->format, "jsonl (a line per frame) or coco (COCO-video-style results)")
      ->check(CLI::IsMember({"jsonl", "coco"}))
      ->capture_default_str();
  cmd->add_option("-o,--out", o->out, "output file ('-' = stdout); written atomically")->capture_default_str();
  cmd->add_option("--overlay", o->overlay, "also write an overlay MP4 here")->type_name("FILE");
  add_common_options(*cmd, o->common, 0);
  cmd->callback([o, start] {
    o->start_frame_given = start->count() > 0;
    command_exit_code() = run_track(*o);
  });
}

}  // namespace sam3::cli
