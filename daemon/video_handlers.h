// SPDX-License-Identifier: Apache-2.0
// The daemon's video sessions: a core::SessionManager made once the model
// has loaded, the input policy of POST /api/v1/video/sessions/start
// (video_path only under SESSION video_roots, video_url only for allowed
// schemes and hosts and downloaded by formats/url_fetch.h, video_base64 and
// video_url into a temporary file under UPLOAD_DIR that is removed with its
// session), per-client ownership of sessions (with API
// keys, a session id is only usable by the key that created it), and a
// cleanup thread that expires idle sessions. The HTTP routes (video_handlers.cpp)
// and the WebSocket stream (websocket.cpp) both go through it.
//
// Thread-safety: every member function may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>
#include <thread>

#include "core/video/session_manager.h"
#include "daemon/context.h"

namespace sam3::daemon {

class VideoService {
public:
  explicit VideoService(DaemonContext& ctx);
  ~VideoService();  // stops the cleanup thread, closes every session, removes uploads
  VideoService(const VideoService&) = delete;
  VideoService& operator=(const VideoService&) = delete;

  DaemonContext& context() { return ctx_; }

  // The session `id` when `client` may use it. \throws NotFound for an
  // unknown, expired or foreign id (the same answer, so ids do not leak).
  std::shared_ptr<core::VideoSession> get(const std::string& id, const std::string& client);

  // Registers a new session decoded from `path` on the least-loaded video
  // replica (among `devices` when not empty); `temp_file` (may be "") is
  // removed when the session ends. \throws HttpError 429 at the cap, and
  // SessionManager::open's errors (the temp file is then removed at once).
  std::string open(const std::string& path, std::optional<std::string> id, const std::string& client,
                   const std::string& temp_file, const std::vector<std::string>& devices = {});

  // Closes `id`; returns the bytes it held. \throws NotFound as get().
  int64_t close(const std::string& id, const std::string& client);

  // Sessions visible to `client` ("" = all): [{session_id, type: "video",
  // created_at, status, objects_count, total_frames, idle_seconds, device}].
  json list(const std::string& client) const;
  int64_t active_sessions() const;

  // Expires idle sessions now (the cleanup thread calls it every
  // cleanup_interval_seconds); returns how many were closed.
  size_t expire_idle();

  // The owner recorded for a request's client key: keys own their sessions;
  // address-based clients ("addr:...") share them.
  static std::string owner_of(const std::string& client_key);

private:
  struct Meta {
    std::string owner;      // "" = anyone
    std::string temp_file;  // "" = none
    double created_at = 0;  // unix seconds
  };
  // The manager once the model is loaded. \throws Overloaded / ModelMissing (503) before.
  core::SessionManager& manager();
  core::SessionManager* manager_if_ready() const;
  void forget(const std::string& id);  // drops the meta and removes the temp file
  void check_owner(const std::string& id, const std::string& client) const;
  void cleanup_loop();

  DaemonContext& ctx_;
  mutable std::mutex mu_;
  std::unique_ptr<core::SessionManager> manager_;
  std::map<std::string, Meta> meta_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread cleaner_;
};

// A propagate request: {direction: forward|backward|both (default forward),
// start_frame_index: int >= 0 | null, max_frames: int >= 0 | null}.
// \throws InvalidInput naming the field.
struct PropagateRequest {
  core::PropagateDirection direction = core::PropagateDirection::forward;
  std::optional<int64_t> start_frame;
  std::optional<int64_t> max_frames;
};
PropagateRequest parse_propagate_request(const json& body);

// The HTTP routes of /api/v1/video/sessions/...
void add_video_routes(Router& router, VideoService& video);

// Parses `video_url` and applies the policy (scheme in url_schemes, host in
// url_hosts, exact or "*.suffix"; no user-info). \throws InvalidInput (400)
// for a malformed URL and HttpError 403 for a disallowed one; returns the
// lower-case host when allowed.
std::string check_video_url(const std::string& url, const core::SessionOptions& policy);

// Resolves `video_path` (relative paths against the first root), following
// symlinks, and requires it to stay inside one of `roots`. \throws HttpError
// 403 when it escapes (or no roots are configured), InvalidInput when empty.
std::string resolve_video_path(const std::string& path, const std::vector<std::string>& roots);

}  // namespace sam3::daemon
