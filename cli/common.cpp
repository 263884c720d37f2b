// SPDX-License-Identifier: Apache-2.0
#include "cli/common.h"

#include <CLI/CLI.hpp>

#include "core/errors.h"
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

std::shared_ptr<const core::Sam3Model> load_model(const AppConfig& cfg) {
  if (cfg.model.model_dir.empty() && cfg.model.checkpoint.empty())
    throw ModelMissing("no model configured: pass --model DIR (or set SAM3_MODEL / model.dir); "
                       "`sam3 model init --preset tiny --out DIR` writes a random-weight test model");
  SAM3_LOG_INF("loading model from '" << (cfg.model.checkpoint.empty() ? cfg.model.model_dir : cfg.model.checkpoint)
                                      << "' on " << cfg.model.device << " (" << cfg.model.dtype << ")");
  return core::load_model(cfg.model);
}

}  // namespace sam3::cli
