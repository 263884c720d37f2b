// SPDX-License-Identifier: Apache-2.0
// The daemon's video endpoints end to end on a random-weight tiny model
// (detector + tracker, biases shifted so that objects are present) and short
// synthetic videos made here: session lifecycle, point/text prompts,
// propagation in every direction, removal, reset, close, the video_path /
// video_url policy, the session cap, expiry, isolation and the WebSocket
// stream (with a minimal RFC 6455 client). Skipped with a message when the
// CLIP vocabulary (shared/golden) is absent.
#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>
#include <thread>

#include "core/checkpoint/safetensors.h"
#include "core/image_engine.h"
#include "core/model_init.h"
#include "daemon_client.h"
#include "formats/video_encode.h"
#include "model_util.h"
#include "test_util.h"
#include "tiny_http_server.h"

namespace sam3::test {
namespace {

namespace fs = std::filesystem;
const std::string kBase = "/api/v1/video/sessions";

// Made once: a model folder, the video root with an 8-frame MP4, a JPEG
// folder and a symlink that escapes the root, and the loaded model.
struct Fixture {
  TempDir dir;
  std::string root, mp4, jpegs, outside, uploads;
  std::shared_ptr<const core::Sam3Model> model;
  Fixture() {
    const std::string model_dir = dir.file("model");
    write_tiny_tracking_model(model_dir);
    core::ModelOptions mo;
    mo.model_dir = model_dir;
    mo.bpe_path = golden_bpe_path();
    model = core::load_model(mo);

    root = dir.file("videos");
    fs::create_directories(root);
    const auto frames = moving_squares(8);
    mp4 = root + "/squares.mp4";
    formats::VideoEncodeOptions eo;
    eo.fps = 10;
    formats::write_video(mp4, frames, eo);
    jpegs = root + "/frames";
    fs::create_directories(jpegs);
    for (size_t i = 0; i < frames.size(); ++i)
      write_file(jpegs + "/" + std::to_string(i) + ".jpg", formats::encode_jpeg(frames[i], 95));
    outside = dir.file("outside.mp4");
    fs::copy_file(mp4, outside);
    fs::create_symlink(outside, root + "/escape.mp4");
    uploads = dir.file("uploads");
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

daemon::DaemonOptions video_options() {
  daemon::DaemonOptions o;
  o.sessions.video_roots = {fixture().root};
  o.sessions.url_schemes = {"https"};
  o.sessions.url_hosts = {"videos.example.com"};
  o.sessions.max_concurrent_sessions = 4;
  o.sessions.frame_storage = "ram";
  o.serve.upload_dir = fixture().uploads;
  return o;
}

std::unique_ptr<LocalDaemon> start_daemon(daemon::DaemonOptions o) {
  auto d = std::make_unique<LocalDaemon>(o, [] { return core::ModelReplicas{{fixture().model}, {fixture().model}}; });
  EXPECT_TRUE(d->server().wait_until_loaded(std::chrono::seconds(60)));
  return d;
}

// ---- a minimal RFC 6455 client ---------------------------------------------

class WsClient {
public:
  WsClient(int port, const std::string& path, const std::vector<std::string>& headers = {}) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{60, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    std::string req = "GET " + path +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    for (const auto& h : headers) req += h + "\r\n";
    send_raw(req + "\r\n");
    while (buf_.find("\r\n\r\n") == std::string::npos)
      if (!fill()) return;
    const size_t end = buf_.find("\r\n\r\n") + 4;
    const HttpReply head = parse_reply(buf_.substr(0, end));
    status = head.status;
    buf_.erase(0, end);
    if (status != 101) {
      const size_t len = static_cast<size_t>(std::atoll(head.header("content-length").c_str()));
      while (buf_.size() < len && fill()) {}
      body = buf_;
    }
  }
  ~WsClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  void send_raw(const std::string& bytes) { ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL); }
  void send_frame(int opcode, const std::string& payload, bool fin = true) {
    std::string f;
    f += static_cast<char>((fin ? 0x80 : 0) | opcode);
    if (payload.size() < 126) {
      f += static_cast<char>(0x80 | payload.size());
    } else {
      f += static_cast<char>(0x80 | 126);
      f += static_cast<char>((payload.size() >> 8) & 0xff);
      f += static_cast<char>(payload.size() & 0xff);
    }
    const char mask[4] = {0x12, 0x34, 0x56, 0x78};
    f.append(mask, 4);
    for (size_t i = 0; i < payload.size(); ++i) f += static_cast<char>(payload[i] ^ mask[i % 4]);
    send_raw(f);
  }
  void send_text(const std::string& text) { send_frame(0x1, text); }
  // The next text message; nullopt when the server closed or went silent.
  std::optional<std::string> recv_text() {
    for (;;) {
      if (!need(2)) return std::nullopt;
      const int opcode = buf_[0] & 0x0f;
      uint64_t len = static_cast<uint8_t>(buf_[1]) & 0x7f;
      size_t head = 2;
      if (len == 126) {
        if (!need(4)) return std::nullopt;
        len = (uint64_t(uint8_t(buf_[2])) << 8) | uint8_t(buf_[3]);
        head = 4;
      } else if (len == 127) {
        if (!need(10)) return std::nullopt;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | uint8_t(buf_[2 + i]);
        head = 10;
      }
      if (!need(head + len)) return std::nullopt;
      std::string payload = buf_.substr(head, len);
      buf_.erase(0, head + len);
      if (opcode == 0x8) return std::nullopt;
      if (opcode == 0x1) return payload;
    }
  }
  int status = 0;
  std::string body;

private:
  bool fill() {
    char tmp[65536];
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  bool need(size_t n) {
    while (buf_.size() < n)
      if (!fill()) return false;
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

// ---- helpers ---------------------------------------------------------------

class DaemonVideo : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (golden_bpe_path().empty()) return;
    daemon_ = start_daemon(video_options()).release();
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    if (golden_bpe_path().empty()) GTEST_SKIP() << "CLIP BPE vocabulary (shared/golden) absent";
    ASSERT_NE(daemon_, nullptr);
  }
  static LocalDaemon& d() { return *daemon_; }
  static std::string start(const json& body, LocalDaemon& on = d()) {
    const HttpReply r = on.post(kBase + "/start", body);
    EXPECT_EQ(r.status, 200) << r.body.substr(0, 300);
    return r.j().value("session_id", std::string());
  }
  static HttpReply point(const std::string& id, int64_t frame, double x, double y, json obj_id = nullptr,
                         LocalDaemon& on = d()) {
    return on.post(kBase + "/" + id + "/prompts",
                   json{{"frame_index", frame},
                        {"obj_id", obj_id},
                        {"prompts", {{{"type", "point"}, {"points", {{x, y}}}, {"point_labels", {1}}}}}});
  }
  static HttpReply propagate(const std::string& id, const json& body, LocalDaemon& on = d()) {
    return on.post(kBase + "/" + id + "/propagate", body);
  }
  static HttpReply del(const std::string& path, LocalDaemon& on = d()) { return http(on.port(), "DELETE", path); }
  static std::set<int64_t> frames_of(const json& results) {
    std::set<int64_t> out;
    for (auto it = results.begin(); it != results.end(); ++it) out.insert(std::stoll(it.key()));
    return out;
  }
  static LocalDaemon* daemon_;
};
LocalDaemon* DaemonVideo::daemon_ = nullptr;

size_t files_in(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return 0;
  return static_cast<size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator()));
}

// ---- tests -----------------------------------------------------------------

TEST_F(DaemonVideo, FullSessionLifecycle) {
  const HttpReply s = d().post(kBase + "/start", json{{"video_path", fixture().mp4}, {"session_id", "life-1"}});
  ASSERT_EQ(s.status, 200) << s.body;
  const json sj = s.j();
  EXPECT_EQ(sj["session_id"], "life-1");
  EXPECT_EQ(sj["status"], "ready");
  EXPECT_EQ(sj["video_info"]["total_frames"], 8);
  EXPECT_EQ(sj["video_info"]["resolution"], json({{"width", 96}, {"height", 72}}));
  EXPECT_NEAR(sj["video_info"]["fps"].get<double>(), 10.0, 1e-6);
  EXPECT_NEAR(sj["video_info"]["duration_seconds"].get<double>(), 0.8, 1e-6);
  // A second session may not take the same id.
  EXPECT_EQ(d().post(kBase + "/start", json{{"video_path", fixture().mp4}, {"session_id", "life-1"}}).status, 400);

  json st = d().get(kBase + "/life-1/status").j();
  EXPECT_EQ(st["status"], "ready");
  EXPECT_EQ(st["current_objects"], json::array());
  EXPECT_EQ(st["total_frames"], 8);

  const HttpReply p = point("life-1", 0, 0.2, 0.28);
  ASSERT_EQ(p.status, 200) << p.body;
  const json pj = p.j();
  EXPECT_EQ(pj["status"], "prompt_added");
  EXPECT_EQ(pj["frame_index"], 0);
  EXPECT_EQ(pj["obj_id"], 0);  // the first free id
  ASSERT_EQ(pj["masks"].size(), pj["boxes"].size());
  ASSERT_EQ(pj["masks"].size(), pj["scores"].size());
  for (const auto& m : pj["masks"]) EXPECT_EQ(m["size"], json::array({72, 96}));
  for (const auto& b : pj["boxes"])
    for (const auto& v : b) EXPECT_TRUE(v.get<double>() >= 0.0 && v.get<double>() <= 1.0);

  const HttpReply pr = propagate("life-1", {{"direction", "forward"}});
  ASSERT_EQ(pr.status, 200) << pr.body.substr(0, 300);
  const json prj = pr.j();
  EXPECT_EQ(prj["session_id"], "life-1");
  EXPECT_EQ(prj["total_frames"], 8);
  EXPECT_GE(prj["processing_time_ms"].get<double>(), 0.0);
  EXPECT_EQ(frames_of(prj["results"]), (std::set<int64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  int visible = 0;
  for (const auto& [k, f] : prj["results"].items())
    for (const auto& o : f["objects"]) {
      EXPECT_EQ(o["id"], 0);
      EXPECT_EQ(o["mask"]["size"], json::array({72, 96}));
      EXPECT_TRUE(o["mask"]["counts"].is_string());
      EXPECT_EQ(o["box"].size(), 4u);
      ++visible;
    }
  std::cout << "[ measured ] point object visible on " << visible << " of 8 frames\n";

  st = d().get(kBase + "/life-1/status").j();
  EXPECT_EQ(st["current_objects"], json::array({0}));
  EXPECT_EQ(st["frames_processed"], 8);

  const json list = d().get("/api/v1/sessions").j();
  ASSERT_EQ(list["total_sessions"], 1);
  EXPECT_EQ(list["sessions"][0]["session_id"], "life-1");
  EXPECT_EQ(list["sessions"][0]["type"], "video");
  EXPECT_EQ(list["sessions"][0]["objects_count"], 1);
  EXPECT_GT(list["sessions"][0]["created_at"].get<double>(), 1.7e9);
  EXPECT_EQ(d().get("/health").j()["active_sessions"], 1);
  EXPECT_NE(d().get("/metrics").body.find("sam3_active_sessions 1"), std::string::npos);

  const HttpReply c = del(kBase + "/life-1");
  ASSERT_EQ(c.status, 200) << c.body;
  EXPECT_EQ(c.j()["status"], "closed");
  EXPECT_GT(c.j()["memory_freed_mb"].get<double>(), 0.0);
  EXPECT_EQ(d().get(kBase + "/life-1/status").status, 404);
  EXPECT_EQ(del(kBase + "/life-1").status, 404);
  EXPECT_EQ(d().get("/health").j()["active_sessions"], 0);
  EXPECT_EQ(d().get("/api/v1/sessions").j()["total_sessions"], 0);
}

TEST_F(DaemonVideo, PropagatesBackwardAndBothWaysFromAJpegFolder) {
  const std::string id = start({{"video_path", "frames"}});  // relative: under the first root
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(point(id, 4, 0.45, 0.28).status, 200);
  HttpReply r = propagate(id, {{"direction", "backward"}, {"start_frame_index", 4}});
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  // The start frame belongs to the forward pass (core::VideoSession semantics).
  EXPECT_EQ(frames_of(r.j()["results"]), (std::set<int64_t>{0, 1, 2, 3}));
  r = propagate(id, {{"direction", "both"}, {"start_frame_index", 4}, {"max_frames", 2}});
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_EQ(frames_of(r.j()["results"]), (std::set<int64_t>{2, 3, 4, 5, 6}));
  EXPECT_EQ(r.j()["total_frames"], 5);
  EXPECT_EQ(propagate(id, {{"direction", "sideways"}}).status, 400);
  EXPECT_EQ(propagate(id, {{"start_frame_index", 99}}).status, 400);
  EXPECT_EQ(propagate(id, {{"stream", true}}).status, 400);  // streaming is a WebSocket
  EXPECT_EQ(del(kBase + "/" + id).status, 200);
}

TEST_F(DaemonVideo, TextPromptDetectsAndTracks) {
  const std::string id = start({{"video_path", fixture().mp4}});
  const HttpReply p =
      d().post(kBase + "/" + id + "/prompts", json{{"frame_index", 0}, {"prompts", {{{"type", "text"}, {"text", "square"}}}}});
  ASSERT_EQ(p.status, 200) << p.body.substr(0, 300);
  const json pj = p.j();
  EXPECT_TRUE(pj["obj_id"].is_null());
  EXPECT_EQ(pj["obj_ids"].size(), pj["masks"].size());
  std::cout << "[ measured ] text prompt found " << pj["masks"].size() << " objects on frame 0\n";
  const HttpReply r = propagate(id, {{"direction", "forward"}, {"max_frames", 3}});
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_EQ(frames_of(r.j()["results"]), (std::set<int64_t>{0, 1, 2, 3}));
  // A text prompt with an obj_id is contradictory.
  EXPECT_EQ(d().post(kBase + "/" + id + "/prompts",
                     json{{"frame_index", 0}, {"obj_id", 1}, {"prompts", {{{"type", "text"}, {"text", "x"}}}}})
                .status,
            400);
  EXPECT_EQ(del(kBase + "/" + id).status, 200);
}

TEST_F(DaemonVideo, RemoveObjectAndResetKeepTheVideo) {
  const std::string id = start({{"video_path", fixture().mp4}});
  ASSERT_EQ(point(id, 0, 0.2, 0.28).j()["obj_id"], 0);
  ASSERT_EQ(point(id, 0, 0.75, 0.68, 7).j()["obj_id"], 7);
  EXPECT_EQ(d().get(kBase + "/" + id + "/status").j()["current_objects"], json::array({0, 7}));

  const HttpReply rm = del(kBase + "/" + id + "/objects/0");
  ASSERT_EQ(rm.status, 200) << rm.body;
  EXPECT_EQ(rm.j(), json({{"session_id", id}, {"obj_id", 0}, {"status", "removed"}}));
  EXPECT_EQ(d().get(kBase + "/" + id + "/status").j()["current_objects"], json::array({7}));
  EXPECT_EQ(del(kBase + "/" + id + "/objects/0").status, 404);
  EXPECT_EQ(del(kBase + "/" + id + "/objects/abc").status, 400);

  const HttpReply rs = d().post(kBase + "/" + id + "/reset", std::string());
  ASSERT_EQ(rs.status, 200) << rs.body;
  EXPECT_EQ(rs.j()["status"], "reset");
  EXPECT_EQ(rs.j()["objects_cleared"], 1);
  const json st = d().get(kBase + "/" + id + "/status").j();
  EXPECT_EQ(st["current_objects"], json::array());
  EXPECT_EQ(st["total_frames"], 8);  // the video stays loaded
  EXPECT_EQ(point(id, 3, 0.4, 0.28).j()["obj_id"], 0);
  EXPECT_EQ(del(kBase + "/" + id).status, 200);
}

TEST_F(DaemonVideo, UnknownSessionsAndBadRequests) {
  const std::string u = kBase + "/no-such-session";
  EXPECT_EQ(d().get(u + "/status").status, 404);
  EXPECT_EQ(point("no-such-session", 0, 0.5, 0.5).status, 404);
  EXPECT_EQ(propagate("no-such-session", json::object()).status, 404);
  EXPECT_EQ(d().post(u + "/reset", std::string()).status, 404);
  EXPECT_EQ(del(u + "/objects/1").status, 404);
  const HttpReply c = del(u);
  EXPECT_EQ(c.status, 404);
  EXPECT_EQ(c.j()["error"]["code"], 404);

  EXPECT_EQ(d().post(kBase + "/start", json::object()).status, 400);  // no source
  EXPECT_EQ(d().post(kBase + "/start", json{{"video_path", "squares.mp4"}, {"video_url", "https://a/b"}}).status, 400);
  EXPECT_EQ(d().post(kBase + "/start", json{{"video_path", "squares.mp4"}, {"session_id", "a/b"}}).status, 400);
  EXPECT_EQ(d().post(kBase + "/start", std::string("{not json")).status, 400);
  EXPECT_EQ(d().post(kBase + "/start", json{{"video_path", "missing.mp4"}}).status, 404);
  EXPECT_EQ(d().post(kBase + "/start", json{{"video_base64", "%%%"}}).status, 400);
  // gpu_ids must name GPUs whose replicas host sessions (this daemon: the CPU).
  EXPECT_EQ(d().post(kBase + "/start", json{{"video_path", "squares.mp4"}, {"gpu_ids", "0"}}).status, 400);
  EXPECT_EQ(d().post(kBase + "/start", json{{"video_path", "squares.mp4"}, {"gpu_ids", {-1}}}).status, 400);
  const HttpReply gpu = d().post(kBase + "/start", json{{"video_path", "squares.mp4"}, {"gpu_ids", {0}}});
  EXPECT_EQ(gpu.status, 400);
  EXPECT_NE(gpu.body.find("video devices: cpu"), std::string::npos) << gpu.body;

  const std::string id = start({{"video_path", "squares.mp4"}});
  EXPECT_EQ(point(id, 8, 0.5, 0.5).status, 400);  // frame out of range
  EXPECT_EQ(d().post(kBase + "/" + id + "/prompts", json{{"frame_index", 0}, {"prompts", json::array()}}).status, 400);
  EXPECT_EQ(propagate(id, json::object()).status, 400);  // nothing prompted yet
  EXPECT_EQ(del(kBase + "/" + id).status, 200);
  EXPECT_EQ(d().get("/health").j()["status"], "ready");
}

TEST_F(DaemonVideo, VideoPathOutsideTheRootsIsForbidden) {
  for (const std::string& p : {std::string("../outside.mp4"), fixture().root + "/../outside.mp4",
                              std::string("/etc/passwd"), std::string("escape.mp4"), std::string("frames/../../model")}) {
    const HttpReply r = d().post(kBase + "/start", json{{"video_path", p}});
    EXPECT_EQ(r.status, 403) << p << ": " << r.body;
    EXPECT_EQ(r.j()["error"]["type"], "forbidden") << p;
  }
  EXPECT_EQ(d().get("/health").j()["active_sessions"], 0);
}

TEST_F(DaemonVideo, VideoUrlPolicy) {
  for (const char* u : {"http://videos.example.com/a.mp4", "https://127.0.0.1/a.mp4", "https://169.254.169.254/",
                              "https://evil.example.org/a.mp4", "file:///etc/passwd", "https://localhost:8080/x",
                              "https://videos.example.com.evil.org/a.mp4"}) {
    const HttpReply r = d().post(kBase + "/start", json{{"video_url", u}});
    EXPECT_EQ(r.status, 403) << u << ": " << r.body;
  }
  for (const char* u : {"videos.example.com/a.mp4", "https://user@videos.example.com/a.mp4", "https:///a"})
    EXPECT_EQ(d().post(kBase + "/start", json{{"video_url", u}}).status, 400) << u;
  // URLs the policy allows are fetched; VideoUrlFetchesFromAnAllowedHost
  // covers that against a loopback server (no other host is ever contacted).
}

TEST_F(DaemonVideo, VideoUrlFetchesFromAnAllowedHost) {
  std::string big(size_t{1} << 20, '\0');  // one byte over a 1 MB MAX_UPLOAD_SIZE_MB
  big.push_back('\0');
  test::TinyHttpServer server({{"/v.mp4", file_bytes(fixture().mp4)}, {"/big.mp4", big}});
  ASSERT_NE(server.port(), 0);
  daemon::DaemonOptions o = video_options();
  o.sessions.url_schemes = {"http"};
  o.sessions.url_hosts = {"127.0.0.1"};
  o.limits.max_upload_mb = 1;
  auto u = start_daemon(o);

  const std::string id = start({{"video_url", server.url("/v.mp4")}}, *u);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(files_in(fixture().uploads), 1u);  // the download, private to its session
  EXPECT_EQ(u->get(kBase + "/" + id + "/status").j()["total_frames"], 8);
  ASSERT_EQ(point(id, 0, 0.2, 0.28, nullptr, *u).status, 200);
  EXPECT_EQ(del(kBase + "/" + id, *u).status, 200);
  EXPECT_EQ(files_in(fixture().uploads), 0u);

  // The remote side failing is a gateway error; nothing is left behind.
  const HttpReply missing = u->post(kBase + "/start", json{{"video_url", server.url("/missing.mp4")}});
  EXPECT_EQ(missing.status, 502) << missing.body;
  EXPECT_NE(missing.j()["error"]["message"].get<std::string>().find("404"), std::string::npos) << missing.body;
  EXPECT_EQ(u->post(kBase + "/start", json{{"video_url", server.url("/redirect")}}).status, 502);
  const HttpReply big_reply = u->post(kBase + "/start", json{{"video_url", server.url("/big.mp4")}});
  EXPECT_EQ(big_reply.status, 413) << big_reply.body;
  // Fetched but not a video: the decoder's answer, and the download is removed.
  test::TinyHttpServer junk(std::map<std::string, std::string>{{"/v.mp4", "not a video at all"}});
  EXPECT_EQ(u->post(kBase + "/start", json{{"video_url", junk.url("/v.mp4")}}).status / 100, 4);
  EXPECT_EQ(files_in(fixture().uploads), 0u);

  // The policy still applies first: other schemes and hosts are refused unfetched.
  for (const std::string& bad : {"https://127.0.0.1:" + std::to_string(server.port()) + "/v.mp4",
                                 "http://localhost:" + std::to_string(server.port()) + "/v.mp4",
                                 std::string("http://127.0.0.2/v.mp4")})
    EXPECT_EQ(u->post(kBase + "/start", json{{"video_url", bad}}).status, 403) << bad;
  EXPECT_EQ(u->get("/health").j()["active_sessions"], 0);
}

TEST_F(DaemonVideo, Base64UploadIsRemovedWithItsSession) {
  const std::string id = start({{"video_base64", formats::base64_encode(file_bytes(fixture().mp4))}});
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(files_in(fixture().uploads), 1u);
  EXPECT_EQ(d().get(kBase + "/" + id + "/status").j()["total_frames"], 8);
  EXPECT_EQ(del(kBase + "/" + id).status, 200);
  EXPECT_EQ(files_in(fixture().uploads), 0u);
  // Not a video: the upload is removed at once.
  EXPECT_GE(d().post(kBase + "/start", json{{"video_base64", formats::base64_encode("not a video at all")}}).status, 400);
  EXPECT_EQ(files_in(fixture().uploads), 0u);
}

TEST_F(DaemonVideo, TwoSessionsAreIsolated) {
  const std::string a = start({{"video_path", "squares.mp4"}});
  const std::string b = start({{"video_path", "squares.mp4"}});
  ASSERT_NE(a, b);
  ASSERT_EQ(point(a, 0, 0.2, 0.28).status, 200);
  EXPECT_EQ(d().get(kBase + "/" + b + "/status").j()["current_objects"], json::array());
  EXPECT_EQ(propagate(b, json::object()).status, 400);  // b has no prompt
  EXPECT_EQ(propagate(a, json{{"max_frames", 1}}).status, 200);
  EXPECT_EQ(d().get(kBase + "/" + b + "/status").j()["frames_processed"], 0);
  EXPECT_EQ(del(kBase + "/" + a).status, 200);
  EXPECT_EQ(d().get(kBase + "/" + b + "/status").status, 200);
  EXPECT_EQ(del(kBase + "/" + b).status, 200);
}

TEST_F(DaemonVideo, ApiKeysOwnTheirSessions) {
  auto o = video_options();
  o.serve.require_api_key = true;
  o.serve.api_keys = {"key-one", "key-two"};
  auto k = start_daemon(o);
  const HttpReply s = k->post(kBase + "/start", json{{"video_path", "squares.mp4"}}, {"X-API-Key: key-one"});
  ASSERT_EQ(s.status, 200) << s.body;
  const std::string id = s.j()["session_id"];
  EXPECT_EQ(k->get(kBase + "/" + id + "/status", {"X-API-Key: key-one"}).status, 200);
  EXPECT_EQ(k->get(kBase + "/" + id + "/status", {"X-API-Key: key-two"}).status, 404);
  EXPECT_EQ(k->get(kBase + "/" + id + "/status").status, 401);
  EXPECT_EQ(http(k->port(), "DELETE", kBase + "/" + id, "", {"X-API-Key: key-two"}).status, 404);
  EXPECT_EQ(k->get("/api/v1/sessions", {"X-API-Key: key-two"}).j()["total_sessions"], 0);
  EXPECT_EQ(k->get("/api/v1/sessions", {"X-API-Key: key-one"}).j()["total_sessions"], 1);
  WsClient ws(k->port(), kBase + "/" + id + "/propagate", {"X-API-Key: key-two"});
  EXPECT_EQ(ws.status, 404);
  WsClient anon(k->port(), kBase + "/" + id + "/propagate");
  EXPECT_EQ(anon.status, 401);
  EXPECT_EQ(http(k->port(), "DELETE", kBase + "/" + id, "", {"X-API-Key: key-one"}).status, 200);
}

TEST_F(DaemonVideo, SessionCapAnswers429AndLiveSessionsKeepWorking) {
  auto o = video_options();
  o.sessions.max_concurrent_sessions = 2;
  auto c = start_daemon(o);
  const std::string a = start({{"video_path", "squares.mp4"}}, *c);
  const std::string b = start({{"video_path", "frames"}}, *c);
  const HttpReply full = c->post(kBase + "/start", json{{"video_path", "squares.mp4"}});
  EXPECT_EQ(full.status, 429) << full.body;
  EXPECT_FALSE(full.header("retry-after").empty());
  EXPECT_EQ(full.j()["error"]["code"], 429);
  EXPECT_EQ(point(a, 0, 0.2, 0.28, nullptr, *c).status, 200);
  EXPECT_EQ(propagate(a, json{{"max_frames", 2}}, *c).status, 200);
  EXPECT_EQ(c->get(kBase + "/" + b + "/status").status, 200);
  EXPECT_EQ(c->get("/health").j()["active_sessions"], 2);
  EXPECT_EQ(del(kBase + "/" + b, *c).status, 200);
  const std::string again = start({{"video_path", "squares.mp4"}}, *c);  // room again
  EXPECT_FALSE(again.empty());
}

TEST_F(DaemonVideo, IdleSessionsExpireAndAreFreed) {
  auto o = video_options();
  o.sessions.timeout_seconds = 1;
  o.sessions.cleanup_interval_seconds = 1;
  auto e = start_daemon(o);
  const std::string id = start({{"video_base64", formats::base64_encode(file_bytes(fixture().mp4))}}, *e);
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(files_in(fixture().uploads), 1u);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (e->get("/health").j()["active_sessions"] != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(e->get("/health").j()["active_sessions"], 0);
  EXPECT_EQ(e->get(kBase + "/" + id + "/status").status, 404);
  EXPECT_EQ(files_in(fixture().uploads), 0u);
}

TEST_F(DaemonVideo, WebSocketStreamsFramesInOrderThenCompletes) {
  const std::string id = start({{"video_path", "squares.mp4"}});
  ASSERT_EQ(point(id, 4, 0.45, 0.28).status, 200);
  WsClient ws(d().port(), kBase + "/" + id + "/propagate");
  ASSERT_EQ(ws.status, 101) << ws.body;
  ws.send_text(json{{"direction", "both"}, {"start_frame_index", 4}, {"max_frames", 2}}.dump());
  std::vector<int64_t> order;
  json done;
  while (auto m = ws.recv_text()) {
    const json j = json::parse(*m);
    if (j["type"] == "frame") {
      EXPECT_EQ(j["session_id"], id);
      for (const auto& o : j["objects"]) EXPECT_EQ(o["mask"]["size"], json::array({72, 96}));
      order.push_back(j["frame_index"].get<int64_t>());
    } else {
      done = j;
      break;
    }
  }
  EXPECT_EQ(order, (std::vector<int64_t>{4, 5, 6, 3, 2}));
  EXPECT_EQ(done["type"], "complete") << done.dump();
  EXPECT_EQ(done["total_frames"], 5);

  // The connection takes further requests; a bad one is answered, not fatal.
  ws.send_text(R"({"direction": "up"})");
  auto m = ws.recv_text();
  ASSERT_TRUE(m);
  EXPECT_EQ(json::parse(*m)["type"], "error");
  EXPECT_EQ(json::parse(*m)["error"]["code"], 400);
  ws.send_text(json{{"direction", "forward"}}.dump());
  int frames = 0;
  while (auto f = ws.recv_text())
    if (json::parse(*f)["type"] == "frame") ++frames;
    else break;
  EXPECT_EQ(frames, 4);  // frames 4..7

  WsClient missing(d().port(), kBase + "/nope/propagate");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body)["error"]["code"], 404);
  EXPECT_EQ(del(kBase + "/" + id).status, 200);
}

TEST_F(DaemonVideo, MalformedWebSocketFramesDoNotHurtTheDaemon) {
  const std::string id = start({{"video_path", "squares.mp4"}});
  {
    WsClient ws(d().port(), kBase + "/" + id + "/propagate");
    ASSERT_EQ(ws.status, 101);
    ws.send_frame(0x2, "binary");  // not a text request: error, then closed
    auto m = ws.recv_text();
    ASSERT_TRUE(m);
    EXPECT_EQ(json::parse(*m)["type"], "error");
    EXPECT_FALSE(ws.recv_text());
  }
  {
    WsClient ws(d().port(), kBase + "/" + id + "/propagate");
    ASSERT_EQ(ws.status, 101);
    ws.send_frame(0x0, "stray continuation");
    ws.send_raw(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\x01garbage", 19));
  }
  {
    WsClient ws(d().port(), kBase + "/" + id + "/propagate");
    ASSERT_EQ(ws.status, 101);
    ws.send_frame(0x1, "{\"direc", false);  // fragmented text
    ws.send_frame(0x0, "tion\": \"forward\", \"max_frames\": 0}");
    auto m = ws.recv_text();
    ASSERT_TRUE(m);
    EXPECT_EQ(json::parse(*m)["type"], "error");  // no prompt yet: 400
    ws.send_raw(std::string("\x81\x7f\x7f\xff\xff\xff\xff\xff\xff\xff", 10));  // absurd length
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(d().get("/health").status, 200);
  EXPECT_EQ(d().get(kBase + "/" + id + "/status").status, 200);
  EXPECT_EQ(del(kBase + "/" + id).status, 200);
}

TEST_F(DaemonVideo, StopsPromptlyWithAnIdleWebSocketOpen) {
  auto s = start_daemon(video_options());
  const std::string id = start({{"video_path", "squares.mp4"}}, *s);
  WsClient ws(s->port(), kBase + "/" + id + "/propagate");
  ASSERT_EQ(ws.status, 101);
  const auto t0 = std::chrono::steady_clock::now();
  s.reset();  // drains and stops with the connection still open
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[ measured ] stop with an open WebSocket took " << secs << " s\n";
  EXPECT_LT(secs, 10.0);
  EXPECT_FALSE(ws.recv_text());  // closed by the server
}

TEST_F(DaemonVideo, OpenApiListsTheVideoRoutes) {
  const json doc = d().get("/openapi.json").j();
  for (const char* p : {"/api/v1/video/sessions/start", "/api/v1/video/sessions/{id}/prompts",
                        "/api/v1/video/sessions/{id}/propagate", "/api/v1/video/sessions/{id}/objects/{obj_id}",
                        "/api/v1/video/sessions/{id}/reset", "/api/v1/video/sessions/{id}",
                        "/api/v1/video/sessions/{id}/status"})
    EXPECT_TRUE(doc["paths"].contains(p)) << p;
}

TEST_F(DaemonVideo, ModelInfoReportsTheTracker) {
  const json m = d().get("/models/info").j()["models"];
  EXPECT_EQ(m["video"]["loaded"], true);
  EXPECT_FALSE(m["video"]["capabilities"].empty());
  EXPECT_EQ(m["image"]["interactive"], true);
}

}  // namespace
}  // namespace sam3::test
