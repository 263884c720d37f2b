// SPDX-License-Identifier: Apache-2.0
// Turning command-line inputs into image paths and prompts.
#pragma once

#include <string>
#include <vector>

#include "cli/settings.h"
#include "core/image_engine.h"
#include "formats/types.h"

namespace CLI {
class App;
}

namespace sam3::cli {

// The concept/interactive prompt flags shared by `segment` and `batch`.
struct PromptFlags {
  std::string text;
  std::vector<std::string> boxes;
  std::vector<std::string> points;
};
// Adds --text/--box/--point to a subcommand (defined in cmd_segment.cpp).
void add_prompt_flags(CLI::App& cmd, PromptFlags& flags);
// \throws UsageError when no prompt is given or a value is malformed.
core::Prompt make_prompt(const PromptFlags& flags, const AppConfig& cfg);

// Image paths of a folder (sorted, image extensions only), a list file (one
// path per line; '#' comments), or stdin for "-".
std::vector<std::string> list_inputs(const std::string& source);

// Reads and decodes an image file under the configured limits.
formats::Image read_input_image(const std::string& path, const AppConfig& cfg);

}  // namespace sam3::cli
