// SPDX-License-Identifier: Apache-2.0
// `sam3 batch DIR|LIST|-`: a TBB pipeline with a bounded number of images in
// flight: parallel read/decode, inference serialised on the device,
// parallel RLE/JSON encoding, then ordered (or --unordered) output.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>

#include <CLI/CLI.hpp>
#include <tbb/parallel_pipeline.h>

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
  bool progress = true;
};

// One image travelling through the pipeline.
struct Item {
  std::string path;
  std::optional<formats::Image> image;
  std::optional<formats::SegmentResult> result;
  std::string line;  // the finished JSON line
  bool failed = false;
};

std::string result_file(const std::string& out_dir, const std::string& path) {
  return (fs::path(out_dir) / (file_stem(path) + ".json")).string();
}

void fail(Item& item, const std::exception& e) {
  item.failed = true;
  item.image.reset();
  item.line = formats::batch_error_line("file", item.path, static_cast<int>(exit_code_for(e)), error_type_name(e),
                                        describe_exception(e))
                  .dump();
  std::cerr << "sam3: error: " << item.path << ": " << describe_exception(e) << "\n";
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
  size_t next = 0, done = 0, failed = 0;
  const size_t tokens = o.in_flight > 0 ? static_cast<size_t>(o.in_flight)
                                        : std::max<size_t>(2, 2 * std::thread::hardware_concurrency());
  const auto output_mode = o.unordered ? tbb::filter_mode::serial_out_of_order : tbb::filter_mode::serial_in_order;

  tbb::parallel_pipeline(
      tokens,
      tbb::make_filter<void, Item*>(tbb::filter_mode::serial_in_order,
                                    [&](tbb::flow_control& fc) -> Item* {
                                      if (next >= total) {
                                        fc.stop();
                                        return nullptr;
                                      }
                                      return new Item{inputs[next++], {}, {}, {}, false};
                                    }) &
          tbb::make_filter<Item*, Item*>(tbb::filter_mode::parallel,
                                         [&](Item* it) {
                                           try {
                                             it->image = read_input_image(it->path, cfg);
                                           } catch (const std::exception& e) {
                                             fail(*it, e);
                                           }
                                           return it;
                                         }) &
          tbb::make_filter<Item*, Item*>(tbb::filter_mode::serial_out_of_order,
                                         [&](Item* it) {
                                           if (it->failed) return it;
                                           try {
                                             const auto state = engine.set_image(*it->image);
                                             it->result = engine.segment(*state, prompt);
                                           } catch (const InvalidInput& e) {
                                             fail(*it, e);
                                           }
                                           it->image.reset();
                                           return it;
                                         }) &
          tbb::make_filter<Item*, Item*>(tbb::filter_mode::parallel,
                                         [&](Item* it) {
                                           if (it->failed) return it;
                                           try {
                                             it->line = formats::batch_result_line("file", it->path, *it->result).dump();
                                             it->result.reset();
                                             if (!o.out_dir.empty())
                                               formats::write_file_atomic(result_file(o.out_dir, it->path), it->line + "\n");
                                           } catch (const std::exception& e) {
                                             fail(*it, e);
                                           }
                                           return it;
                                         }) &
          tbb::make_filter<Item*, void>(output_mode, [&](Item* it) {
            std::unique_ptr<Item> own(it);
            std::cout << it->line << "\n" << std::flush;
            ++done;
            if (it->failed) ++failed;
            if (show_progress) {
              const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
              std::fprintf(stderr, "\r[%zu/%zu] failed %zu, %.2f img/s   ", done, total, failed, s > 0 ? done / s : 0.0);
            }
          }));
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
  cmd->add_flag("!--no-progress", o->progress, "no progress line on stderr");
  add_common_options(*cmd, o->common, kSegment);
  cmd->callback([o] { command_exit_code() = run_batch(*o); });
}

}  // namespace sam3::cli
