// SPDX-License-Identifier: Apache-2.0
// `sam3 serve`: the REST daemon over the same core.
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/errors.h"

namespace sam3::cli {
namespace {

struct ServeCommandOptions {
  CommonOptions common;
};

int run_serve(const ServeCommandOptions& o) {
  const AppConfig cfg = resolve(o.common);
  (void)cfg;
  throw Error("the REST daemon is not available in this build yet: `sam3 serve` parses its options but cannot run");
}

}  // namespace

void add_serve_command(CLI::App& root) {
  auto o = std::make_shared<ServeCommandOptions>();
  auto* cmd = root.add_subcommand("serve", "Run the REST daemon (binds 127.0.0.1:8080 unless told otherwise)");
  add_common_options(*cmd, o->common, kServe);
  cmd->callback([o] { command_exit_code() = run_serve(*o); });
}

}  // namespace sam3::cli
