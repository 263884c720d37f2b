// SPDX-License-Identifier: Apache-2.0
// The image pipeline behind `sam3 batch`, `sam3 bench` and the daemon's batch
// endpoint: a TBB parallel_pipeline with a bounded number of images in flight:
//   read + decode + preprocess (parallel, IO threads, one intra-op thread each)
//   -> backbone on the group as one batch + each image's prompt, run on the
//      least-loaded device of a DevicePool (one group per device at a time)
//   -> encode (parallel) -> emit (serial; input order unless unordered).
// A group is `backbone_batch` consecutive inputs; with 1 every image runs alone.
// Torch-free header.
//
// Thread-safety: run_image_pipeline blocks; the callbacks run on pipeline
// threads (read and encode concurrently with each other; emit serially).
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <string>

#include "core/image_engine.h"
#include "core/options.h"
#include "formats/types.h"

namespace sam3::core {

class DevicePool;
class FeatureCache;

// One input, as `read` produces it.
struct PipelineInput {
  formats::Image image;
  Prompt prompt;
  // Feature cache key of the image's bytes (feature_cache_key); "" = no cache.
  // The pipeline adds the device to it: features live on one device.
  std::string cache_key;
};

// One finished input.
struct PipelineOutput {
  size_t index = 0;
  std::string line;  // what encode (or error) returned
  bool failed = false;
  bool cache_hit = false;
  double model_seconds = 0;  // this input's share of its group's device time
};

struct PipelineStats {
  size_t done = 0;
  size_t failed = 0;
  double seconds = 0;        // wall time of the whole run
  double model_seconds = 0;  // device time, summed over devices
};

// How each stage turns its input into its output. `read` decodes input
// `index`; `encode` turns a result into the finished line (and may write
// files); `error` turns an input's failure into its line; `emit` receives
// every line. Exceptions from read/encode, and InvalidInput / Overloaded from
// the model, become error lines; other model errors abort the run (rethrown).
struct PipelineCallbacks {
  std::function<PipelineInput(size_t index)> read;
  std::function<std::string(size_t index, const formats::SegmentResult& result)> encode;
  std::function<std::string(size_t index, const std::exception& error)> error;
  std::function<void(const PipelineOutput& out)> emit;
};

// The IO thread count used for io_threads = 0: the cores left over by the
// inference threads, at least 1.
int default_io_threads(int inference_threads);

// Runs inputs 0..count-1 through the pipeline on `pool`'s devices. With a
// `cache`, states are looked up and stored under cache_key + device.
PipelineStats run_image_pipeline(DevicePool& pool, size_t count, const PipelineOptions& options,
                                 const PipelineCallbacks& callbacks, FeatureCache* cache = nullptr);

}  // namespace sam3::core
