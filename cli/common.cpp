// SPDX-License-Identifier: Apache-2.0
#include "cli/common.h"

#include <CLI/CLI.hpp>

#include "core/errors.h"
#include "core/device_pool.h"
#include "core/image_engine.h"
#include "core/log.h"

namespace sam3::cli {

void add_common_options(CLI::App& app, CommonOptions& common, unsigned scope) {
  app.add_option("-c,--config", common.config_path, "TOML configuration file (see samples/sam3.toml)")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  add_setting_flags(app, kCommon | scope, common.flags);
}

AppConfig resolve(const CommonOptions& common) {
  AppConfig cfg;
  try {
    cfg = resolve_config(common.config_path, common.flags, process_env());
  } catch (const InvalidInput& e) {
    throw UsageError(e.what());
  }
  log::set_level(log::parse_level(cfg.log_level));
  return cfg;
}

namespace {

void log_model_source(const AppConfig& cfg, const std::string& devices) {
  if (cfg.model.model_dir.empty() && cfg.model.checkpoint.empty())
    throw ModelMissing("no model configured: pass --model DIR (or set SAM3_MODEL / model.dir); "
                       "`sam3 model init --preset tiny --out DIR` writes a random-weight test model");
  SAM3_LOG_INF("loading model from '" << (cfg.model.checkpoint.empty() ? cfg.model.model_dir : cfg.model.checkpoint)
                                      << "' on " << devices << " (" << cfg.model.dtype << ")");
}

}  // namespace

std::shared_ptr<const core::Sam3Model> load_model(const AppConfig& cfg) {
  log_model_source(cfg, cfg.model.device);
  return core::load_model(cfg.model);
}

core::ModelReplicas load_replicas(const AppConfig& cfg, bool video) {
  std::string devices;
  for (const auto& d : core::replica_devices(cfg.model)) devices += (devices.empty() ? "" : ",") + d;
  log_model_source(cfg, devices);
  return core::load_replicas(cfg.model, video ? cfg.session.gpus : std::vector<std::string>{});
}

}  // namespace sam3::cli
