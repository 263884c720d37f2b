// SPDX-License-Identifier: Apache-2.0
// The REST daemon without a model: lifecycle states, every route, auth, rate
// limits, CORS, metrics, the OpenAPI document, and `sam3 serve` as a process
// (port 0, SIGTERM drain, second signal). Inference is in daemon_inference_test.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include <future>
#include <regex>
#include <thread>

#include "daemon_client.h"
#include "test_util.h"

namespace sam3::test {
namespace {

TEST(Daemon, HealthAndReadyWithoutModel) {
  LocalDaemon d;
  const HttpReply h = d.get("/health");
  ASSERT_EQ(h.status, 200);
  const json j = h.j();
  EXPECT_EQ(j["status"], "no_model");
  for (const char* k : {"timestamp", "uptime_seconds", "gpu_available", "gpu_count", "active_sessions"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(h.header("content-type"), "application/json");
  const HttpReply r = d.get("/ready");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.j()["status"], "no_model");
  // Model routes: 503 with a JSON error once the input itself is valid.
  const json body = {{"image", formats::base64_encode(tiny_png())}, {"prompts", {{{"type", "text"}, {"text", "cat"}}}}};
  const HttpReply s = d.post("/api/v1/image/segment", body);
  EXPECT_EQ(s.status, 503);
  EXPECT_EQ(s.j()["error"]["type"], "model_missing");
  EXPECT_EQ(s.j()["error"]["code"], 503);
  EXPECT_FALSE(s.header("retry-after").empty());
}

TEST(Daemon, AnswersWhileLoadingThenReportsLoadFailure) {
  std::promise<void> release;
  std::shared_future<void> go = release.get_future().share();
  LocalDaemon d({}, [go]() -> core::ModelReplicas {
    go.wait();
    throw ModelMissing("checkpoint '/nowhere/sam3.pt' does not exist");
  });
  // HTTP is up before the model: /health answers at once.
  EXPECT_EQ(d.get("/health").j()["status"], "loading");
  const HttpReply ready = d.get("/ready");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.header("retry-after"), "1");
  const json body = {{"image", formats::base64_encode(tiny_png())}, {"text_prompts", {"cat"}}};
  const HttpReply busy = d.post("/api/v1/image/cached-features", body);
  EXPECT_EQ(busy.status, 503);
  EXPECT_EQ(busy.j()["error"]["type"], "overloaded");
  EXPECT_FALSE(busy.header("retry-after").empty());
  release.set_value();
  ASSERT_TRUE(d.server().wait_until_loaded(std::chrono::seconds(10)));
  const json h = d.get("/health").j();
  EXPECT_EQ(h["status"], "no_model");
  EXPECT_NE(h["error"].get<std::string>().find("/nowhere/sam3.pt"), std::string::npos);
  const HttpReply after = d.post("/api/v1/image/cached-features", body);
  EXPECT_EQ(after.status, 503);
  EXPECT_EQ(after.j()["error"]["type"], "model_missing");
  EXPECT_EQ(d.get("/models/info").j()["models"]["image"]["loaded"], false);
}

TEST(Daemon, EveryRouteAnswersJsonAndOpenApiMatchesTheTable) {
  LocalDaemon d;
  const HttpReply doc = d.get("/openapi.json");
  ASSERT_EQ(doc.status, 200);
  const json api = doc.j();
  ASSERT_TRUE(api.is_object());
  EXPECT_EQ(api["openapi"], "3.0.3");
  size_t operations = 0;
  for (const auto& [path, ops] : api["paths"].items()) operations += ops.size();
  EXPECT_EQ(operations, d.server().router().routes().size());
  for (const auto& r : d.server().router().routes()) {
    std::string lower = r.method;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_TRUE(api["paths"].contains(r.pattern) && api["paths"][r.pattern].contains(lower)) << r.pattern;
    // Exercise the route itself: whatever the status, it is the route's
    // answer (never the router's 404/405) and never a 500.
    std::string path = std::regex_replace(r.pattern, std::regex("\\{[a-z_]+\\}"), "0123456789abcdef0123456789abcdef");
    const HttpReply rep = r.method == "GET"      ? d.get(path)
                          : r.method == "DELETE" ? http(d.port(), "DELETE", path)
                                                 : d.post(path, std::string("{}"));
    EXPECT_TRUE(rep.status < 500 || rep.status == 503) << r.method << " " << path << ": " << rep.body;
    if (r.pattern != "/ready") {
      EXPECT_TRUE(rep.status < 400 || rep.j()["error"].is_object()) << path << ": " << rep.body;
    }
    EXPECT_NE(rep.status, 405) << path;
    if (rep.status == 404) {
      const std::string m = rep.j()["error"]["message"].get<std::string>();
      EXPECT_TRUE(m.find("visualization") != std::string::npos || m.find("video session") != std::string::npos) << m;
    }
  }
  for (const char* p : {"/health", "/ready", "/metrics", "/models/info", "/api/v1/sessions", "/openapi.json",
                        "/api/v1/image/segment", "/api/v1/image/batch", "/api/v1/image/cached-features",
                        "/api/v1/images/viz/{id}.png"})
    EXPECT_TRUE(api["paths"].contains(p)) << p;
  // Video endpoints are served (tests/e2e/daemon_video_test.cpp covers them):
  // without a source the request is invalid, without a model it is 503.
  const HttpReply v = d.post("/api/v1/video/sessions/start", std::string("{}"));
  EXPECT_EQ(v.status, 400);
  EXPECT_EQ(v.j()["error"]["type"], "invalid_input");
  EXPECT_EQ(d.post("/api/v1/video/sessions/start", std::string(R"({"video_base64": "AAAA"})")).status, 503);
  EXPECT_TRUE(api["paths"].contains("/api/v1/video/sessions/start"));
}

TEST(Daemon, SessionsAndModelInfo) {
  LocalDaemon d;
  const json s = d.get("/api/v1/sessions").j();
  EXPECT_EQ(s["total_sessions"], 0);
  EXPECT_TRUE(s["sessions"].is_array());
  const json m = d.get("/models/info").j();
  EXPECT_EQ(m["sam3_version"], SAM3_VERSION);
  EXPECT_TRUE(m["models"].contains("image"));
  EXPECT_TRUE(m["models"].contains("video"));
}

TEST(Daemon, ApiKeysByHeaderOrBearer) {
  daemon::DaemonOptions o;
  o.serve.require_api_key = true;
  o.serve.api_keys = {"k-one", "k-two"};
  LocalDaemon d(o);
  EXPECT_EQ(d.get("/health").status, 200);  // operations routes stay open
  const HttpReply none = d.get("/api/v1/sessions");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.j()["error"]["type"], "unauthorized");
  EXPECT_EQ(d.get("/api/v1/sessions", {"X-API-Key: k-on"}).status, 401);
  EXPECT_EQ(d.get("/api/v1/sessions", {"X-API-Key: k-one-"}).status, 401);
  EXPECT_EQ(d.get("/api/v1/sessions", {"Authorization: Basic k-one"}).status, 401);
  EXPECT_EQ(d.get("/api/v1/sessions", {"X-API-Key: k-one"}).status, 200);
  EXPECT_EQ(d.get("/api/v1/sessions", {"Authorization: Bearer k-two"}).status, 200);
  EXPECT_EQ(d.post("/api/v1/image/segment", std::string("{}"), {"X-API-Key: bad"}).status, 401);
}

TEST(Daemon, RateLimitPerKeyWithRetryAfter) {
  daemon::DaemonOptions o;
  o.serve.rate_limit_enabled = true;
  o.serve.rate_limit_requests_per_minute = 3;
  o.serve.require_api_key = true;
  o.serve.api_keys = {"a", "b"};
  LocalDaemon d(o);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(d.get("/api/v1/sessions", {"X-API-Key: a"}).status, 200);
  const HttpReply limited = d.get("/api/v1/sessions", {"X-API-Key: a"});
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.j()["error"]["type"], "rate_limited");
  EXPECT_GE(std::stoi(limited.header("retry-after")), 1);
  EXPECT_EQ(d.get("/api/v1/sessions", {"X-API-Key: b"}).status, 200);  // per key
  EXPECT_EQ(d.get("/health").status, 200);  // probes are not limited
}

TEST(Daemon, CorsOffByDefaultAndOnlyForConfiguredOrigins) {
  {
    LocalDaemon d;
    EXPECT_TRUE(d.get("/health", {"Origin: https://evil.example"}).header("access-control-allow-origin").empty());
  }
  daemon::DaemonOptions o;
  o.serve.cors_origins = {"https://app.example"};
  LocalDaemon d(o);
  // Without configured origins a preflight is not answered with permissions.
  {
    LocalDaemon plain;
    const HttpReply p = http(plain.port(), "OPTIONS", "/api/v1/image/segment", "",
                             {"Origin: https://evil.example", "Access-Control-Request-Method: POST"});
    EXPECT_EQ(p.status, 405);
    EXPECT_TRUE(p.header("access-control-allow-origin").empty());
  }
  EXPECT_EQ(d.get("/health", {"Origin: https://app.example"}).header("access-control-allow-origin"),
            "https://app.example");
  EXPECT_TRUE(d.get("/health", {"Origin: https://evil.example"}).header("access-control-allow-origin").empty());
  const HttpReply pre = http(d.port(), "OPTIONS", "/api/v1/image/segment", "",
                             {"Origin: https://app.example", "Access-Control-Request-Method: POST"});
  EXPECT_EQ(pre.status, 204);
  EXPECT_NE(pre.header("access-control-allow-methods").find("POST"), std::string::npos);
}

TEST(Daemon, RequestIdsAreEchoedOrGenerated) {
  LocalDaemon d;
  EXPECT_EQ(d.get("/health", {"X-Request-Id: abc-123"}).header("x-request-id"), "abc-123");
  const std::string generated = d.get("/health", {"X-Request-Id: has spaces;and=junk"}).header("x-request-id");
  EXPECT_EQ(generated.size(), 16u);
  const HttpReply e = d.get("/nope", {"X-Request-Id: trace-7"});
  EXPECT_EQ(e.j()["error"]["request_id"], "trace-7");
}

TEST(Daemon, MetricsInPrometheusFormat) {
  LocalDaemon d;
  d.get("/health");
  d.get("/health");
  d.get("/does-not-exist");
  d.post("/api/v1/image/segment", std::string("{bad"));
  const HttpReply m = d.get("/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.header("content-type").find("text/plain"), std::string::npos);
  EXPECT_NE(m.body.find("sam3_requests_total{endpoint=\"/health\",status=\"200\"} 2"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("sam3_requests_total{endpoint=\"unmatched\",status=\"404\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("sam3_requests_total{endpoint=\"/api/v1/image/segment\",status=\"400\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("sam3_errors_total{type=\"invalid_input\"} 1"), std::string::npos);
  for (const char* name : {"sam3_inference_duration_seconds", "sam3_feature_cache_hits_total",
                           "sam3_feature_cache_misses_total", "sam3_active_sessions", "sam3_queue_depth",
                           "sam3_gpu_memory_used_bytes"})
    EXPECT_NE(m.body.find(std::string("# TYPE ") + name), std::string::npos) << name;
  // Raw paths never become labels.
  EXPECT_EQ(m.body.find("does-not-exist"), std::string::npos);
  daemon::DaemonOptions off;
  off.serve.enable_metrics = false;
  LocalDaemon d2(off);
  EXPECT_EQ(d2.get("/metrics").status, 404);
}

TEST(Daemon, ConcurrentClientsGetTheirOwnAnswers) {
  LocalDaemon d;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        // Each request carries a distinct bad field; its error must name it.
        const std::string field = "p" + std::to_string(t * 100 + i);
        const json body = {{"image", formats::base64_encode(tiny_png())},
                           {"prompts", {{{"type", field}}}}};
        const HttpReply r = d.post("/api/v1/image/segment", body, {"X-Request-Id: " + id});
        const json j = r.j();
        if (r.status != 400 || r.header("x-request-id") != id || j["error"]["request_id"] != id ||
            j["error"]["message"].get<std::string>().find("\"" + field + "\"") == std::string::npos)
          ++wrong;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(d.get("/health").status, 200);
}

// ---- `sam3 serve` as a process ----------------------------------------------

struct Child {
  pid_t pid = -1;
  int out_fd = -1;
};

Child spawn_serve(const std::vector<std::string>& extra) {
  int pipefd[2];
  EXPECT_EQ(::pipe(pipefd), 0);
  Child c;
  c.pid = ::fork();
  if (c.pid == 0) {
    ::dup2(pipefd[1], 1);
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);
    ::close(pipefd[0]);
    std::vector<std::string> args = {SAM3_BINARY, "serve", "--port", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipefd[1]);
  c.out_fd = pipefd[0];
  return c;
}

// Reads the {"event":"listening",...} line the daemon prints on stdout.
int read_port(const Child& c) {
  std::string line;
  char ch;
  while (::read(c.out_fd, &ch, 1) == 1 && ch != '\n') line += ch;
  const json j = json::parse(line, nullptr, false);
  return j.is_object() && j.contains("port") ? j["port"].get<int>() : 0;
}

int wait_exit(pid_t pid) {
  int status = 0;
  for (int i = 0; i < 600; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return -1;
}

TEST(DaemonProcess, PortZeroHealthThenSigtermExitsZero) {
  Child c = spawn_serve({});
  const int port = read_port(c);
  ASSERT_GT(port, 0);
  const HttpReply h = http(port, "GET", "/health");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.j()["status"], "no_model");
  ::kill(c.pid, SIGTERM);
  EXPECT_EQ(wait_exit(c.pid), 0);
  ::close(c.out_fd);
}

TEST(DaemonProcess, SecondSignalExitsAtOnce) {
  SAM3_REQUIRE_GOLDEN();
  // While the model loads, the first SIGINT starts a drain that must wait for
  // the load; the second one exits immediately with 130.
  const std::string g = golden_dir();
  Child c = spawn_serve({"--model", g + "/image_tiny", "--bpe", g + "/bpe_simple_vocab_16e6.txt.gz"});
  ASSERT_GT(read_port(c), 0);
  ::kill(c.pid, SIGINT);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(c.pid, SIGINT);
  EXPECT_EQ(wait_exit(c.pid), 130);
  ::close(c.out_fd);
}

TEST(DaemonProcess, BindFailureIsAnError) {
  LocalDaemon d;  // holds a port
  const CommandResult r = run_sam3("serve --port " + std::to_string(d.port()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("cannot listen"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sam3::test
