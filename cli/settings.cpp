// SPDX-License-Identifier: Apache-2.0
#include "cli/settings.h"

#include <algorithm>
#include <cstdlib>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include "core/errors.h"
#include "core/log.h"

namespace sam3::cli {
namespace {

[[noreturn]] void bad(const char* key, const std::string& v, const char* expected) {
  throw InvalidInput("bad value '" + v + "' for '" + key + "': expected " + expected);
}

int64_t parse_int(const char* key, const std::string& v, int64_t lo, int64_t hi) {
  try {
    size_t pos = 0;
    const long long n = std::stoll(v, &pos);
    if (pos != v.size() || n < lo || n > hi) throw std::out_of_range("");
    return n;
  } catch (const std::exception&) {
    bad(key, v, ("an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]").c_str());
  }
}

double parse_float(const char* key, const std::string& v, double lo, double hi) {
  try {
    size_t pos = 0;
    const double d = std::stod(v, &pos);
    if (pos != v.size() || !(d >= lo && d <= hi)) throw std::out_of_range("");
    return d;
  } catch (const std::exception&) {
    std::ostringstream os;
    os << "a number in [" << lo << ", " << hi << "]";
    bad(key, v, os.str().c_str());
  }
}

bool parse_bool(const char* key, const std::string& v) {
  std::string l = v;
  for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "1" || l == "true" || l == "yes" || l == "on") return true;
  if (l == "0" || l == "false" || l == "no" || l == "off") return false;
  bad(key, v, "true or false");
}

std::vector<std::string> parse_list(const std::string& v) {
  std::vector<std::string> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t");
    const auto e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

std::string fmt(double d) {
  std::ostringstream os;
  os << d;
  return os.str();
}

std::string check_device(const char* key, const std::string& v) {
  if (v == "cpu" || v == "cuda") return v;
  if (v.rfind("cuda:", 0) == 0) {
    parse_int(key, v.substr(5), 0, 63);
    return v;
  }
  bad(key, v, "cpu, cuda or cuda:N");
}

// Shorthands that build the table's setter/getter pairs over one field.
#define STR(field) [](AppConfig& c, const std::string& v) { c.field = v; }, [](const AppConfig& c) { return c.field; }
#define INT(field, lo, hi)                                                                                \
  [](AppConfig& c, const std::string& v) { c.field = static_cast<decltype(c.field)>(parse_int(K, v, lo, hi)); }, \
      [](const AppConfig& c) { return std::to_string(c.field); }
#define BOOL(field) \
  [](AppConfig& c, const std::string& v) { c.field = parse_bool(K, v); }, [](const AppConfig& c) { return std::string(c.field ? "true" : "false"); }
#define FLOAT(field, lo, hi)                                                                                   \
  [](AppConfig& c, const std::string& v) { c.field = static_cast<float>(parse_float(K, v, lo, hi)); }, \
      [](const AppConfig& c) { return fmt(c.field); }
#define LIST(field) [](AppConfig& c, const std::string& v) { c.field = parse_list(v); }, [](const AppConfig& c) { return join(c.field); }

std::vector<Setting> make_settings() {
  std::vector<Setting> s;
  // K names the key inside the setter lambdas (for error messages).
#define ADD(key_, env_, flag_, scope_, help_, ...)                     \
  do {                                                                 \
    static constexpr const char* K = key_;                             \
    s.push_back(Setting{key_, env_, flag_, scope_, help_, __VA_ARGS__}); \
  } while (0)

  ADD("model.dir", "SAM3_MODEL", "model", kCommon, "model folder (checkpoint + config.json)", STR(model.model_dir));
  ADD("model.checkpoint", "SAM3_CHECKPOINT", "checkpoint", kCommon, "checkpoint file (sam3.pt or *.safetensors); overrides the folder's", STR(model.checkpoint));
  ADD("model.bpe_path", "SAM3_BPE_PATH", "bpe", kCommon, "CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz)", STR(model.bpe_path));
  ADD("model.device", "IMAGE_MODEL_DEVICE", "device", kCommon, "cpu, cuda or cuda:N",
      [](AppConfig& c, const std::string& v) { c.model.device = check_device(K, v); },
      [](const AppConfig& c) { return c.model.device; });
  ADD("model.devices", "SAM3_DEVICES", "devices", kBatch | kServe,
      "one model replica per device, work to the least loaded, e.g. cuda:0,cuda:1 (empty: model.device)",
      [](AppConfig& c, const std::string& v) {
        c.model.devices.clear();
        for (const auto& d : parse_list(v)) {
          if (std::find(c.model.devices.begin(), c.model.devices.end(), d) != c.model.devices.end())
            bad(K, v, "each device once");
          c.model.devices.push_back(check_device(K, d));
        }
      },
      [](const AppConfig& c) { return join(c.model.devices); });
  ADD("model.dtype", "SAM3_DTYPE", "dtype", kCommon, "fp32 or bf16",
      [](AppConfig& c, const std::string& v) {
        if (v != "fp32" && v != "bf16") bad(K, v, "fp32 or bf16");
        c.model.dtype = v;
      },
      [](const AppConfig& c) { return c.model.dtype; });
  ADD("model.threads", "SAM3_THREADS", "threads", kCommon, "intra-op CPU threads (0 = all cores)", INT(model.threads, 0, 1024));
  ADD("model.attention_budget_mb", "SAM3_ATTENTION_BUDGET_MB", "attention-budget-mb", kCommon,
      "largest attention score block materialised at once (MiB)", INT(model.attention_budget_mb, 16, 1 << 20));
  ADD("pipeline.io_threads", "SAM3_IO_THREADS", "io-threads", kBatch | kServe,
      "threads that read, decode and encode images beside inference (0 = the cores model.threads leaves, at least 1)",
      INT(pipeline.io_threads, 0, 1024));
  ADD("pipeline.in_flight", "SAM3_IN_FLIGHT", "in-flight", kBatch | kServe, "images in flight at once in the batch pipeline (0 = 2 x cores)",
      INT(pipeline.in_flight, 0, 1 << 20));
  ADD("pipeline.backbone_batch", "SAM3_BACKBONE_BATCH", "backbone-batch", kBatch | kServe,
      "images per backbone forward when several are in flight (helps on GPUs)", INT(pipeline.backbone_batch, 1, 64));
  ADD("image.resolution", "IMAGE_MODEL_RESOLUTION", nullptr, kCommon, "expected model input resolution (0 = the model's)", INT(model.resolution, 0, 8192));
  ADD("image.confidence_threshold", "IMAGE_MODEL_CONFIDENCE_THRESHOLD", "threshold", kSegment | kServe,
      "detection score threshold",
      [](AppConfig& c, const std::string& v) { c.segment.confidence_threshold = static_cast<float>(parse_float(K, v, 0.0, 1.0)); },
      [](const AppConfig& c) { return fmt(c.segment.confidence_threshold); });
  ADD("image.compile", "IMAGE_MODEL_COMPILE", nullptr, kCommon, "accepted for compatibility; no effect", BOOL(compile.image_compile));
  ADD("image.max_pixels", "SAM3_MAX_IMAGE_PIXELS", "max-image-pixels", kCommon, "largest decoded image (pixels)", INT(limits.max_image_pixels, 1, int64_t{1} << 40));
  ADD("video.gpus", "VIDEO_MODEL_GPUS", nullptr, kServe, "GPU ids for video sessions, e.g. 0,1", LIST(session.gpus));
  ADD("video.compile", "VIDEO_MODEL_COMPILE", nullptr, kServe, "accepted for compatibility; no effect", BOOL(compile.video_compile));
  ADD("video.temporal_disambiguation", "VIDEO_MODEL_TEMPORAL_DISAMBIGUATION", nullptr, kServe, "tracker temporal disambiguation", BOOL(session.temporal_disambiguation));
  ADD("video.roots", "SAM3_VIDEO_ROOTS", "video-root", kServe, "folders that video_path may point into (comma-separated)", LIST(session.video_roots));
  ADD("video.url_schemes", "SAM3_URL_SCHEMES", nullptr, kServe, "schemes allowed for video_url", LIST(session.url_schemes));
  ADD("video.url_hosts", "SAM3_URL_HOSTS", nullptr, kServe, "hosts allowed for video_url (empty: none)", LIST(session.url_hosts));
  ADD("video.frame_storage", "SAM3_FRAME_STORAGE", nullptr, kServe, "decoded frames: ram, ram_fp16, ram_bf16, disk or auto",
      [](AppConfig& c, const std::string& v) {
        if (v != "ram" && v != "ram_fp16" && v != "ram_bf16" && v != "disk" && v != "auto")
          bad(K, v, "ram, ram_fp16, ram_bf16, disk or auto");
        c.session.frame_storage = v;
      },
      [](const AppConfig& c) { return c.session.frame_storage; });
  ADD("video.max_frame_ram_mb", "SAM3_MAX_FRAME_RAM_MB", nullptr, kServe, "frames kept in RAM per session before offloading (MiB)", INT(session.max_frame_ram_mb, 1, int64_t{1} << 30));
  ADD("video.offload_dir", "SAM3_OFFLOAD_DIR", nullptr, kServe, "folder for offloaded frames (empty: system temp)", STR(session.offload_dir));
  // Detector-tracker orchestration (the reference's defaults).
  ADD("tracking.detection_threshold", "SAM3_TRACK_DETECTION_THRESHOLD", nullptr, kServe, "detections kept on each frame: score above this", FLOAT(session.track.score_threshold_detection, 0.0, 1.0));
  ADD("tracking.nms_iou", "SAM3_TRACK_NMS_IOU", nullptr, kServe, "mask-IoU NMS between detections", FLOAT(session.track.det_nms_thresh, 0.0, 1.0));
  ADD("tracking.assoc_iou", "SAM3_TRACK_ASSOC_IOU", nullptr, kServe, "a detection overlapping a track by this is not new", FLOAT(session.track.assoc_iou_thresh, 0.0, 1.0));
  ADD("tracking.track_assoc_iou", "SAM3_TRACK_TRACK_ASSOC_IOU", nullptr, kServe, "a track counts as matched at this IoU", FLOAT(session.track.trk_assoc_iou_thresh, 0.0, 1.0));
  ADD("tracking.new_detection_threshold", "SAM3_TRACK_NEW_DETECTION_THRESHOLD", nullptr, kServe, "score for a new object while others are tracked", FLOAT(session.track.new_det_thresh, 0.0, 1.0));
  ADD("tracking.hotstart_delay", "SAM3_TRACK_HOTSTART_DELAY", nullptr, kServe, "frames in which young objects may still be removed", INT(session.track.hotstart_delay, 0, 1 << 20));
  ADD("tracking.hotstart_unmatch_frames", "SAM3_TRACK_HOTSTART_UNMATCH_FRAMES", nullptr, kServe, "unmatched frames that remove a young object", INT(session.track.hotstart_unmatch_thresh, 0, 1 << 20));
  ADD("tracking.hotstart_duplicate_frames", "SAM3_TRACK_HOTSTART_DUPLICATE_FRAMES", nullptr, kServe, "duplicate frames that remove a young object", INT(session.track.hotstart_dup_thresh, 0, 1 << 20));
  ADD("tracking.init_keep_alive", "SAM3_TRACK_INIT_KEEP_ALIVE", nullptr, kServe, "initial keep-alive of a new track", INT(session.track.init_trk_keep_alive, -(1 << 20), 1 << 20));
  ADD("tracking.max_keep_alive", "SAM3_TRACK_MAX_KEEP_ALIVE", nullptr, kServe, "largest keep-alive of a track", INT(session.track.max_trk_keep_alive, -(1 << 20), 1 << 20));
  ADD("tracking.min_keep_alive", "SAM3_TRACK_MIN_KEEP_ALIVE", nullptr, kServe, "keep-alive at which a track is dropped", INT(session.track.min_trk_keep_alive, -(1 << 20), 1 << 20));
  ADD("tracking.occlusion_suppression_iou", "SAM3_TRACK_OCCLUSION_IOU", nullptr, kServe, "overlap that suppresses a recently occluded track (0 = off)", FLOAT(session.track.occlusion_suppression_iou, 0.0, 1.0));
  ADD("tracking.fill_hole_area", "SAM3_TRACK_FILL_HOLE_AREA", nullptr, kServe, "holes and sprinkles filled in masks (pixels)", INT(session.track.fill_hole_area, 0, 1 << 20));
  ADD("tracking.recondition_every", "SAM3_TRACK_RECONDITION_EVERY", nullptr, kServe, "re-anchor tracks on confident detections every N frames (0 = off)", INT(session.track.recondition_every_nth_frame, 0, 1 << 20));
  ADD("tracking.high_confidence", "SAM3_TRACK_HIGH_CONFIDENCE", nullptr, kServe, "reconditioning: detection score and tracker logit", FLOAT(session.track.high_conf_thresh, 0.0, 1.0));
  ADD("tracking.high_iou", "SAM3_TRACK_HIGH_IOU", nullptr, kServe, "reconditioning: detection-track mask IoU", FLOAT(session.track.high_iou_thresh, 0.0, 1.0));
  ADD("tracking.shrink_keep_ratio", "SAM3_TRACK_SHRINK_KEEP_RATIO", nullptr, kServe, "memory keeps a mask if this share survives non-overlap", FLOAT(session.track.shrink_keep_ratio, 0.0, 1.0));
  ADD("tracking.max_objects", "SAM3_TRACK_MAX_OBJECTS", nullptr, kServe, "most objects tracked in one session", INT(session.track.max_num_objects, 1, 1 << 24));
  ADD("tracking.box_prompts_as_exemplars", "SAM3_TRACK_BOX_AS_EXEMPLAR", nullptr, kServe, "a box without text is a detector exemplar (reference) rather than a tracked object", BOOL(session.track.box_prompts_as_exemplars));
  ADD("server.host", "SERVER_HOST", "host", kServe, "listen address", STR(serve.host));
  ADD("server.port", "SERVER_PORT", "port", kServe, "listen port (0 = any free port)", INT(serve.port, 0, 65535));
  ADD("server.workers", "SERVER_WORKERS", "workers", kServe, "HTTP worker threads", INT(serve.workers, 1, 1024));
  ADD("server.queue_depth", "SAM3_QUEUE_DEPTH", "queue-depth", kServe, "bounded inference queue per device", INT(serve.queue_depth, 1, 1 << 20));
  ADD("server.cors_origins", "SAM3_CORS_ORIGINS", "cors-origin", kServe, "allowed CORS origins (empty: CORS off)", LIST(serve.cors_origins));
  ADD("server.upload_dir", "UPLOAD_DIR", "upload-dir", kServe, "folder for uploads", STR(serve.upload_dir));
  ADD("server.output_dir", "OUTPUT_DIR", "output-dir", kServe, "folder for rendered overlays", STR(serve.output_dir));
  ADD("server.max_upload_size_mb", "MAX_UPLOAD_SIZE_MB", "max-upload-mb", kServe | kSegment, "largest request body / input file (MiB)", INT(limits.max_upload_mb, 1, 1 << 20));
  ADD("sessions.max_concurrent", "MAX_CONCURRENT_SESSIONS", "max-sessions", kServe, "video session cap", INT(session.max_concurrent_sessions, 1, 1 << 16));
  ADD("sessions.timeout_seconds", "SESSION_TIMEOUT_SECONDS", nullptr, kServe, "idle video sessions expire after this", INT(session.timeout_seconds, 1, 1 << 30));
  ADD("sessions.cleanup_interval_seconds", "SESSION_CLEANUP_INTERVAL_SECONDS", nullptr, kServe, "how often expired sessions are freed", INT(session.cleanup_interval_seconds, 1, 1 << 30));
  ADD("cache.enabled", "ENABLE_FEATURE_CACHE", nullptr, kServe, "cache image features by content hash", BOOL(cache.enabled));
  ADD("cache.ttl_seconds", "FEATURE_CACHE_TTL_SECONDS", nullptr, kServe, "feature cache entry lifetime", INT(cache.ttl_seconds, 1, 1 << 30));
  ADD("cache.max_size_mb", "MAX_CACHE_SIZE_MB", nullptr, kServe, "feature cache byte budget (MiB)", INT(cache.max_size_mb, 1, 1 << 24));
  ADD("security.require_api_key", "REQUIRE_API_KEY", nullptr, kServe, "require X-API-Key or Authorization: Bearer", BOOL(serve.require_api_key));
  ADD("security.api_keys", "API_KEYS", nullptr, kServe, "accepted API keys (comma-separated)", LIST(serve.api_keys));
  ADD("security.rate_limit_enabled", "RATE_LIMIT_ENABLED", nullptr, kServe, "per-key rate limiting", BOOL(serve.rate_limit_enabled));
  ADD("security.rate_limit_requests_per_minute", "RATE_LIMIT_REQUESTS_PER_MINUTE", nullptr, kServe, "requests per minute per key", INT(serve.rate_limit_requests_per_minute, 1, 1 << 24));
  ADD("metrics.enabled", "ENABLE_METRICS", nullptr, kServe, "serve /metrics", BOOL(serve.enable_metrics));
  ADD("metrics.port", "METRICS_PORT", nullptr, kServe, "separate metrics port (0 = main port)", INT(serve.metrics_port, 0, 65535));
  ADD("log.level", "LOG_LEVEL", "log-level", kCommon, "debug, info, warn, error or off",
      [](AppConfig& c, const std::string& v) {
        log::parse_level(v);  // validates
        c.log_level = v;
      },
      [](const AppConfig& c) { return c.log_level; });
#undef ADD
  return s;
}
#undef STR
#undef FLOAT
#undef INT
#undef BOOL
#undef LIST

const Setting* find_key(const std::string& key) {
  for (const auto& s : settings())
    if (key == s.key) return &s;
  return nullptr;
}

// Renders a TOML leaf (or array of leaves) as the text a setter parses.
std::string node_text(const toml::node& n, const std::string& key, const std::string& file) {
  if (auto v = n.as_string()) return v->get();
  if (auto v = n.as_integer()) return std::to_string(v->get());
  if (auto v = n.as_floating_point()) return fmt(v->get());
  if (auto v = n.as_boolean()) return v->get() ? "true" : "false";
  if (auto a = n.as_array()) {
    std::vector<std::string> items;
    for (const auto& e : *a) {
      if (e.is_array() || e.is_table()) throw InvalidInput(file + ": '" + key + "' must be a list of plain values");
      items.push_back(node_text(e, key, file));
    }
    return join(items);
  }
  throw InvalidInput(file + ": '" + key + "' has an unsupported type");
}

void apply_table(AppConfig& cfg, const toml::table& t, const std::string& prefix, const std::string& file) {
  for (const auto& [k, node] : t) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const auto* sub = node.as_table()) {
      apply_table(cfg, *sub, key, file);
      continue;
    }
    const Setting* s = find_key(key);
    if (!s) throw InvalidInput(file + ": unknown key '" + key + "'");
    try {
      s->set(cfg, node_text(node, key, file));
    } catch (const InvalidInput& e) {
      throw InvalidInput(file + ": " + e.what());
    }
  }
}

}  // namespace

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table = make_settings();
  return table;
}

EnvLookup process_env() {
  return [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

AppConfig resolve_config(const std::string& config_path, const FlagValues& flags, const EnvLookup& env) {
  AppConfig cfg;
  if (!config_path.empty()) {
    toml::table t;
    try {
      t = toml::parse_file(config_path);
    } catch (const toml::parse_error& e) {
      std::ostringstream os;
      os << "config file '" << config_path << "': " << e.description() << " (line " << e.source().begin.line << ")";
      throw InvalidInput(os.str());
    }
    apply_table(cfg, t, "", "config file '" + config_path + "'");
  }
  for (const auto& s : settings()) {
    if (auto v = env(s.env)) {
      try {
        s.set(cfg, *v);
      } catch (const InvalidInput& e) {
        throw InvalidInput(std::string("environment variable ") + s.env + ": " + e.what());
      }
    }
  }
  for (const auto& s : settings()) {
    if (!s.flag) continue;
    auto it = flags.find(s.flag);
    if (it == flags.end() || !it->second) continue;
    try {
      s.set(cfg, *it->second);
    } catch (const InvalidInput& e) {
      throw InvalidInput(std::string("--") + s.flag + ": " + e.what());
    }
  }
  return cfg;
}

void add_setting_flags(CLI::App& app, unsigned scope, FlagValues& flags) {
  const AppConfig defaults;
  for (const auto& s : settings()) {
    if (!s.flag || !(s.scope & scope)) continue;
    auto& slot = flags[s.flag];
    const std::string help = std::string(s.help) + " (env: " + s.env + "; config: " + s.key + "; default: " +
                             (s.get(defaults).empty() ? "none" : s.get(defaults)) + ")";
    app.add_option_function<std::string>(
           std::string("--") + s.flag, [&slot](const std::string& v) { slot = v; }, help)
        ->type_name("VALUE");
  }
}

std::string sample_toml() {
  const AppConfig defaults;
  std::ostringstream os;
  os << "# sam3 configuration: every key, at its default value.\n"
        "# Precedence: flag > environment variable > this file > built-in default.\n";
  std::string section;
  for (const auto& s : settings()) {
    const std::string key = s.key;
    const auto dot = key.find('.');
    const std::string sec = key.substr(0, dot), name = key.substr(dot + 1);
    if (sec != section) {
      os << "\n[" << sec << "]\n";
      section = sec;
    }
    os << "# " << s.help << " (env: " << s.env << (s.flag ? std::string(", flag: --") + s.flag : "") << ")\n";
    const std::string v = s.get(defaults);
    // Lists are written as TOML arrays, booleans and numbers bare, the rest quoted.
    bool is_list = false;
    {
      AppConfig probe;
      try {
        // Lists normalise "a, b" to "a,b"; plain strings keep it as given.
        s.set(probe, "a, b");
        is_list = s.get(probe) == "a,b";
      } catch (const InvalidInput&) {
      }
    }
    if (is_list) {
      os << name << " = [";
      const auto items = parse_list(v);
      for (size_t i = 0; i < items.size(); ++i) os << (i ? ", " : "") << '"' << items[i] << '"';
      os << "]\n";
    } else if (v == "true" || v == "false") {
      os << name << " = " << v << "\n";
    } else {
      bool numeric = !v.empty();
      try {
        size_t pos = 0;
        std::stod(v, &pos);
        numeric = pos == v.size();
      } catch (const std::exception&) {
        numeric = false;
      }
      if (numeric) os << name << " = " << v << "\n";
      else os << name << " = \"" << v << "\"\n";
    }
  }
  return os.str();
}

std::string sample_env() {
  const AppConfig defaults;
  std::ostringstream os;
  os << "# sam3 environment variables, at their default values (generated by `sam3 config sample --env`).\n"
        "# Precedence: flag > environment variable > config file > built-in default.\n";
  for (const auto& s : settings()) os << "\n# " << s.help << " (config: " << s.key << ")\n" << s.env << "=" << s.get(defaults) << "\n";
  return os.str();
}

}  // namespace sam3::cli
