// SPDX-License-Identifier: Apache-2.0
#include "daemon/context.h"

#include <algorithm>

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

void DaemonContext::set_model(std::shared_ptr<const core::Sam3Model> model) {
  auto engine = std::make_shared<const core::ImageEngine>(model);
  auto info = core::describe(*model);
  auto queue = std::make_unique<core::WorkQueue>("image:" + info.device,
                                                 static_cast<size_t>(std::max(1, options_.serve.queue_depth)));
  std::lock_guard<std::mutex> lk(mu_);
  info_ = info;
  model_id_ = info.checkpoint + "|" + info.device + "|" + info.dtype + "|" + std::to_string(info.image_size);
  queue_ = std::move(queue);
  engine_ = std::move(engine);
}

std::shared_ptr<const core::ImageEngine> DaemonContext::engine() const {
  switch (state()) {
    case ServerState::loading: throw Overloaded("the model is still loading; retry shortly");
    case ServerState::draining: break;  // admitted before the drain began: finish it
    case ServerState::no_model:
      throw ModelMissing(load_error().empty() ? "this daemon runs without a model (start it with --model DIR)"
                                              : "the model failed to load: " + load_error());
    case ServerState::ready: break;
  }
  std::lock_guard<std::mutex> lk(mu_);
  if (!engine_) throw ModelMissing("no model is loaded");
  return engine_;
}

core::WorkQueue& DaemonContext::queue() const {
  std::lock_guard<std::mutex> lk(mu_);
  return *queue_;
}

bool DaemonContext::model_loaded() const {
  std::lock_guard<std::mutex> lk(mu_);
  return engine_ != nullptr;
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
  return queue_ ? static_cast<int64_t>(queue_->depth()) : 0;
}

void DaemonContext::stop_queue() {
  core::WorkQueue* q = nullptr;
  {
    std::lock_guard<std::mutex> lk(mu_);
    q = queue_.get();
  }
  if (q) q->shutdown();  // outside the lock: it joins the worker
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
