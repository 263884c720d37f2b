// SPDX-License-Identifier: Apache-2.0
// Model files on disk: finding a model folder's checkpoint/config/vocabulary,
// loading any supported checkpoint under the official names, inspecting,
// converting, and writing random-weight checkpoints (how tests get models).
// These are the functions behind `sam3 model inspect|convert|init`.
//
// Supported checkpoints (detected by their first bytes, not their names):
//   - "pt":          torch.save zip archives such as the official sam3.pt (pt_zip.h)
//   - "safetensors": official names (detector.* / tracker.*), e.g. the golden
//                    weights.safetensors, or the transformers layout
//                    (model.safetensors of facebook/sam3), mapped by hf_layout.h
// load_checkpoint always returns official names, and complex tensors (the ViT
// RoPE `freqs_cis` of sam3.pt) as float32 view_as_real [..., 2], the form the
// modules register and the golden files store.
//
// Thread-safety: free functions without shared state. Writers are atomic
// (temp file + rename), so a concurrent reader sees the old or the new file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/checkpoint/safetensors.h"  // TensorMap

namespace sam3::core {

// What a model folder holds. Empty strings mean "not found" (only checkpoint is required).
struct ModelFiles {
  std::string dir;          // the folder
  std::string checkpoint;   // the weights file
  std::string config_json;  // <dir>/config.json, or ""
  std::string bpe;          // bpe_simple_vocab_16e6.txt.gz in <dir> or its parent, or ""
};

// Resolves a model folder or a checkpoint file. In a folder the checkpoint is
// the first present of: sam3.pt, model.safetensors, weights.safetensors, the
// only *.safetensors, the only *.pt. A file argument is the checkpoint itself
// and its folder is searched for the rest.
// \throws ModelMissing when the path does not exist or holds no checkpoint
//         (the message lists what was looked for), ModelError when several
//         candidate checkpoints make the choice ambiguous.
ModelFiles locate_model(const std::string& model_dir_or_file);

// "pt" or "safetensors", from the file's first bytes.
// \throws NotFound if absent, ModelError for any other content.
std::string detect_format(const std::string& path);

// Loads every tensor of a checkpoint file (or of the checkpoint locate_model
// finds in a folder) under the official names; complex tensors become float32
// [..., 2]. safetensors tensors are zero-copy views of the mapped file.
// \throws NotFound / ModelMissing / ModelError as detect_format, locate_model, load_pt.
TensorMap load_checkpoint(const std::string& path);

// A tensor name and shape (and dtype name: "float32", "float16", "bfloat16",
// "complex64"), e.g. one entry of the official checkpoint manifest.
struct KeySpec {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype = "float32";
};

// The "checkpoint_keys" of a manifest JSON file such as shared/golden/full_manifest.json
// ({"checkpoint_keys": {name: {"shape": [...], "dtype": "..."}}}), sorted by name.
// \throws NotFound if absent, ModelError if it has no checkpoint_keys object.
std::vector<KeySpec> manifest_keys(const std::string& manifest_json_path);
std::vector<KeySpec> manifest_keys_from_json(const nlohmann::json& manifest);

// Names that are buffers, not learnable parameters, in the official
// checkpoint (ViT RoPE tables and the SAM prompt encoder's gaussian matrix).
bool is_buffer_name(const std::string& name);

// A summary of a checkpoint without loading its data where the format allows:
// {"path", "file_bytes", "format": "pt"|"safetensors", "layout": "official"|"hf",
//  "tensors", "elements" (complex counted once), "parameters" (elements of
//  non-buffer tensors), "buffers", "dtypes": {name: count},
//  "prefixes": {"detector.backbone": {"tensors", "elements"}, ...} (first two name parts),
//  "metadata": {...} (safetensors only),
//  and with a manifest: "manifest": {"matches", "expected", "missing", "unexpected",
//  "mismatched", "missing_count", "unexpected_count", "mismatched_count"}}.
// The manifest is compared with the official names (an HF file is mapped first;
// a complex [s] entry matches a stored float32 [s, 2]). Lists hold at most 20 names.
// \throws as load_checkpoint.
nlohmann::json inspect_checkpoint(const std::string& path, const std::vector<KeySpec>* manifest = nullptr);

// Rewrites a checkpoint in the format named by the output extension (".pt" or
// ".safetensors"), under the official names (HF input is mapped). A .pt output
// nests the state dict under "model" and stores RoPE tables (float32 [..., 2]
// named *.freqs_cis) as complex64, as sam3.pt does. Atomic.
// \throws InvalidInput for another extension or in == out; else as load_checkpoint/save_*.
void convert_checkpoint(const std::string& in_path, const std::string& out_path);

// Writes a checkpoint with exactly `keys` (names, shapes, dtypes), format by
// extension (".pt" or ".safetensors"), deterministic in `seed` (each tensor
// is seeded from seed and its name, so it does not depend on the other keys):
//   *.freqs_cis                      RoPE table cos/sin (complex64 [N, D/2] in .pt,
//                                    float32 [N, D/2, 2] in .safetensors), grid
//                                    sqrt(N), scale = base grid / sqrt(N) where the
//                                    base grid comes from trunk.pos_embed [1, 1+g*g, C]
//                                    or else the smallest table; identity rotation
//                                    when N is not a square
//   *.bias, *_bias                   zeros
//   1-D *.weight or *norm*.weight    ones (LayerNorm / GroupNorm / LayerNorm2d)
//   everything else                  normal(0, 0.02)
// \throws InvalidInput for an unknown extension or dtype, ModelError on I/O failure.
void write_random_checkpoint(const std::vector<KeySpec>& keys, uint64_t seed, const std::string& out_path);

}  // namespace sam3::core
