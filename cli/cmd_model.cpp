// SPDX-License-Identifier: Apache-2.0
// `sam3 model inspect|convert|init`: checkpoints without running the model.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/checkpoint/model_files_api.h"
#include "core/model_init.h"

namespace sam3::cli {
namespace {

struct InspectOptions {
  std::string path;
  std::string manifest;
};
struct ConvertOptions {
  std::string in, out;
};
struct InitOptions {
  CommonOptions common;
  core::ModelInitOptions init;
};

}  // namespace

void add_model_command(CLI::App& root) {
  auto* model = root.add_subcommand("model", "Inspect, convert and create checkpoints");
  model->require_subcommand(1);

  auto ins = std::make_shared<InspectOptions>();
  auto* inspect = model->add_subcommand("inspect", "Summarise a checkpoint or model folder as JSON");
  inspect->add_option("path", ins->path, "checkpoint file or model folder")->required();
  inspect->add_option("--manifest", ins->manifest, "compare the key set with a manifest (full_manifest.json)")
      ->check(CLI::ExistingFile);
  inspect->callback([ins] {
    std::cout << core::inspect_model_json(ins->path, ins->manifest).dump(2) << "\n";
    command_exit_code() = 0;
  });

  auto conv = std::make_shared<ConvertOptions>();
  auto* convert = model->add_subcommand("convert", "Rewrite a checkpoint as .pt or .safetensors (official names)");
  convert->add_option("input", conv->in, "checkpoint file or model folder")->required();
  convert->add_option("output", conv->out, "output file, .pt or .safetensors")->required();
  convert->callback([conv] {
    core::convert_model_checkpoint(conv->in, conv->out);
    std::cerr << "sam3: info: wrote " << conv->out << "\n";
    command_exit_code() = 0;
  });

  auto in = std::make_shared<InitOptions>();
  auto* init = model->add_subcommand("init", "Write a random-weight model folder (checkpoint + config.json)");
  init->add_option("--preset", in->init.preset, "architecture size")
      ->check(CLI::IsMember({"tiny", "full"}))
      ->capture_default_str();
  // Here --config names the model's config.json (as in the contract),
  // not the TOML configuration: init needs no runtime settings beyond --bpe.
  init->add_option("-c,--config", in->init.config_json, "model config.json overriding the preset's sizes")
      ->check(CLI::ExistingFile);
  init->add_option("--seed", in->init.seed, "random seed")->capture_default_str();
  init->add_option("--out", in->init.out_dir, "output folder (created)")->required();
  init->add_flag("!--no-tracker", in->init.with_tracker, "write the detector only");
  add_setting_flags(*init, kCommon, in->common.flags);
  init->callback([in] {
    const AppConfig cfg = resolve(in->common);
    core::ModelInitOptions opts = in->init;
    opts.bpe_path = cfg.model.bpe_path;
    const auto r = core::init_model_folder(opts);
    std::cout << nlohmann::json{{"checkpoint", r.checkpoint}, {"tensors", r.tensors}, {"parameters", r.parameters}}.dump()
              << "\n";
    command_exit_code() = 0;
  });
}

}  // namespace sam3::cli
