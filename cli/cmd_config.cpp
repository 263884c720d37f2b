// SPDX-License-Identifier: Apache-2.0
// `sam3 config sample|show`: the documented defaults, and the configuration a
// command would run with after flag > env > file > default resolution.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/common.h"

namespace sam3::cli {

int& command_exit_code() {
  static int code = 0;
  return code;
}

void add_config_command(CLI::App& root) {
  auto* cmd = root.add_subcommand("config", "Print the sample configuration or the resolved one");
  cmd->require_subcommand(1);
  auto env_format = std::make_shared<bool>(false);
  auto* sample = cmd->add_subcommand("sample", "Print a TOML file with every key at its default value");
  sample->add_flag("--env", *env_format, "print an environment file (.env) instead");
  sample->callback([env_format] {
    std::cout << (*env_format ? sample_env() : sample_toml());
    command_exit_code() = 0;
  });
  auto common = std::make_shared<CommonOptions>();
  auto* show = cmd->add_subcommand("show", "Print the resolved configuration as KEY = VALUE (ENV) lines");
  add_common_options(*show, *common, kServe | kSegment);
  show->callback([common] {
    const AppConfig cfg = resolve(*common);
    for (const auto& s : settings()) std::cout << s.key << " = " << s.get(cfg) << "  (" << s.env << ")\n";
    command_exit_code() = 0;
  });
}

}  // namespace sam3::cli
