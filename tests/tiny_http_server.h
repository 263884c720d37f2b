// SPDX-License-Identifier: Apache-2.0
// A one-thread HTTP/1.0 server on 127.0.0.1 for tests that fetch URLs
// (formats/url_fetch.h, video_url sessions): it serves fixed bodies by path
// (without a Content-Length for paths starting "/nolen"), "/redirect" as a
// 302 to "/v.mp4", 404 for anything else, and "/hang" accepts the connection but never answers
// (a timeout). Loopback only; the port is chosen by the kernel.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace sam3::test {

class TinyHttpServer {
public:
  explicit TinyHttpServer(std::map<std::string, std::string> bodies) : bodies_(std::move(bodies)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd_, 16) != 0) return;
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyHttpServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int c : hanging_) ::close(c);
    if (fd_ >= 0) ::close(fd_);
  }
  int port() const { return port_; }  // 0 when the socket could not be set up
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string req;
      char buf[4096];
      while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 2000) <= 0) break;
        const ssize_t n = ::recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        req.append(buf, static_cast<size_t>(n));
      }
      const size_t sp1 = req.find(' '), sp2 = req.find(' ', sp1 + 1);
      const std::string path = sp1 == std::string::npos || sp2 == std::string::npos ? "" : req.substr(sp1 + 1, sp2 - sp1 - 1);
      if (path == "/hang") {  // keep it open and silent until the server stops
        hanging_.push_back(c);
        continue;
      }
      if (path == "/redirect") {  // to a served path on the same server
        send_all(c, "HTTP/1.0 302 Found\r\nLocation: /v.mp4\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        ::close(c);
        continue;
      }
      const auto it = bodies_.find(path);
      const std::string body = it == bodies_.end() ? "not found" : it->second;
      const std::string head = std::string(it == bodies_.end() ? "HTTP/1.0 404 Not Found" : "HTTP/1.0 200 OK") +
                               "\r\nContent-Type: application/octet-stream\r\n" +
                               (path.rfind("/nolen", 0) == 0 ? std::string()
                                                             : "Content-Length: " + std::to_string(body.size()) + "\r\n") +
                               "Connection: close\r\n\r\n";
      send_all(c, head);
      send_all(c, body);
      ::close(c);
    }
  }
  static void send_all(int c, const std::string& s) {
    for (size_t done = 0; done < s.size();) {
      const ssize_t n = ::send(c, s.data() + done, s.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<size_t>(n);
    }
  }

  std::map<std::string, std::string> bodies_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<int> hanging_;  // only touched by the server thread until join
};

}  // namespace sam3::test
