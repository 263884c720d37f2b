// SPDX-License-Identifier: Apache-2.0
// Attention building blocks shared by every module: scaled dot-product
// attention with a memory budget, nn.MultiheadAttention with the packed
// in_proj layout of PyTorch (state-dict compatible), and the reference's MLP.
#pragma once

#include <cstdint>

#include "core/torch.h"

namespace sam3::core {

// softmax(q k^T * scale + mask) v for q [B,H,L,D], k/v [B,H,S,D]. mask is
// additive float, broadcastable to [B,H,L,S] (or undefined). Query rows are
// processed in chunks so that no more than attention_budget_bytes() of
// scores is materialised at once (the 5184-token global ViT blocks need that).
torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                           const torch::Tensor& v, const torch::Tensor& mask,
                                           double scale);

// Bytes of attention scores allowed at once (default 512 MiB); set from config.
void set_attention_budget_bytes(int64_t bytes);
int64_t attention_budget_bytes();

// torch.nn.MultiheadAttention (bias=True, same embed dim for q/k/v), inference only.
// Parameters: in_proj_weight [3E,E], in_proj_bias [3E], out_proj.{weight,bias}.
class MultiheadAttentionImpl : public torch::nn::Module {
public:
  MultiheadAttentionImpl(int64_t embed_dim, int64_t num_heads);
  // Batch-first inputs: query [B,L,E], key/value [B,S,E]. key_padding_mask:
  // bool [B,S], true = ignore that key. attn_mask: additive float [L,S] or
  // [B*H,L,S] (PyTorch's convention), or bool with true = masked.
  // Seq-first modules transpose at the call site.
  torch::Tensor forward(const torch::Tensor& query, const torch::Tensor& key, const torch::Tensor& value,
                        const torch::Tensor& key_padding_mask = {}, const torch::Tensor& attn_mask = {});

  int64_t embed_dim() const { return embed_dim_; }
  int64_t num_heads() const { return num_heads_; }

  torch::Tensor in_proj_weight, in_proj_bias;
  torch::nn::Linear out_proj{nullptr};

private:
  int64_t embed_dim_, num_heads_;
};
TORCH_MODULE(MultiheadAttention);

enum class Activation { relu, gelu };

// The reference's MLP (model_misc.MLP / sam MLP): `layers.{i}` Linear layers,
// activation between them (not after the last), optional sigmoid on the output,
// optional residual (x + mlp(x)) and optional `out_norm` LayerNorm.
struct MlpOptions {
  int64_t input_dim, hidden_dim, output_dim, num_layers;
  Activation activation = Activation::relu;
  bool sigmoid_output = false;
  bool residual = false;
  bool out_norm = false;
};

class MlpImpl : public torch::nn::Module {
public:
  explicit MlpImpl(const MlpOptions& o);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm out_norm{nullptr};

private:
  MlpOptions o_;
};
TORCH_MODULE(Mlp);

// x -> act(x)
torch::Tensor activate(const torch::Tensor& x, Activation a);

// torch LayerNorm options with the given eps (the reference uses 1e-5 in the
// detector, 1e-6 in LayerNorm2d of the SAM heads).
torch::nn::LayerNorm make_layer_norm(int64_t dim, double eps = 1e-5);

}  // namespace sam3::core
