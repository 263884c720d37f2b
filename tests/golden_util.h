// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the parity tests: where the tiny image goldens are, their
// case names, and the one tensor comparison every stage checks itself with.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/checkpoint/safetensors.h"
#include "core/checkpoint/state_dict.h"
#include "core/model/config.h"
#include "core/torch.h"
#include "test_util.h"

namespace sam3::test {

// shared/golden/image_tiny/ (with the trailing slash), or "/image_tiny/" when absent.
std::string image_tiny_dir();

// shared/golden/image_tiny's config, and its weights (read once per process).
core::Sam3Config image_tiny_config();
const core::TensorMap& image_tiny_weights();

// `module` with image_tiny's weights under `prefix` (strict), in eval mode.
template <class M>
M load_image_tiny(M module, const std::string& prefix) {
  core::load_state_dict_strict(*module, image_tiny_weights(), prefix);
  module->eval();
  return module;
}

// The three cases of shared/golden/image_tiny, in the order of its README.
inline constexpr const char* kImageCases[3] = {"case0_text", "case1_text_box", "case2_boxes_only"};
// The same names as strings, for ::testing::ValuesIn in TestWithParam<std::string>.
std::vector<std::string> image_case_names();

// The detector-side sizes of shared/golden/tracker_tiny's own backbone (ViT 64
// wide, 2 blocks, 252 px, with the sam2 neck), from make_golden_tracker.py.
core::Sam3Config tracker_tiny_backbone_config();

struct TensorDiff {
  double max_abs = 0;   // max |got - want|
  double max_rel = 0;   // max_abs / max |want| (floored at 1e-12)
  double max_want = 0;  // max |want|
  double cosine = 1;    // of the flattened tensors
};

// Computed in float64. Empty tensors compare equal (0, 0, 1); tensors of
// different shapes give infinite errors and cosine 0; two all-zero tensors
// have cosine 1, one all-zero tensor against a non-zero one cosine 0.
TensorDiff tensor_diff(const torch::Tensor& got, const torch::Tensor& want);

// Max |got - want| in float64; EXPECTs equal shapes (infinity when they differ).
double max_abs_error(const torch::Tensor& got, const torch::Tensor& want);

// A passing comparison needs the error within one of the bounds given
// (absolute OR relative to max |want|) and the cosine at least min_cosine.
struct Tolerance {
  std::optional<double> max_abs = 1e-4;  // golden README default
  std::optional<double> max_rel;
  double min_cosine = 0.9999;

  static Tolerance absolute(double a) { return {a, std::nullopt}; }
  static Tolerance relative(double r) { return {std::nullopt, r}; }
  // Either bound suffices: absolute for small values, relative for large ones.
  static Tolerance absolute_or_relative(double a, double r) { return {a, r}; }
};

// EXPECTs equal sizes, prints "[parity] what: ..." with every measure and
// returns the measures; checks nothing else (callers pick their own bound).
TensorDiff report_diff(const std::string& what, const torch::Tensor& got, const torch::Tensor& want);

// ASSERTs equal sizes, prints the errors (and records max_abs as a test
// property), then EXPECTs them within tol.
void expect_close(const std::string& what, const torch::Tensor& got, const torch::Tensor& want, Tolerance tol = {});

}  // namespace sam3::test
