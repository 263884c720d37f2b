// SPDX-License-Identifier: Apache-2.0
// Video endpoints (SPEC section 3 "Video"): start, prompts, propagate (JSON;
// the WebSocket stream lives in websocket.cpp), object removal, reset, close
// and status, plus the VideoService that owns the sessions. Video work runs
// on the request's thread, not on the image device queue: a session
// serialises its own operations, and a propagation of many frames must not
// hold the image queue.
#include "daemon/video_handlers.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <set>

#include "core/log.h"
#include "daemon/request_parse.h"
#include "formats/result_json.h"
#include "formats/url_fetch.h"

namespace fs = std::filesystem;

namespace sam3::daemon {
namespace {

using Clock = std::chrono::steady_clock;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A client-chosen session id: short and plain, so it is safe in paths, logs and URLs.
std::optional<std::string> parse_session_id(const json& body) {
  const auto it = body.find("session_id");
  if (it == body.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) throw InvalidInput("'session_id': expected a string of 1-64 [A-Za-z0-9._-], got " + it->dump());
  const std::string id = it->get<std::string>();
  const bool plain = !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
  if (!plain) throw InvalidInput("'session_id': expected 1-64 characters of [A-Za-z0-9._-], got \"" + id.substr(0, 80) + "\"");
  return id;
}

int64_t parse_frame_index(const json& body, const char* key, bool required) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) {
    if (required) throw InvalidInput(std::string("'") + key + "' is required: a frame index >= 0");
    return -1;
  }
  if (!it->is_number_integer() || it->get<int64_t>() < 0)
    throw InvalidInput(std::string("'") + key + "': expected an integer >= 0, got " + it->dump());
  return it->get<int64_t>();
}

// A fresh file name under UPLOAD_DIR (created if missing) for an uploaded or downloaded video.
std::string new_upload_path(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw sam3::Error("cannot create UPLOAD_DIR '" + dir + "': " + ec.message());
  return (fs::path(dir) / ("video_" + random_hex_id() + ".mp4")).string();
}

// Wall-clock limit of a video_url download (connect + body); there is no
// setting for it yet.
constexpr double kUrlFetchTimeoutSeconds = 120.0;

// Downloads an allowed `url` into a new private file under `dir` (the body
// limited to `max_bytes`); returns its path. \throws TooLarge (413) over the
// limit and HttpError 502 when the remote side fails (unreachable, HTTP
// error, redirect, timeout).
std::string download_upload(const std::string& dir, const std::string& url, size_t max_bytes) {
  const std::string path = new_upload_path(dir);
  formats::UrlFetchLimits limits;
  limits.max_bytes = static_cast<int64_t>(max_bytes);
  limits.timeout_seconds = kUrlFetchTimeoutSeconds;
  try {
    formats::fetch_url_to_file(url, path, limits);
  } catch (const formats::UrlFetchError& e) {
    throw HttpError(502, "bad_gateway", std::string("'video_url': ") + e.what());
  }
  return path;
}

// Writes `bytes` to a new private file under `dir`; returns its path.
std::string write_upload(const std::string& dir, const std::string& bytes) {
  std::error_code ec;
  const std::string path = new_upload_path(dir);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) throw sam3::Error("cannot create an upload file in '" + dir + "'");
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      ::close(fd);
      fs::remove(path, ec);
      throw sam3::Error("cannot write the uploaded video to '" + dir + "' (disk full?)");
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return path;
}

// {masks, boxes, scores, obj_ids} of a frame's objects (the prompt reply).
json prompt_reply(const formats::SegmentResult& r) {
  const json objects = formats::video_objects_json(r);
  json masks = json::array(), boxes = json::array(), scores = json::array(), ids = json::array();
  for (const auto& o : objects) {
    masks.push_back(o["mask"]);
    boxes.push_back(o["box"]);
    scores.push_back(o["score"]);
    ids.push_back(o["id"]);
  }
  return {{"masks", masks}, {"boxes", boxes}, {"scores", scores}, {"obj_ids", ids}};
}

double mib(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

json status_json(const std::string& id, const core::VideoSessionStatus& st) {
  const bool gpu = st.device.rfind("cuda", 0) == 0;
  return {{"session_id", id},
          {"status", st.busy ? "processing" : "ready"},
          {"current_objects", st.object_ids},
          {"frames_processed", st.frames_processed},
          {"frames_loaded", st.frames_loaded},
          {"total_frames", st.total_frames},
          {"gpu_memory_used_mb", gpu ? mib(st.memory_bytes) : 0.0},
          {"memory_used_mb", mib(st.memory_bytes)},
          {"device", st.device}};
}

const json kObject = {{"type", "object"}};

}  // namespace

// ---- policy ---------------------------------------------------------------

std::string check_video_url(const std::string& url, const core::SessionOptions& policy) {
  const size_t sep = url.find("://");
  if (url.empty() || url.size() > 4096 || sep == std::string::npos || sep == 0)
    throw InvalidInput("'video_url': expected an absolute URL such as https://host/video.mp4, got \"" +
                       url.substr(0, 80) + "\"");
  const std::string scheme = lower(url.substr(0, sep));
  for (char c : scheme)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.')
      throw InvalidInput("'video_url': malformed scheme \"" + scheme.substr(0, 20) + "\"");
  const size_t auth_end = url.find_first_of("/?#", sep + 3);
  const std::string authority = url.substr(sep + 3, auth_end == std::string::npos ? std::string::npos : auth_end - sep - 3);
  // user@host hides the real host from naive checks; never needed for a video.
  if (authority.find('@') != std::string::npos) throw InvalidInput("'video_url': user information (user@host) is not accepted");
  std::string host = authority;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string::npos) throw InvalidInput("'video_url': malformed IPv6 host");
    host = host.substr(0, close + 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  host = lower(host);
  while (!host.empty() && host.back() == '.') host.pop_back();  // "example.com." == "example.com"
  if (std::find(policy.url_schemes.begin(), policy.url_schemes.end(), scheme) == policy.url_schemes.end())
    throw HttpError(403, "forbidden", "'video_url': scheme \"" + scheme + "\" is not allowed (allowed: " +
                                          (policy.url_schemes.empty() ? std::string("none") : [&] {
                                            std::string s;
                                            for (const auto& x : policy.url_schemes) s += (s.empty() ? "" : ", ") + x;
                                            return s;
                                          }()) + ")");
  if (host.empty()) throw InvalidInput("'video_url': the URL has no host");
  for (const auto& allowed : policy.url_hosts) {
    const std::string a = lower(allowed);
    if (a == host) return host;
    // "*.example.com" allows sub-domains (not example.com itself).
    if (a.size() > 2 && a.compare(0, 2, "*.") == 0 && host.size() > a.size() - 1 &&
        host.compare(host.size() - (a.size() - 1), a.size() - 1, a.substr(1)) == 0)
      return host;
  }
  throw HttpError(403, "forbidden",
                  "'video_url': host \"" + host + "\" is not in the allowed hosts (SESSION url_hosts" +
                      (policy.url_hosts.empty() ? std::string(" is empty: video_url is disabled") : std::string()) + ")");
}

std::string resolve_video_path(const std::string& path, const std::vector<std::string>& roots) {
  if (path.empty()) throw InvalidInput("'video_path': expected a non-empty path");
  if (path.find('\0') != std::string::npos) throw InvalidInput("'video_path': contains a NUL character");
  if (roots.empty())
    throw HttpError(403, "forbidden", "'video_path' is disabled: no video roots are configured (video_roots)");
  std::error_code ec;
  const fs::path p = fs::path(path).is_absolute() ? fs::path(path) : fs::path(roots.front()) / path;
  // Follows every symlink of the existing part and removes "." / "..", so
  // neither traversal nor a link can leave the root unnoticed.
  const fs::path real = fs::weakly_canonical(p, ec);
  if (!ec) {
    for (const auto& r : roots) {
      std::error_code rec;
      const fs::path root = fs::weakly_canonical(fs::path(r), rec);
      if (rec || root.empty()) continue;
      auto ri = root.begin(), pi = real.begin();
      for (; ri != root.end() && pi != real.end() && *ri == *pi; ++ri, ++pi) {}
      // A trailing "" component (root ends with '/') matches anything.
      if (ri == root.end() || (std::next(ri) == root.end() && ri->empty())) return real.string();
    }
  }
  throw HttpError(403, "forbidden", "'video_path' \"" + path.substr(0, 200) + "\" is outside the configured video roots");
}

PropagateRequest parse_propagate_request(const json& body) {
  if (!body.is_object()) throw InvalidInput("the propagate request: expected a JSON object");
  PropagateRequest p;
  if (const auto it = body.find("direction"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) throw InvalidInput("'direction': expected \"forward\", \"backward\" or \"both\", got " + it->dump());
    p.direction = core::propagate_direction_from_string(it->get<std::string>());
  }
  if (const int64_t s = parse_frame_index(body, "start_frame_index", false); s >= 0) p.start_frame = s;
  if (const int64_t m = parse_frame_index(body, "max_frames", false); m >= 0) p.max_frames = m;
  return p;
}

// ---- VideoService ---------------------------------------------------------

VideoService::VideoService(DaemonContext& ctx) : ctx_(ctx) {
  const int interval = ctx_.options().sessions.cleanup_interval_seconds;
  if (ctx_.options().sessions.timeout_seconds > 0 && interval > 0)
    cleaner_ = std::thread([this] { cleanup_loop(); });
}

VideoService::~VideoService() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (cleaner_.joinable()) cleaner_.join();
  std::map<std::string, Meta> left;
  {
    std::lock_guard<std::mutex> lk(mu_);
    left.swap(meta_);
  }
  for (const auto& [id, m] : left) {
    if (manager_) try {
        manager_->close(id);
      } catch (const std::exception&) {}
    std::error_code ec;
    if (!m.temp_file.empty()) fs::remove(m.temp_file, ec);
  }
}

void VideoService::cleanup_loop() {
  const auto interval = std::chrono::seconds(ctx_.options().sessions.cleanup_interval_seconds);
  std::unique_lock<std::mutex> lk(mu_);
  while (!stopping_) {
    cv_.wait_for(lk, interval, [this] { return stopping_; });
    if (stopping_) break;
    lk.unlock();
    try {
      if (const size_t n = expire_idle(); n > 0) SAM3_LOG_INF("expired " << n << " idle video sessions");
    } catch (const std::exception& e) {
      SAM3_LOG_ERR("video session cleanup failed: " << e.what());
    }
    lk.lock();
  }
}

core::SessionManager* VideoService::manager_if_ready() const {
  std::lock_guard<std::mutex> lk(mu_);
  return manager_.get();
}

core::SessionManager& VideoService::manager() {
  if (auto* m = manager_if_ready()) return *m;
  auto models = ctx_.video_models();  // 503 while loading or without a model
  std::lock_guard<std::mutex> lk(mu_);
  if (!manager_) manager_ = std::make_unique<core::SessionManager>(std::move(models), ctx_.options().sessions);
  return *manager_;
}

std::string VideoService::owner_of(const std::string& client_key) {
  return client_key.rfind("key:", 0) == 0 ? client_key : std::string();
}

void VideoService::check_owner(const std::string& id, const std::string& client) const {
  std::lock_guard<std::mutex> lk(mu_);
  const auto it = meta_.find(id);
  if (it == meta_.end() || (!it->second.owner.empty() && it->second.owner != owner_of(client)))
    throw NotFound("video session \"" + id + "\" not found or expired");
}

std::shared_ptr<core::VideoSession> VideoService::get(const std::string& id, const std::string& client) {
  check_owner(id, client);
  return manager().get(id);
}

std::string VideoService::open(const std::string& path, std::optional<std::string> id, const std::string& client,
                               const std::string& temp_file, const std::vector<std::string>& devices) {
  std::string key;
  try {
    key = manager().open(path, id, {}, devices);
  } catch (const Overloaded& e) {
    std::error_code ec;
    if (!temp_file.empty()) fs::remove(temp_file, ec);
    if (ctx_.state() != ServerState::ready) throw;  // loading / draining: 503 as usual
    throw HttpError(429, "too_many_sessions", e.what(), 5);
  } catch (...) {
    std::error_code ec;
    if (!temp_file.empty()) fs::remove(temp_file, ec);
    throw;
  }
  std::lock_guard<std::mutex> lk(mu_);
  meta_[key] = Meta{owner_of(client), temp_file, unix_now()};
  return key;
}

void VideoService::forget(const std::string& id) {
  std::string temp;
  {
    std::lock_guard<std::mutex> lk(mu_);
    const auto it = meta_.find(id);
    if (it == meta_.end()) return;
    temp = it->second.temp_file;
    meta_.erase(it);
  }
  std::error_code ec;
  if (!temp.empty()) fs::remove(temp, ec);
}

int64_t VideoService::close(const std::string& id, const std::string& client) {
  check_owner(id, client);
  const int64_t bytes = manager().close(id);
  forget(id);
  return bytes;
}

size_t VideoService::expire_idle() {
  core::SessionManager* m = manager_if_ready();
  if (!m) return 0;
  const auto ids = m->expire_idle();
  for (const auto& id : ids) forget(id);
  return ids.size();
}

json VideoService::list(const std::string& client) const {
  json out = json::array();
  core::SessionManager* m = manager_if_ready();
  if (!m) return out;
  const std::string owner = owner_of(client);
  for (const auto& s : m->list()) {
    Meta meta;
    {
      std::lock_guard<std::mutex> lk(mu_);
      const auto it = meta_.find(s.id);
      if (it == meta_.end()) continue;  // opened or closed concurrently
      meta = it->second;
    }
    if (!client.empty() && !meta.owner.empty() && meta.owner != owner) continue;
    out.push_back({{"session_id", s.id},
                   {"type", "video"},
                   {"created_at", meta.created_at},
                   {"status", s.status.busy ? "processing" : "ready"},
                   {"objects_count", s.status.object_ids.size()},
                   {"total_frames", s.info.total_frames},
                   {"frames_processed", s.status.frames_processed},
                   {"idle_seconds", s.idle_seconds},
                   {"device", s.device}});
  }
  return out;
}

int64_t VideoService::active_sessions() const {
  core::SessionManager* m = manager_if_ready();
  return m ? static_cast<int64_t>(m->size()) : 0;
}

// ---- routes ---------------------------------------------------------------

void add_video_routes(Router& router, VideoService& video) {
  DaemonContext& ctx = video.context();
  const std::string base = "/api/v1/video/sessions";

  router.add(Route{
      "POST", base + "/start",
      "Open a video session from exactly one of video_path (under the configured roots), video_base64 or "
      "video_url (allowed schemes and hosts only)",
      "video", true,
      [&video, &ctx](Request& req) {
        const json body = parse_json_body(req.body());
        const auto id = parse_session_id(body);
        // gpu_ids: the session goes to the least-loaded of these GPUs' replicas.
        std::vector<std::string> devices;
        if (const auto g = body.find("gpu_ids"); g != body.end() && !g->is_null()) {
          if (!g->is_array() || g->empty() || g->size() > 64 || !std::all_of(g->begin(), g->end(), [](const json& v) {
                return v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < 64;
              }))
            throw InvalidInput("'gpu_ids': expected a non-empty array of GPU indices 0..63, got " + g->dump().substr(0, 60));
          for (const json& v : *g) devices.push_back("cuda:" + std::to_string(v.get<int64_t>()));
          // Refused before anything is downloaded or decoded.
          ctx.pool();  // 503 while loading or without a model
          const auto have = ctx.video_devices();
          if (std::none_of(devices.begin(), devices.end(), [&](const std::string& d) {
                return std::find(have.begin(), have.end(), d) != have.end();
              })) {
            std::string list;
            for (const auto& d : have) list += (list.empty() ? "" : ", ") + d;
            throw InvalidInput("'gpu_ids': none of " + g->dump().substr(0, 60) +
                               " hosts video sessions here (video devices: " + list + "; see VIDEO_MODEL_GPUS)");
          }
        }
        int sources = 0;
        for (const char* k : {"video_path", "video_base64", "video_url"})
          if (body.contains(k) && !body[k].is_null()) ++sources;
        if (sources != 1)
          throw InvalidInput("exactly one of 'video_path', 'video_base64' or 'video_url' is required, got " +
                             std::to_string(sources));
        const auto& policy = ctx.options().sessions;
        std::string path, temp;
        if (body.contains("video_url") && !body["video_url"].is_null()) {
          if (!body["video_url"].is_string()) throw InvalidInput("'video_url': expected a string");
          const std::string url = body["video_url"].get<std::string>();
          check_video_url(url, policy);
          ctx.pool();  // 503 before downloading anything while there is no model
          temp = path = download_upload(ctx.options().serve.upload_dir, url, ctx.max_body_bytes());
        } else if (body.contains("video_path") && !body["video_path"].is_null()) {
          if (!body["video_path"].is_string()) throw InvalidInput("'video_path': expected a string");
          path = resolve_video_path(body["video_path"].get<std::string>(), policy.video_roots);
        } else {
          ctx.pool();  // 503 before writing anything while there is no model
          const std::string bytes = parse_image_base64(body, "video_base64", ctx.max_body_bytes());
          temp = path = write_upload(ctx.options().serve.upload_dir, bytes);
        }
        const auto t0 = Clock::now();
        const std::string sid = video.open(path, id, req.client_key, temp, devices);
        ctx.metrics().observe_inference("/api/v1/video/sessions/start",
                                        std::chrono::duration<double>(Clock::now() - t0).count());
        const auto info = video.get(sid, req.client_key)->info();
        return Response::json_body({{"session_id", sid},
                                    {"video_info",
                                     {{"total_frames", info.total_frames},
                                      {"fps", info.fps},
                                      {"resolution", {{"width", info.width}, {"height", info.height}}},
                                      {"duration_seconds", info.duration_seconds}}},
                                    {"status", "ready"}});
      },
      {{"type", "object"},
       {"properties",
        {{"video_path", {{"type", "string"}}},
         {"video_base64", {{"type", "string"}}},
         {"video_url", {{"type", "string"}}},
         {"session_id", {{"type", "string"}}},
         {"gpu_ids", {{"type", "array"}, {"items", {{"type", "integer"}}}}}}}},
      kObject});

  router.add(Route{
      "POST", base + "/{id}/prompts",
      "Add a text prompt (detects every instance) or point/box clicks (adds or refines obj_id) on a frame", "video",
      true,
      [&video, &ctx](Request& req) {
        const json body = parse_json_body(req.body());
        const std::string& id = req.params.at("id");
        const int64_t frame = parse_frame_index(body, "frame_index", true);
        std::optional<int64_t> obj_id;
        if (const auto o = body.find("obj_id"); o != body.end() && !o->is_null()) {
          if (!o->is_number_integer() || o->get<int64_t>() < 0)
            throw InvalidInput("'obj_id': expected null or an integer >= 0, got " + o->dump());
          obj_id = o->get<int64_t>();
        }
        const core::Prompt p = parse_prompts(body.value("prompts", json()), 0.5f);
        core::VideoPrompt vp{p.text, p.points, p.boxes};
        if (vp.text && obj_id)
          throw InvalidInput("'obj_id' applies to point/box prompts; a text prompt detects every instance");
        auto session = video.get(id, req.client_key);
        const auto before = session->status().object_ids;
        const auto t0 = Clock::now();
        const formats::SegmentResult r = session->add_prompt(frame, vp, obj_id);
        ctx.metrics().observe_inference("/api/v1/video/sessions/{id}/prompts",
                                        std::chrono::duration<double>(Clock::now() - t0).count());
        json reply = prompt_reply(r);
        json obj = obj_id ? json(*obj_id) : json(nullptr);
        if (!vp.text && !obj_id) {
          // The id the clicks created: the one that was not there before.
          const std::set<int64_t> old(before.begin(), before.end());
          for (const int64_t o : session->status().object_ids)
            if (!old.count(o)) obj = o;
        }
        reply["frame_index"] = frame;
        reply["obj_id"] = obj;
        reply["status"] = "prompt_added";
        return Response::json_body(reply);
      },
      {{"type", "object"},
       {"required", json::array({"frame_index", "prompts"})},
       {"properties",
        {{"frame_index", {{"type", "integer"}}},
         {"prompts", {{"type", "array"}, {"items", kObject}}},
         {"obj_id", {{"type", "integer"}, {"nullable", true}}}}}},
      kObject});

  router.add(Route{
      "POST", base + "/{id}/propagate",
      "Propagate the objects forward, backward or both; for streaming open a WebSocket on this URL and send the "
      "same JSON: one message per frame, then {type: complete, total_frames}",
      "video", true,
      [&video, &ctx](Request& req) {
        const json body = parse_json_body(req.body());
        if (parse_bool(body, "stream", false))
          throw InvalidInput("'stream': true needs a WebSocket connection to this URL (ws://.../propagate); "
                             "over plain HTTP send stream: false");
        const PropagateRequest p = parse_propagate_request(body);
        const std::string& id = req.params.at("id");
        auto session = video.get(id, req.client_key);
        json results = json::object();
        const auto t0 = Clock::now();
        const int64_t n = session->propagate(
            p.direction, p.start_frame, p.max_frames,
            [&results](int64_t frame, const formats::SegmentResult& r) {
              results[std::to_string(frame)] = {{"objects", formats::video_objects_json(r)}};
            },
            [&ctx] { return ctx.state() == ServerState::draining; });
        const double s = std::chrono::duration<double>(Clock::now() - t0).count();
        ctx.metrics().observe_inference("/api/v1/video/sessions/{id}/propagate", s);
        return Response::json_body(
            {{"session_id", id}, {"results", results}, {"total_frames", n}, {"processing_time_ms", s * 1000.0}});
      },
      {{"type", "object"},
       {"properties",
        {{"direction", {{"type", "string"}, {"enum", json::array({"forward", "backward", "both"})}}},
         {"start_frame_index", {{"type", "integer"}, {"nullable", true}}},
         {"max_frames", {{"type", "integer"}, {"nullable", true}}},
         {"stream", {{"type", "boolean"}}}}}},
      kObject});

  router.add(Route{"DELETE", base + "/{id}/objects/{obj_id}", "Remove one tracked object", "video", true,
                   [&video](Request& req) {
                     const std::string& id = req.params.at("id");
                     const std::string& o = req.params.at("obj_id");
                     int64_t obj = -1;
                     if (o.empty() || o.size() > 18 || !std::all_of(o.begin(), o.end(), [](char c) { return c >= '0' && c <= '9'; }))
                       throw InvalidInput("obj_id: expected an integer >= 0, got \"" + o.substr(0, 20) + "\"");
                     obj = std::stoll(o);
                     video.get(id, req.client_key)->remove_object(obj);
                     return Response::json_body({{"session_id", id}, {"obj_id", obj}, {"status", "removed"}});
                   },
                   nullptr, kObject});

  router.add(Route{"POST", base + "/{id}/reset", "Clear prompts and objects; the video stays loaded", "video", true,
                   [&video](Request& req) {
                     const std::string& id = req.params.at("id");
                     const auto cleared = video.get(id, req.client_key)->reset();
                     return Response::json_body(
                         {{"session_id", id}, {"status", "reset"}, {"objects_cleared", cleared.size()},
                          {"cleared_obj_ids", cleared}});
                   },
                   nullptr, kObject});

  router.add(Route{"DELETE", base + "/{id}", "Close the session and free its memory", "video", true,
                   [&video](Request& req) {
                     const std::string& id = req.params.at("id");
                     const int64_t bytes = video.close(id, req.client_key);
                     return Response::json_body(
                         {{"session_id", id}, {"status", "closed"}, {"memory_freed_mb", mib(bytes)}});
                   },
                   nullptr, kObject});

  router.add(Route{"GET", base + "/{id}/status", "Session state, objects and progress", "video", true,
                   [&video](Request& req) {
                     const std::string& id = req.params.at("id");
                     return Response::json_body(status_json(id, video.get(id, req.client_key)->status()));
                   },
                   nullptr, kObject});
}

}  // namespace sam3::daemon
