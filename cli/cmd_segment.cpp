// SPDX-License-Identifier: Apache-2.0
// `sam3 segment IMAGE...`: text / box / point prompts on images.
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

struct SegmentCommandOptions {
  CommonOptions common;
  std::vector<std::string> images;
  PromptFlags prompt;
  std::string format = "json";
  std::string out = "-";
};

int run_segment(const SegmentCommandOptions& o) {
  const AppConfig cfg = resolve(o.common);
  const core::Prompt prompt = make_prompt(o.prompt, cfg);
  ResultWriter writer(parse_output_format(o.format), o.out);
  const core::ImageEngine engine(load_model(cfg));
  return writer.run_images(o.images, cfg, [&](const formats::Image& image) {
    const auto state = engine.set_image(image);
    return std::vector<formats::SegmentResult>{engine.segment(*state, prompt)};
  });
}

}  // namespace

// Flags shared with `batch`: the prompt and output options.
void add_prompt_flags(CLI::App& cmd, PromptFlags& p) {
  cmd.add_option("-t,--text", p.text, "text prompt (a noun phrase: every instance of the concept)");
  cmd.add_option("-b,--box", p.boxes,
                 "box prompt CX,CY,W,H[:neg] normalized to [0,1] (visual exemplar; with --point: the interactive box)")
      ->type_name("BOX");
  cmd.add_option("-p,--point", p.points, "point prompt X,Y[:neg] normalized (interactive head: 3 masks with IoU)")
      ->type_name("POINT");
}

void add_segment_command(CLI::App& root) {
  auto o = std::make_shared<SegmentCommandOptions>();
  auto* cmd = root.add_subcommand("segment", "Segment images with text, box or point prompts");
  cmd->add_option("images", o->images, "image files (JPEG, PNG, BMP, TIFF, WebP)")->required()->type_name("IMAGE...");
  add_prompt_flags(*cmd, o->prompt);
  cmd->add_option("-f,--format", o->format, "json (a line per image), coco (results file), png (masks), overlay")
      ->check(CLI::IsMember({"json", "coco", "png", "overlay"}))
      ->capture_default_str();
  cmd->add_option("-o,--out", o->out, "output file ('-' = stdout), or folder for png/overlay; written atomically")
      ->capture_default_str();
  add_common_options(*cmd, o->common, kSegment);
  cmd->callback([o] { command_exit_code() = run_segment(*o); });
}

}  // namespace sam3::cli
