// SPDX-License-Identifier: Apache-2.0
// Copies named tensors into a module's parameters and buffers, by the
// reference's names (module tree names mirror the PyTorch reference), with a
// strict report of what is missing, unexpected or mis-shaped.
#pragma once

#include <string>
#include <vector>

#include "core/checkpoint/safetensors.h"
#include "core/torch.h"

namespace sam3::core {

struct LoadReport {
  std::vector<std::string> missing;     // module tensors absent from the source
  std::vector<std::string> unexpected;  // source tensors under the prefix the module does not have
  std::vector<std::string> mismatched;  // "name: expected [..], got [..]"
  size_t loaded = 0;
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  // One message naming every problem (first few of each kind, then counts).
  std::string summary() const;
};

// For every parameter/buffer `n` of `module`, copies source[prefix + n].
// Complex sources (e.g. RoPE freqs_cis) are viewed as real [..., 2] when the
// target is real with a trailing 2. Source names outside `prefix` are ignored;
// those inside it that the module lacks are reported as unexpected unless
// listed in `ignore_unexpected_prefixes` (relative to prefix).
LoadReport load_state_dict(torch::nn::Module& module, const TensorMap& source, const std::string& prefix,
                           const std::vector<std::string>& ignore_unexpected_prefixes = {});

// Same, and throws ModelError with report.summary() unless report.ok().
void load_state_dict_strict(torch::nn::Module& module, const TensorMap& source, const std::string& prefix,
                            const std::vector<std::string>& ignore_unexpected_prefixes = {});

}  // namespace sam3::core
