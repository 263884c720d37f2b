// SPDX-License-Identifier: Apache-2.0
// Which device runs what, and how CPU threads are split.
//
// DevicePool: one model replica per device (e.g. cuda:0, cuda:1), each with
// its own bounded WorkQueue, so inference on one device never waits for
// another; submit() sends work to the least-loaded device (fewest jobs
// queued or running, ties to the lowest index). A full pool refuses work at
// once (Overloaded -> 503), never an unbounded queue.
//
// CPU threads: LibTorch's intra-op threads are a per-thread OpenMP setting.
// Pipelines give their IO threads one intra-op thread (preprocessing must not
// fight the model for cores) and the thread that runs the model the
// configured count.
//
// Thread-safety: every DevicePool member may be called from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "core/image_engine.h"
#include "core/work_queue.h"

namespace sam3::core {

// The intra-op thread count the model was configured with (ModelOptions::threads
// resolved at the first load_model; all cores before any load).
int intraop_threads();

// Sets the intra-op threads LibTorch uses for work started on the calling
// thread (no effect on other threads). No-op on LibTorch builds without OpenMP.
void set_thread_intraop_threads(int n);

// Gives the calling thread its intra-op thread count back when the scope
// ends: a pipeline's caller joins its TBB arena and may run an IO stage last,
// which sets one thread.
class KeepThreadIntraopThreads {
public:
  KeepThreadIntraopThreads();
  ~KeepThreadIntraopThreads();
  KeepThreadIntraopThreads(const KeepThreadIntraopThreads&) = delete;
  KeepThreadIntraopThreads& operator=(const KeepThreadIntraopThreads&) = delete;

private:
  int threads_;
};

namespace detail {
// Called once by load_model when it configures LibTorch's threads.
void note_intraop_threads(int n);
}  // namespace detail

// The devices a model is replicated on: opts.devices, or opts.device alone.
// \throws InvalidInput when a device is listed twice.
std::vector<std::string> replica_devices(const ModelOptions& opts);

// The replicas a process serves with: the image pool's (one per
// replica_devices) and the video sessions' (one per `video_gpus` id, "N" ->
// cuda:N; none: the image replicas). A device in both lists is loaded once.
struct ModelReplicas {
  std::vector<std::shared_ptr<const Sam3Model>> image;
  std::vector<std::shared_ptr<const Sam3Model>> video;
};
// \throws what load_model throws; InvalidInput for a bad GPU id.
ModelReplicas load_replicas(const ModelOptions& opts, const std::vector<std::string>& video_gpus = {});

class DevicePool {
public:
  // One device per replica (load_replicas(...).image); `queue_depth` jobs
  // may wait per device. \throws InvalidInput for no replica, ModelMissing
  // for a null one.
  DevicePool(std::vector<std::shared_ptr<const Sam3Model>> replicas, size_t queue_depth);
  ~DevicePool();
  DevicePool(const DevicePool&) = delete;
  DevicePool& operator=(const DevicePool&) = delete;

  size_t size() const { return devices_.size(); }
  const ImageEngine& engine(size_t device) const { return devices_.at(device)->engine; }
  // The device a replica runs on, as torch names it ("cpu", "cuda:1").
  const std::string& device_name(size_t device) const { return devices_.at(device)->device; }
  // Every replica, in device order (for video sessions on the same devices).
  std::vector<std::shared_ptr<const Sam3Model>> replicas() const;
  // Jobs queued or running on a device.
  size_t load(size_t device) const { return devices_.at(device)->in_flight.load(); }
  // Jobs a device has run (finished or thrown) since the pool started.
  uint64_t jobs_run(size_t device) const { return devices_.at(device)->jobs_run.load(); }
  // The device submit() would pick now.
  size_t least_loaded() const;
  // Jobs waiting in every device's queue (not counting running ones).
  size_t queued() const;
  // Cancels waiting work (its tickets throw Cancelled) and joins the device
  // threads; later submits throw. Idempotent.
  void shutdown();

  // Runs fn(engine, device_index) on the least-loaded device's queue.
  // \throws Overloaded when that queue is full (then every queue is as full).
  template <class F>
  auto submit(F fn) -> Ticket<std::invoke_result_t<F, const ImageEngine&, size_t>> {
    const size_t d = least_loaded();
    Device& dev = *devices_[d];
    dev.in_flight.fetch_add(1);
    // Decrements when the job has run or was dropped unrun (the lambda dies).
    auto done = std::shared_ptr<void>(nullptr, [&dev](void*) { dev.in_flight.fetch_sub(1); });
    // A rejected job (Overloaded) releases `done` with its lambda.
    return dev.queue->submit([fn = std::move(fn), &dev, d, done]() mutable {
      auto release = std::move(done);
      struct Count {
        std::atomic<uint64_t>& n;
        ~Count() { n.fetch_add(1); }
      } count{dev.jobs_run};
      return fn(static_cast<const ImageEngine&>(dev.engine), d);
    });
  }

private:
  struct Device {
    explicit Device(std::shared_ptr<const Sam3Model> model, size_t depth, const std::string& name);
    std::shared_ptr<const Sam3Model> model;
    ImageEngine engine;
    std::string device;
    std::unique_ptr<WorkQueue> queue;
    std::atomic<size_t> in_flight{0};
    std::atomic<uint64_t> jobs_run{0};
  };

  std::vector<std::unique_ptr<Device>> devices_;
};

}  // namespace sam3::core
