// SPDX-License-Identifier: Apache-2.0
#include "core/checkpoint/state_dict.h"

#include <set>
#include <sstream>

#include "core/errors.h"
#include "core/tensor_text.h"

namespace sam3::core {
namespace {

void append_list(std::ostringstream& os, const char* what, const std::vector<std::string>& v) {
  if (v.empty()) return;
  os << " " << v.size() << " " << what << ":";
  for (size_t i = 0; i < v.size() && i < 5; ++i) os << (i ? ", " : " ") << "'" << v[i] << "'";
  if (v.size() > 5) os << ", ...";
  os << ";";
}

}  // namespace

std::string LoadReport::summary() const {
  std::ostringstream os;
  os << "checkpoint does not match the model:";
  append_list(os, "missing", missing);
  append_list(os, "unexpected", unexpected);
  append_list(os, "mis-shaped", mismatched);
  return os.str();
}

LoadReport load_state_dict(torch::nn::Module& module, const TensorMap& source, const std::string& prefix,
                           const std::vector<std::string>& ignore_unexpected_prefixes) {
  torch::NoGradGuard no_grad;
  LoadReport r;
  std::set<std::string> used;
  auto copy_one = [&](const std::string& name, torch::Tensor& target) {
    const std::string key = prefix + name;
    auto it = source.find(key);
    if (it == source.end()) {
      r.missing.push_back(key);
      return;
    }
    used.insert(key);
    torch::Tensor src = it->second;
    if (src.is_complex() && !target.is_complex()) src = torch::view_as_real(src);
    if (src.sizes() != target.sizes()) {
      r.mismatched.push_back("'" + key + "': expected " + shape_text(target.sizes()) + ", got " +
                             shape_text(src.sizes()));
      return;
    }
    target.copy_(src);
    ++r.loaded;
  };
  for (auto& p : module.named_parameters(true)) copy_one(p.key(), p.value());
  for (auto& b : module.named_buffers(true)) copy_one(b.key(), b.value());
  for (const auto& [key, t] : source) {
    if (key.rfind(prefix, 0) != 0 || used.count(key)) continue;
    const std::string rel = key.substr(prefix.size());
    bool ignored = false;
    for (const auto& ig : ignore_unexpected_prefixes)
      if (rel.rfind(ig, 0) == 0) ignored = true;
    if (!ignored) r.unexpected.push_back(key);
  }
  return r;
}

void load_state_dict_strict(torch::nn::Module& module, const TensorMap& source, const std::string& prefix,
                            const std::vector<std::string>& ignore_unexpected_prefixes) {
  auto r = load_state_dict(module, source, prefix, ignore_unexpected_prefixes);
  if (!r.ok()) throw ModelError(r.summary());
}

}  // namespace sam3::core
