// SPDX-License-Identifier: Apache-2.0
// Configuration: one table of settings, each with its TOML key, environment
// variable and (optionally) flag. Resolution order, for every setting:
// flag > environment > TOML file (--config) > built-in default. Unknown TOML
// keys and bad values are rejected by name.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/options.h"

namespace CLI {
class App;
}

namespace sam3::cli {

// Everything a run of `sam3` can be configured with.
struct AppConfig {
  core::ModelOptions model;
  core::PipelineOptions pipeline;
  core::SegmentOptions segment;
  core::InputLimits limits;
  core::CacheOptions cache;
  core::SessionOptions session;
  core::ServeOptions serve;
  core::CompileOptions compile;
  std::string log_level = "info";
};

// Which subcommands show a setting's flag.
enum Scope : unsigned { kCommon = 1, kServe = 2, kSegment = 4, kBatch = 8 };  // kBatch: batch and bench

struct Setting {
  const char* key;   // TOML dotted key, e.g. "server.port"
  const char* env;   // environment variable, e.g. "SERVER_PORT"
  const char* flag;  // long flag without dashes, or nullptr
  unsigned scope;    // where the flag appears
  const char* help;
  // Parses and stores a value; throws InvalidInput naming the key on a bad value.
  std::function<void(AppConfig&, const std::string&)> set;
  // The current value as text (for `--help`, docs and tests).
  std::function<std::string(const AppConfig&)> get;
};

const std::vector<Setting>& settings();

// Flag values collected by CLI11 (only those given on the command line).
using FlagValues = std::map<std::string, std::optional<std::string>>;
using EnvLookup = std::function<std::optional<std::string>(const char*)>;
EnvLookup process_env();

// Applies defaults, then the TOML file (if any), then the environment, then flags.
// \throws InvalidInput naming the file, key or variable.
AppConfig resolve_config(const std::string& config_path, const FlagValues& flags, const EnvLookup& env);

// Adds --FLAG options for the settings of `scope` to a subcommand, storing into `flags`.
void add_setting_flags(CLI::App& app, unsigned scope, FlagValues& flags);

// A TOML document with every key at its default value and its help as comments.
std::string sample_toml();
// The same as an environment file: "# help" and VAR=default lines.
std::string sample_env();

}  // namespace sam3::cli
