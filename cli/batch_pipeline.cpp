// SPDX-License-Identifier: Apache-2.0
#include "cli/batch_pipeline.h"
#include "cli/result_writer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

#include <tbb/parallel_for.h>
#include <tbb/parallel_pipeline.h>
#include <tbb/task_arena.h>

#include "core/device_pool.h"
#include "core/error_codes.h"
#include "core/errors.h"
#include "formats/result_json.h"

namespace sam3::cli {
namespace {

// One input travelling through the pipeline.
struct Item {
  std::string path;
  std::optional<formats::Image> image;  // decoded (dropped once prepared)
  std::shared_ptr<const core::PreparedImage> prepared;
  std::optional<formats::SegmentResult> result;
  BatchLine out;
};

// Consecutive inputs that share one backbone forward.
struct Group {
  std::vector<Item> items;
};

void fail(Item& item, const std::exception& e) {
  item.out.failed = true;
  item.image.reset();
  item.prepared.reset();
  item.result.reset();
  item.out.line = report_input_error(item.path, e);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The inference stage of one group: one backbone forward for every image
// that decoded, then the prompt on each.
void infer(const core::ImageEngine& engine, const core::Prompt& prompt, Group& g) {
  std::vector<Item*> live;
  std::vector<std::shared_ptr<const core::PreparedImage>> prepared;
  for (Item& it : g.items)
    if (!it.out.failed) {
      live.push_back(&it);
      prepared.push_back(std::move(it.prepared));
    }
  if (live.empty()) return;
  std::vector<std::shared_ptr<const core::ImageState>> states;
  try {
    states = engine.set_images(prepared);
  } catch (const InvalidInput& e) {
    for (Item* it : live) fail(*it, e);
    return;
  }
  prepared.clear();
  for (size_t i = 0; i < live.size(); ++i) {
    try {
      live[i]->result = engine.segment(*states[i], prompt);
    } catch (const InvalidInput& e) {
      fail(*live[i], e);
    }
    states[i].reset();  // release the features as soon as the prompt ran
  }
}

}  // namespace

int default_io_threads(int inference_threads) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return std::max(1, cores - std::max(1, inference_threads));
}

BatchStats run_batch_pipeline(const core::ImageEngine& engine, const std::vector<std::string>& inputs,
                              const core::Prompt& prompt, const BatchPipelineOptions& options,
                              const BatchCallbacks& cb) {
  BatchStats stats;
  const size_t group_size = static_cast<size_t>(std::max(1, options.backbone_batch));
  const int model_threads = core::intraop_threads();
  const int io_threads = options.io_threads > 0 ? options.io_threads : default_io_threads(model_threads);
  const size_t images_in_flight = options.in_flight > 0 ? options.in_flight
                                                        : 2 * std::max<size_t>(1, std::thread::hardware_concurrency());
  // At least two groups in flight, so that decoding the next group overlaps the model.
  const size_t tokens = std::max<size_t>(2, (images_in_flight + group_size - 1) / group_size);
  const auto output_mode = options.ordered ? tbb::filter_mode::serial_in_order : tbb::filter_mode::serial_out_of_order;
  const size_t total = inputs.size();
  size_t next = 0;
  double model_seconds = 0;
  const auto t0 = std::chrono::steady_clock::now();

  // The IO threads plus the one that runs the model: the arena bounds how
  // many threads decode while the model's own intra-op threads compute.
  tbb::task_arena arena(io_threads + 1);
  // The calling thread takes part in the arena and may run an IO stage last:
  // it gets the model's thread count back however the run ends.
  struct RestoreIntraop {
    int n;
    ~RestoreIntraop() { core::set_thread_intraop_threads(n); }
  } restore{model_threads};
  arena.execute([&] {
    tbb::parallel_pipeline(
        tokens,
        tbb::make_filter<void, Group*>(tbb::filter_mode::serial_in_order,
                                       [&](tbb::flow_control& fc) -> Group* {
                                         if (next >= total) {
                                           fc.stop();
                                           return nullptr;
                                         }
                                         auto* g = new Group;
                                         for (; next < total && g->items.size() < group_size; ++next)
                                           g->items.push_back(Item{inputs[next], {}, {}, {}, {inputs[next], {}, false}});
                                         return g;
                                       }) &
            tbb::make_filter<Group*, Group*>(tbb::filter_mode::parallel,
                                             [&](Group* g) {
                                               tbb::parallel_for(size_t{0}, g->items.size(), [&](size_t i) {
                                                 Item& it = g->items[i];
                                                 // Preprocessing is LibTorch work too: one intra-op
                                                 // thread here, the model's threads stay its own.
                                                 core::set_thread_intraop_threads(1);
                                                 try {
                                                   it.image = cb.read(it.path);
                                                   it.prepared = engine.prepare_image(*it.image);
                                                   it.image.reset();
                                                 } catch (const std::exception& e) {
                                                   fail(it, e);
                                                 }
                                               });
                                               return g;
                                             }) &
            tbb::make_filter<Group*, Group*>(tbb::filter_mode::serial_out_of_order,
                                             [&](Group* g) {
                                               core::set_thread_intraop_threads(model_threads);
                                               const auto t = std::chrono::steady_clock::now();
                                               infer(engine, prompt, *g);
                                               model_seconds += seconds_since(t);
                                               return g;
                                             }) &
            tbb::make_filter<Group*, Group*>(tbb::filter_mode::parallel,
                                             [&](Group* g) {
                                               tbb::parallel_for(size_t{0}, g->items.size(), [&](size_t i) {
                                                 Item& it = g->items[i];
                                                 if (it.out.failed) return;
                                                 try {
                                                   it.out.line = cb.encode(it.path, *it.result);
                                                   it.result.reset();
                                                 } catch (const std::exception& e) {
                                                   fail(it, e);
                                                 }
                                               });
                                               return g;
                                             }) &
            tbb::make_filter<Group*, void>(output_mode, [&](Group* g) {
              std::unique_ptr<Group> own(g);
              for (const Item& it : g->items) {
                ++stats.done;
                if (it.out.failed) ++stats.failed;
                cb.emit(it.out);
              }
            }));
  });
  stats.seconds = seconds_since(t0);
  stats.model_seconds = model_seconds;
  return stats;
}

}  // namespace sam3::cli
