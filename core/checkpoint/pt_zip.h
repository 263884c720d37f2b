// SPDX-License-Identifier: Apache-2.0
// PyTorch checkpoints written by torch.save (the zip format, the default since
// PyTorch 1.6): `<archive>/data.pkl` (a pickle whose tensors point at storage
// records through persistent ids) plus one `<archive>/data/<key>` record per
// storage. The official `sam3.pt` is such a file: a state dict, possibly
// nested as {"model": {...}}, with float32/bf16/fp16 tensors and complex64
// RoPE buffers (`freqs_cis`).
//
// LibTorch's own unpickler (torch::pickle_load) rejects the SETITEM opcode that
// Python emits for one-entry dicts such as {"model": {...}} and the BUILD of an
// OrderedDict's _metadata, so this file carries a small unpickler restricted
// to what state dicts contain; zip records are read through LibTorch's
// caffe2::serialize::PyTorchStreamReader/Writer. Storage bytes are read only
// for the tensors returned, one copy each (views share their storage).
//
// Thread-safety: free functions without shared state; safe to call concurrently.
#pragma once

#include <string>
#include <vector>

#include "core/checkpoint/safetensors.h"  // TensorMap
#include "core/torch.h"

namespace sam3::core {

// Name, dtype and shape of one tensor of a .pt file, read without its data.
struct PtTensorInfo {
  std::string name;
  torch::ScalarType dtype = torch::kFloat32;
  std::vector<int64_t> shape;
};

// True when the file starts with a zip signature ("PK\3\4" or an empty zip's "PK\5\6").
// \throws nothing; false for unreadable files.
bool is_zip_file(const std::string& path);

// Reads every tensor of the state dict in a torch.save zip archive. The state
// dict is the top-level dict, or its "model" / "state_dict" entry when that is
// a dict; nested dicts of tensors are flattened with '.'-joined names; entries
// that are not tensors are skipped. Tensors keep their stored dtype (complex
// stays complex) and live on the CPU.
// \throws NotFound if the file does not exist; ModelError (naming the file) if it
//         is not a zip, is truncated or corrupt, holds no tensors, or uses a
//         pickle construct outside state dicts.
TensorMap load_pt(const std::string& path);

// The same tensors' names, dtypes and shapes, without reading any storage
// (cheap even for multi-GB files). Sorted by name. \throws as load_pt.
std::vector<PtTensorInfo> read_pt_index(const std::string& path);

// Writes `tensors` as torch.save would (pickle protocol 2, _rebuild_tensor_v2,
// legacy storage type names, one contiguous storage per tensor), loadable by
// Python's torch.load (also with weights_only=True) and by load_pt. With a
// non-empty `wrap_key` the state dict is nested as {wrap_key: {...}} (the
// official sam3.pt layout uses "model"). Written atomically: a temp file in
// the same folder renamed into place. Tensors may be on any device/dtype
// supported by torch.save storages (float, half, bf16, complex, integer, bool).
// \throws ModelError on an unsupported dtype or an I/O failure (the temp file is removed).
void save_pt(const std::string& path, const TensorMap& tensors, const std::string& wrap_key = "");

}  // namespace sam3::core
