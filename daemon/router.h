// SPDX-License-Identifier: Apache-2.0
// The route table: every endpoint is one Route (method, path pattern,
// handler, and what /openapi.json says about it), so the OpenAPI document is
// generated from the routes that are actually served and cannot drift.
// Patterns are literal segments or "{name}" with an optional literal suffix
// ("/api/v1/images/viz/{id}.png"). New endpoint families (video sessions)
// are added with more add() calls; nothing else changes.
//
// Thread-safety: build the table before the server starts; match() and
// openapi() are then read-only and may be called from any thread.
#pragma once

#include <exception>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "daemon/http.h"

namespace sam3::daemon {

using Handler = std::function<Response(Request&)>;

struct Route {
  std::string method;   // "GET", "POST", "DELETE"
  std::string pattern;  // "/api/v1/images/viz/{id}.png"
  std::string summary;  // one line for the OpenAPI document
  std::string tag;      // "image", "video", "operations"
  bool auth = true;     // requires an API key when keys are required
  Handler handler;
  json request_schema;   // OpenAPI schema of the JSON body, null for none
  json response_schema;  // OpenAPI schema of the 200 body, null for generic
  std::string response_type = "application/json";
};

class Router {
public:
  void add(Route route);

  struct Match {
    const Route* route = nullptr;            // null: no route for this method
    std::map<std::string, std::string> params;
    std::vector<std::string> allowed;        // methods served on this path (405 vs 404)
  };
  Match match(const std::string& method, const std::string& path) const;

  const std::vector<Route>& routes() const { return routes_; }

  // An OpenAPI 3.0 document of every route.
  json openapi(const std::string& server_version) const;

private:
  std::vector<Route> routes_;
};

// The HTTP status of a caught exception: HttpError's own, otherwise
// sam3::http_status_for (the one mapping of core error types).
int status_for(const std::exception& e) noexcept;

// The JSON error response for a caught exception: the status comes from
// HttpError or from sam3::http_status_for (the one mapping of core types);
// 503s and 429s carry Retry-After. Never throws.
Response error_response(const std::exception& e, const std::string& request_id) noexcept;

// Runs `fn` and turns any exception into error_response, so nothing ever
// propagates into civetweb's C code. Never throws.
Response guarded(const Request& req, const std::function<Response()>& fn) noexcept;

}  // namespace sam3::daemon
