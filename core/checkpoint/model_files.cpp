// SPDX-License-Identifier: Apache-2.0
#include "core/checkpoint/model_files.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/checkpoint/hf_layout.h"
#include "core/checkpoint/pt_zip.h"
#include "core/errors.h"
#include "core/tensor_text.h"
#include "core/log.h"

namespace sam3::core {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCheckpointNames[] = {"sam3.pt", "model.safetensors", "weights.safetensors"};
constexpr const char* kBpeName = "bpe_simple_vocab_16e6.txt.gz";
constexpr size_t kListMax = 20;

bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

std::string extension_of(const std::string& path) { return fs::path(path).extension().string(); }

std::vector<std::string> files_with_extension(const fs::path& dir, const std::string& ext) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && e.path().extension() == ext) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::string dtype_name(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "float32";
    case torch::kFloat16: return "float16";
    case torch::kBFloat16: return "bfloat16";
    case torch::kFloat64: return "float64";
    case torch::kComplexFloat: return "complex64";
    case torch::kComplexDouble: return "complex128";
    case torch::kInt64: return "int64";
    case torch::kInt32: return "int32";
    case torch::kInt16: return "int16";
    case torch::kInt8: return "int8";
    case torch::kUInt8: return "uint8";
    case torch::kBool: return "bool";
    default: return c10::toString(t);
  }
}

// Complex tensors as float32 [..., 2], the form modules and safetensors use.
void complex_to_real(TensorMap& m) {
  for (auto& [k, t] : m)
    if (t.is_complex()) t = torch::view_as_real(t.to(torch::kComplexFloat).contiguous()).contiguous();
}

struct Entry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
};

int64_t numel_of(const std::vector<int64_t>& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// ---- random checkpoints ----------------------------------------------------

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

int64_t exact_sqrt(int64_t n) {
  if (n <= 0) return -1;
  auto r = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  return r * r == n ? r : -1;
}

// Axial 2-D RoPE table [N, half, 2] (cos, sin) over a g x g grid, the
// reference's ViT table: pairs 0..half/2-1 rotate with x, the rest with y.
torch::Tensor rope_table(int64_t n, int64_t half, double scale) {
  const int64_t g = exact_sqrt(n);
  const int64_t head_dim = 2 * half;
  if (g < 0 || head_dim % 4 != 0) {  // not an axial table: identity rotation
    return torch::stack({torch::ones({n, half}), torch::zeros({n, half})}, -1);
  }
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  // Same float32 op order as the reference (and core/model/rope.cpp), so tables match bit for bit.
  auto expo = torch::arange(0, head_dim, 4, torch::kInt64).slice(0, 0, head_dim / 4).to(torch::kFloat32) /
              static_cast<double>(head_dim);
  auto freqs = torch::reciprocal(torch::pow(10000.0, expo));
  auto t = torch::arange(n, f32);
  auto tx = torch::remainder(t, static_cast<double>(g)) * scale;
  auto ty = torch::div(t, static_cast<double>(g), "floor") * scale;
  auto angles = torch::cat({torch::outer(tx, freqs), torch::outer(ty, freqs)}, -1);
  return torch::stack({angles.cos(), angles.sin()}, -1).contiguous();
}

// The pretraining grid the RoPE scale is relative to.
int64_t rope_base_grid(const std::vector<KeySpec>& keys) {
  for (const auto& k : keys)
    if (ends_with(k.name, "trunk.pos_embed") && k.shape.size() == 3) {
      if (int64_t g = exact_sqrt(k.shape[1] - 1); g > 0) return g;  // with the cls row
      if (int64_t g = exact_sqrt(k.shape[1]); g > 0) return g;
    }
  int64_t best = -1;
  for (const auto& k : keys)
    if (ends_with(k.name, "freqs_cis") && !k.shape.empty())
      if (int64_t g = exact_sqrt(k.shape[0]); g > 0 && (best < 0 || g < best)) best = g;
  return best;
}

torch::ScalarType dtype_from_name(const std::string& d, const std::string& key) {
  if (d == "float32" || d.empty()) return torch::kFloat32;
  if (d == "float16") return torch::kFloat16;
  if (d == "bfloat16") return torch::kBFloat16;
  if (d == "complex64") return torch::kComplexFloat;
  throw InvalidInput("random checkpoint: tensor '" + key + "' has dtype '" + d +
                     "'; expected float32, float16, bfloat16 or complex64");
}

torch::Tensor random_tensor(const KeySpec& k, uint64_t seed, int64_t base_grid, bool keep_complex) {
  const torch::ScalarType dtype = dtype_from_name(k.dtype, k.name);
  const bool complex = dtype == torch::kComplexFloat;
  for (auto d : k.shape)
    if (d < 0) throw InvalidInput("random checkpoint: tensor '" + k.name + "' has a negative dimension");
  if (ends_with(k.name, "freqs_cis")) {
    // complex [N, half] or real [N, half, 2]
    std::vector<int64_t> s = k.shape;
    if (!complex && !s.empty() && s.back() == 2) s.pop_back();
    if (s.size() == 2) {
      const int64_t g = exact_sqrt(s[0]);
      const double scale = (g > 0 && base_grid > 0) ? static_cast<double>(base_grid) / static_cast<double>(g) : 1.0;
      auto table = rope_table(s[0], s[1], scale);
      if (complex && keep_complex) return torch::view_as_complex(table);
      return table.view(complex ? std::vector<int64_t>{s[0], s[1], 2} : k.shape);
    }
  }
  std::vector<int64_t> shape = k.shape;
  if (complex) shape.push_back(2);
  const size_t dot = k.name.rfind('.');
  const std::string leaf = dot == std::string::npos ? k.name : k.name.substr(dot + 1);
  const std::string module = dot == std::string::npos ? "" : k.name.substr(0, dot);
  const std::string module_leaf = module.substr(module.rfind('.') == std::string::npos ? 0 : module.rfind('.') + 1);
  torch::Tensor t;
  if (leaf == "bias" || ends_with(leaf, "_bias")) {
    t = torch::zeros(shape);
  } else if (leaf == "weight" && (k.shape.size() == 1 || module_leaf.find("norm") != std::string::npos)) {
    t = torch::ones(shape);
  } else {
    auto gen = at::detail::createCPUGenerator(splitmix64(seed ^ fnv1a(k.name)));
    t = torch::empty(shape).normal_(0.0, 0.02, gen);
  }
  if (complex) return keep_complex ? torch::view_as_complex(t) : t;
  return dtype == torch::kFloat32 ? t : t.to(dtype);
}

}  // namespace

// ---- locating ----------------------------------------------------------------

ModelFiles locate_model(const std::string& model_dir_or_file) {
  std::error_code ec;
  const fs::path p(model_dir_or_file);
  if (model_dir_or_file.empty() || !fs::exists(p, ec))
    throw ModelMissing("model path '" + model_dir_or_file +
                       "' does not exist (expected a model folder or a checkpoint file)");
  ModelFiles m;
  if (fs::is_directory(p, ec)) {
    m.dir = p.string();
    for (const char* name : kCheckpointNames)
      if (fs::is_regular_file(p / name, ec)) {
        m.checkpoint = (p / name).string();
        break;
      }
    for (const char* ext : {".safetensors", ".pt"}) {
      if (!m.checkpoint.empty()) break;
      auto found = files_with_extension(p, ext);
      if (found.size() == 1) m.checkpoint = found[0];
      if (found.size() > 1) {
        std::string list;
        for (const auto& f : found) list += (list.empty() ? "" : ", ") + fs::path(f).filename().string();
        throw ModelError("model folder '" + m.dir + "' holds several " + ext + " checkpoints (" + list +
                         "); name one file or keep one");
      }
    }
    if (m.checkpoint.empty())
      throw ModelMissing("no checkpoint in model folder '" + m.dir +
                         "': looked for sam3.pt, model.safetensors, weights.safetensors, *.safetensors, *.pt");
  } else {
    m.checkpoint = p.string();
    m.dir = p.has_parent_path() ? p.parent_path().string() : std::string(".");
  }
  const fs::path dir(m.dir);
  if (fs::is_regular_file(dir / "config.json", ec)) m.config_json = (dir / "config.json").string();
  for (const fs::path& cand : {dir / kBpeName, dir.parent_path() / kBpeName})
    if (fs::is_regular_file(cand, ec)) {
      m.bpe = cand.string();
      break;
    }
  return m;
}

// ---- formats -------------------------------------------------------------------

std::string detect_format(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw NotFound("checkpoint '" + path + "' does not exist");
  if (fs::is_directory(path, ec)) throw ModelError("checkpoint '" + path + "' is a directory, not a file");
  const auto size = fs::file_size(path, ec);
  std::ifstream in(path, std::ios::binary);
  unsigned char b[9] = {};
  in.read(reinterpret_cast<char*>(b), sizeof b);
  const auto got = static_cast<size_t>(in.gcount());
  if (got >= 4 && b[0] == 'P' && b[1] == 'K' && ((b[2] == 3 && b[3] == 4) || (b[2] == 5 && b[3] == 6))) return "pt";
  if (got == 9 && !ec) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | b[i];
    if (n >= 2 && n <= size - 8 && b[8] == '{') return "safetensors";
  }
  std::ostringstream hex;
  for (size_t i = 0; i < got && i < 8; ++i) hex << (i ? " " : "") << std::hex << static_cast<int>(b[i]);
  throw ModelError("'" + path + "' is neither a PyTorch zip (sam3.pt) nor a safetensors checkpoint (first bytes: " +
                   (got ? hex.str() : std::string("none, the file is empty")) + ")");
}

TensorMap load_checkpoint(const std::string& path) {
  std::error_code ec;
  const std::string file = fs::is_directory(path, ec) ? locate_model(path).checkpoint : path;
  const std::string fmt = detect_format(file);
  TensorMap m = fmt == "pt" ? load_pt(file) : load_safetensors(file);
  if (looks_like_hf(m)) {
    std::vector<std::string> unmapped;
    m = hf_to_official(m, &unmapped);
    if (!unmapped.empty())
      SAM3_LOG_WRN("'" << file << "': " << unmapped.size() << " transformers tensors have no official name and were skipped, e.g. '"
                       << unmapped.front() << "'");
  }
  complex_to_real(m);
  return m;
}

// ---- manifest ----------------------------------------------------------------

std::vector<KeySpec> manifest_keys_from_json(const nlohmann::json& manifest) {
  if (!manifest.is_object() || !manifest.contains("checkpoint_keys") || !manifest["checkpoint_keys"].is_object())
    throw ModelError("manifest has no \"checkpoint_keys\" object");
  std::vector<KeySpec> out;
  for (const auto& [name, v] : manifest["checkpoint_keys"].items()) {
    KeySpec k;
    k.name = name;
    try {
      k.shape = v.at("shape").get<std::vector<int64_t>>();
      if (v.contains("dtype")) k.dtype = v["dtype"].get<std::string>();
    } catch (const nlohmann::json::exception& e) {
      throw ModelError("manifest entry '" + name + "': expected {\"shape\": [...], \"dtype\": \"...\"}: " + e.what());
    }
    out.push_back(std::move(k));
  }
  std::sort(out.begin(), out.end(), [](const KeySpec& a, const KeySpec& b) { return a.name < b.name; });
  return out;
}

std::vector<KeySpec> manifest_keys(const std::string& manifest_json_path) {
  std::ifstream in(manifest_json_path);
  if (!in) throw NotFound("manifest '" + manifest_json_path + "' cannot be opened");
  try {
    return manifest_keys_from_json(nlohmann::json::parse(in));
  } catch (const nlohmann::json::exception& e) {
    throw ModelError("manifest '" + manifest_json_path + "' is not valid JSON: " + e.what());
  } catch (const ModelError& e) {
    throw ModelError("manifest '" + manifest_json_path + "': " + e.what());
  }
}

bool is_buffer_name(const std::string& name) {
  return ends_with(name, "freqs_cis") || ends_with(name, "positional_encoding_gaussian_matrix");
}

// ---- inspect -------------------------------------------------------------------

nlohmann::json inspect_checkpoint(const std::string& path, const std::vector<KeySpec>* manifest) {
  std::error_code ec;
  const std::string file = fs::is_directory(path, ec) ? locate_model(path).checkpoint : path;
  const std::string fmt = detect_format(file);
  nlohmann::json j;
  j["path"] = file;
  j["file_bytes"] = static_cast<uint64_t>(fs::file_size(file, ec));
  j["format"] = fmt;

  std::vector<Entry> entries;
  TensorMap names_only;  // keys for looks_like_hf; no data
  if (fmt == "pt") {
    for (auto& e : read_pt_index(file)) entries.push_back({e.name, dtype_name(e.dtype), e.shape});
  } else {
    SafeTensorsFile st(file);
    for (const auto& n : st.names()) entries.push_back({n, dtype_name(st.get(n).scalar_type()), st.shape(n)});
    if (!st.metadata().empty()) j["metadata"] = st.metadata();
  }
  for (const auto& e : entries) names_only.emplace(e.name, torch::Tensor());
  const bool hf = looks_like_hf(names_only);
  j["layout"] = hf ? "hf" : "official";

  int64_t elements = 0, parameters = 0, buffers = 0;
  std::map<std::string, int64_t> dtypes;
  nlohmann::json prefixes = nlohmann::json::object();
  for (const auto& e : entries) {
    const int64_t n = numel_of(e.shape);
    elements += n;
    if (is_buffer_name(e.name)) ++buffers;
    else parameters += n;
    ++dtypes[e.dtype];
    const size_t d1 = e.name.find('.');
    const size_t d2 = d1 == std::string::npos ? d1 : e.name.find('.', d1 + 1);
    const std::string prefix = d2 == std::string::npos ? e.name.substr(0, d1) : e.name.substr(0, d2);
    auto& p = prefixes[prefix];
    if (p.is_null()) p = {{"tensors", 0}, {"elements", 0}};
    p["tensors"] = p["tensors"].get<int64_t>() + 1;
    p["elements"] = p["elements"].get<int64_t>() + n;
  }
  j["tensors"] = entries.size();
  j["elements"] = elements;
  j["parameters"] = parameters;
  j["buffers"] = buffers;
  j["dtypes"] = dtypes;
  j["prefixes"] = prefixes;

  if (manifest) {
    std::map<std::string, std::vector<int64_t>> have;
    if (hf) {
      for (const auto& [k, t] : load_checkpoint(file)) have[k] = t.sizes().vec();
    } else {
      for (const auto& e : entries) have[e.name] = e.shape;
    }
    std::vector<std::string> missing, unexpected, mismatched;
    std::set<std::string> expected;
    for (const auto& k : *manifest) {
      expected.insert(k.name);
      auto it = have.find(k.name);
      if (it == have.end()) {
        missing.push_back(k.name);
        continue;
      }
      auto as_real = k.shape;
      as_real.push_back(2);
      const bool complex = k.dtype.rfind("complex", 0) == 0;
      if (it->second != k.shape && !(complex && it->second == as_real))
        mismatched.push_back(k.name + ": expected " + shape_text(k.shape) + ", got " + shape_text(it->second));
    }
    for (const auto& [k, s] : have)
      if (!expected.count(k)) unexpected.push_back(k);
    auto head = [](const std::vector<std::string>& v) {
      return std::vector<std::string>(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(std::min(v.size(), kListMax)));
    };
    j["manifest"] = {{"matches", missing.empty() && unexpected.empty() && mismatched.empty()},
                     {"expected", manifest->size()},
                     {"missing", head(missing)},
                     {"unexpected", head(unexpected)},
                     {"mismatched", head(mismatched)},
                     {"missing_count", missing.size()},
                     {"unexpected_count", unexpected.size()},
                     {"mismatched_count", mismatched.size()}};
  }
  return j;
}

// ---- convert / init --------------------------------------------------------------

void convert_checkpoint(const std::string& in_path, const std::string& out_path) {
  const std::string ext = extension_of(out_path);
  if (ext != ".pt" && ext != ".safetensors")
    throw InvalidInput("convert: output '" + out_path + "' must end in .pt or .safetensors");
  std::error_code ec;
  if (fs::exists(out_path, ec) && fs::equivalent(in_path, out_path, ec))
    throw InvalidInput("convert: input and output are the same file '" + out_path + "'");
  TensorMap m = load_checkpoint(in_path);
  if (ext == ".safetensors") {
    save_safetensors(out_path, m, {{"format", "pt"}});
    return;
  }
  for (auto& [k, t] : m)
    if (ends_with(k, "freqs_cis") && t.scalar_type() == torch::kFloat32 && t.dim() >= 1 && t.size(-1) == 2)
      t = torch::view_as_complex(t.contiguous());
  save_pt(out_path, m, "model");
}

void write_random_checkpoint(const std::vector<KeySpec>& keys, uint64_t seed, const std::string& out_path) {
  const std::string ext = extension_of(out_path);
  if (ext != ".pt" && ext != ".safetensors")
    throw InvalidInput("random checkpoint: output '" + out_path + "' must end in .pt or .safetensors");
  torch::NoGradGuard no_grad;
  const bool pt = ext == ".pt";
  const int64_t base_grid = rope_base_grid(keys);
  TensorMap m;
  for (const auto& k : keys) {
    if (m.count(k.name)) throw InvalidInput("random checkpoint: tensor '" + k.name + "' is listed twice");
    m.emplace(k.name, random_tensor(k, seed, base_grid, pt));
  }
  if (pt) save_pt(out_path, m, "model");
  else save_safetensors(out_path, m, {{"format", "pt"}});
}

}  // namespace sam3::core
