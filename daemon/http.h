// SPDX-License-Identifier: Apache-2.0
// The daemon's view of one HTTP exchange, independent of civetweb so that the
// router, the handlers and their tests never touch the C API. server.cpp
// fills a Request from an mg_connection and writes the Response back.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/errors.h"

struct mg_request_info;  // civetweb's parsed request line and headers

namespace sam3::daemon {

using nlohmann::json;

// An error that only exists at the HTTP boundary (auth, rate limit, method,
// media type). Core errors keep their own types and are mapped by
// sam3::http_status_for in one place; this carries its status itself.
class HttpError : public sam3::Error {
public:
  HttpError(int status, const char* type, const std::string& message, int retry_after_s = 0)
      : sam3::Error(message), status_(status), type_(type), retry_after_s_(retry_after_s) {}
  const char* type() const noexcept override { return type_; }
  int status() const noexcept { return status_; }
  int retry_after_s() const noexcept { return retry_after_s_; }

private:
  int status_;
  const char* type_;  // a string literal
  int retry_after_s_;
};

struct Request {
  std::string method;       // "GET", "POST", ...
  std::string path;         // decoded, without the query string
  std::string query;        // raw query string, "" when absent
  std::string remote_addr;
  int local_port = 0;       // the listening port it arrived on
  std::vector<std::pair<std::string, std::string>> headers;
  std::map<std::string, std::string> params;  // path parameters of the matched route
  std::string request_id;
  std::string client_key;   // the API key (or the remote address) for rate limiting

  // Reads the whole body on first use (bounded by the server's upload limit).
  // \throws TooLarge (413) when it exceeds the limit.
  std::function<const std::string&()> body;

  // Case-insensitive header lookup; "" when absent.
  std::string header(std::string_view name) const;
  // Query parameter by name (not percent-decoded beyond civetweb's), "" when absent.
  std::string query_param(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error_type;  // set on error responses (metrics label)

  static Response json_body(const json& j, int status = 200);
  static Response bytes(std::string body, std::string content_type, int status = 200);
};

// Parses JSON text (any type) of at most 32 nesting levels; `what` names it
// in errors ("the request body"). \throws InvalidInput.
json parse_json_text(const std::string& text, const std::string& what);

// Parses a JSON request body. \throws InvalidInput naming the position of the
// syntax error, or when the document is not an object.
json parse_json_body(const std::string& body);

// A request's method, path, query, peer, port and headers as civetweb parsed
// them (no body, no request id).
Request request_head(const mg_request_info& ri);

// A request id: the client's X-Request-Id when it is short and plain
// ([A-Za-z0-9._-], at most 64 chars), otherwise a fresh random one.
std::string make_request_id(std::string_view client_id);

// 32 random lower-case hex digits (ids of rendered overlays).
std::string random_hex_id();

}  // namespace sam3::daemon
