// SPDX-License-Identifier: Apache-2.0
#include "golden_util.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iostream>
#include <iterator>
#include <limits>

namespace sam3::test {

std::string image_tiny_dir() {
  return golden_dir() + "/image_tiny/";
}

core::Sam3Config image_tiny_config() { return core::Sam3Config::from_file(image_tiny_dir() + "config.json"); }

const core::TensorMap& image_tiny_weights() {
  static const core::TensorMap weights = core::load_safetensors(image_tiny_dir() + "weights.safetensors");
  return weights;
}

std::vector<std::string> image_case_names() {
  return {std::begin(kImageCases), std::end(kImageCases)};
}

TensorDiff tensor_diff(const torch::Tensor& got, const torch::Tensor& want) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (got.sizes() != want.sizes()) return {kInf, kInf, kInf, 0.0};
  TensorDiff d;
  if (want.numel() == 0) return d;
  const auto g = got.detach().to(torch::kFloat64).contiguous().flatten();
  const auto w = want.detach().to(torch::kFloat64).contiguous().flatten();
  d.max_abs = (g - w).abs().max().item<double>();
  d.max_want = w.abs().max().item<double>();
  d.max_rel = d.max_abs / std::max(d.max_want, 1e-12);
  const double den = g.norm().item<double>() * w.norm().item<double>();
  // Two all-zero tensors are equal (max_abs 0): cosine 1; one alone: cosine 0.
  d.cosine = den > 0 ? g.dot(w).item<double>() / den : (d.max_abs == 0 ? 1.0 : 0.0);
  return d;
}

double max_abs_error(const torch::Tensor& got, const torch::Tensor& want) {
  EXPECT_EQ(got.sizes(), want.sizes());
  return tensor_diff(got, want).max_abs;
}

namespace {

void print_diff(const std::string& what, const TensorDiff& d) {
  std::cout << "[parity] " << what << ": max_abs=" << d.max_abs << " rel=" << d.max_rel << " max|golden|=" << d.max_want
            << " cosine=" << d.cosine << std::endl;
}

// RecordProperty names become XML attribute names: keep them to [A-Za-z0-9_.].
std::string property_key(const std::string& what) {
  std::string k = what + ".max_abs";
  std::replace_if(
      k.begin(), k.end(), [](unsigned char c) { return !(std::isalnum(c) || c == '_' || c == '.'); }, '_');
  return k;
}

}  // namespace

TensorDiff report_diff(const std::string& what, const torch::Tensor& got, const torch::Tensor& want) {
  EXPECT_EQ(got.sizes(), want.sizes()) << what;
  const TensorDiff d = tensor_diff(got, want);
  print_diff(what, d);
  return d;
}

void expect_close(const std::string& what, const torch::Tensor& got, const torch::Tensor& want, Tolerance tol) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  ASSERT_TRUE(tol.max_abs || tol.max_rel) << what << ": a tolerance needs an absolute or a relative bound";
  const TensorDiff d = tensor_diff(got, want);
  print_diff(what, d);
  ::testing::Test::RecordProperty(property_key(what), std::to_string(d.max_abs));
  if (tol.max_abs && !tol.max_rel) {
    EXPECT_LE(d.max_abs, *tol.max_abs) << what;
  } else if (tol.max_rel && !tol.max_abs) {
    EXPECT_LE(d.max_rel, *tol.max_rel) << what << " (relative to max |golden| " << d.max_want << ")";
  } else {
    EXPECT_TRUE(d.max_abs <= *tol.max_abs || d.max_rel <= *tol.max_rel)
        << what << ": max abs " << d.max_abs << " > " << *tol.max_abs << " and rel " << d.max_rel << " > "
        << *tol.max_rel;
  }
  EXPECT_GE(d.cosine, tol.min_cosine) << what;
}

core::Sam3Config tracker_tiny_backbone_config() {
  core::Sam3Config c;
  c.image_size = 252;
  c.d_model = 64;
  c.vit.img_size = 252;
  c.vit.pretrain_img_size = 84;
  c.vit.patch_size = 14;
  c.vit.embed_dim = 64;
  c.vit.depth = 2;
  c.vit.num_heads = 2;
  c.vit.mlp_ratio = 4.625;
  c.vit.window_size = 6;
  c.vit.global_att_blocks = {1};
  c.enable_inst_interactivity = true;
  return c;
}

}  // namespace sam3::test
