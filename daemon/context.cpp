// SPDX-License-Identifier: Apache-2.0
#include "daemon/context.h"

#include <algorithm>

#include "core/errors.h"

namespace sam3::daemon {

const char* state_name(ServerState s) noexcept {
  switch (s) {
    case ServerState::loading: return "loading";
    case ServerState::ready: return "ready";
    case ServerState::draining: return "draining";
    default: return "no_model";
  }
}

DaemonContext::DaemonContext(DaemonOptions options) : options_(std::move(options)), cache_(options_.cache) {}

double DaemonContext::uptime_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
}

void DaemonContext::set_models(core::ModelReplicas models) {
  if (models.image.empty() || !models.image[0]) throw ModelMissing("no model replica was loaded");
  auto info = core::describe(*models.image[0]);
  std::vector<std::string> video_devices;
  for (const auto& m : models.video) video_devices.push_back(core::describe(*m).device);
  auto pool = std::make_unique<core::DevicePool>(std::move(models.image),
                                                 static_cast<size_t>(std::max(1, options_.serve.queue_depth)));
  std::lock_guard<std::mutex> lk(mu_);
  info_ = info;
  model_id_ = info.checkpoint + "|" + info.dtype + "|" + std::to_string(info.image_size);
  video_models_ = std::move(models.video);
  video_devices_ = std::move(video_devices);
  pool_ = std::move(pool);
}

core::DevicePool& DaemonContext::pool() const {
  switch (state()) {
    case ServerState::loading: throw Overloaded("the model is still loading; retry shortly");
    case ServerState::draining: break;  // admitted before the drain began: finish it
    case ServerState::no_model:
      throw ModelMissing(load_error().empty() ? "this daemon runs without a model (start it with --model DIR)"
                                              : "the model failed to load: " + load_error());
    case ServerState::ready: break;
  }
  std::lock_guard<std::mutex> lk(mu_);
  if (!pool_) throw ModelMissing("no model is loaded");
  return *pool_;
}

std::vector<std::shared_ptr<const core::Sam3Model>> DaemonContext::video_models() const {
  pool();  // the same 503s
  std::lock_guard<std::mutex> lk(mu_);
  return video_models_;
}

std::vector<std::string> DaemonContext::image_devices() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<std::string> out;
  for (size_t i = 0; pool_ && i < pool_->size(); ++i) out.push_back(pool_->device_name(i));
  return out;
}

std::vector<std::string> DaemonContext::video_devices() const {
  std::lock_guard<std::mutex> lk(mu_);
  return video_devices_;
}

bool DaemonContext::model_loaded() const {
  std::lock_guard<std::mutex> lk(mu_);
  return pool_ != nullptr;
}

core::ModelInfo DaemonContext::model_info() const {
  std::lock_guard<std::mutex> lk(mu_);
  return info_;
}

std::string DaemonContext::model_id() const {
  std::lock_guard<std::mutex> lk(mu_);
  return model_id_;
}

int64_t DaemonContext::queue_depth() const {
  std::lock_guard<std::mutex> lk(mu_);
  return pool_ ? static_cast<int64_t>(pool_->queued()) : 0;
}

std::vector<std::pair<std::string, uint64_t>> DaemonContext::device_jobs() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<std::pair<std::string, uint64_t>> out;
  for (size_t i = 0; pool_ && i < pool_->size(); ++i)
    out.emplace_back(pool_->device_name(i) + "#" + std::to_string(i), pool_->jobs_run(i));
  return out;
}

void DaemonContext::stop_queue() {
  core::DevicePool* p = nullptr;
  {
    std::lock_guard<std::mutex> lk(mu_);
    p = pool_.get();
  }
  if (p) p->shutdown();  // outside the lock: it joins the workers
}

void DaemonContext::set_load_error(std::string e) {
  std::lock_guard<std::mutex> lk(mu_);
  load_error_ = std::move(e);
}

std::string DaemonContext::load_error() const {
  std::lock_guard<std::mutex> lk(mu_);
  return load_error_;
}

}  // namespace sam3::daemon
