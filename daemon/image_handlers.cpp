// SPDX-License-Identifier: Apache-2.0
// Image endpoints: segment (JSON or multipart), batch, cached-features and the
// rendered overlays. Each handler parses and validates its input, runs core
// calls on the least-loaded device of the pool (batch: through the image
// pipeline of core/image_pipeline.h), and serialises the result with formats/.
#include <algorithm>
#include <chrono>
#include <deque>
#include <filesystem>
#include <optional>

#include "core/error_codes.h"
#include "core/errors.h"
#include "core/image_pipeline.h"
#include "daemon/context.h"
#include "daemon/multipart.h"
#include "daemon/request_parse.h"
#include "formats/atomic_file.h"
#include "formats/image_io.h"
#include "formats/overlay.h"
#include "formats/result_json.h"

namespace sam3::daemon {
namespace {

using Clock = std::chrono::steady_clock;
using Results = std::vector<formats::SegmentResult>;
// What a request runs against the cached features of its image.
using ImageJob = std::function<Results(const core::ImageEngine&, const core::ImageState&)>;

struct Inference {
  Results results;
  bool cache_hit = false;
  double seconds = 0;
};

// One decoded input image with the bytes it came from (its cache key source).
struct ImageInput {
  std::string bytes;
  std::shared_ptr<const formats::Image> image;
};

formats::Image decode_limited(const DaemonContext& ctx, const std::string& bytes) {
  formats::ImageLimits limits;
  limits.max_bytes = ctx.max_body_bytes();
  limits.max_pixels = static_cast<uint64_t>(ctx.options().limits.max_image_pixels);
  return formats::decode_image(bytes, limits);
}

ImageInput decode_input(const DaemonContext& ctx, std::string bytes) {
  auto image = std::make_shared<const formats::Image>(decode_limited(ctx, bytes));
  return ImageInput{std::move(bytes), std::move(image)};
}

// Queues `job` on the least-loaded device; the image's features come from
// the cache when its bytes were seen before under this model on that device.
// The job owns what it uses, so a dropped ticket can never leave it with
// dangling references.
core::Ticket<Inference> submit_inference(DaemonContext& ctx, const ImageInput& in, ImageJob job) {
  core::FeatureCache* cache = ctx.cache().enabled() ? &ctx.cache() : nullptr;
  const std::string key = core::feature_cache_key(in.bytes, ctx.model_id());
  core::DevicePool& pool = ctx.pool();
  return pool.submit([&pool, cache, image = in.image, key, job = std::move(job)](const core::ImageEngine& engine,
                                                                                  size_t device) mutable {
    const auto t0 = Clock::now();
    const std::string device_key = core::feature_cache_device_key(key, pool.device_name(device));
    Inference out;
    std::shared_ptr<const core::ImageState> state = cache ? cache->get(device_key) : nullptr;
    out.cache_hit = state != nullptr;
    if (!state) {
      state = engine.set_image(*image);
      if (cache) cache->put(device_key, state, core::ImageEngine::state_bytes(*state));
    }
    out.results = job(engine, *state);
    out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return out;
  });
}

Inference run_inference(DaemonContext& ctx, const std::string& endpoint, const ImageInput& in, ImageJob job) {
  Inference r = submit_inference(ctx, in, std::move(job)).get();
  ctx.metrics().observe_inference(endpoint, r.seconds);
  return r;
}

ImageJob segment_job(core::Prompt prompt) {
  return [prompt = std::move(prompt)](const core::ImageEngine& e, const core::ImageState& s) {
    return Results{e.segment(s, prompt)};
  };
}

// Rendered overlays live in OUTPUT_DIR under ids this daemon generated; the
// oldest files beyond a fixed count are removed so the folder stays bounded.
class VizStore {
public:
  // Adopts overlays left by an earlier run (oldest first), so the folder
  // stays bounded across restarts too.
  explicit VizStore(std::string dir) : dir_(std::move(dir)) {
    std::error_code ec;
    std::vector<std::pair<std::filesystem::file_time_type, std::string>> found;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
      const std::string name = e.path().filename().string();
      if (name.size() == 36 && name.ends_with(".png") && valid_id(name.substr(0, 32)))
        found.emplace_back(e.last_write_time(ec), name.substr(0, 32));
    }
    std::sort(found.begin(), found.end());
    for (auto& f : found) ids_.push_back(std::move(f.second));
  }

  std::string save(const formats::Image& image, const formats::SegmentResult& result) {
    const std::string png = formats::encode_png(formats::render_overlay(image, result));
    const std::string id = random_hex_id();
    std::filesystem::create_directories(dir_);
    formats::write_file_atomic(path(id), png);
    std::lock_guard<std::mutex> lk(mu_);
    ids_.push_back(id);
    while (ids_.size() > kKeep) {
      std::error_code ec;
      std::filesystem::remove(path(ids_.front()), ec);
      ids_.pop_front();
    }
    return id;
  }

  // Only 32 lower-case hex digits name an overlay: no dots, no slashes, so no
  // request can address anything else in (or outside) the folder.
  static bool valid_id(const std::string& id) {
    return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
  }

  std::string load(const std::string& id) const {
    if (!valid_id(id)) throw InvalidInput("a visualization id is 32 hex digits, got '" + id.substr(0, 80) + "'");
    if (!std::filesystem::exists(path(id))) throw NotFound("no visualization with id '" + id + "' (expired or never made)");
    return formats::read_file(path(id));
  }

private:
  static constexpr size_t kKeep = 1000;
  std::string path(const std::string& id) const { return (std::filesystem::path(dir_) / (id + ".png")).string(); }
  std::string dir_;
  std::mutex mu_;
  std::deque<std::string> ids_;
};

// The parsed inputs of a segment request, from JSON or multipart.
struct SegmentRequest {
  std::string image_bytes;
  core::Prompt prompt;
  bool visualize = false;
};

SegmentRequest segment_from_json(const DaemonContext& ctx, const json& body) {
  SegmentRequest r;
  const float thr = parse_threshold(body, "confidence_threshold", ctx.options().segment.confidence_threshold);
  r.visualize = parse_bool(body, "return_visualization", ctx.options().segment.return_visualization);
  if (!body.contains("prompts")) throw InvalidInput("'prompts' is required: [{\"type\": \"text\", \"text\": ...}, ...]");
  r.prompt = parse_prompts(body["prompts"], thr);
  r.image_bytes = parse_image_base64(body, "image", ctx.max_body_bytes());
  return r;
}

// multipart fields: image (file), prompts (JSON text) and/or text, and the
// scalar options as text.
SegmentRequest segment_from_multipart(const DaemonContext& ctx, const Request& req) {
  const auto parts = parse_multipart(req.body(), req.header("Content-Type"));
  json body = json::object();
  json prompts = json::array();
  bool have_image = false;
  SegmentRequest r;
  for (const auto& p : parts) {
    if (p.name == "image") {
      if (have_image) throw InvalidInput("multipart: more than one 'image' part");
      r.image_bytes = p.data;
      have_image = true;
    } else if (p.name == "prompts") {
      prompts = parse_json_text(p.data, "multipart field 'prompts'");
    } else if (p.name == "text") {
      if (!prompts.is_array()) throw InvalidInput("multipart: 'text' and a non-array 'prompts' cannot be combined");
      prompts.push_back({{"type", "text"}, {"text", p.data}});
    } else if (p.name == "confidence_threshold") {
      try {
        body["confidence_threshold"] = std::stod(p.data);
      } catch (const std::exception&) {
        throw InvalidInput("multipart field 'confidence_threshold': expected a number, got '" + p.data.substr(0, 40) + "'");
      }
    } else if (p.name == "return_visualization") {
      if (p.data != "true" && p.data != "false")
        throw InvalidInput("multipart field 'return_visualization': expected true or false, got '" + p.data.substr(0, 40) + "'");
      body["return_visualization"] = p.data == "true";
    } else {
      throw InvalidInput("multipart: unknown field '" + p.name.substr(0, 40) +
                         "' (expected image, prompts, text, confidence_threshold, return_visualization)");
    }
  }
  if (!have_image || r.image_bytes.empty()) throw InvalidInput("multipart: an 'image' file part is required");
  r.prompt = parse_prompts(prompts, parse_threshold(body, "confidence_threshold",
                                                    ctx.options().segment.confidence_threshold));
  r.visualize = parse_bool(body, "return_visualization", ctx.options().segment.return_visualization);
  return r;
}

bool is_multipart(const Request& req) {
  const std::string ct = req.header("Content-Type");
  return ct.size() >= 19 && std::equal(ct.begin(), ct.begin() + 19, "multipart/form-data",
                                       [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

std::string item_id(const json& item, size_t index) {
  if (item.is_object()) {
    const auto it = item.find("id");
    if (it != item.end() && it->is_string()) return it->get<std::string>().substr(0, 256);
    if (it != item.end() && it->is_number_integer()) return std::to_string(it->get<int64_t>());
  }
  return std::to_string(index);
}

json error_item(const std::string& id, const std::exception& e) {
  return formats::batch_error_line("id", id, status_for(e), error_type_name(e), describe_exception(e));
}

}  // namespace

void add_image_routes(Router& router, DaemonContext& ctx) {
  auto viz = std::make_shared<VizStore>(ctx.options().serve.output_dir);
  const json prompt_schema = {
      {"type", "object"},
      {"required", json::array({"type"})},
      {"properties",
       {{"type", {{"type", "string"}, {"enum", json::array({"text", "box", "point"})}}},
        {"text", {{"type", "string"}}},
        {"box", {{"type", "array"}, {"items", {{"type", "number"}}}, {"minItems", 4}, {"maxItems", 4},
                 {"description", "[cx, cy, w, h] normalized"}}},
        {"label", {{"type", "boolean"}}},
        {"points", {{"type", "array"}, {"items", {{"type", "array"}, {"items", {{"type", "number"}}}}}}},
        {"point_labels", {{"type", "array"}, {"items", {{"type", "integer"}}}}}}}};
  const json result_schema = {{"type", "object"},
                              {"properties",
                               {{"masks", {{"type", "array"}, {"items", {{"type", "object"}}}}},
                                {"boxes", {{"type", "array"}, {"items", {{"type", "array"}}}}},
                                {"scores", {{"type", "array"}, {"items", {{"type", "number"}}}}},
                                {"num_masks", {{"type", "integer"}}},
                                {"image_size", {{"type", "object"}}}}}};

  const std::string seg_ep = "/api/v1/image/segment";
  router.add(Route{
      "POST", seg_ep, "Segment one image with text, box and point prompts (JSON base64 or multipart/form-data)",
      "image", true,
      [&ctx, viz, seg_ep](Request& req) {
        SegmentRequest sr = is_multipart(req) ? segment_from_multipart(ctx, req)
                                              : segment_from_json(ctx, parse_json_body(req.body()));
        const ImageInput in = decode_input(ctx, std::move(sr.image_bytes));
        const Inference inf = run_inference(ctx, seg_ep, in, segment_job(sr.prompt));
        json out = formats::segment_result_json(inf.results.at(0));
        out["inference_time_ms"] = inf.seconds * 1000.0;
        out["cache_hit"] = inf.cache_hit;
        if (sr.visualize) out["visualization_url"] = "/api/v1/images/viz/" + viz->save(*in.image, inf.results[0]) + ".png";
        return Response::json_body(out);
      },
      {{"type", "object"},
       {"required", json::array({"image", "prompts"})},
       {"properties",
        {{"image", {{"type", "string"}, {"format", "byte"}}},
         {"prompts", {{"type", "array"}, {"items", prompt_schema}}},
         {"confidence_threshold", {{"type", "number"}, {"minimum", 0}, {"maximum", 1}}},
         {"return_visualization", {{"type", "boolean"}}}}}},
      result_schema});

  router.add(Route{"GET", "/api/v1/images/viz/{id}.png", "A rendered overlay made by a segment request", "image", true,
                   [viz](Request& req) { return Response::bytes(viz->load(req.params.at("id")), "image/png"); },
                   nullptr, nullptr, "image/png"});

  const std::string batch_ep = "/api/v1/image/batch";
  router.add(Route{
      "POST", batch_ep, "Segment several images; per-image errors do not fail the batch", "image", true,
      [&ctx, batch_ep](Request& req) {
        const json body = parse_json_body(req.body());
        const auto images = body.find("images");
        if (images == body.end() || !images->is_array() || images->empty() || images->size() > 256)
          throw InvalidInput("'images': expected an array of 1 to 256 {id, image, prompts} objects");
        const float thr = parse_threshold(body, "confidence_threshold", ctx.options().segment.confidence_threshold);
        const int max_concurrent = parse_int(body, "max_concurrent", 4, 1, 64);
        core::DevicePool& pool = ctx.pool();  // 503 for the whole batch when no model can run it
        // The image pipeline: items are parsed and decoded on IO threads, at
        // most max_concurrent of them in flight, while the devices run.
        const size_t n = images->size();
        std::vector<json> out(n);
        core::PipelineOptions po = ctx.options().pipeline;
        po.in_flight = max_concurrent;
        po.ordered = false;  // each result goes to its own index
        core::PipelineCallbacks cb;
        cb.read = [&](size_t i) {
          const json& item = (*images)[i];
          if (!item.is_object()) throw InvalidInput("expected an object {id, image, prompts}");
          const float t = parse_threshold(item, "confidence_threshold", thr);
          if (!item.contains("prompts")) throw InvalidInput("'prompts' is required");
          core::Prompt prompt = parse_prompts(item["prompts"], t);
          const std::string bytes = parse_image_base64(item, "image", ctx.max_body_bytes());
          return core::PipelineInput{decode_limited(ctx, bytes), std::move(prompt),
                                     core::feature_cache_key(bytes, ctx.model_id())};
        };
        cb.encode = [&](size_t i, const formats::SegmentResult& r) {
          out[i] = formats::batch_result_line("id", item_id((*images)[i], i), r);
          return std::string();
        };
        cb.error = [&](size_t i, const std::exception& e) {
          out[i] = error_item(item_id((*images)[i], i), e);
          return std::string();
        };
        cb.emit = [&](const core::PipelineOutput& o) {
          if (!o.failed) ctx.metrics().observe_inference(batch_ep, o.model_seconds);
        };
        core::run_image_pipeline(pool, n, po, cb, &ctx.cache());
        size_t failed = 0;
        for (const auto& r : out) failed += r.contains("error") ? 1 : 0;
        return Response::json_body({{"results", out},
                                    {"total_images", n},
                                    {"successful", n - failed},
                                    {"failed", failed}});
      },
      {{"type", "object"},
       {"required", json::array({"images"})},
       {"properties",
        {{"images",
          {{"type", "array"},
           {"items",
            {{"type", "object"},
             {"properties",
              {{"id", {{"type", "string"}}},
               {"image", {{"type", "string"}, {"format", "byte"}}},
               {"prompts", {{"type", "array"}, {"items", prompt_schema}}}}}}}}},
         {"confidence_threshold", {{"type", "number"}}},
         {"max_concurrent", {{"type", "integer"}, {"minimum", 1}, {"maximum", 64}}}}}},
      nullptr});

  const std::string cf_ep = "/api/v1/image/cached-features";
  router.add(Route{
      "POST", cf_ep, "Many text prompts against one image; its features are cached by content hash", "image", true,
      [&ctx, cf_ep](Request& req) {
        const json body = parse_json_body(req.body());
        const auto texts = parse_text_prompts(body, "text_prompts");
        const float thr = parse_threshold(body, "confidence_threshold", ctx.options().segment.confidence_threshold);
        const ImageInput in = decode_input(ctx, parse_image_base64(body, "image", ctx.max_body_bytes()));
        const Inference inf = run_inference(ctx, cf_ep, in, [texts, thr](const core::ImageEngine& e, const core::ImageState& s) {
          return e.segment_texts(s, texts, thr);
        });
        json results = json::array();
        for (size_t i = 0; i < inf.results.size(); ++i) {
          json r = formats::segment_result_json(inf.results[i]);
          r["prompt"] = texts.at(i);
          results.push_back(std::move(r));
        }
        return Response::json_body({{"results", results},
                                    {"cache_hit", inf.cache_hit},
                                    {"inference_time_ms", inf.seconds * 1000.0},
                                    {"image_size", {{"width", in.image->width}, {"height", in.image->height}}}});
      },
      {{"type", "object"},
       {"required", json::array({"image", "text_prompts"})},
       {"properties",
        {{"image", {{"type", "string"}, {"format", "byte"}}},
         {"text_prompts", {{"type", "array"}, {"items", {{"type", "string"}}}}},
         {"confidence_threshold", {{"type", "number"}}}}}},
      nullptr});
}

}  // namespace sam3::daemon
