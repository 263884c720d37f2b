// SPDX-License-Identifier: Apache-2.0
// `sam3 cached-features IMAGE --text A --text B ...`: one backbone pass, many prompts.
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/image_inputs.h"
#include "cli/result_writer.h"
#include "core/errors.h"
#include "core/image_engine.h"

namespace sam3::cli {
namespace {

struct CachedFeaturesOptions {
  CommonOptions common;
  std::vector<std::string> images;
  std::vector<std::string> texts;
  std::string format = "json";
  std::string out = "-";
};

int run_cached_features(const CachedFeaturesOptions& o) {
  const AppConfig cfg = resolve(o.common);
  for (const auto& t : o.texts)
    if (t.empty()) throw UsageError("--text must not be empty");
  ResultWriter writer(parse_output_format(o.format), o.out);
  const core::ImageEngine engine(load_model(cfg));
  return writer.run_images(o.images, cfg, [&](const formats::Image& image) {
    const auto state = engine.set_image(image);
    return engine.segment_texts(*state, o.texts, cfg.segment.confidence_threshold);
  });
}

}  // namespace

void add_cached_features_command(CLI::App& root) {
  auto o = std::make_shared<CachedFeaturesOptions>();
  auto* cmd = root.add_subcommand("cached-features",
                                  "Run many text prompts against one backbone pass per image (a line per prompt)");
  cmd->add_option("images", o->images, "image files")->required()->type_name("IMAGE...");
  cmd->add_option("-t,--text", o->texts, "text prompt (repeatable)")->required();
  cmd->add_option("-f,--format", o->format, "json, coco, png or overlay")
      ->check(CLI::IsMember({"json", "coco", "png", "overlay"}))
      ->capture_default_str();
  cmd->add_option("-o,--out", o->out, "output file ('-' = stdout) or folder for png/overlay")->capture_default_str();
  add_common_options(*cmd, o->common, kSegment);
  cmd->callback([o] { command_exit_code() = run_cached_features(*o); });
}

}  // namespace sam3::cli
