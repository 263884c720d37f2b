// SPDX-License-Identifier: Apache-2.0
// What every subcommand shares: the common options (--config plus the
// settings table's flags), config resolution, logging set-up and model loading.
#pragma once

#include <memory>
#include <string>

#include "cli/settings.h"

namespace CLI {
class App;
}
namespace sam3::core {
class Sam3Model;
struct ModelReplicas;
}

namespace sam3::cli {

// Options every subcommand accepts. Bound by add_common_options().
struct CommonOptions {
  std::string config_path;  // --config FILE.toml
  FlagValues flags;         // flags of the settings table given on the command line
};

// Adds --config and the settings flags of `scope` to a subcommand.
void add_common_options(CLI::App& app, CommonOptions& common, unsigned scope);

// Resolves the configuration (flag > env > file > default) and sets the log level.
// \throws InvalidInput (exit code 2 via main) on a bad config.
AppConfig resolve(const CommonOptions& common);

// Loads the image model named by the config. \throws ModelMissing when no model is configured.
std::shared_ptr<const core::Sam3Model> load_model(const AppConfig& cfg);
// One replica per configured device (model.devices, or model.device), and
// with `video` also the video sessions' (video.gpus; none: the same ones).
// \throws ModelMissing when no model is configured.
core::ModelReplicas load_replicas(const AppConfig& cfg, bool video);

// Thrown for command-line mistakes that CLI11 cannot see (exit code 2).
class UsageError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

}  // namespace sam3::cli
