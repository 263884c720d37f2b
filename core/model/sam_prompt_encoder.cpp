// SPDX-License-Identifier: Apache-2.0
#include "core/model/sam_prompt_encoder.h"

#include <cmath>

namespace sam3::core {

SamLayerNorm2dImpl::SamLayerNorm2dImpl(int64_t channels, double eps) : eps_(eps) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

torch::Tensor SamLayerNorm2dImpl::forward(const torch::Tensor& x) {
  // Same op sequence as the reference (mean, pow, sqrt) so autocast and
  // rounding behave alike.
  auto u = x.mean(1, true);
  auto s = (x - u).pow(2).mean(1, true);
  auto y = (x - u) / torch::sqrt(s + eps_);
  return weight.view({-1, 1, 1}) * y + bias.view({-1, 1, 1});
}

SamPositionEmbeddingRandomImpl::SamPositionEmbeddingRandomImpl(int64_t num_pos_feats) {
  positional_encoding_gaussian_matrix =
      register_buffer("positional_encoding_gaussian_matrix", torch::randn({2, num_pos_feats}));
}

torch::Tensor SamPositionEmbeddingRandomImpl::encode(const torch::Tensor& coords01) {
  auto c = 2 * coords01 - 1;
  c = torch::matmul(c, positional_encoding_gaussian_matrix.to(c.scalar_type()));
  c = 2 * M_PI * c;
  return torch::cat({torch::sin(c), torch::cos(c)}, -1);
}

torch::Tensor SamPositionEmbeddingRandomImpl::forward(int64_t h, int64_t w) {
  auto opts = positional_encoding_gaussian_matrix.options().dtype(torch::kFloat32);
  auto grid = torch::ones({h, w}, opts);
  auto y = (grid.cumsum(0) - 0.5) / static_cast<double>(h);
  auto x = (grid.cumsum(1) - 0.5) / static_cast<double>(w);
  auto pe = encode(torch::stack({x, y}, -1));
  return pe.permute({2, 0, 1});
}

torch::Tensor SamPositionEmbeddingRandomImpl::forward_with_coords(const torch::Tensor& coords, int64_t image_h,
                                                                  int64_t image_w) {
  auto c = coords.clone();
  c.select(-1, 0).div_(static_cast<double>(image_w));
  c.select(-1, 1).div_(static_cast<double>(image_h));
  return encode(c.to(torch::kFloat32));
}

SamPromptEncoderImpl::SamPromptEncoderImpl(const SamPromptEncoderOptions& o) : o_(o) {
  TORCH_CHECK(o.embed_dim % 2 == 0 && o.mask_in_chans % 4 == 0, "SamPromptEncoder: embed_dim ", o.embed_dim,
              " must be even and mask_in_chans ", o.mask_in_chans, " a multiple of 4");
  pe_layer = register_module("pe_layer", SamPositionEmbeddingRandom(o.embed_dim / 2));
  point_embeddings = register_module("point_embeddings", torch::nn::ModuleList());
  for (int i = 0; i < 4; ++i) point_embeddings->push_back(torch::nn::Embedding(1, o.embed_dim));
  not_a_point_embed = register_module("not_a_point_embed", torch::nn::Embedding(1, o.embed_dim));
  namespace nn = torch::nn;
  const int64_t c4 = o.mask_in_chans / 4, c = o.mask_in_chans;
  mask_downscaling = register_module(
      "mask_downscaling",
      nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, c4, 2).stride(2)), SamLayerNorm2d(c4), nn::GELU(),
                     nn::Conv2d(nn::Conv2dOptions(c4, c, 2).stride(2)), SamLayerNorm2d(c), nn::GELU(),
                     nn::Conv2d(nn::Conv2dOptions(c, o.embed_dim, 1))));
  no_mask_embed = register_module("no_mask_embed", torch::nn::Embedding(1, o.embed_dim));
}

torch::Tensor SamPromptEncoderImpl::embed_points(const torch::Tensor& coords, const torch::Tensor& labels_in) {
  const int64_t B = coords.size(0);
  auto points = coords.to(torch::kFloat32) + 0.5;  // centre of the pixel
  auto labels = labels_in.to(torch::kInt64);
  points = torch::cat({points, torch::zeros({B, 1, 2}, points.options())}, 1);
  labels = torch::cat({labels, -torch::ones({B, 1}, labels.options())}, 1);
  auto pe = pe_layer->forward_with_coords(points, o_.input_image_size, o_.input_image_size);
  auto lab = labels.unsqueeze(-1);
  pe = torch::where(lab == -1, torch::zeros_like(pe) + not_a_point_embed->weight, pe);
  for (int64_t i = 0; i < 4; ++i) {
    const auto& w = point_embeddings[i]->as<torch::nn::Embedding>()->weight;
    pe = torch::where(lab == i, pe + w, pe);
  }
  return pe;
}

std::pair<torch::Tensor, torch::Tensor> SamPromptEncoderImpl::forward(const torch::Tensor& coords,
                                                                      const torch::Tensor& labels,
                                                                      const torch::Tensor& masks) {
  int64_t B = 1;
  if (coords.defined()) {
    TORCH_CHECK(coords.dim() == 3 && coords.size(2) == 2 && labels.defined() && labels.dim() == 2 &&
                    labels.size(0) == coords.size(0) && labels.size(1) == coords.size(1),
                "SamPromptEncoder: expected coords [B,N,2] and labels [B,N], got ", coords.sizes(), " and ",
                labels.defined() ? labels.sizes() : c10::IntArrayRef{});
    B = coords.size(0);
  } else if (masks.defined()) {
    B = masks.size(0);
  }
  auto w0 = no_mask_embed->weight;
  torch::Tensor sparse = coords.defined() ? embed_points(coords, labels)
                                          : torch::empty({B, 0, o_.embed_dim}, w0.options());
  torch::Tensor dense;
  const int64_t g = o_.image_embedding_size;
  if (masks.defined()) {
    TORCH_CHECK(masks.dim() == 4 && masks.size(1) == 1 && masks.size(2) == 4 * g && masks.size(3) == 4 * g,
                "SamPromptEncoder: mask input must be [B,1,", 4 * g, ",", 4 * g, "], got ", masks.sizes());
    dense = mask_downscaling->forward(masks.to(w0.scalar_type()));
  } else {
    dense = w0.reshape({1, -1, 1, 1}).expand({B, -1, g, g});
  }
  return {sparse, dense};
}

torch::Tensor SamPromptEncoderImpl::get_dense_pe() {
  return pe_layer->forward(o_.image_embedding_size, o_.image_embedding_size).unsqueeze(0);
}

}  // namespace sam3::core
