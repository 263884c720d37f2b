// SPDX-License-Identifier: Apache-2.0
// Operational endpoints: liveness, readiness, metrics, model info, sessions
// and the OpenAPI document generated from the route table.
#include <chrono>

#include "core/device_info.h"
#include "daemon/context.h"

namespace sam3::daemon {
namespace {

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json health_json(const DaemonContext& ctx) {
  const int gpus = core::cuda_device_count();
  json j = {{"status", state_name(ctx.state())},
            {"timestamp", unix_now()},
            {"uptime_seconds", ctx.uptime_seconds()},
            {"gpu_available", gpus > 0},
            {"gpu_count", gpus},
            {"active_sessions", ctx.sessions().size()},
            {"model_loaded", ctx.model_loaded()}};
  if (const std::string e = ctx.load_error(); !e.empty()) j["error"] = e;
  return j;
}

}  // namespace

void add_info_routes(Router& router, DaemonContext& ctx) {
  // Liveness: 200 whatever the state, so an orchestrator does not restart a
  // daemon that is still loading its model; `status` tells the state.
  router.add(Route{"GET", "/health", "Liveness and state: loading, ready, draining or no_model", "operations", false,
                   [&ctx](Request&) { return Response::json_body(health_json(ctx)); }, nullptr,
                   {{"type", "object"},
                    {"properties",
                     {{"status", {{"type", "string"}, {"enum", json::array({"loading", "ready", "draining", "no_model"})}}},
                      {"timestamp", {{"type", "number"}}},
                      {"uptime_seconds", {{"type", "number"}}},
                      {"gpu_available", {{"type", "boolean"}}},
                      {"gpu_count", {{"type", "integer"}}},
                      {"active_sessions", {{"type", "integer"}}}}}}});

  // Readiness: 200 only when model requests can be served.
  router.add(Route{"GET", "/ready", "Readiness: 200 when ready, 503 while loading, draining or without a model",
                   "operations", false,
                   [&ctx](Request&) {
                     const ServerState s = ctx.state();
                     Response r = Response::json_body({{"status", state_name(s)}}, s == ServerState::ready ? 200 : 503);
                     if (s == ServerState::loading) r.headers.emplace_back("Retry-After", "1");
                     return r;
                   },
                   nullptr, nullptr});

  if (ctx.options().serve.enable_metrics) {
    router.add(Route{"GET", "/metrics", "Prometheus metrics (text exposition format 0.0.4)", "operations", false,
                     [&ctx](Request&) {
                       Metrics::Gauges g;
                       const auto cs = ctx.cache().stats();
                       g.cache_hits = cs.hits;
                       g.cache_misses = cs.misses;
                       g.cache_evictions = cs.evictions;
                       g.cache_bytes = cs.bytes;
                       g.cache_entries = cs.entries;
                       g.queue_depth = ctx.queue_depth();
                       g.device_jobs = ctx.device_jobs();
                       g.in_flight = ctx.in_flight().load();
                       g.uptime_seconds = ctx.uptime_seconds();
                       g.active_sessions = static_cast<int64_t>(ctx.sessions().size());
                       return Response::bytes(ctx.metrics().render(g), "text/plain; version=0.0.4; charset=utf-8");
                     },
                     nullptr, nullptr, "text/plain"});
  }

  router.add(Route{"GET", "/models/info", "The loaded models, their devices and capabilities", "operations", true,
                   [&ctx](Request&) {
                     json image = {{"loaded", ctx.model_loaded()}, {"capabilities", json::array()}};
                     // The video tracker is the checkpoint's `tracker.` part, the same
                     // weights as the interactive head: one flag tells both.
                     json video = {{"loaded", false}, {"capabilities", json::array()}, {"devices", json::array()}};
                     if (ctx.model_loaded()) {
                       const core::ModelInfo info = ctx.model_info();
                       image["checkpoint"] = info.checkpoint;
                       image["devices"] = ctx.image_devices();
                       image["dtype"] = info.dtype;
                       image["memory_mb"] = info.memory_mb;
                       image["image_size"] = info.image_size;
                       image["num_parameters"] = info.num_parameters;
                       image["interactive"] = info.interactive;
                       image["capabilities"] = info.interactive
                                                   ? json::array({"text", "box", "point", "batch", "cached_features"})
                                                   : json::array({"text", "box", "batch", "cached_features"});
                       if (info.interactive)
                         video = {{"loaded", true},
                                  {"checkpoint", info.checkpoint},
                                  {"devices", ctx.video_devices()},
                                  {"capabilities", json::array({"text", "point", "box", "propagate", "remove", "reset"})}};
                     } else if (const std::string e = ctx.load_error(); !e.empty()) {
                       image["error"] = e;
                     }
                     return Response::json_body({{"models", {{"image", image}, {"video", video}}},
                                                 {"server_version", SAM3_VERSION},
                                                 {"sam3_version", SAM3_VERSION}});
                   },
                   nullptr, nullptr});

  router.add(Route{"GET", "/api/v1/sessions", "Open sessions (video sessions; image requests are stateless)",
                   "sessions", true,
                   [&ctx](Request& req) {
                     const json sessions = ctx.sessions(req.client_key);
                     return Response::json_body({{"sessions", sessions}, {"total_sessions", sessions.size()}});
                   },
                   nullptr,
                   {{"type", "object"},
                    {"properties",
                     {{"sessions", {{"type", "array"}, {"items", {{"type", "object"}}}}},
                      {"total_sessions", {{"type", "integer"}}}}}}});

  router.add(Route{"GET", "/openapi.json", "This document", "operations", false,
                   [&router](Request&) { return Response::json_body(router.openapi(SAM3_VERSION)); }, nullptr,
                   nullptr});
}

}  // namespace sam3::daemon
