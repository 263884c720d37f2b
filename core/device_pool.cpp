// SPDX-License-Identifier: Apache-2.0
#include "core/device_pool.h"

#include <dlfcn.h>

#include <algorithm>
#include <map>
#include <set>

#include "core/errors.h"
#include "core/image_state.h"
#include "core/log.h"
#include "core/torch.h"

namespace sam3::core {
namespace {

std::atomic<int> g_intraop_threads{0};

}  // namespace

namespace detail {
void note_intraop_threads(int n) { g_intraop_threads.store(n); }
}  // namespace detail

int intraop_threads() {
  const int n = g_intraop_threads.load();
  return n > 0 ? n : at::get_num_threads();
}

void set_thread_intraop_threads(int n) {
  // LibTorch initialises each thread's OpenMP team size lazily from the
  // process-wide setting; do that first so it cannot overwrite ours later.
  (void)at::get_num_threads();
  // Looked up at run time: LibTorch links libgomp, this library need not.
  using SetThreads = void (*)(int);
  static const auto set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set) set(std::max(1, n));
}

KeepThreadIntraopThreads::KeepThreadIntraopThreads() : threads_(at::get_num_threads()) {}
KeepThreadIntraopThreads::~KeepThreadIntraopThreads() { set_thread_intraop_threads(threads_); }

DevicePool::Device::Device(std::shared_ptr<const Sam3Model> m, size_t depth, const std::string& name)
    : model(std::move(m)), engine(model), device(model->device().str()), queue(std::make_unique<WorkQueue>(name, depth)) {}

std::vector<std::string> replica_devices(const ModelOptions& opts) {
  std::vector<std::string> names = opts.devices.empty() ? std::vector<std::string>{opts.device} : opts.devices;
  std::set<std::string> seen;
  for (const std::string& d : names)
    if (!seen.insert(d).second)
      throw InvalidInput("device pool: device \"" + d + "\" is listed twice (expected each device once)");
  return names;
}

ModelReplicas load_replicas(const ModelOptions& opts, const std::vector<std::string>& video_gpus) {
  ModelReplicas r;
  std::map<std::string, std::shared_ptr<const Sam3Model>> by_device;
  auto replica = [&](const std::string& device) {
    auto& m = by_device[device];
    if (!m) {
      ModelOptions o = opts;
      o.device = device;
      m = load_model(o);
      SAM3_LOG_INF("model replica on " << device);
    }
    return m;
  };
  for (const std::string& d : replica_devices(opts)) r.image.push_back(replica(d));
  std::set<std::string> seen;
  for (const std::string& id : video_gpus) {
    if (id.empty() || id.size() > 2 || id.find_first_not_of("0123456789") != std::string::npos)
      throw InvalidInput("video GPUs: expected GPU indices such as 0,1, got \"" + id + "\"");
    const std::string device = "cuda:" + id;
    if (seen.insert(device).second) r.video.push_back(replica(device));
  }
  if (r.video.empty()) r.video = r.image;
  return r;
}

DevicePool::DevicePool(std::vector<std::shared_ptr<const Sam3Model>> replicas, size_t queue_depth) {
  if (replicas.empty()) throw InvalidInput("device pool: expected at least one model replica, got none");
  for (size_t i = 0; i < replicas.size(); ++i) {
    if (!replicas[i]) throw ModelMissing("device pool: replica " + std::to_string(i) + " is not loaded");
    const std::string name = replicas[i]->device().str() + "#" + std::to_string(i);
    devices_.push_back(std::make_unique<Device>(std::move(replicas[i]), queue_depth, name));
  }
}

DevicePool::~DevicePool() {
  // Stop every queue before any engine goes: a running job uses its engine.
  shutdown();
}

void DevicePool::shutdown() {
  for (auto& d : devices_) d->queue->shutdown();
}

size_t DevicePool::queued() const {
  size_t n = 0;
  for (const auto& d : devices_) n += d->queue->depth();
  return n;
}

std::vector<std::shared_ptr<const Sam3Model>> DevicePool::replicas() const {
  std::vector<std::shared_ptr<const Sam3Model>> out;
  for (const auto& d : devices_) out.push_back(d->model);
  return out;
}

size_t DevicePool::least_loaded() const {
  size_t best = 0;
  for (size_t i = 1; i < devices_.size(); ++i)
    if (devices_[i]->in_flight.load() < devices_[best]->in_flight.load()) best = i;
  return best;
}

}  // namespace sam3::core
