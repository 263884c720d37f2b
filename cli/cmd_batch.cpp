// SPDX-License-Identifier: Apache-2.0
// `sam3 batch DIR|LIST|-`: segments many images through the pipeline of
// batch_pipeline.h (bounded images in flight, parallel read/decode/preprocess,
// inference serialised on the device, parallel RLE/JSON encoding, ordered or
// --unordered output), plus --out-dir, --resume and --shard.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>

#include "cli/batch_pipeline.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/image_inputs.h"
#include "cli/prompt_args.h"
#include "cli/result_writer.h"
#include "core/error_codes.h"
#include "core/errors.h"
#include "core/image_engine.h"
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
  int in_flight = 0;  // 0: 2 x cores
  int backbone_batch = 1;
  int io_threads = 0;  // 0: the cores the model's threads leave, at least 1
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
  const core::ImageEngine engine(load_model(cfg));
  const size_t total = inputs.size();
  const bool show_progress = o.progress && ::isatty(STDERR_FILENO);
  const auto t0 = std::chrono::steady_clock::now();
  size_t done = 0, failed = 0;
  BatchPipelineOptions po;
  po.in_flight = static_cast<size_t>(o.in_flight);
  po.backbone_batch = o.backbone_batch;
  po.io_threads = o.io_threads;
  po.ordered = !o.unordered;
  BatchCallbacks cb;
  cb.read = [&](const std::string& path) { return read_input_image(path, cfg); };
  cb.encode = [&](const std::string& path, const formats::SegmentResult& r) {
    std::string line = formats::batch_result_line("file", path, r).dump();
    if (!o.out_dir.empty()) formats::write_file_atomic(result_file(o.out_dir, path), line + "\n");
    return line;
  };
  cb.emit = [&](const BatchLine& l) {
    std::cout << l.line << "\n" << std::flush;
    ++done;
    if (l.failed) ++failed;
    if (show_progress) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::fprintf(stderr, "\r[%zu/%zu] failed %zu, %.2f img/s   ", done, total, failed, s > 0 ? done / s : 0.0);
    }
  };
  run_batch_pipeline(engine, inputs, prompt, po, cb);
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
  cmd->add_option("--in-flight", o->in_flight, "images in flight at once (0 = 2 x cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--backbone-batch", o->backbone_batch,
                  "images per backbone forward (batched when several are in flight; helps on GPUs)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--io-threads", o->io_threads,
                  "threads that read, decode and encode while the model runs (0 = cores left by --threads, at least 1)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("!--no-progress", o->progress, "no progress line on stderr");
  add_common_options(*cmd, o->common, kSegment);
  cmd->callback([o] { command_exit_code() = run_batch(*o); });
}

}  // namespace sam3::cli
