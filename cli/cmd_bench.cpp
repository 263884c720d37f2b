// SPDX-License-Identifier: Apache-2.0
// `sam3 bench`: figures for one model and configuration, printed as JSON on
// stdout (and a summary on stderr). Nothing is asserted: tests assert
// behaviour, benchmarks print numbers.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/image_inputs.h"
#include "core/image_engine.h"

namespace sam3::cli {
namespace {

struct BenchOptions {
  CommonOptions common;
  std::string image;  // empty: a synthetic 640x480 image
  std::vector<std::string> texts{"object"};
  int prompts = 4;    // prompts for the cached-features measurement
  int runs = 3;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

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

formats::Image synthetic_image(int w, int h) {
  formats::Image img{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &img.rgb[(static_cast<size_t>(y) * w + x) * 3];
      const bool disc = (x - w / 3) * (x - w / 3) + (y - h / 2) * (y - h / 2) < (h / 5) * (h / 5);
      p[0] = disc ? 220 : static_cast<uint8_t>(x * 255 / w);
      p[1] = disc ? 30 : static_cast<uint8_t>(y * 255 / h);
      p[2] = disc ? 40 : 128;
    }
  return img;
}

int run_bench(const BenchOptions& o) {
  const AppConfig cfg = resolve(o.common);
  auto t0 = std::chrono::steady_clock::now();
  const core::ImageEngine engine(load_model(cfg));
  const double load_s = seconds_since(t0);
  const formats::Image image = o.image.empty() ? synthetic_image(640, 480) : read_input_image(o.image, cfg);
  core::Prompt prompt;
  prompt.text = o.texts.front();
  prompt.confidence_threshold = cfg.segment.confidence_threshold;

  std::vector<double> set_image_s, prompt_s, total_s, multi_s;
  std::vector<std::string> many;
  for (int i = 0; i < o.prompts; ++i) many.push_back(o.texts[static_cast<size_t>(i) % o.texts.size()] + (i ? " " + std::to_string(i) : ""));
  for (int r = 0; r < o.runs + 1; ++r) {  // run 0 warms up
    t0 = std::chrono::steady_clock::now();
    const auto state = engine.set_image(image);
    const double a = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    engine.segment(*state, prompt);
    const double b = seconds_since(t0);
    t0 = std::chrono::steady_clock::now();
    engine.segment_texts(*state, many, prompt.confidence_threshold);
    const double c = seconds_since(t0);
    if (r == 0) continue;
    set_image_s.push_back(a);
    prompt_s.push_back(b);
    total_s.push_back(a + b);
    multi_s.push_back(c);
  }
  const auto info = core::describe(engine.model());
  const double seg = percentile(total_s, 0.5);
  const double extra = o.prompts > 1 ? (percentile(multi_s, 0.5) - percentile(prompt_s, 0.5)) / (o.prompts - 1) : 0;
  nlohmann::json out = {
      {"model", info.checkpoint},
      {"device", info.device},
      {"dtype", info.dtype},
      {"image_size", info.image_size},
      {"threads", cfg.model.threads ? cfg.model.threads : static_cast<int>(std::thread::hardware_concurrency())},
      {"input", {{"width", image.width}, {"height", image.height}}},
      {"runs", o.runs},
      {"load_s", load_s},
      {"set_image_s", {{"p50", percentile(set_image_s, 0.5)}, {"p99", percentile(set_image_s, 0.99)}}},
      {"prompt_s", {{"p50", percentile(prompt_s, 0.5)}, {"p99", percentile(prompt_s, 0.99)}}},
      {"segment_s", {{"p50", seg}, {"p99", percentile(total_s, 0.99)}}},
      {"images_per_s", seg > 0 ? 1.0 / seg : 0.0},
      {"cached_features", {{"prompts", o.prompts},
                           {"total_s_p50", percentile(multi_s, 0.5)},
                           {"extra_prompt_s", extra},
                           {"extra_prompt_vs_segment", seg > 0 ? extra / seg : 0.0}}},
      {"peak_rss_mb", peak_rss_mb()},
  };
  std::cout << out.dump() << "\n";
  std::cerr << "sam3 bench: " << info.image_size << " px, " << out["threads"] << " threads, " << info.dtype
            << ": set_image " << out["set_image_s"]["p50"] << " s, prompt " << out["prompt_s"]["p50"]
            << " s, extra prompt " << extra << " s (" << 100.0 * out["cached_features"]["extra_prompt_vs_segment"].get<double>()
            << "% of a segment), peak RSS " << out["peak_rss_mb"] << " MiB\n";
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& root) {
  auto o = std::make_shared<BenchOptions>();
  auto* cmd = root.add_subcommand("bench", "Print speed and memory figures for a model (JSON on stdout)");
  cmd->add_option("--image", o->image, "image to use (default: a synthetic 640x480 image)")->check(CLI::ExistingFile);
  cmd->add_option("-t,--text", o->texts, "text prompt(s)")->capture_default_str();
  cmd->add_option("--prompts", o->prompts, "prompts for the cached-features figure")->check(CLI::Range(1, 64))->capture_default_str();
  cmd->add_option("--runs", o->runs, "measured runs after one warm-up")->check(CLI::Range(1, 1000))->capture_default_str();
  add_common_options(*cmd, o->common, kSegment);
  cmd->callback([o] { command_exit_code() = run_bench(*o); });
}

}  // namespace sam3::cli
