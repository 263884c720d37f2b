// SPDX-License-Identifier: Apache-2.0
#include "core/model/config.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/errors.h"

namespace sam3::core {
namespace {

using nlohmann::json;

// Reads j[key] into out when present; a wrong type names the field.
template <typename T>
void read(const json& j, const char* section, const char* key, T& out) {
  if (!j.is_object() || !j.contains(key) || j.at(key).is_null()) return;
  try {
    out = j.at(key).get<T>();
  } catch (const json::exception&) {
    throw InvalidInput(std::string("config: '") + section + "." + key + "' has the wrong type");
  }
}

const json& section(const json& m, const char* name) {
  static const json empty = json::object();
  return m.contains(name) && m.at(name).is_object() ? m.at(name) : empty;
}

void read_layer_heads(const json& layer, const char* sect, int& heads, int& ffn) {
  read(layer, sect, "dim_feedforward", ffn);
  if (layer.contains("self_attention")) read(layer.at("self_attention"), sect, "num_heads", heads);
  else if (layer.contains("cross_attention")) read(layer.at("cross_attention"), sect, "num_heads", heads);
  read(layer, sect, "n_heads", heads);
}

}  // namespace

Sam3Config Sam3Config::full() { return Sam3Config{}; }

Sam3Config Sam3Config::tiny() {
  Sam3Config c;
  c.image_size = 252;
  c.d_model = 64;
  c.vit.img_size = 252;
  c.vit.pretrain_img_size = 84;
  c.vit.embed_dim = 96;
  c.vit.depth = 4;
  c.vit.num_heads = 3;
  c.vit.window_size = 6;
  c.vit.global_att_blocks = {1, 3};
  c.text.width = 64;
  c.text.heads = 2;
  c.text.layers = 2;
  c.encoder = {2, 4, 128};
  c.decoder = {3, 4, 128};
  c.geometry = {2, 4, 128};
  c.num_queries = 20;
  c.scorer_hidden = 128;
  c.mask_head_heads = 4;
  return c;
}

Sam3Config Sam3Config::from_json(const json& doc) {
  const json& m = doc.contains("model") ? doc.at("model") : doc;
  if (!m.is_object()) throw InvalidInput("config: 'model' must be an object");
  Sam3Config c;
  read(m, "model", "image_size", c.image_size);
  const json& vit = section(m, "vit");
  read(vit, "vit", "img_size", c.vit.img_size);
  read(vit, "vit", "pretrain_img_size", c.vit.pretrain_img_size);
  read(vit, "vit", "patch_size", c.vit.patch_size);
  read(vit, "vit", "embed_dim", c.vit.embed_dim);
  read(vit, "vit", "depth", c.vit.depth);
  read(vit, "vit", "num_heads", c.vit.num_heads);
  read(vit, "vit", "mlp_ratio", c.vit.mlp_ratio);
  read(vit, "vit", "window_size", c.vit.window_size);
  read(vit, "vit", "global_att_blocks", c.vit.global_att_blocks);
  read(vit, "vit", "qkv_bias", c.vit.qkv_bias);
  read(vit, "vit", "bias_patch_embed", c.vit.bias_patch_embed);
  read(vit, "vit", "pretrain_use_cls_token", c.vit.pretrain_use_cls_token);
  read(section(m, "neck"), "neck", "d_model", c.d_model);
  const json& text = section(m, "text_encoder");
  read(text, "text_encoder", "width", c.text.width);
  read(text, "text_encoder", "heads", c.text.heads);
  read(text, "text_encoder", "layers", c.text.layers);
  read(text, "text_encoder", "context_length", c.text.context_length);
  read(text, "text_encoder", "vocab_size", c.text.vocab_size);
  const json& enc = section(m, "encoder");
  read(enc, "encoder", "num_layers", c.encoder.num_layers);
  read_layer_heads(section(enc, "layer"), "encoder.layer", c.encoder.num_heads, c.encoder.dim_feedforward);
  const json& dec = section(m, "decoder");
  read(dec, "decoder", "num_layers", c.decoder.num_layers);
  read(dec, "decoder", "num_queries", c.num_queries);
  read_layer_heads(section(dec, "layer"), "decoder.layer", c.decoder.num_heads, c.decoder.dim_feedforward);
  const json& geo = section(m, "geometry_encoder");
  read(geo, "geometry_encoder", "num_layers", c.geometry.num_layers);
  read_layer_heads(section(geo, "layer"), "geometry_encoder.layer", c.geometry.num_heads,
                   c.geometry.dim_feedforward);
  read(section(section(m, "dot_product_scoring"), "prompt_mlp"), "dot_product_scoring.prompt_mlp",
       "hidden_dim", c.scorer_hidden);
  read(section(section(m, "segmentation_head"), "cross_attend_prompt"),
       "segmentation_head.cross_attend_prompt", "num_heads", c.mask_head_heads);
  read(section(m, "processor"), "processor", "resolution", c.image_size);
  bool inst = false;
  read(section(m, "neck"), "neck", "add_sam2_neck", inst);
  read(m, "model", "enable_inst_interactivity", inst);
  c.enable_inst_interactivity = inst;
  c.validate();
  return c;
}

Sam3Config Sam3Config::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw NotFound("model config '" + path + "' does not exist");
  json j;
  try {
    in >> j;
  } catch (const json::exception& e) {
    throw InvalidInput("model config '" + path + "' is not valid JSON: " + e.what());
  }
  return from_json(j);
}

json Sam3Config::to_json() const {
  auto layer = [](const TransformerConfig& t, bool nested_attention) {
    json l = {{"dim_feedforward", t.dim_feedforward}};
    if (nested_attention) l["self_attention"] = {{"num_heads", t.num_heads}};
    else l["n_heads"] = t.num_heads;
    return l;
  };
  json m = {
      {"image_size", image_size},
      {"enable_inst_interactivity", enable_inst_interactivity},
      {"vit",
       {{"img_size", vit.img_size}, {"pretrain_img_size", vit.pretrain_img_size},
        {"patch_size", vit.patch_size}, {"embed_dim", vit.embed_dim}, {"depth", vit.depth},
        {"num_heads", vit.num_heads}, {"mlp_ratio", vit.mlp_ratio}, {"window_size", vit.window_size},
        {"global_att_blocks", vit.global_att_blocks}, {"qkv_bias", vit.qkv_bias},
        {"bias_patch_embed", vit.bias_patch_embed},
        {"pretrain_use_cls_token", vit.pretrain_use_cls_token}}},
      {"neck", {{"d_model", d_model}, {"add_sam2_neck", enable_inst_interactivity}}},
      {"text_encoder",
       {{"width", text.width}, {"heads", text.heads}, {"layers", text.layers},
        {"context_length", text.context_length}, {"vocab_size", text.vocab_size}}},
      {"encoder", {{"num_layers", encoder.num_layers}, {"layer", layer(encoder, true)}}},
      {"decoder", {{"num_layers", decoder.num_layers}, {"num_queries", num_queries}, {"layer", layer(decoder, false)}}},
      {"geometry_encoder", {{"num_layers", geometry.num_layers}, {"layer", layer(geometry, true)}}},
      {"dot_product_scoring", {{"prompt_mlp", {{"hidden_dim", scorer_hidden}}}}},
      {"segmentation_head", {{"cross_attend_prompt", {{"num_heads", mask_head_heads}}}}},
      {"processor", {{"resolution", image_size}}},
  };
  return json{{"model", m}};
}

void Sam3Config::validate() const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw InvalidInput("config: " + what);
  };
  need(vit.patch_size > 0 && vit.img_size > 0 && vit.img_size % vit.patch_size == 0,
       "vit.img_size must be a positive multiple of vit.patch_size");
  need(vit.num_heads > 0 && vit.embed_dim % vit.num_heads == 0, "vit.embed_dim must be divisible by vit.num_heads");
  need((vit.embed_dim / vit.num_heads) % 4 == 0, "vit head dim must be divisible by 4 (axial RoPE)");
  need(vit.embed_dim % 4 == 0, "vit.embed_dim must be divisible by 4 (neck)");
  need(vit.depth > 0 && !vit.global_att_blocks.empty() && vit.global_att_blocks.back() == vit.depth - 1,
       "the last of vit.global_att_blocks must be vit.depth-1");
  need(vit.window_size > 0 && vit.grid() % vit.window_size == 0, "vit token grid must be divisible by vit.window_size");
  need(vit.pretrain_img_size % vit.patch_size == 0 && vit.pretrain_img_size / vit.patch_size <= vit.grid(),
       "vit.pretrain_img_size must be a multiple of the patch size, at most vit.img_size");
  need(image_size == vit.img_size, "processor resolution must equal vit.img_size");
  need(d_model > 0 && d_model % 8 == 0, "d_model must be a positive multiple of 8");
  for (const auto* t : {&encoder, &decoder, &geometry})
    need(t->num_heads > 0 && d_model % t->num_heads == 0 && t->num_layers > 0 && t->dim_feedforward > 0,
         "transformer heads must divide d_model and layers/ffn be positive");
  need(text.heads > 0 && text.width % text.heads == 0, "text_encoder.width must be divisible by heads");
  need(text.context_length > 2 && text.vocab_size == 49408, "text_encoder.vocab_size must be 49408 (CLIP BPE)");
  need(num_queries > 0, "decoder.num_queries must be positive");
  need(mask_head_heads > 0 && d_model % mask_head_heads == 0, "segmentation head heads must divide d_model");
}

}  // namespace sam3::core
