// SPDX-License-Identifier: Apache-2.0
// The image pipeline behind `sam3 batch` and `sam3 bench`: a TBB
// parallel_pipeline with a bounded number of groups in flight:
//   read + decode + preprocess (parallel, IO threads, one intra-op thread each)
//   -> backbone on the group as one batch + prompt per image (serial: the device)
//   -> encode (parallel) -> emit (serial; input order unless unordered).
// A group is `backbone_batch` consecutive inputs; with 1 every image runs alone.
//
// Thread-safety: run_batch_pipeline blocks; the callbacks run on pipeline
// threads (read and encode concurrently with each other; emit serially).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "core/image_engine.h"
#include "formats/types.h"

namespace sam3::cli {

struct BatchPipelineOptions {
  size_t in_flight = 0;    // images in flight at once; 0: 2 x cores (at least 2 groups)
  int backbone_batch = 1;  // images per backbone forward
  int io_threads = 0;      // threads for read/decode/encode besides the inference thread; 0: auto
  bool ordered = true;     // emit in input order
};

// One finished input.
struct BatchLine {
  std::string path;
  std::string line;  // JSON line (result or error)
  bool failed = false;
};

struct BatchStats {
  size_t done = 0;
  size_t failed = 0;
  double seconds = 0;        // wall time of the whole run
  double model_seconds = 0;  // time spent in the inference stage
};

// How each stage turns its input into its output. `read` decodes a path;
// `encode` turns a result into the finished line (and may write files);
// `emit` receives every line. Exceptions from read/encode (and InvalidInput
// from the model) become error lines; other model errors abort the run.
struct BatchCallbacks {
  std::function<formats::Image(const std::string& path)> read;
  std::function<std::string(const std::string& path, const formats::SegmentResult& result)> encode;
  std::function<void(const BatchLine& line)> emit;
};

// The IO thread count used for io_threads = 0: the cores left over by the
// inference threads, at least 1.
int default_io_threads(int inference_threads);

BatchStats run_batch_pipeline(const core::ImageEngine& engine, const std::vector<std::string>& inputs,
                              const core::Prompt& prompt, const BatchPipelineOptions& options,
                              const BatchCallbacks& callbacks);

}  // namespace sam3::cli
