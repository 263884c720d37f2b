// SPDX-License-Identifier: Apache-2.0
#include "daemon/http.h"

#include <civetweb.h>

#include <algorithm>
#include <cctype>
#include <random>

namespace sam3::daemon {
namespace {
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}
}  // namespace

std::string Request::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return {};
}

std::string Request::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    const size_t amp = q.find('&');
    std::string_view kv = q.substr(0, amp);
    const size_t eq = kv.find('=');
    if (kv.substr(0, eq) == name) return eq == std::string_view::npos ? std::string() : std::string(kv.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return {};
}

Response Response::json_body(const json& j, int status) {
  Response r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

Response Response::bytes(std::string body, std::string content_type, int status) {
  Response r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

json parse_json_text(const std::string& text, const std::string& what) {
  try {
    // Deeply nested documents are refused while parsing, before they can
    // cost memory or recursion depth; no request needs more than a few levels.
    constexpr int kMaxDepth = 32;
    return json::parse(text, [&what](int depth, json::parse_event_t, json&) {
      if (depth > kMaxDepth)
        throw InvalidInput(what + " is nested deeper than " + std::to_string(kMaxDepth) + " levels");
      return true;
    });
  } catch (const json::parse_error& e) {
    throw InvalidInput(what + " is not valid JSON (byte " + std::to_string(e.byte) + "): " + e.what());
  }
}

json parse_json_body(const std::string& body) {
  if (body.empty()) throw InvalidInput("expected a JSON object in the request body, got an empty body");
  json j = parse_json_text(body, "the request body");
  if (!j.is_object()) throw InvalidInput(std::string("expected a JSON object in the request body, got ") + j.type_name());
  return j;
}

std::string random_hex_id() {
  // One random_device per thread: cheap after the first call, unpredictable ids.
  thread_local std::mt19937_64 rng{(static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(32, '0');
  for (int half = 0; half < 2; ++half) {
    uint64_t v = rng();
    for (int i = 0; i < 16; ++i, v >>= 4) s[half * 16 + i] = kHex[v & 15];
  }
  return s;
}

std::string make_request_id(std::string_view client_id) {
  const bool ok = !client_id.empty() && client_id.size() <= 64 &&
                  std::all_of(client_id.begin(), client_id.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
                  });
  return ok ? std::string(client_id) : random_hex_id().substr(0, 16);
}

Request request_head(const mg_request_info& ri) {
  Request req;
  req.method = ri.request_method ? ri.request_method : "";
  req.path = ri.local_uri ? ri.local_uri : "/";
  req.query = ri.query_string ? ri.query_string : "";
  req.remote_addr = ri.remote_addr;
  req.local_port = ri.server_port;
  for (int i = 0; i < ri.num_headers; ++i)
    req.headers.emplace_back(ri.http_headers[i].name ? ri.http_headers[i].name : "",
                             ri.http_headers[i].value ? ri.http_headers[i].value : "");
  return req;
}

}  // namespace sam3::daemon
