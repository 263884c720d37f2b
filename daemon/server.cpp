// SPDX-License-Identifier: Apache-2.0
#include "daemon/server.h"

#include <civetweb.h>
#include <dlfcn.h>
#include <netdb.h>
#include <sys/socket.h>
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <mutex>

#include "core/error_codes.h"
#include "core/log.h"
#include "daemon/thread_stack.h"
#include "daemon/video_handlers.h"
#include "daemon/websocket.h"

// See daemon/thread_stack.h: defined in the executable, this wins over libc's
// for civetweb's calls and raises its 100 KiB worker stacks.
extern "C" int pthread_attr_setstacksize(pthread_attr_t* attr, size_t size) {
  using Fn = int (*)(pthread_attr_t*, size_t);
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "pthread_attr_setstacksize"));
  if (!real) return EINVAL;
  return real(attr, std::max(size, sam3::daemon::kMinThreadStackBytes));
}

namespace sam3::daemon {
namespace {

using Clock = std::chrono::steady_clock;

std::atomic<int> g_signals{0};

extern "C" void on_signal(int) {
  // Async-signal-safe: an atomic and _exit only.
  if (g_signals.fetch_add(1) >= 1) _exit(static_cast<int>(ExitCode::interrupted));
}

// civetweb's own messages (bind failures, socket errors) go through our log;
// the last one explains a failed mg_start.
std::mutex g_civet_mu;
std::string g_civet_last;

int on_civet_log(const mg_connection*, const char* message) {
  {
    std::lock_guard<std::mutex> lk(g_civet_mu);
    g_civet_last = message ? message : "";
  }
  SAM3_LOG_WRN("civetweb: " << (message ? message : ""));
  return 1;  // handled: civetweb writes nothing itself
}

std::string listen_spec(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// Opens and closes a TCP connection to host:port (best effort).
void wake_listener(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const std::string h = host.empty() || host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host;
  if (getaddrinfo(h.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res) return;
  const int fd = ::socket(res->ai_family, SOCK_STREAM, 0);
  if (fd >= 0) {
    ::connect(fd, res->ai_addr, res->ai_addrlen);
    ::close(fd);
  }
  freeaddrinfo(res);
}

// Counts a request as in flight for the drain.
struct InFlight {
  explicit InFlight(std::atomic<int64_t>& n) : n_(n) { ++n_; }
  ~InFlight() { --n_; }
  std::atomic<int64_t>& n_;
};

void write_response(mg_connection* conn, const Response& r, bool head) {
  mg_response_header_start(conn, r.status);
  mg_response_header_add(conn, "Content-Type", r.content_type.c_str(), -1);
  mg_response_header_add(conn, "Content-Length", std::to_string(r.body.size()).c_str(), -1);
  mg_response_header_add(conn, "Cache-Control", "no-store", -1);
  for (const auto& [k, v] : r.headers) mg_response_header_add(conn, k.c_str(), v.c_str(), -1);
  mg_response_header_send(conn);
  if (!head && !r.body.empty()) mg_write(conn, r.body.data(), r.body.size());
}

}  // namespace

Server::Server(DaemonOptions options, ModelLoader loader)
    : ctx_(std::move(options)),
      loader_(std::move(loader)),
      auth_(ctx_.options().serve.require_api_key, ctx_.options().serve.api_keys),
      limiter_(ctx_.options().serve.rate_limit_enabled, ctx_.options().serve.rate_limit_requests_per_minute) {
  add_info_routes(router_, ctx_);
  add_image_routes(router_, ctx_);
  video_ = std::make_unique<VideoService>(ctx_);
  add_video_routes(router_, *video_);
  ctx_.set_session_lister([v = video_.get()](const std::string& client) { return v->list(client); });
  ctx_.set_state(loader_ ? ServerState::loading : ServerState::no_model);
}

Server::~Server() { stop(std::chrono::seconds(5)); }

int Server::start() {
  const auto& so = ctx_.options().serve;
  if (so.require_api_key && so.api_keys.empty())
    SAM3_LOG_WRN("REQUIRE_API_KEY is set but API_KEYS is empty: every authenticated route will answer 401");
  std::error_code ec;
  std::filesystem::create_directories(so.output_dir, ec);
  if (ec) SAM3_LOG_WRN("cannot create OUTPUT_DIR '" << so.output_dir << "': " << ec.message());

  std::string ports = listen_spec(so.host, so.port);
  const bool separate_metrics = so.enable_metrics && so.metrics_port != 0;
  if (separate_metrics) ports += "," + listen_spec(so.host, so.metrics_port);
  const std::string threads = std::to_string(std::max(1, so.workers));
  const char* options[] = {"listening_ports", ports.c_str(),
                           "num_threads", threads.c_str(),
                           "enable_keep_alive", "yes",
                           "keep_alive_timeout_ms", "5000",
                           "request_timeout_ms", "60000",
                           "enable_auth_domain_check", "no",
                           // Headers and body are separate writes: without
                           // TCP_NODELAY, Nagle + delayed ACK add 40 ms per
                           // keep-alive request.
                           "tcp_nodelay", "1",
                           // civetweb answers CORS preflights itself with "*" by
                           // default; CORS is ours, and off unless configured.
                           "access_control_allow_origin", "",
                           "access_control_allow_methods", "",
                           nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = on_civet_log;
  mg_ = mg_start(&callbacks, this, options);
  if (!mg_) {
    std::lock_guard<std::mutex> lk(g_civet_mu);
    throw sam3::Error("cannot listen on " + ports + (g_civet_last.empty() ? "" : ": " + g_civet_last));
  }
  mg_set_request_handler(mg_, "**", &Server::on_request, this);
  // WebSocket upgrades pass the same admission as authenticated routes.
  websocket_ = install_video_websocket(mg_, *video_, [this](Request& req) {
    if (ctx_.state() == ServerState::draining) throw Overloaded("the server is shutting down");
    const std::string key = auth_.check(req);
    const std::string client = key.empty() ? "addr:" + req.remote_addr : "key:" + key;
    limiter_.check(client);
    return client;
  });
  mg_server_port bound[2] = {};
  const int n = mg_get_server_ports(mg_, 2, bound);
  port_ = n >= 1 ? bound[0].port : so.port;
  metrics_port_ = separate_metrics && n >= 2 ? bound[1].port : 0;
  SAM3_LOG_INF("listening on " << listen_spec(so.host, port_)
                               << (metrics_port_ ? ", metrics on port " + std::to_string(metrics_port_) : ""));

  if (loader_) {
    loader_thread_ = std::thread([this] {
      try {
        ctx_.set_models(loader_());
        ctx_.transition(ServerState::loading, ServerState::ready);  // not over "draining"
        std::string devices;
        for (const auto& d : ctx_.image_devices()) devices += (devices.empty() ? "" : ",") + d;
        SAM3_LOG_INF("model ready: " << ctx_.model_info().checkpoint << " on " << devices);
      } catch (const std::exception& e) {
        SAM3_LOG_ERR("model failed to load: " << describe_exception(e));
        ctx_.set_load_error(describe_exception(e));
        load_exit_code_ = static_cast<int>(exit_code_for(e));
        ctx_.transition(ServerState::loading, ServerState::no_model);
        load_failed_ = true;
      }
    });
  }
  return port_;
}

bool Server::wait_until_loaded(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (ctx_.state() == ServerState::loading) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

void Server::stop(std::chrono::milliseconds drain_timeout) {
  if (stopped_) return;
  stopped_ = true;
  if (mg_) {
    ctx_.set_state(ServerState::draining);
    const auto deadline = Clock::now() + drain_timeout;
    while (ctx_.in_flight().load() > 0 && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (ctx_.in_flight().load() > 0)
      SAM3_LOG_WRN("drain timed out with " << ctx_.in_flight().load() << " requests in flight");
  }
  if (loader_thread_.joinable()) loader_thread_.join();  // a load cannot be interrupted
  ctx_.stop_queue();  // cancels waiting work: its requests answer 503
  if (mg_) {
    // mg_stop joins civetweb's listener, which only sees the stop flag when
    // its poll() returns (every 2 s in 1.15); connecting to our own port
    // wakes it, so shutdown takes milliseconds.
    std::atomic<bool> done{false};
    std::thread stopper([this, &done] {
      mg_stop(mg_);
      done = true;
    });
    while (!done.load()) {
      wake_listener(ctx_.options().serve.host, port_);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stopper.join();
    mg_ = nullptr;
    SAM3_LOG_INF("stopped");
  }
}

int Server::run_until_signal() {
  g_signals = 0;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  std::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the daemon
  while (g_signals.load() == 0 && !load_failed_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  int code = 0;
  if (load_failed_.load() && g_signals.load() == 0) {
    code = load_exit_code_.load();
  } else {
    SAM3_LOG_INF("signal received: draining " << ctx_.in_flight().load() << " in-flight requests (again to exit now)");
  }
  stop();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return code;
}

void Server::add_cors_headers(const Request& req, Response& r) const {
  const auto& origins = ctx_.options().serve.cors_origins;
  if (origins.empty()) return;  // CORS off unless configured
  const std::string origin = req.header("Origin");
  if (origin.empty()) return;
  for (const auto& o : origins) {
    if (o == "*" || o == origin) {
      r.headers.emplace_back("Access-Control-Allow-Origin", o == "*" ? "*" : origin);
      r.headers.emplace_back("Vary", "Origin");
      r.headers.emplace_back("Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
      return;
    }
  }
}

Response Server::handle(Request& req) {
  InFlight guard(ctx_.in_flight());
  const auto t0 = Clock::now();
  req.request_id = make_request_id(req.header("X-Request-Id"));
  // Counted in flight first, then admitted: stop() flips the state and then
  // waits for the count, so every admitted request is drained, never cut off.
  const bool admitted = ctx_.state() != ServerState::draining;
  Router::Match m = router_.match(req.method == "HEAD" ? "GET" : req.method, req.path);
  // Metrics and logs label by route pattern, never the raw path.
  std::string endpoint = m.route ? m.route->pattern : (m.allowed.empty() ? "unmatched" : req.path);
  if (!m.route && !m.allowed.empty()) endpoint = router_.match(m.allowed.front(), req.path).route->pattern;

  Response resp = guarded(req, [&]() -> Response {
    if (req.method == "OPTIONS" && !m.allowed.empty() && !ctx_.options().serve.cors_origins.empty()) {
      Response pre = Response::bytes("", "text/plain", 204);
      std::string allow;
      for (const auto& a : m.allowed) allow += (allow.empty() ? "" : ", ") + a;
      pre.headers.emplace_back("Access-Control-Allow-Methods", allow + ", OPTIONS");
      pre.headers.emplace_back("Access-Control-Allow-Headers", "Content-Type, X-API-Key, Authorization, X-Request-Id");
      pre.headers.emplace_back("Access-Control-Max-Age", "600");
      return pre;
    }
    const bool on_metrics_port = metrics_port_ != 0 && req.local_port == metrics_port_;
    if (metrics_port_ != 0 && on_metrics_port != (m.route && m.route->pattern == "/metrics"))
      throw NotFound("no route for " + req.method + " " + req.path + " on this port");
    if (!m.route) {
      if (m.allowed.empty()) throw NotFound("no route for " + req.method + " " + req.path);
      std::string allow;
      for (const auto& a : m.allowed) allow += (allow.empty() ? "" : ", ") + a;
      throw HttpError(405, "method_not_allowed", req.method + " is not allowed on " + req.path + " (allowed: " + allow + ")");
    }
    const Route& route = *m.route;
    if (!admitted && route.auth) throw Overloaded("the server is shutting down");
    if (route.auth) {
      const std::string key = auth_.check(req);
      req.client_key = key.empty() ? "addr:" + req.remote_addr : "key:" + key;
      limiter_.check(req.client_key);
    }
    req.params = m.params;
    return route.handler(req);
  });

  resp.headers.emplace_back("X-Request-Id", req.request_id);
  if (resp.status == 405) {
    std::string allow;
    for (const auto& a : m.allowed) allow += (allow.empty() ? "" : ", ") + a;
    resp.headers.emplace_back("Allow", allow);
  }
  add_cors_headers(req, resp);
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  ctx_.metrics().count_request(endpoint, resp.status);
  if (!resp.error_type.empty()) ctx_.metrics().count_error(resp.error_type);
  SAM3_LOG_INF("request id=" << req.request_id << " " << req.method << " " << endpoint << " status=" << resp.status
                             << " ms=" << ms << " bytes=" << resp.body.size() << " client=" << req.remote_addr);
  return resp;
}

int Server::on_request(mg_connection* conn, void* self_ptr) noexcept {
  auto* self = static_cast<Server*>(self_ptr);
  try {
    const mg_request_info* ri = mg_get_request_info(conn);
    Request req = request_head(*ri);
    const size_t limit = self->ctx_.max_body_bytes();
    const long long declared = ri->content_length;
    auto cache = std::make_shared<std::optional<std::string>>();
    req.body = [conn, limit, declared, cache]() -> const std::string& {
      if (*cache) return **cache;
      if (declared > 0 && static_cast<unsigned long long>(declared) > limit)
        throw TooLarge("request body of " + std::to_string(declared) + " bytes exceeds the upload limit of " +
                       std::to_string(limit) + " bytes (MAX_UPLOAD_SIZE_MB)");
      std::string body;
      if (declared > 0) body.reserve(static_cast<size_t>(declared));
      char buf[65536];
      for (;;) {
        const int n = mg_read(conn, buf, sizeof buf);
        if (n <= 0) break;
        body.append(buf, static_cast<size_t>(n));
        if (body.size() > limit)
          throw TooLarge("request body exceeds the upload limit of " + std::to_string(limit) +
                         " bytes (MAX_UPLOAD_SIZE_MB)");
      }
      if (declared > 0 && body.size() < static_cast<size_t>(declared))
        throw InvalidInput("request body ended after " + std::to_string(body.size()) + " of " +
                           std::to_string(declared) + " declared bytes");
      cache->emplace(std::move(body));
      return **cache;
    };
    Response resp = self->handle(req);
    write_response(conn, resp, req.method == "HEAD");
    return resp.status;
  } catch (const std::exception& e) {
    // Only reachable if building the request or writing the response failed.
    SAM3_LOG_ERR("request failed outside the handler: " << e.what());
    return 500;
  } catch (...) {
    return 500;
  }
}

}  // namespace sam3::daemon
