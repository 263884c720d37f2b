// SPDX-License-Identifier: Apache-2.0
// What the handlers share: the options, the models (once loaded: a device pool
// of image replicas, the video sessions' replicas), the feature cache,
// metrics and the server's state. Handlers only
// translate JSON to these core calls and back.
//
// Thread-safety: options are immutable after start; the models are published
// once under a mutex; everything else is internally synchronised.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "core/device_pool.h"
#include "core/feature_cache.h"
#include "core/image_engine.h"
#include "core/options.h"
#include "daemon/metrics.h"
#include "daemon/router.h"

namespace sam3::daemon {

// /health and /ready: loading -> ready -> draining; no_model when the daemon
// runs without a model (or its load failed) and serves only non-model routes.
enum class ServerState : int { loading, ready, draining, no_model };
const char* state_name(ServerState s) noexcept;

// Everything `sam3 serve` is configured with (each piece declared once in core/options.h).
struct DaemonOptions {
  core::ServeOptions serve;
  core::CacheOptions cache;
  core::InputLimits limits;
  core::SegmentOptions segment;
  core::PipelineOptions pipeline;  // the batch endpoint's IO threads and backbone batch
  core::SessionOptions sessions;
  std::string log_level = "info";
};

class DaemonContext {
public:
  explicit DaemonContext(DaemonOptions options);

  const DaemonOptions& options() const { return options_; }
  Metrics& metrics() { return metrics_; }
  core::FeatureCache& cache() { return cache_; }

  ServerState state() const { return state_.load(); }
  void set_state(ServerState s) { state_.store(s); }
  // Moves from `from` to `to` only if the state is still `from`.
  bool transition(ServerState from, ServerState to) { return state_.compare_exchange_strong(from, to); }
  double uptime_seconds() const;

  // Publishes the loaded models: the image replicas become a device pool
  // (one bounded queue each, serve.queue_depth), the video ones are kept for
  // the session manager.
  void set_models(core::ModelReplicas models);

  // The device pool for a model route. \throws Overloaded (503) while
  // loading, ModelMissing (503) when there is no model. While draining it
  // still answers: the server refuses new requests at admission, and those
  // admitted before the drain must finish.
  core::DevicePool& pool() const;
  // The video sessions' replicas. \throws as pool().
  std::vector<std::shared_ptr<const core::Sam3Model>> video_models() const;

  // Whether a model is loaded, and its description (for /models/info).
  bool model_loaded() const;
  core::ModelInfo model_info() const;
  std::vector<std::string> image_devices() const;
  std::vector<std::string> video_devices() const;
  // The identity mixed into feature cache keys: checkpoint, dtype, input
  // size (the device is added per replica: feature_cache_device_key).
  std::string model_id() const;

  int64_t queue_depth() const;
  // Jobs run by each replica, named "<device>#<index>" (empty without a model).
  std::vector<std::pair<std::string, uint64_t>> device_jobs() const;
  // Cancels waiting work and joins the device workers (at shutdown).
  void stop_queue();
  std::atomic<int64_t>& in_flight() { return in_flight_; }

  // Set when the model failed to load (shown by /health and /models/info).
  void set_load_error(std::string e);
  std::string load_error() const;

  // The open video sessions visible to a client key ("" = all), as
  // /api/v1/sessions entries; installed by the server before it starts.
  void set_session_lister(std::function<json(const std::string&)> f) { session_lister_ = std::move(f); }
  json sessions(const std::string& client = "") const {
    return session_lister_ ? session_lister_(client) : json::array();
  }

  // Bytes of the encoded body limit (MAX_UPLOAD_SIZE_MB).
  size_t max_body_bytes() const { return static_cast<size_t>(options_.limits.max_upload_mb) << 20; }

private:
  DaemonOptions options_;
  Metrics metrics_;
  core::FeatureCache cache_;
  std::atomic<ServerState> state_{ServerState::loading};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::atomic<int64_t> in_flight_{0};
  mutable std::mutex mu_;
  std::unique_ptr<core::DevicePool> pool_;
  std::vector<std::shared_ptr<const core::Sam3Model>> video_models_;
  core::ModelInfo info_;
  std::vector<std::string> video_devices_;
  std::string model_id_;
  std::string load_error_;
  std::function<json(const std::string&)> session_lister_;
};

// Route registration, one function per handler file.
void add_info_routes(Router& router, DaemonContext& ctx);
void add_image_routes(Router& router, DaemonContext& ctx);

}  // namespace sam3::daemon
