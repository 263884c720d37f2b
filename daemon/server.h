// SPDX-License-Identifier: Apache-2.0
// The REST daemon's lifecycle on civetweb. HTTP starts before the model
// loads, so /health answers at once and model routes answer 503 until the
// model is ready. The first SIGINT/SIGTERM drains in-flight requests and
// stops (exit 0); a second one exits at once (130). Binds 127.0.0.1 unless
// told otherwise; port 0 takes any free port and port() reports it.
//
// Every request goes through one pipeline: request id, route match, CORS,
// API key, rate limit, the route's handler inside guarded(), metrics and a
// JSON log line. No exception ever reaches civetweb.
//
// Thread-safety: start/stop/run_until_signal from one controlling thread;
// requests are served by civetweb's worker threads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "daemon/auth.h"
#include "daemon/context.h"
#include "daemon/rate_limit.h"
#include "daemon/router.h"

struct mg_context;
struct mg_connection;

namespace sam3::daemon {

class VideoService;

// Loads the model replicas (image pool and video sessions); called once on a
// background thread. An empty loader runs the daemon without a model (model
// routes answer 503).
using ModelLoader = std::function<core::ModelReplicas()>;

class Server {
public:
  Server(DaemonOptions options, ModelLoader loader);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds, serves, and starts loading the model. Returns the bound port.
  // \throws sam3::Error when the address cannot be bound.
  int start();
  int port() const { return port_; }
  int metrics_port() const { return metrics_port_; }  // 0: /metrics on port()

  // Blocks until the model has loaded or failed (or the timeout passes);
  // true when the state left "loading".
  bool wait_until_loaded(std::chrono::milliseconds timeout);

  // Drains: new model requests get 503, in-flight ones finish (up to
  // `drain_timeout`), then the listener, the queue and the loader stop.
  // Idempotent.
  void stop(std::chrono::milliseconds drain_timeout = std::chrono::seconds(30));

  // start() must have succeeded. Serves until SIGINT/SIGTERM (then drains
  // and returns 0) or until the model fails to load (returns that error's
  // exit code). A second signal calls _exit(130).
  int run_until_signal();

  DaemonContext& context() { return ctx_; }
  const Router& router() const { return router_; }

  // The request pipeline (public for tests that bypass the socket).
  Response handle(Request& req);

private:
  static int on_request(mg_connection* conn, void* self) noexcept;
  void add_cors_headers(const Request& req, Response& r) const;

  DaemonContext ctx_;
  ModelLoader loader_;
  Router router_;
  std::unique_ptr<VideoService> video_;  // video sessions; after ctx_, so destroyed before it
  std::shared_ptr<void> websocket_;      // the streaming endpoint's state, kept until mg_stop
  ApiKeyAuth auth_;
  RateLimiter limiter_;
  mg_context* mg_ = nullptr;
  int port_ = 0;
  int metrics_port_ = 0;
  std::thread loader_thread_;
  std::atomic<bool> load_failed_{false};
  std::atomic<int> load_exit_code_{0};
  bool stopped_ = false;
};

}  // namespace sam3::daemon
