// SPDX-License-Identifier: Apache-2.0
// Hugging Face safetensors: 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets}}, then the raw little-endian data.
// Reading memory-maps the file; tensors are zero-copy views that keep the
// mapping alive. Thread-safety: a SafeTensorsFile is immutable after open.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/torch.h"

namespace sam3::core {

class SafeTensorsFile {
public:
  // \throws NotFound if the file does not exist, ModelError if it is not safetensors.
  explicit SafeTensorsFile(const std::string& path);

  const std::string& path() const noexcept { return path_; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  std::vector<int64_t> shape(const std::string& name) const;
  // Zero-copy CPU view. \throws NotFound for an unknown name.
  torch::Tensor get(const std::string& name) const;
  // The "__metadata__" string map (empty when absent).
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

private:
  struct Entry {
    torch::ScalarType dtype;
    std::vector<int64_t> shape;
    size_t begin = 0, end = 0;
  };
  std::string path_;
  std::shared_ptr<void> mapping_;  // munmap on last release
  const char* data_ = nullptr;     // start of the data section
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

using TensorMap = std::map<std::string, torch::Tensor>;

// Reads every tensor (still zero-copy views over the mapping).
TensorMap load_safetensors(const std::string& path);

// Writes tensors (made contiguous, on CPU) atomically: a temp file renamed into place.
void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace sam3::core
