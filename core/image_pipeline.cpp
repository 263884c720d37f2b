// SPDX-License-Identifier: Apache-2.0
#include "core/image_pipeline.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <tbb/global_control.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include "core/device_pool.h"
#include "core/errors.h"
#include "core/feature_cache.h"

namespace sam3::core {
namespace {

// One input travelling through the pipeline.
struct Item {
  size_t index = 0;
  std::optional<PipelineInput> in;  // its image is dropped once prepared
  std::shared_ptr<const PreparedImage> prepared;
  std::shared_ptr<const ImageState> state;  // from the cache
  std::optional<formats::SegmentResult> result;
  std::exception_ptr error;  // why this input failed (its line is made by the encode stage)
  PipelineOutput out;
};

// Consecutive inputs that share one backbone forward. Passed between stages
// by shared_ptr, so a run that aborts frees what it had in flight.
struct Group {
  std::vector<Item> items;
};
using GroupPtr = std::shared_ptr<Group>;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The device job of one group: features from the cache or one backbone
// forward for the rest, then each input's prompt. Returns the device seconds.
double run_group(const ImageEngine& engine, const std::string& device, const std::vector<Item*>& live,
                 FeatureCache* cache) {
  set_thread_intraop_threads(intraop_threads());
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Item*> need;
  std::vector<std::shared_ptr<const PreparedImage>> prepared;
  for (Item* it : live) {
    const std::string& key = it->in->cache_key;
    if (!it->state && cache && !key.empty()) it->state = cache->get(feature_cache_device_key(key, device));
    it->out.cache_hit = it->state != nullptr;
    if (it->state) continue;
    // Prepared on an IO thread unless a cache hit was expected there.
    if (!it->prepared) it->prepared = engine.prepare_image(it->in->image);
    need.push_back(it);
    prepared.push_back(std::move(it->prepared));
  }
  if (!need.empty()) {
    try {
      auto states = engine.set_images(prepared);
      for (size_t i = 0; i < need.size(); ++i) {
        need[i]->state = std::move(states[i]);
        const std::string& key = need[i]->in->cache_key;
        if (cache && !key.empty())
          cache->put(feature_cache_device_key(key, device), need[i]->state, ImageEngine::state_bytes(*need[i]->state));
      }
    } catch (const InvalidInput&) {
      for (Item* it : need) it->error = std::current_exception();
    }
  }
  for (Item* it : live) {
    if (it->error) continue;
    try {
      it->result = engine.segment(*it->state, it->in->prompt);
    } catch (const InvalidInput&) {
      it->error = std::current_exception();
    }
    it->state.reset();  // release the features as soon as the prompt ran
  }
  return seconds_since(t0);
}

}  // namespace

int default_io_threads(int inference_threads) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return std::max(1, cores - std::max(1, inference_threads));
}

PipelineStats run_image_pipeline(DevicePool& pool, size_t count, const PipelineOptions& options,
                                 const PipelineCallbacks& cb, FeatureCache* cache) {
  PipelineStats stats;
  if (cache && !cache->enabled()) cache = nullptr;
  const size_t devices = pool.size();
  const size_t group_size = static_cast<size_t>(std::max(1, options.backbone_batch));
  const int io_threads = options.io_threads > 0 ? options.io_threads : default_io_threads(intraop_threads());
  // Groups in flight: as many as in_flight allows when it is set; by default
  // 2 x cores images, and at least two groups per device, so that decoding
  // the next group overlaps the model.
  const size_t tokens =
      options.in_flight > 0
          ? std::max<size_t>(1, static_cast<size_t>(options.in_flight) / group_size)
          : std::max<size_t>(2 * devices, 2 * std::max<size_t>(1, std::thread::hardware_concurrency()) / group_size);
  const auto output_mode = options.ordered ? tbb::filter_mode::serial_in_order : tbb::filter_mode::serial_out_of_order;
  // One device: its groups run one after another; several: one group per
  // device at a time (the pool's queues pick the least-loaded device).
  const auto infer_mode = devices == 1 ? tbb::filter_mode::serial_out_of_order : tbb::filter_mode::parallel;
  // Lookups before preprocessing only when the device is known in advance.
  FeatureCache* io_cache = devices == 1 ? cache : nullptr;
  const std::string first_device = pool.device_name(0);
  const ImageEngine& preprocessor = pool.engine(0);  // replicas share the model's input size
  size_t next = 0;
  std::mutex stats_mu;
  double model_seconds = 0;
  const auto t0 = std::chrono::steady_clock::now();

  // IO threads, plus one thread per device that waits for its group's result
  // (the device's own threads compute): the arena bounds how many decode.
  const int arena_threads = io_threads + static_cast<int>(devices);
  // The threads waiting for a device use no CPU: let TBB start them even
  // where that is more threads than cores (its default limit).
  const auto limit = tbb::global_control::max_allowed_parallelism;
  tbb::global_control parallelism(
      limit, std::max(tbb::global_control::active_value(limit), static_cast<size_t>(arena_threads)));
  tbb::task_arena arena(arena_threads);
  const KeepThreadIntraopThreads keep_caller_threads;
  // The stages, in order.
  auto split = [&](tbb::flow_control& fc) -> GroupPtr {
    if (next >= count) {
      fc.stop();
      return {};
    }
    auto g = std::make_shared<Group>();
    for (; next < count && g->items.size() < group_size; ++next) {
      g->items.emplace_back();
      g->items.back().index = next;
      g->items.back().out.index = next;
    }
    return g;
  };
  auto read = [&](GroupPtr g) {
    tbb::parallel_for(size_t{0}, g->items.size(), [&](size_t i) {
      Item& it = g->items[i];
      // Preprocessing is LibTorch work too: one intra-op thread here, the
      // model's threads stay its own.
      set_thread_intraop_threads(1);
      try {
        it.in = cb.read(it.index);
        if (io_cache && !it.in->cache_key.empty())
          it.state = io_cache->get(feature_cache_device_key(it.in->cache_key, first_device));
        if (!it.state) it.prepared = preprocessor.prepare_image(it.in->image);
        it.in->image = formats::Image{};
      } catch (...) {
        it.error = std::current_exception();
      }
    });
    return g;
  };
  auto infer = [&](GroupPtr g) {
    std::vector<Item*> live;
    for (Item& it : g->items)
      if (!it.error) live.push_back(&it);
    if (live.empty()) return g;
    double secs = 0;
    try {
      secs = pool.submit([&](const ImageEngine& e, size_t d) { return run_group(e, pool.device_name(d), live, cache); })
                 .get();
    } catch (const Overloaded&) {
      for (Item* it : live) it->error = std::current_exception();
    }
    for (Item* it : live) it->out.model_seconds = secs / static_cast<double>(live.size());
    std::lock_guard<std::mutex> lk(stats_mu);
    model_seconds += secs;
    return g;
  };
  auto encode = [&](GroupPtr g) {
    tbb::parallel_for(size_t{0}, g->items.size(), [&](size_t i) {
      Item& it = g->items[i];
      if (!it.error) {
        try {
          it.out.line = cb.encode(it.index, *it.result);
        } catch (...) {
          it.error = std::current_exception();
        }
        it.result.reset();
      }
      if (!it.error) return;
      it.out.failed = true;
      try {
        std::rethrow_exception(it.error);
      } catch (const std::exception& e) {
        it.out.line = cb.error(it.index, e);
      } catch (...) {
        it.out.line = cb.error(it.index, Error("unknown error"));
      }
    });
    return g;
  };
  auto emit = [&](GroupPtr g) {
    for (const Item& it : g->items) {
      ++stats.done;
      if (it.out.failed) ++stats.failed;
      cb.emit(it.out);
    }
  };
  arena.execute([&] {
    tbb::parallel_pipeline(tokens, tbb::make_filter<void, GroupPtr>(tbb::filter_mode::serial_in_order, split) &
                                       tbb::make_filter<GroupPtr, GroupPtr>(tbb::filter_mode::parallel, read) &
                                       tbb::make_filter<GroupPtr, GroupPtr>(infer_mode, infer) &
                                       tbb::make_filter<GroupPtr, GroupPtr>(tbb::filter_mode::parallel, encode) &
                                       tbb::make_filter<GroupPtr, void>(output_mode, emit));
  });
  stats.seconds = seconds_since(t0);
  stats.model_seconds = model_seconds;
  return stats;
}

}  // namespace sam3::core
