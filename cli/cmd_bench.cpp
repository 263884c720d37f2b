// SPDX-License-Identifier: Apache-2.0
// `sam3 bench`: figures for one model and configuration, printed as JSON on
// stdout (and a summary on stderr). Nothing is asserted: tests assert
// behaviour, benchmarks print numbers. Each figure names what it measures:
//   set_image / prompt / segment  latency percentiles of one image, one prompt
//   cached_features               N text prompts on one cached image: the cost
//                                 of each prompt after the first, relative to
//                                 a full segment (set_image + one prompt)
//   batch                         images/s of the batch pipeline (decode, model,
//                                 encode overlapped) against the pure model
//                                 (the same images pre-decoded, run serially)
//   video                         frames/s of propagation (models with a tracker)
// Thread counts and dtypes are compared by running it once per setting
// (LibTorch's thread pool is sized once per process): scripts/bench.sh.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/image_inputs.h"
#include "core/cpu_allocator.h"
#include "core/device_pool.h"
#include "core/image_engine.h"
#include "core/image_pipeline.h"
#include "core/video/video_session.h"
#include "formats/image_io.h"
#include "formats/result_json.h"

namespace sam3::cli {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct BenchOptions {
  CommonOptions common;
  std::string image;  // empty: a synthetic 640x480 image
  std::vector<std::string> texts{"object"};
  int prompts = 4;    // prompts for the cached-features measurement
  int runs = 3;
  int warmup = 1;
  int batch_images = 8;  // 0: no batch figure
  int video_frames = 0;  // 0: no video figure
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Process CPU seconds (user + system, all threads). On a shared machine the
// wall time depends on the other processes; CPU time much less so.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

// Wall and CPU time of one measured call.
struct Lap {
  Clock::time_point t0 = Clock::now();
  double c0 = cpu_seconds();
  std::pair<double, double> stop() const { return {seconds_since(t0), cpu_seconds() - c0}; }
};

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is KiB on Linux
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

json latency(const std::vector<double>& v) {
  return {{"p50", percentile(v, 0.5)}, {"p90", percentile(v, 0.9)}, {"p99", percentile(v, 0.99)}};
}

// The figures are only comparable with the machine and its load known.
json machine() {
  std::string cpu;
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  double load[3] = {0, 0, 0};
  std::ifstream("/proc/loadavg") >> load[0] >> load[1] >> load[2];
  return {{"cpu", cpu}, {"cores", std::thread::hardware_concurrency()}, {"loadavg", {load[0], load[1], load[2]}}};
}

formats::Image synthetic_image(int w, int h, int shift = 0) {
  formats::Image img{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &img.rgb[(static_cast<size_t>(y) * w + x) * 3];
      const int cx = w / 3 + shift;
      const bool disc = (x - cx) * (x - cx) + (y - h / 2) * (y - h / 2) < (h / 5) * (h / 5);
      p[0] = disc ? 220 : static_cast<uint8_t>(x * 255 / w);
      p[1] = disc ? 30 : static_cast<uint8_t>(y * 255 / h);
      p[2] = disc ? 40 : 128;
    }
  return img;
}

// Pipeline against pure model time on the same JPEG files.
json bench_batch(const std::shared_ptr<const core::Sam3Model>& model, const AppConfig& cfg, const formats::Image& base,
                 const core::Prompt& prompt, const BenchOptions& o) {
  const fs::path dir = fs::temp_directory_path() / ("sam3-bench-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::vector<std::string> files;
  for (int i = 0; i < o.batch_images; ++i) {
    const formats::Image img = o.image.empty() ? synthetic_image(base.width, base.height, 7 * i) : base;
    files.push_back((dir / ("img" + std::to_string(i) + ".jpg")).string());
    std::ofstream(files.back(), std::ios::binary) << formats::encode_jpeg(img, 90);
  }
  // Pure model: decoded up front, then prepare + backbone + prompt serially.
  const core::ImageEngine engine(model);
  std::vector<formats::Image> decoded;
  for (const auto& f : files) decoded.push_back(read_input_image(f, cfg));
  const Lap pure;
  for (const auto& img : decoded) engine.segment(*engine.set_image(img), prompt);
  const auto [pure_s, pure_cpu] = pure.stop();

  // The pipeline as `sam3 batch` runs it: one replica (the loaded model).
  core::DevicePool pool({model}, 1);
  core::PipelineCallbacks cb;
  cb.read = [&](size_t i) { return core::PipelineInput{read_input_image(files[i], cfg), prompt, {}}; };
  cb.encode = [&](size_t i, const formats::SegmentResult& r) {
    return formats::batch_result_line("file", files[i], r).dump();
  };
  cb.error = [](size_t, const std::exception& e) { return std::string(e.what()); };
  size_t bytes = 0;
  cb.emit = [&](const core::PipelineOutput& l) { bytes += l.line.size(); };
  json runs = json::array();
  // Backbone batch 1, and the configured one when it is larger.
  std::vector<int> batches{1};
  if (cfg.pipeline.backbone_batch > 1) batches.push_back(cfg.pipeline.backbone_batch);
  double best = 0;
  for (int b : batches) {
    core::PipelineOptions po = cfg.pipeline;
    po.backbone_batch = b;
    const Lap lap;
    const core::PipelineStats st = core::run_image_pipeline(pool, files.size(), po, cb);
    const double cpu = lap.stop().second;
    const double ips = st.seconds > 0 ? static_cast<double>(st.done) / st.seconds : 0.0;
    best = std::max(best, ips);
    runs.push_back({{"backbone_batch", b},
                    {"seconds", st.seconds},
                    {"model_seconds", st.model_seconds},
                    {"cpu_s", cpu},
                    // Load-independent view: the pure model's CPU seconds over the pipeline's.
                    {"cpu_vs_pure_model", cpu > 0 ? pure_cpu / cpu : 0.0},
                    {"images_per_s", ips},
                    {"vs_pure_model", pure_s > 0 ? ips * pure_s / o.batch_images : 0.0},
                    {"failed", st.failed}});
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  const double pure_ips = pure_s > 0 ? o.batch_images / pure_s : 0.0;
  return {{"images", o.batch_images},
          {"io_threads", cfg.pipeline.io_threads > 0 ? cfg.pipeline.io_threads
                                                     : core::default_io_threads(core::intraop_threads())},
          {"pure_model_images_per_s", pure_ips},
          {"pure_model_cpu_s", pure_cpu},
          {"pipeline", runs},
          {"best_vs_pure_model", pure_ips > 0 ? best / pure_ips : 0.0},
          {"output_bytes", bytes}};
}

// Propagation on a short synthetic clip (needs the tracker): a text prompt
// (as many objects as the detector finds), then exactly 1 and 5 clicked
// objects, each with frames/s and the session memory per frame.
json bench_video(const std::shared_ptr<const core::Sam3Model>& model, const formats::Image& base,
                 const std::string& text, int frames) {
  std::vector<formats::Image> clip;
  for (int i = 0; i < frames; ++i) clip.push_back(synthetic_image(base.width, base.height, 4 * i));
  auto run = [&](const std::vector<core::VideoPrompt>& prompts) -> json {
    try {
      auto session = core::VideoSession::from_frames(model, clip);
      auto t0 = Clock::now();
      for (const auto& vp : prompts) session->add_prompt(0, vp);
      const double prompt_s = seconds_since(t0);
      t0 = Clock::now();
      const int64_t n = session->propagate(core::PropagateDirection::forward, 0, std::nullopt,
                                           [](int64_t, const formats::SegmentResult&) {});
      const double s = seconds_since(t0);
      const auto st = session->status();
      return {{"frames", n},
              {"objects", st.object_ids.size()},
              {"first_prompt_s", prompt_s},
              {"propagate_s", s},
              {"frames_per_s", s > 0 ? static_cast<double>(n) / s : 0.0},
              {"memory_mb_per_frame", n > 0 ? static_cast<double>(st.memory_bytes) / (1 << 20) / static_cast<double>(n) : 0.0}};
    } catch (const std::exception& e) {
      return {{"skipped", e.what()}};
    }
  };
  core::VideoPrompt by_text;
  by_text.text = text;
  auto clicks = [](int count) {
    std::vector<core::VideoPrompt> v;
    for (int i = 0; i < count; ++i) {
      core::VideoPrompt vp;
      vp.points.push_back({0.15f + 0.17f * static_cast<float>(i), 0.3f + 0.1f * static_cast<float>(i % 3), true});
      v.push_back(vp);
    }
    return v;
  };
  json out = run({by_text});
  out["one_object"] = run(clicks(1));
  out["five_objects"] = run(clicks(5));
  return out;
}

int run_bench(const BenchOptions& o) {
  const AppConfig cfg = resolve(o.common);
  const json machine_before = machine();
  auto t0 = Clock::now();
  const auto model = load_model(cfg);
  const core::ImageEngine engine(model);
  const double load_s = seconds_since(t0);
  const formats::Image image = o.image.empty() ? synthetic_image(640, 480) : read_input_image(o.image, cfg);
  core::Prompt prompt;
  prompt.text = o.texts.front();
  prompt.confidence_threshold = cfg.segment.confidence_threshold;

  // Wall and CPU seconds per measured run.
  std::vector<double> set_image_s, prompt_s, total_s, first_s, multi_s;
  std::vector<double> set_image_cpu, prompt_cpu, total_cpu, first_cpu, multi_cpu;
  std::vector<std::string> many;
  for (int i = 0; i < o.prompts; ++i)
    many.push_back(o.texts[static_cast<size_t>(i) % o.texts.size()] + (i ? " " + std::to_string(i) : ""));
  for (int r = 0; r < o.warmup + o.runs; ++r) {
    Lap lap;
    const auto state = engine.set_image(image);
    const auto a = lap.stop();
    lap = Lap();
    engine.segment(*state, prompt);
    const auto b = lap.stop();
    lap = Lap();
    engine.segment_texts(*state, {many.front()}, prompt.confidence_threshold);
    const auto c = lap.stop();
    auto d = c;
    if (o.prompts > 1) {
      lap = Lap();
      engine.segment_texts(*state, many, prompt.confidence_threshold);
      d = lap.stop();
    }
    if (r < o.warmup) continue;
    set_image_s.push_back(a.first);
    prompt_s.push_back(b.first);
    total_s.push_back(a.first + b.first);
    first_s.push_back(c.first);
    multi_s.push_back(d.first);
    set_image_cpu.push_back(a.second);
    prompt_cpu.push_back(b.second);
    total_cpu.push_back(a.second + b.second);
    first_cpu.push_back(c.second);
    multi_cpu.push_back(d.second);
  }
  const auto info = core::describe(engine.model());
  const double seg = percentile(total_s, 0.5);
  // The cost of each prompt after the first on a cached image: N prompts in
  // one segment_texts call against one prompt in the same call.
  auto extra_of = [&](const std::vector<double>& multi, const std::vector<double>& first) {
    return o.prompts > 1 ? std::max(0.0, percentile(multi, 0.5) - percentile(first, 0.5)) / (o.prompts - 1) : 0.0;
  };
  const double extra = extra_of(multi_s, first_s);
  const double extra_cpu = extra_of(multi_cpu, first_cpu);
  const double seg_cpu = percentile(total_cpu, 0.5);
  json out = {
      {"model", info.checkpoint},
      {"device", info.device},
      {"dtype", info.dtype},
      {"image_size", info.image_size},
      {"threads", core::intraop_threads()},
      {"machine", machine_before},
      {"input", {{"width", image.width}, {"height", image.height}}},
      {"runs", o.runs},
      {"load_s", load_s},
      {"set_image_s", latency(set_image_s)},
      {"prompt_s", latency(prompt_s)},
      {"segment_s", latency(total_s)},
      {"images_per_s", seg > 0 ? 1.0 / seg : 0.0},
      {"cpu_s", {{"set_image", percentile(set_image_cpu, 0.5)},
                 {"prompt", percentile(prompt_cpu, 0.5)},
                 {"segment", seg_cpu}}},
      {"cached_features",
       {{"prompts", o.prompts},
        {"first_prompt_s_p50", percentile(first_s, 0.5)},
        {"total_s_p50", percentile(multi_s, 0.5)},
        {"extra_prompt_s", extra},
        {"extra_prompt_vs_segment", seg > 0 ? extra / seg : 0.0},
        {"extra_prompt_cpu_s", extra_cpu},
        {"extra_prompt_cpu_vs_segment", seg_cpu > 0 ? extra_cpu / seg_cpu : 0.0}}},
  };
  if (o.batch_images > 0) out["batch"] = bench_batch(model, cfg, image, prompt, o);
  if (o.video_frames > 0) out["video"] = bench_video(model, image, o.texts.front(), o.video_frames);
  const core::CpuAllocatorStats cache = core::cpu_allocator_stats();
  out["cpu_cache"] = {{"cached_mb", static_cast<double>(cache.cached_bytes) / (1 << 20)},
                      {"hits", cache.hits},
                      {"misses", cache.misses}};
  out["peak_rss_mb"] = peak_rss_mb();
  out["loadavg_after"] = machine()["loadavg"];
  std::cout << out.dump() << "\n";
  std::cerr << "sam3 bench: " << info.image_size << " px, " << out["threads"] << " threads, " << info.dtype
            << ", load " << machine_before["loadavg"][0] << ": set_image " << out["set_image_s"]["p50"]
            << " s, prompt " << out["prompt_s"]["p50"] << " s, extra prompt " << extra << " s ("
            << 100.0 * out["cached_features"]["extra_prompt_vs_segment"].get<double>() << "% of a segment; CPU time "
            << 100.0 * out["cached_features"]["extra_prompt_cpu_vs_segment"].get<double>() << "%)";
  if (out.contains("batch"))
    std::cerr << ", batch pipeline " << 100.0 * out["batch"]["best_vs_pure_model"].get<double>()
              << "% of the pure model's " << out["batch"]["pure_model_images_per_s"] << " img/s";
  if (out.contains("video") && out["video"].contains("frames_per_s"))
    std::cerr << ", video " << out["video"]["frames_per_s"] << " frames/s";
  std::cerr << ", peak RSS " << out["peak_rss_mb"] << " MiB\n";
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& root) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = root.add_subcommand("bench", "Print speed and memory figures for a model (JSON on stdout)");
  cmd->add_option("--image", o->image, "image to use (default: a synthetic 640x480 image)")->check(CLI::ExistingFile);
  cmd->add_option("-t,--text", o->texts, "text prompt(s)")->capture_default_str();
  cmd->add_option("--prompts", o->prompts, "prompts for the cached-features figure")->check(CLI::Range(1, 64))->capture_default_str();
  cmd->add_option("--runs", o->runs, "measured runs after the warm-up")->check(CLI::Range(1, 1000))->capture_default_str();
  cmd->add_option("--warmup", o->warmup, "unmeasured runs first")->check(CLI::Range(0, 100))->capture_default_str();
  cmd->add_option("--batch-images", o->batch_images, "images for the batch pipeline figure (0 = skip)")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  cmd->add_option("--video-frames", o->video_frames, "frames for the video propagation figure (0 = skip)")
      ->check(CLI::Range(0, 10000))
      ->capture_default_str();
  add_common_options(*cmd, o->common, kSegment | kBatch);
  cmd->callback([o] { command_exit_code() = run_bench(*o); });
}

}  // namespace sam3::cli
