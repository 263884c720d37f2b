// SPDX-License-Identifier: Apache-2.0
// Streaming propagation over WebSocket (RFC 6455, civetweb's server side):
//   ws://HOST/api/v1/video/sessions/{id}/propagate
// The upgrade request is admitted like any authenticated route (API key, rate
// limit, not while draining) and the session must exist for that client;
// otherwise the upgrade is answered with the usual JSON error and closed.
// Each text message the client sends is a propagate request ({direction,
// start_frame_index, max_frames}); the daemon answers with one text message
// per frame, {type: "frame", session_id, frame_index, objects: [...]}, then
// {type: "complete", session_id, total_frames, processing_time_ms}, or
// {type: "error", error: {code, type, message}}. The connection stays open
// for further requests until either side closes it. Binary or oversized
// messages are answered with an error and the connection is closed; a
// client that disappears mid-stream cancels the propagation.
//
// Thread-safety: civetweb calls the handlers on the connection's worker
// thread; a propagation runs on that thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "daemon/http.h"

struct mg_context;

namespace sam3::daemon {

class VideoService;

// Admits an upgrade request: returns the client key (as Request::client_key)
// or throws what the HTTP pipeline would (HttpError 401/429, Overloaded).
using WsAdmit = std::function<std::string(Request&)>;

// Registers the WebSocket handler on a started civetweb context. The returned
// handle owns the handler's state: keep it (and `video`) until mg_stop returned.
std::shared_ptr<void> install_video_websocket(mg_context* mg, VideoService& video, WsAdmit admit);

}  // namespace sam3::daemon
