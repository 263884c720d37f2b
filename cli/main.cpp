// SPDX-License-Identifier: Apache-2.0
// `sam3`: registers the subcommands, parses, and maps exceptions to exit codes
// once (0 ok, 1 runtime, 2 usage, 3 input, 4 model, 5 overloaded, 130 interrupted).
#include <csignal>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/error_codes.h"
#include "core/errors.h"
#include "core/log.h"

int main(int argc, char** argv) {
  using namespace sam3;
  CLI::App app{"sam3: Segment Anything with Concepts (SAM 3) in native C++.\n"
               "Results go to stdout (JSON lines), logs and progress to stderr.",
               "sam3"};
  app.set_version_flag("--version", std::string("sam3 ") + SAM3_VERSION);
  app.require_subcommand(1);
  app.fallthrough(false);
  cli::add_segment_command(app);
  cli::add_batch_command(app);
  cli::add_cached_features_command(app);
  cli::add_video_command(app);
  cli::add_serve_command(app);
  cli::add_model_command(app);
  cli::add_config_command(app);
  cli::add_bench_command(app);
  app.footer("Exit codes: 0 ok, 1 runtime error, 2 usage error, 3 bad input, 4 model missing/mismatched/failed,\n"
             "5 overloaded, 130 interrupted. See man sam3.");
  try {
    app.parse(argc, argv);
    return cli::command_exit_code();
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return static_cast<int>(ExitCode::usage);
  } catch (const cli::UsageError& e) {
    std::cerr << "sam3: error: " << e.what() << "\n";
    return static_cast<int>(ExitCode::usage);
  } catch (const std::exception& e) {
    std::cerr << "sam3: error: " << describe_exception(e) << "\n";
    return static_cast<int>(exit_code_for(e));
  }
}
