// SPDX-License-Identifier: Apache-2.0
// `sam3 batch DIR|LIST|-`: segments many images through the pipeline of
// core/image_pipeline.h (bounded images in flight, parallel read/decode/
// preprocess, inference on the least-loaded device of the configured ones,
// parallel RLE/JSON encoding, ordered or --unordered output), plus --out-dir,
// --resume and --shard. The pipeline's sizes are settings (pipeline.*).
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/image_inputs.h"
#include "cli/prompt_args.h"
#include "cli/result_writer.h"
#include "core/error_codes.h"
#include "core/errors.h"
#include "core/device_pool.h"
#include "core/image_engine.h"
#include "core/image_pipeline.h"
#include "formats/atomic_file.h"
#include "formats/result_json.h"

namespace sam3::cli {
namespace {
namespace fs = std::filesystem;

struct BatchOptions {
  CommonOptions common;
  std::string source;
  PromptFlags prompt;
  std::string out_dir;
  bool unordered = false;
  bool resume = false;
  std::string shard;
  bool progress = true;
};

std::string result_file(const std::string& out_dir, const std::string& path) {
  return (fs::path(out_dir) / (file_stem(path) + ".json")).string();
}

int run_batch(const BatchOptions& o) {
  const AppConfig cfg = resolve(o.common);
  const core::Prompt prompt = make_prompt(o.prompt, cfg);
  if (o.resume && o.out_dir.empty()) throw UsageError("--resume needs --out-dir (it skips images already written there)");
  // Validate every flag before touching the inputs, so usage errors exit 2.
  const std::optional<Shard> shard = o.shard.empty() ? std::nullopt : std::optional<Shard>(parse_shard(o.shard));
  std::vector<std::string> inputs = list_inputs(o.source);
  if (shard) {
    const Shard& sh = *shard;
    std::vector<std::string> mine;
    for (size_t i = 0; i < inputs.size(); ++i)
      if (static_cast<int>(i % sh.count) == sh.index) mine.push_back(inputs[i]);
    inputs.swap(mine);
  }
  if (!o.out_dir.empty()) fs::create_directories(o.out_dir);
  size_t skipped = 0;
  if (o.resume) {
    std::vector<std::string> todo;
    for (const auto& p : inputs)
      if (fs::exists(result_file(o.out_dir, p))) ++skipped;
      else todo.push_back(p);
    inputs.swap(todo);
  }
  core::PipelineOptions po = cfg.pipeline;
  po.ordered = !o.unordered;
  // Enough queue room per device for every group the pipeline keeps in flight.
  core::DevicePool pool(load_replicas(cfg, false).image, 64 + static_cast<size_t>(po.io_threads));
  const size_t total = inputs.size();
  const bool show_progress = o.progress && ::isatty(STDERR_FILENO);
  const auto t0 = std::chrono::steady_clock::now();
  size_t done = 0, failed = 0;
  core::PipelineCallbacks cb;
  cb.read = [&](size_t i) { return core::PipelineInput{read_input_image(inputs[i], cfg), prompt, {}}; };
  cb.encode = [&](size_t i, const formats::SegmentResult& r) {
    std::string line = formats::batch_result_line("file", inputs[i], r).dump();
    if (!o.out_dir.empty()) formats::write_file_atomic(result_file(o.out_dir, inputs[i]), line + "\n");
    return line;
  };
  cb.error = [&](size_t i, const std::exception& e) { return report_input_error(inputs[i], e); };
  cb.emit = [&](const core::PipelineOutput& l) {
    std::cout << l.line << "\n" << std::flush;
    ++done;
    if (l.failed) ++failed;
    if (show_progress) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "\r[%zu/%zu] failed %zu, %.2f img/s   ", done, total, failed, s > 0 ? done / s : 0.0);
    }
  };
  core::run_image_pipeline(pool, inputs.size(), po, cb);
  if (show_progress) std::fprintf(stderr, "\n");
  if (skipped) std::cerr << "sam3: info: --resume skipped " << skipped << " images already in " << o.out_dir << "\n";
  return failed ? static_cast<int>(ExitCode::input) : 0;
}

}  // namespace

void add_batch_command(CLI::App& root) {
  auto o = std::make_shared<BatchOptions>();
  auto* cmd = root.add_subcommand("batch", "Segment a folder, a list file or stdin of image paths; a JSON line per image");
  cmd->add_option("source", o->source, "folder, list file (one path per line) or '-' for stdin")
      ->required()
      ->type_name("DIR|LIST|-");
  add_prompt_flags(*cmd, o->prompt);
  cmd->add_option("--out-dir", o->out_dir, "also write <stem>.json per image into this folder (atomically)");
  cmd->add_flag("--unordered", o->unordered, "emit lines as images finish instead of in input order");
  cmd->add_flag("--resume", o->resume, "skip images whose <stem>.json already exists in --out-dir");
  cmd->add_option("--shard", o->shard, "process only items i with i % N == I")->type_name("I/N");
  cmd->add_flag("!--no-progress", o->progress, "no progress line on stderr");
  add_common_options(*cmd, o->common, kSegment | kBatch);
  cmd->callback([o] { command_exit_code() = run_batch(*o); });
}

}  // namespace sam3::cli
