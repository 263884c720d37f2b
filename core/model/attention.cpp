// SPDX-License-Identifier: Apache-2.0
#include "core/model/attention.h"

#include <atomic>

namespace sam3::core {
namespace {
std::atomic<int64_t> g_budget{int64_t{512} << 20};
}

void set_attention_budget_bytes(int64_t bytes) { g_budget.store(bytes > 0 ? bytes : (int64_t{512} << 20)); }
int64_t attention_budget_bytes() { return g_budget.load(); }

torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                           const torch::Tensor& v, const torch::Tensor& mask,
                                           double scale) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attention expects [B,H,L,D] tensors, got q ",
              q.sizes(), " k ", k.sizes(), " v ", v.sizes());
  const int64_t B = q.size(0), H = q.size(1), L = q.size(2), S = k.size(2);
  const int64_t row_bytes = B * H * S * static_cast<int64_t>(q.element_size());
  int64_t chunk = std::max<int64_t>(1, attention_budget_bytes() / std::max<int64_t>(row_bytes, 1));
  auto kt = k.transpose(-2, -1);
  if (chunk >= L) {
    auto s = torch::matmul(q * scale, kt);
    if (mask.defined()) s = s + mask;
    return torch::matmul(torch::softmax(s, -1), v);
  }
  // Chunked path: the softmax runs in place so that one chunk holds a single
  // score block (torch::softmax would keep scores and probabilities alive
  // together, twice the budget).
  auto run = [&](const torch::Tensor& qc, const torch::Tensor& mc) {
    auto s = torch::matmul(qc * scale, kt);
    if (mc.defined()) s.add_(mc);
    s.sub_(std::get<0>(s.max(-1, true))).exp_();
    s.div_(s.sum(-1, true));
    return torch::matmul(s, v);
  };
  std::vector<torch::Tensor> outs;
  for (int64_t i = 0; i < L; i += chunk) {
    const int64_t n = std::min(chunk, L - i);
    torch::Tensor mc;
    if (mask.defined()) mc = mask.size(-2) == 1 ? mask : mask.narrow(-2, i, n);
    outs.push_back(run(q.narrow(2, i, n), mc));
  }
  return torch::cat(outs, 2);
}

MultiheadAttentionImpl::MultiheadAttentionImpl(int64_t embed_dim, int64_t num_heads)
    : embed_dim_(embed_dim), num_heads_(num_heads) {
  TORCH_CHECK(embed_dim % num_heads == 0, "MultiheadAttention: embed_dim ", embed_dim,
              " not divisible by num_heads ", num_heads);
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * embed_dim, embed_dim}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * embed_dim}));
  out_proj = register_module("out_proj", torch::nn::Linear(embed_dim, embed_dim));
  torch::nn::init::xavier_uniform_(in_proj_weight);
}

torch::Tensor MultiheadAttentionImpl::forward(const torch::Tensor& query, const torch::Tensor& key,
                                              const torch::Tensor& value, const torch::Tensor& key_padding_mask,
                                              const torch::Tensor& attn_mask) {
  const int64_t B = query.size(0), L = query.size(1), S = key.size(1), E = embed_dim_, H = num_heads_;
  const int64_t D = E / H;
  auto w = in_proj_weight.chunk(3, 0);
  auto b = in_proj_bias.chunk(3, 0);
  auto q = torch::nn::functional::linear(query, w[0], b[0]).view({B, L, H, D}).transpose(1, 2);
  auto k = torch::nn::functional::linear(key, w[1], b[1]).view({B, S, H, D}).transpose(1, 2);
  auto v = torch::nn::functional::linear(value, w[2], b[2]).view({B, S, H, D}).transpose(1, 2);

  torch::Tensor mask;
  if (attn_mask.defined()) {
    auto m = attn_mask;
    if (m.scalar_type() == torch::kBool)
      m = torch::zeros(m.sizes(), q.options()).masked_fill(m, -std::numeric_limits<float>::infinity());
    m = m.to(q.scalar_type());
    mask = m.dim() == 2 ? m.view({1, 1, L, S}) : m.view({B, H, L, S});
  }
  if (key_padding_mask.defined()) {
    auto kpm = torch::zeros({B, 1, 1, S}, q.options())
                   .masked_fill(key_padding_mask.view({B, 1, 1, S}).to(torch::kBool),
                                -std::numeric_limits<float>::infinity());
    mask = mask.defined() ? mask + kpm : kpm;
  }
  auto o = scaled_dot_product_attention(q, k, v, mask, 1.0 / std::sqrt(static_cast<double>(D)));
  o = o.transpose(1, 2).reshape({B, L, E});
  return out_proj->forward(o);
}

torch::Tensor activate(const torch::Tensor& x, Activation a) {
  return a == Activation::relu ? torch::relu(x) : torch::gelu(x);
}

MlpImpl::MlpImpl(const MlpOptions& o) : o_(o) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < o.num_layers; ++i) {
    const int64_t in = i == 0 ? o.input_dim : o.hidden_dim;
    const int64_t out = i == o.num_layers - 1 ? o.output_dim : o.hidden_dim;
    layers->push_back(torch::nn::Linear(in, out));
  }
  if (o.out_norm) out_norm = register_module("out_norm", make_layer_norm(o.output_dim));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  auto h = x;
  const int64_t n = static_cast<int64_t>(layers->size());
  for (int64_t i = 0; i < n; ++i) {
    h = layers[i]->as<torch::nn::Linear>()->forward(h);
    if (i < n - 1) h = activate(h, o_.activation);
  }
  if (o_.residual) h = h + x;
  if (o_.out_norm) h = out_norm->forward(h);
  if (o_.sigmoid_output) h = torch::sigmoid(h);
  return h;
}

torch::nn::LayerNorm make_layer_norm(int64_t dim, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(eps));
}

}  // namespace sam3::core
