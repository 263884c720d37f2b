// SPDX-License-Identifier: Apache-2.0
// `sam3 serve`: the REST daemon over the same core. HTTP comes up first and
// answers 503 on model routes until the model has loaded in the background.
#include <cstdio>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/errors.h"
#include "core/log.h"
#include "daemon/server.h"

namespace sam3::cli {
namespace {

struct ServeCommandOptions {
  CommonOptions common;
};

int run_serve(const ServeCommandOptions& o) {
  const AppConfig cfg = resolve(o.common);
  log::set_sink(log::json_sink());  // the daemon logs JSON lines to stderr

  daemon::DaemonOptions d;
  d.serve = cfg.serve;
  d.cache = cfg.cache;
  d.limits = cfg.limits;
  d.segment = cfg.segment;
  d.pipeline = cfg.pipeline;
  d.sessions = cfg.session;
  d.log_level = cfg.log_level;

  daemon::ModelLoader loader;
  if (!cfg.model.model_dir.empty() || !cfg.model.checkpoint.empty())
    loader = [cfg] { return load_replicas(cfg, true); };
  else
    SAM3_LOG_WRN("no model configured (--model / SAM3_MODEL): serving without one; model routes answer 503");

  daemon::Server server(d, loader);
  const int port = server.start();
  // One line on stdout tells scripts (and `--port 0` users) where to connect.
  const nlohmann::json ready = {{"event", "listening"}, {"host", cfg.serve.host}, {"port", port},
                                {"metrics_port", server.metrics_port()}};
  std::printf("%s\n", ready.dump().c_str());
  std::fflush(stdout);
  return server.run_until_signal();
}

}  // namespace

void add_serve_command(CLI::App& root) {
  auto o = std::make_shared<ServeCommandOptions>();
  auto* cmd = root.add_subcommand("serve", "Run the REST daemon (binds 127.0.0.1:8080 unless told otherwise)");
  add_common_options(*cmd, o->common, kServe);
  cmd->callback([o] { command_exit_code() = run_serve(*o); });
}

}  // namespace sam3::cli
