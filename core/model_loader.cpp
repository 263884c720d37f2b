// SPDX-License-Identifier: Apache-2.0
// load_model: model folder / checkpoint -> Sam3Config + Sam3Image with its
// weights + tokenizer, on the requested device. LibTorch threads are set here,
// once per process.
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>
#include <vector>

#include "core/checkpoint/model_files.h"
#include "core/checkpoint/state_dict.h"
#include "core/cpu_allocator.h"
#include "core/device_pool.h"
#include "core/errors.h"
#include "core/image_engine.h"
#include "core/image_state.h"
#include "core/log.h"
#include "core/model/attention.h"

namespace sam3::core {
namespace {

namespace fs = std::filesystem;

constexpr const char* kDetectorPrefix = "detector.";
constexpr const char* kTrackerPrefix = "tracker.";
constexpr const char* kInteractivePrefix = "detector.inst_interactive_predictor.model.";
constexpr const char* kSam2NeckKey = "detector.backbone.vision_backbone.sam2_convs.";

// OpenMP wait policy. LibTorch (Debian) and OpenBLAS run their parallel
// regions on libgomp, whose idle threads spin by default. When the cores are
// shared (other processes, TBB's IO threads in `sam3 batch`, a container CPU
// quota), a spinning thread burns the time slice that the thread it waits
// for needs: on a busy 2-core machine the tiny model took ~1 s per stage
// with 2 threads instead of ~15 ms. libgomp reads OMP_WAIT_POLICY once, in
// its ELF constructor, before main() and before any of our code, and offers
// no call to change it later. So this hook, placed in .preinit_array (run by
// the dynamic loader before any shared library's constructor), re-executes
// the program once with OMP_WAIT_POLICY=PASSIVE added to its environment,
// unless the user chose a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT set).
// The cost is one extra exec before LibTorch initialises (~10 ms). Passive
// threads sleep on a futex between regions; at full size the wake-up cost
// is far below 1% (docs/performance.md has the figures).
// Any program that links this file (sam3, the tests that load models) gets it.
void use_passive_openmp_wait(int /*argc*/, char** argv, char** envp) {
  if (!argv || !envp) return;
  size_t n = 0;
  for (char** e = envp; *e; ++e, ++n)
    if (std::strncmp(*e, "OMP_WAIT_POLICY=", 16) == 0 || std::strncmp(*e, "GOMP_SPINCOUNT=", 15) == 0) return;
  static char kPassive[] = "OMP_WAIT_POLICY=PASSIVE";
  std::vector<char*> env(envp, envp + n);
  env.push_back(kPassive);
  env.push_back(nullptr);
  // Exec the file itself rather than /proc/self/exe, so the process keeps its
  // name ("sam3", not "exe") for ps, top and pkill.
  static char self[4096];
  const ssize_t len = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (len > 0) self[len] = '\0';
  if (len <= 0 || static_cast<size_t>(len) >= sizeof(self) - 1) return;
  // Started through the dynamic loader (ld-linux*.so prog args): exec'ing it
  // with the program's argv would run something else; keep the default.
  const char* base = std::strrchr(self, '/');
  if (std::strncmp(base ? base + 1 : self, "ld-", 3) == 0) return;
  const bool deleted = std::strstr(self, " (deleted)") != nullptr;  // rebuilt while starting
  ::execve(deleted ? "/proc/self/exe" : self, argv, env.data());
  // Not reached unless exec failed: run on with the default policy.
}
__attribute__((section(".preinit_array"), used)) void (*const sam3_preinit_openmp)(int, char**, char**) =
    use_passive_openmp_wait;

// OpenBLAS (the openmp build LibTorch links) sizes its own thread team from
// the core count, not from at::set_num_threads; without this `--threads 1`
// still ran BLAS on every core. Looked up at run time so that a build
// against another BLAS links unchanged.
void set_blas_threads(int n) {
  using SetThreads = void (*)(int);
  if (auto* f = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) f(n);
}

// at::set_num_threads must run before the first parallel op and only once
// (STYLE 8); set_num_interop_threads throws when called twice or late.
void configure_threads(int threads) {
  static std::once_flag once;
  std::call_once(once, [threads] {
    int n = threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency());
    n = std::max(n, 1);
    at::set_num_threads(n);
    set_blas_threads(n);
    detail::note_intraop_threads(n);
    try {
      // The engine has no inter-op parallelism of its own (front-ends
      // parallelise across requests), so one inter-op thread is enough.
      at::set_num_interop_threads(1);
    } catch (const c10::Error& e) {
      SAM3_LOG_WRN("could not set LibTorch inter-op threads (already in use): " << e.what_without_backtrace());
    }
    SAM3_LOG_DBG("LibTorch intra-op threads: " << n);
  });
}

bool parse_bf16(const std::string& dtype) {
  if (dtype == "fp32" || dtype == "float32") return false;
  if (dtype == "bf16" || dtype == "bfloat16") return true;
  throw InvalidInput("dtype: expected \"fp32\" or \"bf16\", got \"" + dtype + "\"");
}

bool has_prefix(const TensorMap& m, const std::string& prefix) {
  auto it = m.lower_bound(prefix);
  return it != m.end() && it->first.rfind(prefix, 0) == 0;
}

// The official checkpoint keeps the interactive head's SAM parts under
// "tracker."; the image model holds them as inst_interactive_predictor.model.
TensorMap with_interactive_names(const TensorMap& in) {
  TensorMap out;
  const std::string tp = kTrackerPrefix;
  for (const auto& [k, v] : in) {
    if (k.rfind(tp, 0) == 0) out.emplace(kInteractivePrefix + k.substr(tp.size()), v);
    else out.emplace(k, v);
  }
  return out;
}

}  // namespace

std::shared_ptr<const Sam3Model> load_model(const ModelOptions& opts) {
  configure_threads(opts.threads);
  if (opts.cpu_cache_mb < 0)
    throw InvalidInput("CPU cache: expected 0 (off) or a positive number of MiB, got " + std::to_string(opts.cpu_cache_mb));
  install_caching_cpu_allocator(opts.cpu_cache_mb << 20);
  const bool bf16 = parse_bf16(opts.dtype);
  if (opts.attention_budget_mb <= 0)
    throw InvalidInput("attention budget: expected a positive number of MiB, got " +
                       std::to_string(opts.attention_budget_mb));
  set_attention_budget_bytes(opts.attention_budget_mb << 20);
  if (opts.model_dir.empty() && opts.checkpoint.empty())
    throw ModelMissing("no model given: expected a model folder or a checkpoint file");

  c10::InferenceMode inference;
  ModelFiles files = locate_model(opts.checkpoint.empty() ? opts.model_dir : opts.checkpoint);
  std::error_code ec;
  if (!opts.checkpoint.empty() && !opts.model_dir.empty()) {
    // An explicit checkpoint with a model folder: config and vocabulary from the folder.
    const fs::path dir(opts.model_dir);
    if (fs::is_regular_file(dir / "config.json", ec)) files.config_json = (dir / "config.json").string();
    if (fs::is_regular_file(dir / Tokenizer::kVocabFileName, ec)) files.bpe = (dir / Tokenizer::kVocabFileName).string();
  }

  TensorMap weights = load_checkpoint(files.checkpoint);
  Sam3Config cfg = files.config_json.empty() ? Sam3Config::full() : Sam3Config::from_file(files.config_json);
  // The official sam3.pt carries the interactive head (sam2 neck + tracker);
  // a config that does not mention it follows the checkpoint.
  if (!cfg.enable_inst_interactivity && has_prefix(weights, kSam2NeckKey) && has_prefix(weights, kTrackerPrefix))
    cfg.enable_inst_interactivity = true;
  if (opts.resolution != 0 && opts.resolution != cfg.image_size)
    throw InvalidInput("resolution " + std::to_string(opts.resolution) + " requested, but the model '" +
                       files.checkpoint + "' runs at " + std::to_string(cfg.image_size));

  Sam3Image net(cfg);
  try {
    const TensorMap named = cfg.enable_inst_interactivity ? with_interactive_names(weights) : TensorMap();
    LoadReport r = load_state_dict(*net, cfg.enable_inst_interactivity ? named : weights, kDetectorPrefix);
    // The transformers layout stores no RoPE tables: the modules computed them.
    std::erase_if(r.missing, [](const std::string& k) {
      return k.size() > 15 && k.compare(k.size() - 15, 15, ".attn.freqs_cis") == 0;
    });
    if (!r.ok()) throw ModelError("loading '" + files.checkpoint + "': " + r.summary());
    SAM3_LOG_DBG("loaded " << r.loaded << " tensors from '" << files.checkpoint << "'");
  } catch (const c10::Error& e) {
    throw ModelError("loading '" + files.checkpoint + "': " + e.what_without_backtrace());
  }
  weights.clear();  // release the mapping / pickled storages before moving to the device

  const std::string bpe = !opts.bpe_path.empty() ? opts.bpe_path
                          : !files.bpe.empty()   ? files.bpe
                                                 : Tokenizer::find_vocab(files.dir, "");
  auto tokenizer = std::make_shared<const Tokenizer>(bpe);
  return make_model(cfg, std::move(net), std::move(tokenizer), opts.device, bf16, files.checkpoint);
}

}  // namespace sam3::core
