// SPDX-License-Identifier: Apache-2.0
// Random-weight model folders: how tests, benchmarks and demos get a model of
// the real architecture without the official download. Torch-free header.
#pragma once

#include <cstdint>
#include <string>

namespace sam3::core {

struct ModelInitOptions {
  std::string preset = "tiny";  // "tiny" or "full"
  std::string config_json;      // optional: a config.json overriding the preset
  uint64_t seed = 0;
  std::string out_dir;
  std::string bpe_path;         // copied into the folder when given
  bool with_tracker = true;     // also write the tracker.* part of the checkpoint
};

struct ModelInitReport {
  std::string checkpoint;
  int64_t tensors = 0;
  int64_t parameters = 0;
};

// Builds the modules of the configuration, draws their weights from a seeded
// generator (the golden's recipe: N(0, 1/fan_in) weights, N(1, 0.1^2) norms,
// N(0, 0.05^2) biases; RoPE tables computed), and writes
// <out_dir>/model.safetensors under the official names, <out_dir>/config.json
// and, when bpe_path is set, the vocabulary. Atomic per file.
// \throws InvalidInput for an unknown preset or a bad config, Error on I/O failure.
ModelInitReport init_model_folder(const ModelInitOptions& options);

}  // namespace sam3::core
