// SPDX-License-Identifier: Apache-2.0
// A tiny blocking HTTP/1.1 client over raw loopback sockets for the daemon
// tests (no external network, no extra dependency), and a fixture that runs
// a daemon::Server in-process on a random port.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/log.h"
#include "daemon/server.h"
#include "formats/base64.h"
#include "formats/image_io.h"

namespace sam3::test {

using nlohmann::json;

struct HttpReply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  json j() const { return json::parse(body, nullptr, false); }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// Sends `raw` bytes to 127.0.0.1:port and reads until the server closes.
// `half_close` shuts down the write side after sending (a client that
// stops sending mid-body).
inline std::string http_raw(int port, const std::string& raw, bool half_close = false, int timeout_s = 60) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  timeval tv{timeout_s, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    size_t sent = 0;
    while (sent < raw.size()) {
      const ssize_t n = ::send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    if (half_close) ::shutdown(fd, SHUT_WR);
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

inline HttpReply parse_reply(const std::string& raw) {
  HttpReply r;
  const size_t head_end = raw.find("\r\n\r\n");
  if (raw.compare(0, 5, "HTTP/") != 0 || head_end == std::string::npos) return r;
  r.status = std::atoi(raw.c_str() + raw.find(' ') + 1);
  size_t pos = raw.find("\r\n") + 2;
  while (pos < head_end) {
    const size_t eol = raw.find("\r\n", pos);
    const std::string line = raw.substr(pos, eol - pos);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string k = line.substr(0, colon);
      for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      size_t v = colon + 1;
      while (v < line.size() && line[v] == ' ') ++v;
      r.headers[k] = line.substr(v);
    }
    pos = eol + 2;
  }
  r.body = raw.substr(head_end + 4);
  return r;
}

inline HttpReply http(int port, const std::string& method, const std::string& path, const std::string& body = "",
                      const std::vector<std::string>& headers = {}, const std::string& content_type = "application/json") {
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& h : headers) req += h + "\r\n";
  if (!body.empty() || method == "POST")
    req += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  return parse_reply(http_raw(port, req));
}

inline std::string file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A small valid PNG (solid colour) for requests that must pass decoding.
inline std::string tiny_png(int w = 16, int h = 12) {
  formats::Image img;
  img.width = w;
  img.height = h;
  img.rgb.assign(static_cast<size_t>(w * h * 3), 0);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = static_cast<uint8_t>((i * 37) & 0xff);
  return formats::encode_png(img);
}

// An in-process daemon on 127.0.0.1 with a random port.
class LocalDaemon {
public:
  explicit LocalDaemon(daemon::DaemonOptions opts = {}, daemon::ModelLoader loader = {}) {
    log::set_level(log::Level::warn);  // no request log lines in test output
    opts.serve.host = "127.0.0.1";
    opts.serve.port = 0;
    if (opts.serve.output_dir == core::ServeOptions{}.output_dir) opts.serve.output_dir = out_dir_;
    server_ = std::make_unique<daemon::Server>(opts, std::move(loader));
    port_ = server_->start();
  }
  ~LocalDaemon() { server_->stop(std::chrono::seconds(10)); }
  int port() const { return port_; }
  daemon::Server& server() { return *server_; }
  HttpReply get(const std::string& path, const std::vector<std::string>& headers = {}) const {
    return http(port_, "GET", path, "", headers);
  }
  HttpReply post(const std::string& path, const std::string& body, const std::vector<std::string>& headers = {},
                 const std::string& content_type = "application/json") const {
    return http(port_, "POST", path, body, headers, content_type);
  }
  HttpReply post(const std::string& path, const json& body, const std::vector<std::string>& headers = {}) const {
    return post(path, body.dump(), headers);
  }

private:
  std::string out_dir_ = (std::filesystem::temp_directory_path() /
                          ("sam3_daemon_test_" + std::to_string(::getpid()))).string();
  std::unique_ptr<daemon::Server> server_;
  int port_ = 0;
};

// Resident set size of this process in bytes (Linux /proc).
inline long rss_bytes() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * ::sysconf(_SC_PAGESIZE);
}

}  // namespace sam3::test
