// SPDX-License-Identifier: Apache-2.0
#include "daemon/websocket.h"

#include <civetweb.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "core/log.h"
#include "daemon/router.h"
#include "daemon/video_handlers.h"
#include "formats/result_json.h"

namespace sam3::daemon {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxMessageBytes = 1 << 20;  // a propagate request is a few dozen bytes
constexpr const char* kPrefix = "/api/v1/video/sessions/";
constexpr const char* kSuffix = "/propagate";
constexpr const char* kEndpoint = "/api/v1/video/sessions/{id}/propagate (websocket)";

struct Endpoint {
  VideoService* video = nullptr;
  WsAdmit admit;
};

// What one connection carries between civetweb's callbacks.
struct Conn {
  std::string session_id;
  std::string client_key;
  std::string request_id;
  std::string pending;       // text message fragments received so far
  bool in_text = false;      // a fragmented text message is open
};

// The session id of ".../sessions/{id}/propagate", "" when the path is another.
std::string session_of(const std::string& path) {
  const size_t p = std::strlen(kPrefix), s = std::strlen(kSuffix);
  if (path.size() <= p + s || path.compare(0, p, kPrefix) != 0 || path.compare(path.size() - s, s, kSuffix) != 0)
    return {};
  const std::string id = path.substr(p, path.size() - p - s);
  return id.find('/') == std::string::npos ? id : std::string();
}

// Answers a refused upgrade with an ordinary JSON error response.
void refuse(const mg_connection* cconn, const Response& r) {
  auto* conn = const_cast<mg_connection*>(cconn);  // civetweb hands connect handlers a const pointer
  // Raw bytes: civetweb's response-header API is not usable inside an upgrade.
  std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + mg_get_response_code_text(nullptr, r.status) +
                     "\r\nContent-Type: " + r.content_type + "\r\nContent-Length: " + std::to_string(r.body.size()) +
                     "\r\nConnection: close\r\nCache-Control: no-store\r\n";
  for (const auto& [k, v] : r.headers) head += k + ": " + v + "\r\n";
  head += "\r\n" + r.body;
  mg_write(conn, head.data(), head.size());
}

bool send_text(mg_connection* conn, const std::string& text) {
  return mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_TEXT, text.data(), text.size()) > 0;
}

json error_message(const std::exception& e, const std::string& request_id) {
  Response r = error_response(e, request_id);
  json j = json::parse(r.body, nullptr, false);
  if (j.is_discarded()) j = formats::error_json(500, "internal", "error");
  j["type"] = "error";
  return j;
}

int on_connect(const mg_connection* conn, void* cb) noexcept {
  auto* ep = static_cast<Endpoint*>(cb);
  Request req;
  try {
    req = request_head(*mg_get_request_info(conn));
    req.method = "GET";  // the upgrade request
    req.request_id = make_request_id(req.header("X-Request-Id"));
    req.body = []() -> const std::string& {
      static const std::string empty;
      return empty;
    };
  } catch (...) {
    return 1;
  }
  Response resp = guarded(req, [&]() -> Response {
    const std::string id = session_of(req.path);
    if (id.empty()) throw NotFound("no WebSocket endpoint at " + req.path);
    req.client_key = ep->admit(req);
    ep->video->get(id, req.client_key);  // 404 for an unknown or foreign session
    auto* c = new Conn{id, req.client_key, req.request_id, {}, false};
    mg_set_user_connection_data(conn, c);
    return Response::json_body(json::object(), 101);
  });
  ep->video->context().metrics().count_request(kEndpoint, resp.status);
  if (resp.status == 101) return 0;
  if (!resp.error_type.empty()) ep->video->context().metrics().count_error(resp.error_type);
  try {
    refuse(conn, resp);
  } catch (...) {
  }
  return 1;
}

// Runs one propagate request and streams its frames.
void run_propagate(mg_connection* conn, Endpoint& ep, Conn& c, const std::string& text) {
  DaemonContext& ctx = ep.video->context();
  struct InFlight {
    std::atomic<int64_t>& n;
    explicit InFlight(std::atomic<int64_t>& x) : n(x) { ++n; }
    ~InFlight() { --n; }
  } in_flight(ctx.in_flight());
  std::atomic<bool> gone{false};
  try {
    if (ctx.state() == ServerState::draining) throw Overloaded("the server is shutting down");
    const json body = parse_json_body(text);
    const PropagateRequest p = parse_propagate_request(body);
    auto session = ep.video->get(c.session_id, c.client_key);
    const auto t0 = Clock::now();
    const int64_t n = session->propagate(
        p.direction, p.start_frame, p.max_frames,
        [&](int64_t frame, const formats::SegmentResult& r) {
          if (gone) return;
          const json m = {{"type", "frame"},
                          {"session_id", c.session_id},
                          {"frame_index", frame},
                          {"objects", formats::video_objects_json(r)}};
          if (!send_text(conn, m.dump())) gone = true;
        },
        [&] { return gone.load() || ctx.state() == ServerState::draining; });
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    ctx.metrics().observe_inference(kEndpoint, s);
    send_text(conn, json({{"type", "complete"},
                          {"session_id", c.session_id},
                          {"total_frames", n},
                          {"processing_time_ms", s * 1000.0}})
                        .dump());
  } catch (const std::exception& e) {
    if (gone) return;  // nobody to tell
    send_text(conn, error_message(e, c.request_id).dump());
  }
}

int on_data(mg_connection* conn, int bits, char* data, size_t len, void* cb) noexcept {
  auto* ep = static_cast<Endpoint*>(cb);
  auto* c = static_cast<Conn*>(mg_get_user_connection_data(conn));
  if (!c) return 0;
  try {
    const int opcode = bits & 0x0f;
    const bool fin = (bits & 0x80) != 0;
    switch (opcode) {
      case MG_WEBSOCKET_OPCODE_CONNECTION_CLOSE:
        return 0;
      case MG_WEBSOCKET_OPCODE_PING:
        mg_websocket_write(conn, MG_WEBSOCKET_OPCODE_PONG, data, len);
        return 1;
      case MG_WEBSOCKET_OPCODE_PONG:
        return 1;
      case MG_WEBSOCKET_OPCODE_TEXT:
        if (c->in_text || len > kMaxMessageBytes) break;  // inside a fragmented message, or oversized
        c->pending.assign(data, len);
        c->in_text = !fin;
        if (fin) {
          run_propagate(conn, *ep, *c, c->pending);
          c->pending.clear();
        }
        return 1;
      case MG_WEBSOCKET_OPCODE_CONTINUATION:
        if (!c->in_text) break;
        if (c->pending.size() + len > kMaxMessageBytes) {
          send_text(conn, error_message(TooLarge("WebSocket message exceeds " + std::to_string(kMaxMessageBytes) +
                                                 " bytes"),
                                        c->request_id)
                              .dump());
          return 0;
        }
        c->pending.append(data, len);
        if (fin) {
          c->in_text = false;
          run_propagate(conn, *ep, *c, c->pending);
          c->pending.clear();
        }
        return 1;
      default:
        break;
    }
    send_text(conn, error_message(InvalidInput("expected a text message with a JSON propagate request (opcode " +
                                               std::to_string(opcode) + " received)"),
                                  c->request_id)
                        .dump());
  } catch (const std::exception& e) {
    SAM3_LOG_ERR("websocket " << c->request_id << ": " << e.what());
  } catch (...) {
  }
  return 0;  // close
}

void on_close(const mg_connection* conn, void*) noexcept {
  delete static_cast<Conn*>(mg_get_user_connection_data(conn));
  mg_set_user_connection_data(conn, nullptr);
}

}  // namespace

std::shared_ptr<void> install_video_websocket(mg_context* mg, VideoService& video, WsAdmit admit) {
  auto ep = std::make_shared<Endpoint>(Endpoint{&video, std::move(admit)});
  mg_set_websocket_handler(mg, "/api/v1/video/sessions/**", on_connect, nullptr, on_data, on_close, ep.get());
  return ep;
}

}  // namespace sam3::daemon
