// SPDX-License-Identifier: Apache-2.0
// Video session: frames, feature cache, prompts, propagation modes (FULL /
// PARTIAL / FETCH), the hotstart output buffer and the post-processing
// (reference: sam3_video_predictor.py, sam3_video_inference.py
// propagate_in_video, _postprocess_output, _get_processing_order,
// Sam3VideoInferenceWithInstanceInteractivity.propagate_in_video).
#include "core/video/video_session.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/device_pool.h"
#include "core/errors.h"
#include "core/image_state.h"
#include "core/log.h"
#include "core/video/frame_store.h"
#include "core/video/orchestrator.h"
#include "formats/rle.h"
#include "formats/video_decode.h"

namespace sam3::core {
namespace {

enum class Mode { full, partial, fetch };
enum class ActionType { add, refine, remove, full, partial, fetch };

struct Action {
  ActionType type;
  std::optional<int64_t> frame;
  std::set<int64_t> obj_ids;
};

bool is_propagation(ActionType a) {
  return a == ActionType::full || a == ActionType::partial || a == ActionType::fetch;
}

std::array<float, 4> tensor_mask_box(const torch::Tensor& m) {
  auto ys = m.any(1).nonzero(), xs = m.any(0).nonzero();
  if (ys.numel() == 0) return {0, 0, 0, 0};
  return {static_cast<float>(xs.min().item<int64_t>()), static_cast<float>(ys.min().item<int64_t>()),
          static_cast<float>(xs.max().item<int64_t>() + 1), static_cast<float>(ys.max().item<int64_t>() + 1)};
}

// The output cache holds COCO RLE (H*W bytes per object-frame as masks; a
// few hundred bytes as RLE), on the CPU.
formats::Rle encode_mask(const torch::Tensor& m) {
  auto c = m.to(torch::kCPU).to(torch::kUInt8).contiguous();
  return formats::mask_to_rle(c.data_ptr<uint8_t>(), static_cast<int>(c.size(0)), static_cast<int>(c.size(1)));
}

torch::Tensor decode_mask(const formats::Rle& r) {
  formats::Mask m = formats::mask_from_rle(r);
  return torch::from_blob(m.data.data(), {m.height, m.width}, torch::kUInt8).to(torch::kBool);  // copies
}

void check_unit(float v, const char* what) {
  if (!std::isfinite(v)) throw InvalidInput(std::string("video prompt: ") + what + " must be a finite number");
}

}  // namespace

PropagateDirection propagate_direction_from_string(std::string_view s) {
  if (s == "forward") return PropagateDirection::forward;
  if (s == "backward") return PropagateDirection::backward;
  if (s == "both") return PropagateDirection::both;
  throw InvalidInput("propagation direction: expected forward, backward or both, got \"" + std::string(s) + "\"");
}

struct VideoSession::Impl {
  struct Cached {
    BackboneFeatures det;
    FrameFeatures trk;
  };
  using Masks = std::map<int64_t, torch::Tensor>;  // id -> bool [H, W] CPU
  using Encoded = std::map<int64_t, formats::Rle>;

  static Encoded encode_all(const Masks& m) {
    Encoded e;
    for (const auto& [id, x] : m) e[id] = encode_mask(x);
    return e;
  }
  static Masks decode_all(const Encoded& e) {
    Masks m;
    for (const auto& [id, r] : e) m[id] = decode_mask(r);
    return m;
  }

  std::shared_ptr<const Sam3Model> model;
  VideoSessionOptions opts;
  VideoSessionInfo info;
  std::unique_ptr<FrameStore> frames;
  // Fills `frames` after open() returns; stopped and joined before anything
  // it touches goes away (see ~Impl).
  std::thread loader;
  std::atomic<bool> stop_loading{false};
  int64_t T = 0;
  int H = 0, W = 0;
  std::mutex op_mu;
  mutable std::mutex status_mu;
  VideoSessionStatus snapshot;

  std::map<int64_t, Cached> feat_cache;
  std::deque<int64_t> feat_order;
  std::optional<std::string> text_prompt;
  TextFeatures text_features;
  std::map<int64_t, BoxPrompt> exemplars;
  std::unique_ptr<Orchestrator> orch;
  std::map<int64_t, Encoded> outputs;  // cached_frame_outputs
  std::set<int64_t> prompted;          // frames that went through a prompt or the loop
  std::vector<Action> history;

  ~Impl() { stop_loader(); }

  void stop_loader() {
    stop_loading = true;
    if (loader.joinable()) loader.join();
  }

  TrackerModelImpl& tracker() const { return *model->net().inst_interactive_predictor->model; }

  void init_state() {
    orch = std::make_unique<Orchestrator>(tracker(), opts.track, T, H, W);
    text_prompt.reset();
    text_features = TextFeatures{};
    exemplars.clear();
    outputs.clear();
    prompted.clear();
    history.clear();
    feat_cache.clear();
    feat_order.clear();
  }

  Cached features(int64_t t) {
    auto it = feat_cache.find(t);
    if (it != feat_cache.end()) return it->second;
    torch::Tensor pixels = frames->fetch(t, model->device()).unsqueeze(0);
    BackboneFeatures bf = compute_image_features(*model, pixels);
    if (bf.sam2_fpn.size() != 3) throw ModelError("video session: the backbone returned no sam2 features");
    Cached c;
    TrackerModelImpl& tr = tracker();
    c.trk.f72 = bf.sam2_fpn[2];
    c.trk.pos72 = bf.sam2_pos[2];
    c.trk.high_res = {tr.sam_mask_decoder->conv_s0->forward(bf.sam2_fpn[0]),
                      tr.sam_mask_decoder->conv_s1->forward(bf.sam2_fpn[1])};
    bf.sam2_fpn.clear();
    bf.sam2_pos.clear();
    // Grounding reads only the coarsest position encoding (as ImageEngine::set_image).
    for (size_t i = 0; i + 1 < bf.pos.size(); ++i) bf.pos[i] = torch::Tensor();
    c.det = std::move(bf);
    feat_cache[t] = c;
    feat_order.push_back(t);
    while (static_cast<int64_t>(feat_order.size()) > std::max<int64_t>(1, opts.feature_cache_frames)) {
      feat_cache.erase(feat_order.front());
      feat_order.pop_front();
    }
    return c;
  }

  FeatureProvider provider() {
    return [this](int64_t t) { return features(t).trk; };
  }

  VideoDetections detect(int64_t t, const Cached& c) {
    const bool allow_new = text_prompt.has_value() || exemplars.count(t) > 0;
    if (!text_features.features.defined())
      text_features = compute_text_features(*model, {text_prompt ? *text_prompt : std::string("visual")});
    torch::Tensor boxes, labels;
    auto ex = exemplars.find(t);
    if (ex != exemplars.end()) {
      const BoxPrompt& b = ex->second;
      boxes = torch::tensor({b.cx, b.cy, b.w, b.h}, torch::kFloat32).view({1, 4}).to(model->device());
      labels = torch::tensor({b.positive ? 1 : 0}, torch::kUInt8).to(torch::kBool).to(model->device());
    }
    GroundingOutput g = model->net().forward_grounding(c.det, text_features, boxes, labels);
    const TrackOptions& o = opts.track;
    return select_video_detections(g.pred_logits[0], g.presence_logit_dec[0], g.pred_masks[0],
                                   o.score_threshold_detection, o.det_nms_thresh, allow_new);
  }

  // _postprocess_output: ascending ids, empty and hidden masks dropped, boxes
  // from the masks, then object-wise non-overlap by frame-wise score.
  formats::SegmentResult postprocess(int64_t t, const Masks& masks) const {
    formats::SegmentResult res;
    res.width = W;
    res.height = H;
    res.prompt = text_prompt.value_or("");
    const auto& hidden = orch->removed_ids();
    std::vector<int64_t> ids;
    std::vector<torch::Tensor> ms;
    for (const auto& [id, m] : masks) {
      if (hidden.count(id) || !m.any().item<bool>()) continue;
      ids.push_back(id);
      ms.push_back(m);
    }
    if (ids.empty()) return res;
    std::vector<std::array<float, 4>> boxes;
    for (const auto& m : ms) boxes.push_back(tensor_mask_box(m));
    auto stack = torch::stack(ms);  // [K, H, W]
    const auto K = static_cast<int64_t>(ids.size());
    if (K > 1) {
      std::vector<float> sc;
      for (int64_t id : ids) sc.push_back(orch->frame_score(t, id));
      auto s = torch::tensor(sc, torch::kFloat32).view({K, 1, 1});
      auto score_map = torch::where(stack, s, torch::full({}, -INFINITY));
      auto best = score_map.argmax(0, true);  // ties: the lower id
      auto idx = torch::arange(K, best.options()).view({K, 1, 1});
      stack = stack & (best == idx) & (s > 0);
    }
    auto u8 = stack.to(torch::kUInt8).contiguous();
    const size_t plane = static_cast<size_t>(H) * static_cast<size_t>(W);
    for (int64_t k = 0; k < K; ++k) {
      formats::Instance inst;
      inst.mask.width = W;
      inst.mask.height = H;
      const uint8_t* src = u8[k].data_ptr<uint8_t>();
      inst.mask.data.assign(src, src + plane);
      inst.box_xyxy = boxes[static_cast<size_t>(k)];
      inst.score = orch->object_score(ids[static_cast<size_t>(k)]);
      inst.obj_id = ids[static_cast<size_t>(k)];
      res.instances.push_back(std::move(inst));
    }
    return res;
  }

  void emit(int64_t t, const VideoFrameCallback& on_frame) {
    Encoded& m = outputs[t];
    for (int64_t id : orch->removed_ids()) m.erase(id);
    auto res = postprocess(t, decode_all(m));
    update_status(true);
    if (on_frame) on_frame(t, res);
  }

  void update_status(bool busy) {
    int64_t out_bytes = 0;
    for (const auto& [t, m] : outputs)
      for (const auto& [id, r] : m) out_bytes += static_cast<int64_t>(r.counts.size() + sizeof(r));
    int64_t feat_bytes = 0;
    for (const auto& [t, c] : feat_cache) {
      for (const auto* v : {&c.det.fpn, &c.det.pos, &c.trk.high_res})
        for (const auto& x : *v)
          if (x.defined()) feat_bytes += x.numel() * static_cast<int64_t>(x.element_size());
      for (const auto* x : {&c.trk.f72, &c.trk.pos72})
        if (x->defined()) feat_bytes += x->numel() * static_cast<int64_t>(x->element_size());
    }
    VideoSessionStatus s;
    s.frames_processed = static_cast<int64_t>(outputs.size());
    s.total_frames = T;
    s.object_ids = orch->object_ids();
    std::sort(s.object_ids.begin(), s.object_ids.end());
    s.memory_bytes = orch->memory_bytes() + out_bytes + feat_bytes;  // status() adds the frames' live bytes
    s.device = model->device().str();
    s.busy = busy;
    std::lock_guard<std::mutex> lk(status_mu);
    snapshot = std::move(s);
  }

  void check_frame(int64_t t, const char* what) const {
    if (t < 0 || t >= T)
      throw InvalidInput(std::string(what) + ": frame index " + std::to_string(t) + " is outside [0, " +
                         std::to_string(T) + ")");
  }

  formats::SegmentResult add_detector_prompt(int64_t t, const VideoPrompt& p) {
    if (p.boxes.size() > 1)
      throw InvalidInput("video prompt: a text prompt takes at most one box exemplar, got " +
                         std::to_string(p.boxes.size()));
    init_state();
    const bool has_text = p.text && p.text->find_first_not_of(" \t\r\n") != std::string::npos;
    if (has_text) text_prompt = *p.text;
    if (!p.boxes.empty()) {
      const BoxPrompt& b = p.boxes[0];
      for (float v : {b.cx, b.cy, b.w, b.h}) check_unit(v, "box");
      if (b.w < 0 || b.h < 0) throw InvalidInput("video prompt: box with a negative size");
      exemplars[t] = b;
    }
    return postprocess(t, detect_and_track(t, false).masks);
  }

  formats::SegmentResult add_tracker_prompt(int64_t t, const VideoPrompt& p, std::optional<int64_t> obj_id) {
    if (p.boxes.size() > 1)
      throw InvalidInput("video prompt: one object takes at most one box, got " + std::to_string(p.boxes.size()));
    const int64_t id = obj_id.value_or(orch->max_obj_id() + 1);
    if (id < 0) throw InvalidInput("video prompt: obj_id must be >= 0, got " + std::to_string(id));
    const float R = static_cast<float>(model->config().image_size);
    std::vector<float> coords;
    std::vector<int64_t> labels;
    if (!p.boxes.empty()) {  // a box is two points labelled 2 (top-left) and 3 (bottom-right), first
      const BoxPrompt& b = p.boxes[0];
      for (float v : {b.cx, b.cy, b.w, b.h}) check_unit(v, "box");
      if (b.w < 0 || b.h < 0) throw InvalidInput("video prompt: box with a negative size");
      coords.insert(coords.end(),
                    {(b.cx - b.w / 2) * R, (b.cy - b.h / 2) * R, (b.cx + b.w / 2) * R, (b.cy + b.h / 2) * R});
      labels.insert(labels.end(), {2, 3});
    }
    for (const PointPrompt& pt : p.points) {
      check_unit(pt.x, "point x");
      check_unit(pt.y, "point y");
      coords.insert(coords.end(), {pt.x * R, pt.y * R});
      labels.push_back(pt.positive ? 1 : 0);
    }
    const auto n = static_cast<int64_t>(labels.size());
    auto ct = torch::tensor(coords, torch::kFloat32).view({n, 2}).to(model->device());
    auto lt = torch::tensor(labels, torch::kInt64).to(model->device());
    const bool refine = orch->has_object(id);
    Cached c = features(t);
    torch::Tensor mask = orch->add_points(t, id, ct, lt, c.trk, provider());
    history.push_back({refine ? ActionType::refine : ActionType::add, t, {id}});
    outputs[t][id] = encode_mask(mask);
    prompted.insert(t);
    return postprocess(t, decode_all(outputs[t]));
  }

  std::pair<Mode, std::set<int64_t>> decide_mode() const {
    if (history.empty()) return {Mode::full, {}};
    // Unlike the reference (clicks after a text prompt lead to tracker-only
    // propagation), the first propagation after a text/exemplar prompt always
    // runs the detector loop, clicked objects included.
    const bool detector_prompt = text_prompt.has_value() || !exemplars.empty();
    const bool full_ran =
        std::any_of(history.begin(), history.end(), [](const Action& a) { return a.type == ActionType::full; });
    if (detector_prompt && !full_ran) return {Mode::full, {}};
    const Action& last = history.back();
    if (last.type == ActionType::fetch) return {Mode::fetch, {}};
    if (last.type == ActionType::partial || last.type == ActionType::full) {
      const bool two = history.size() >= 2 && (history[history.size() - 2].type == ActionType::partial ||
                                               history[history.size() - 2].type == ActionType::full);
      const bool edge = last.frame && (*last.frame == 0 || *last.frame == T - 1);
      if (two || edge) return {Mode::fetch, {}};
      return {last.type == ActionType::full ? Mode::full : Mode::partial, last.obj_ids};
    }
    std::set<int64_t> ids;
    for (auto it = history.rbegin(); it != history.rend() && !is_propagation(it->type); ++it)
      if (it->type == ActionType::add || it->type == ActionType::refine)
        ids.insert(it->obj_ids.begin(), it->obj_ids.end());
    // Ids removed since they were clicked are not re-tracked.
    for (auto it = ids.begin(); it != ids.end();) it = orch->has_object(*it) ? std::next(it) : ids.erase(it);
    if (ids.empty()) return {Mode::fetch, {}};
    return {Mode::partial, ids};
  }

  std::vector<int64_t> processing_order(std::optional<int64_t> start, std::optional<int64_t> max_frames,
                                        bool reverse) const {
    int64_t s;
    if (start) {
      check_frame(*start, "propagate start_frame");
      s = *start;
    } else {
      if (prompted.empty()) throw InvalidInput("propagate: no prompts were received on any frame (add a prompt first)");
      s = *prompted.begin();
    }
    const int64_t m = max_frames.value_or(T);
    if (m < 0) throw InvalidInput("propagate: max_frames must be >= 0, got " + std::to_string(m));
    std::vector<int64_t> order;
    if (!reverse)
      for (int64_t t = s; t <= std::min(s + m, T - 1); ++t) order.push_back(t);
    else
      for (int64_t t = s - 1; t >= std::max<int64_t>(s - m, 0); --t) order.push_back(t);
    return order;
  }

  // One step of the detector-tracker loop on frame t: detect, associate and
  // track, then cache the frame's outputs.
  FrameObjects detect_and_track(int64_t t, bool reverse) {
    Cached c = features(t);
    VideoDetections det = detect(t, c);
    std::vector<int64_t> removed;
    FrameObjects fo = orch->step(t, reverse, det, c.trk, provider(), removed);
    outputs[t] = encode_all(fo.masks);
    prompted.insert(t);
    return fo;
  }

  int64_t run_full(const std::vector<int64_t>& order, bool reverse, const VideoFrameCallback& on_frame,
                   const std::function<bool()>& should_stop) {
    std::deque<int64_t> buffer;
    int64_t emitted = 0;
    const int64_t delay = std::max(0, opts.track.hotstart_delay);
    for (int64_t t : order) {
      if (should_stop && should_stop()) throw Cancelled("propagate: cancelled at frame " + std::to_string(t));
      detect_and_track(t, reverse);
      if (delay > 0) {
        buffer.push_back(t);
        if (static_cast<int64_t>(buffer.size()) >= delay) {
          emit(buffer.front(), on_frame);
          buffer.pop_front();
          ++emitted;
        }
      } else {
        emit(t, on_frame);
        ++emitted;
      }
    }
    for (int64_t t : buffer) {
      emit(t, on_frame);
      ++emitted;
    }
    return emitted;
  }

  int64_t run_partial(const std::vector<int64_t>& order, bool reverse, const std::set<int64_t>& ids,
                      const VideoFrameCallback& on_frame, const std::function<bool()>& should_stop) {
    orch->preflight_buckets_with(ids, provider());
    int64_t emitted = 0;
    for (int64_t t : order) {
      if (should_stop && should_stop()) throw Cancelled("propagate: cancelled at frame " + std::to_string(t));
      Cached c = features(t);
      auto tracked = orch->track_only(t, reverse, ids, c.trk);
      Encoded& m = outputs[t];
      for (auto& [id, r] : tracked) {
        m[id] = encode_mask(resize_logits(r.first.unsqueeze(0), H, W)[0] > 0);
        orch->set_frame_score(t, id, r.second);  // the raw logit, as the reference's PARTIAL mode
      }
      emit(t, on_frame);
      ++emitted;
    }
    return emitted;
  }

  int64_t run_fetch(const std::vector<int64_t>& order, const VideoFrameCallback& on_frame,
                    const std::function<bool()>& should_stop) {
    int64_t emitted = 0;
    for (int64_t t : order) {
      if (should_stop && should_stop()) throw Cancelled("propagate: cancelled at frame " + std::to_string(t));
      emit(t, on_frame);
      ++emitted;
    }
    return emitted;
  }
};

VideoSession::VideoSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VideoSession::~VideoSession() = default;

namespace {

std::unique_ptr<VideoSession::Impl> make_impl(std::shared_ptr<const Sam3Model> model, const VideoSessionOptions& o) {
  if (!model) throw ModelMissing("video session: no model loaded");
  if (!model->net().has_interactive_head())
    throw ModelError(
        "video session: the model has no tracker (a checkpoint with the tracker.* weights and "
        "enable_inst_interactivity is required)");
  auto impl = std::make_unique<VideoSession::Impl>();
  impl->model = std::move(model);
  impl->opts = o;
  return impl;
}

std::unique_ptr<FrameStore> make_store(const Sam3Model& model, const VideoSessionOptions& o, int64_t expected) {
  FrameStoreOptions fo;
  fo.resolution = model.config().image_size;
  fo.storage = frame_storage_from_string(o.frame_storage);
  fo.max_ram_bytes = o.max_frame_ram_bytes;
  fo.offload_dir = o.offload_dir;
  return std::make_unique<FrameStore>(fo, expected);
}

}  // namespace

std::unique_ptr<VideoSession> VideoSession::open(std::shared_ptr<const Sam3Model> model, const std::string& path,
                                                 const VideoSessionOptions& options,
                                                 const std::function<bool()>& should_stop,
                                                 const std::function<void(int64_t, int64_t)>& on_progress) {
  auto impl = make_impl(std::move(model), options);
  formats::VideoOpenOptions vo;
  vo.max_frames = options.max_frames;
  vo.max_pixels = options.max_pixels;
  // Probes the container (count, rate, size) without decoding pixels.
  std::unique_ptr<formats::VideoSource> src = formats::open_video_source(path, vo);
  const formats::VideoInfo vi = src->info();
  const int64_t announced = std::max<int64_t>(0, vi.total_frames);
  impl->frames = make_store(*impl->model, options, announced);
  FrameLoadOptions lo;
  lo.threads = options.loader_threads;
  lo.max_frames = announced;  // frames past the announced count could not be addressed
  VideoSession::Impl* s = impl.get();
  impl->loader = std::thread([s, src = std::move(src), should_stop, on_progress, lo, path] {
    set_thread_intraop_threads(1);
    c10::InferenceMode guard;
    try {
      load_frames(
          *src, *s->frames, [&] { return s->stop_loading.load() || (should_stop && should_stop()); }, on_progress,
          lo);
      if (s->frames->size() < s->frames->expected_frames())
        SAM3_LOG_WRN("video \"" << path << "\": the container announced " << s->frames->expected_frames()
                                 << " frames but only " << s->frames->size() << " were decoded");
    } catch (const std::exception& e) {
      // Kept by the store: fetch() of a frame it lacks rethrows it.
      if (!s->stop_loading.load())
        SAM3_LOG_DBG("video \"" << path << "\": loading stopped after " << s->frames->size() << " frames: " << e.what());
    } catch (...) {  // likewise kept by the store; nothing may escape a thread
    }
  });
  // Frame 0 decides whether the file is usable at all (and gives the size).
  int64_t ready = impl->frames->wait_for(announced > 0 ? 1 : std::numeric_limits<int64_t>::max());
  if (announced == 0 || ready == 0) {
    impl->stop_loader();
    if (auto e = impl->frames->error()) std::rethrow_exception(e);
    ready = impl->frames->size();
  }
  if (ready == 0) throw InvalidInput("video session: \"" + path + "\" has no frames");
  impl->T = announced > 0 ? announced : ready;
  impl->W = impl->frames->orig_width();
  impl->H = impl->frames->orig_height();
  impl->info = {impl->T, vi.fps, impl->W, impl->H, vi.fps > 0 ? static_cast<double>(impl->T) / vi.fps : 0.0};
  impl->init_state();
  impl->update_status(false);
  return std::unique_ptr<VideoSession>(new VideoSession(std::move(impl)));
}

std::unique_ptr<VideoSession> VideoSession::from_frames(std::shared_ptr<const Sam3Model> model,
                                                        const std::vector<formats::Image>& frames, double fps,
                                                        const VideoSessionOptions& options) {
  if (frames.empty()) throw InvalidInput("video session: no frames given");
  auto impl = make_impl(std::move(model), options);
  impl->frames = make_store(*impl->model, options, static_cast<int64_t>(frames.size()));
  {
    c10::InferenceMode guard;
    for (const auto& f : frames) impl->frames->add(f);
    impl->frames->finish();
  }
  impl->T = impl->frames->size();
  impl->W = impl->frames->orig_width();
  impl->H = impl->frames->orig_height();
  impl->info = {impl->T, fps, impl->W, impl->H, fps > 0 ? static_cast<double>(impl->T) / fps : 0.0};
  impl->init_state();
  impl->update_status(false);
  return std::unique_ptr<VideoSession>(new VideoSession(std::move(impl)));
}

formats::SegmentResult VideoSession::add_prompt(int64_t frame_index, const VideoPrompt& prompt,
                                                std::optional<int64_t> obj_id) {
  std::lock_guard<std::mutex> lk(impl_->op_mu);
  impl_->check_frame(frame_index, "add_prompt");
  const bool has_text = prompt.text && prompt.text->find_first_not_of(" \t\r\n") != std::string::npos;
  if (!has_text && prompt.points.empty() && prompt.boxes.empty())
    throw InvalidInput("video prompt: expected a text, points or a box; got none");
  if (has_text && !prompt.points.empty())
    throw InvalidInput("video prompt: points cannot be combined with a text prompt (send them separately)");
  c10::InferenceMode guard;
  formats::SegmentResult r;
  const bool detector = has_text || (prompt.points.empty() && !obj_id && impl_->opts.track.box_prompts_as_exemplars);
  r = detector ? impl_->add_detector_prompt(frame_index, prompt)
               : impl_->add_tracker_prompt(frame_index, prompt, obj_id);
  impl_->update_status(false);
  return r;
}

int64_t VideoSession::propagate(PropagateDirection direction, std::optional<int64_t> start_frame,
                                std::optional<int64_t> max_frames, const VideoFrameCallback& on_frame,
                                const std::function<bool()>& should_stop) {
  std::lock_guard<std::mutex> lk(impl_->op_mu);
  c10::InferenceMode guard;
  std::vector<bool> dirs;
  if (direction != PropagateDirection::backward) dirs.push_back(false);
  if (direction != PropagateDirection::forward) dirs.push_back(true);
  int64_t emitted = 0;
  impl_->update_status(true);  // busy: not expired while it runs
  try {
    for (bool reverse : dirs) {
      auto order = impl_->processing_order(start_frame, max_frames, reverse);
      auto [mode, ids] = impl_->decide_mode();
      const ActionType at = mode == Mode::full      ? ActionType::full
                            : mode == Mode::partial ? ActionType::partial
                                                    : ActionType::fetch;
      impl_->history.push_back({at, start_frame, ids});
      SAM3_LOG_DBG("propagate " << (reverse ? "backward" : "forward") << ": " << order.size() << " frames, mode "
                                << static_cast<int>(mode));
      if (mode == Mode::full)
        emitted += impl_->run_full(order, reverse, on_frame, should_stop);
      else if (mode == Mode::partial)
        emitted += impl_->run_partial(order, reverse, ids, on_frame, should_stop);
      else
        emitted += impl_->run_fetch(order, on_frame, should_stop);
    }
  } catch (...) {
    impl_->update_status(false);
    throw;
  }
  impl_->update_status(false);
  return emitted;
}

formats::SegmentResult VideoSession::frame_objects(int64_t frame_index) {
  std::lock_guard<std::mutex> lk(impl_->op_mu);
  impl_->check_frame(frame_index, "frame_objects");
  c10::InferenceMode guard;
  auto it = impl_->outputs.find(frame_index);
  if (it == impl_->outputs.end()) return impl_->postprocess(frame_index, {});
  Impl::Encoded e = it->second;
  for (int64_t id : impl_->orch->removed_ids()) e.erase(id);
  return impl_->postprocess(frame_index, Impl::decode_all(e));
}

void VideoSession::remove_object(int64_t obj_id) {
  std::lock_guard<std::mutex> lk(impl_->op_mu);
  c10::InferenceMode guard;
  impl_->orch->remove_object(obj_id);
  for (auto& [t, m] : impl_->outputs) m.erase(obj_id);
  impl_->history.push_back({ActionType::remove, std::nullopt, {obj_id}});
  impl_->update_status(false);
}

std::vector<int64_t> VideoSession::reset() {
  std::lock_guard<std::mutex> lk(impl_->op_mu);
  auto ids = impl_->orch->object_ids();
  std::sort(ids.begin(), ids.end());
  impl_->init_state();
  impl_->update_status(false);
  return ids;
}

VideoSessionStatus VideoSession::status() const {
  VideoSessionStatus s;
  {
    std::lock_guard<std::mutex> lk(impl_->status_mu);
    s = impl_->snapshot;
  }
  // Live: the loader keeps adding frames between operations.
  s.frames_loaded = impl_->frames->size();
  s.memory_bytes += impl_->frames->ram_bytes();
  return s;
}

const VideoSessionInfo& VideoSession::info() const {
  return impl_->info;
}

std::string VideoSession::device() const {
  return impl_->model->device().str();
}

}  // namespace sam3::core
