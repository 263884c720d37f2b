// SPDX-License-Identifier: Apache-2.0
// One subcommand per file. Each registers itself on the root app; its run
// function returns an exit code (see core/errors.h ExitCode).
#pragma once

namespace CLI {
class App;
}

namespace sam3::cli {

void add_segment_command(CLI::App& root);
void add_batch_command(CLI::App& root);
void add_cached_features_command(CLI::App& root);
void add_video_command(CLI::App& root);
void add_serve_command(CLI::App& root);
void add_model_command(CLI::App& root);
void add_config_command(CLI::App& root);
void add_bench_command(CLI::App& root);

// The exit code a subcommand's callback left (set by each command's callback).
int& command_exit_code();

}  // namespace sam3::cli
