// SPDX-License-Identifier: Apache-2.0
#include "core/model_init.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/checkpoint/safetensors.h"
#include "core/errors.h"
#include "core/model/config.h"
#include "core/model/sam3_image.h"
#include "formats/atomic_file.h"

namespace sam3::core {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// The golden generator's recipe, keyed on the reference's parameter names, so
// that random models produce non-degenerate detections and masks.
void init_parameter(const std::string& name, torch::Tensor& p) {
  const auto& s = p.sizes();
  auto normal = [&](double mean, double std) { p.normal_(mean, std); };
  if (ends_with(name, "bias")) return normal(0.0, 0.05);
  if (ends_with(name, "in_proj_weight")) return normal(0.0, std::sqrt(1.0 / static_cast<double>(s[1])));
  if (p.dim() == 1 && (contains(name, "norm") || contains(name, "ln_")) && ends_with(name, "weight"))
    return normal(1.0, 0.1);
  if (contains(name, "token_embedding")) return normal(0.0, 1.0);
  if (contains(name, "dconv") && p.dim() == 4) return normal(0.0, std::sqrt(1.0 / static_cast<double>(s[0])));
  if (ends_with(name, "weight") && p.dim() >= 2) {
    const double fan_in = static_cast<double>(p.numel() / s[0]);
    const double scale = contains(name, "out_proj") ? 0.04 : 1.0;
    return normal(0.0, std::sqrt(scale / fan_in));
  }
  normal(0.0, 0.5);
}

// Module names -> official checkpoint names: the interactive head's tracker is
// the checkpoint's `tracker.` part, everything else is `detector.`.
std::string official_name(const std::string& module_name) {
  static const std::string inst = "inst_interactive_predictor.model.";
  if (module_name.rfind(inst, 0) == 0) return "tracker." + module_name.substr(inst.size());
  return "detector." + module_name;
}

}  // namespace

ModelInitReport init_model_folder(const ModelInitOptions& o) {
  if (o.out_dir.empty()) throw InvalidInput("model init: --out is required");
  Sam3Config cfg;
  if (!o.config_json.empty()) cfg = Sam3Config::from_file(o.config_json);
  else if (o.preset == "tiny") cfg = Sam3Config::tiny();
  else if (o.preset == "full") cfg = Sam3Config::full();
  else throw InvalidInput("model init: unknown preset '" + o.preset + "' (expected tiny or full)");
  cfg.enable_inst_interactivity = o.with_tracker;
  cfg.validate();

  c10::InferenceMode guard;
  torch::manual_seed(static_cast<uint64_t>(o.seed));
  Sam3Image model(cfg);
  TensorMap tensors;
  int64_t parameters = 0;
  for (auto& p : model->named_parameters(true)) {
    torch::Tensor t = p.value();
    init_parameter(p.key(), t);
    parameters += t.numel();
    tensors.emplace(official_name(p.key()), t);
  }
  for (auto& b : model->named_buffers(true)) tensors.emplace(official_name(b.key()), b.value());

  std::filesystem::create_directories(o.out_dir);
  ModelInitReport r;
  r.checkpoint = (std::filesystem::path(o.out_dir) / "model.safetensors").string();
  save_safetensors(r.checkpoint, tensors,
                   {{"format", "pt"}, {"generator", "sam3 model init"}, {"preset", o.preset},
                    {"seed", std::to_string(o.seed)}});
  nlohmann::json config = cfg.to_json();
  config["description"] = "random-weight SAM 3 model written by `sam3 model init` (preset " + o.preset + ", seed " +
                          std::to_string(o.seed) + ")";
  formats::write_file_atomic((std::filesystem::path(o.out_dir) / "config.json").string(), config.dump(1) + "\n");
  if (!o.bpe_path.empty()) {
    const std::string vocab = formats::read_file(o.bpe_path);
    formats::write_file_atomic((std::filesystem::path(o.out_dir) / "bpe_simple_vocab_16e6.txt.gz").string(), vocab);
  }
  r.tensors = static_cast<int64_t>(tensors.size());
  r.parameters = parameters;
  return r;
}

}  // namespace sam3::core
