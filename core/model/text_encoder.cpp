// SPDX-License-Identifier: Apache-2.0
#include "core/model/text_encoder.h"

#include <limits>
#include <string>

#include "core/errors.h"
#include "core/tensor_text.h"

namespace sam3::core {

ResidualAttentionBlockImpl::ResidualAttentionBlockImpl(int64_t width, int64_t heads, int64_t mlp_width) {
  attn = register_module("attn", MultiheadAttention(width, heads));
  ln_1 = register_module("ln_1", make_layer_norm(width, 1e-5));
  ln_2 = register_module("ln_2", make_layer_norm(width, 1e-5));
  torch::nn::Sequential seq;
  seq->push_back("c_fc", torch::nn::Linear(width, mlp_width));
  // Exact (erf) GELU, as nn.GELU() in the reference.
  seq->push_back("gelu", torch::nn::GELU());
  seq->push_back("c_proj", torch::nn::Linear(mlp_width, width));
  mlp = register_module("mlp", seq);
}

torch::Tensor ResidualAttentionBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& attn_mask) {
  const auto h = ln_1->forward(x);
  auto y = x + attn->forward(h, h, h, /*key_padding_mask=*/{}, attn_mask);
  return y + mlp->forward(ln_2->forward(y));
}

TextTransformerStackImpl::TextTransformerStackImpl(int64_t width, int64_t layers, int64_t heads, int64_t mlp_width) {
  resblocks = register_module("resblocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) resblocks->push_back(ResidualAttentionBlock(width, heads, mlp_width));
}

torch::Tensor TextTransformerStackImpl::forward(torch::Tensor x, const torch::Tensor& attn_mask) {
  for (const auto& block : *resblocks) x = block->as<ResidualAttentionBlockImpl>()->forward(x, attn_mask);
  return x;
}

TextTransformerImpl::TextTransformerImpl(const TextConfig& c) : c_(c) {
  const int64_t W = c.width;
  token_embedding = register_module("token_embedding", torch::nn::Embedding(c.vocab_size, W));
  positional_embedding = register_parameter("positional_embedding", torch::zeros({c.context_length, W}));
  // mlp_ratio 4.0 in every SAM 3 configuration.
  transformer = register_module("transformer", TextTransformerStack(W, c.layers, c.heads, 4 * W));
  ln_final = register_module("ln_final", make_layer_norm(W, 1e-5));
  text_projection = register_parameter("text_projection", torch::zeros({W, c.proj_dim}));
  // The reference's attn_mask buffer is non-persistent (not in the state
  // dict): it is rebuilt in forward() on the input's device instead.
}

torch::Tensor TextTransformerImpl::causal_mask(int64_t L, const torch::TensorOptions& options) {
  return torch::full({L, L}, -std::numeric_limits<float>::infinity(), options).triu(1);
}

torch::Tensor TextTransformerImpl::forward(const torch::Tensor& token_ids, torch::Tensor* embeds) {
  const int64_t L = token_ids.size(1);
  auto x = token_embedding->forward(token_ids);  // [N, L, W]
  if (embeds) *embeds = x;
  x = x + positional_embedding.slice(0, 0, L);
  x = transformer->forward(x, causal_mask(L, x.options()));
  return ln_final->forward(x);
}

VETextEncoderImpl::VETextEncoderImpl(const Sam3Config& c) : c_(c) {
  encoder = register_module("encoder", TextTransformer(c.text));
  resizer = register_module("resizer", torch::nn::Linear(c.text.width, c.d_model));
}

TextEncoding VETextEncoderImpl::forward(const torch::Tensor& token_ids) {
  if (!token_ids.defined() || token_ids.dim() != 2 || token_ids.size(1) < 1 ||
      token_ids.size(1) > c_.text.context_length || !c10::isIntegralType(token_ids.scalar_type(), /*includeBool=*/false))
    throw InvalidInput("text encoder: expected integer token ids [N, L] with 1 <= L <= " +
                       std::to_string(c_.text.context_length) + ", got " +
                       (token_ids.defined() ? std::string(c10::toString(token_ids.scalar_type())) + " " + shape_text(token_ids)
                                            : std::string("an undefined tensor")));
  const auto ids = token_ids.to(encoder->token_embedding->weight.device(), torch::kLong);
  if (ids.numel() > 0) {
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= c_.text.vocab_size)
      throw InvalidInput("text encoder: token ids must be in [0, " + std::to_string(c_.text.vocab_size) + "), got [" +
                         std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  try {
    TextEncoding out;
    torch::Tensor embeds;
    const auto tokens = encoder->forward(ids, &embeds);  // [N, L, W]
    // The reference keeps id 0 as padding: text_attention_mask = (ids != 0).ne(1).
    out.attention_mask = ids.eq(0);
    out.memory = resizer->forward(tokens.transpose(0, 1));  // [L, N, d_model]
    out.input_embeds = embeds.transpose(0, 1);             // [L, N, W]
    return out;
  } catch (const c10::Error& e) {
    throw ModelError(std::string("text encoder forward on token ids ") + shape_text(token_ids) + ": " +
                     e.what_without_backtrace());
  }
}

}  // namespace sam3::core
