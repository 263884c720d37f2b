// SPDX-License-Identifier: Apache-2.0
#include "daemon/router.h"

#include <algorithm>

#include "core/error_codes.h"
#include "core/log.h"
#include "formats/result_json.h"

namespace sam3::daemon {
namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    const size_t j = path.find('/', i);
    out.push_back(path.substr(i, j == std::string::npos ? std::string::npos : j - i));
    if (j == std::string::npos) break;
    i = j;
  }
  return out;
}

// Matches one segment; fills `params` for "{name}suffix" segments.
bool match_segment(const std::string& pat, const std::string& seg, std::map<std::string, std::string>& params) {
  if (pat.empty() || pat.front() != '{') return pat == seg;
  const size_t close = pat.find('}');
  const std::string name = pat.substr(1, close - 1);
  const std::string suffix = pat.substr(close + 1);
  if (seg.size() <= suffix.size() || seg.compare(seg.size() - suffix.size(), suffix.size(), suffix) != 0)
    return false;
  params[name] = seg.substr(0, seg.size() - suffix.size());
  return true;
}

bool match_pattern(const std::string& pattern, const std::string& path, std::map<std::string, std::string>& params) {
  const auto ps = split_path(pattern);
  const auto ss = split_path(path);
  if (ps.size() != ss.size()) return false;
  // A trailing slash names another resource ("/health/" is not "/health").
  if (path.size() > 1 && path.back() == '/') return false;
  for (size_t i = 0; i < ps.size(); ++i)
    if (!match_segment(ps[i], ss[i], params)) return false;
  return true;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

void Router::add(Route route) { routes_.push_back(std::move(route)); }

Router::Match Router::match(const std::string& method, const std::string& path) const {
  Match m;
  for (const auto& r : routes_) {
    std::map<std::string, std::string> params;
    if (!match_pattern(r.pattern, path, params)) continue;
    m.allowed.push_back(r.method);
    if (r.method == method && !m.route) {
      m.route = &r;
      m.params = std::move(params);
    }
  }
  return m;
}

json Router::openapi(const std::string& server_version) const {
  const json error_ref = {{"$ref", "#/components/schemas/Error"}};
  json paths = json::object();
  for (const auto& r : routes_) {
    json op = {{"summary", r.summary}, {"tags", json::array({r.tag})},
               {"operationId", lower(r.method) + "_" + r.pattern}};
    json params = json::array();
    for (const auto& seg : split_path(r.pattern)) {
      if (seg.empty() || seg.front() != '{') continue;
      params.push_back({{"name", seg.substr(1, seg.find('}') - 1)},
                        {"in", "path"},
                        {"required", true},
                        {"schema", {{"type", "string"}}}});
    }
    if (!params.empty()) op["parameters"] = params;
    if (!r.request_schema.is_null())
      op["requestBody"] = {{"required", true}, {"content", {{"application/json", {{"schema", r.request_schema}}}}}};
    json ok_schema = r.response_schema.is_null() ? json{{"type", "object"}} : r.response_schema;
    if (r.response_type != "application/json") ok_schema = {{"type", "string"}, {"format", "binary"}};
    json responses = {{"200", {{"description", "OK"}, {"content", {{r.response_type, {{"schema", ok_schema}}}}}}}};
    for (const char* code : {"400", "401", "403", "404", "413", "429", "500", "502", "503"})
      responses[code] = {{"description", "error"}, {"content", {{"application/json", {{"schema", error_ref}}}}}};
    op["responses"] = responses;
    if (r.auth) op["security"] = json::array({{{"ApiKey", json::array()}}, {{"Bearer", json::array()}}});
    // OpenAPI writes "{id}.png" as is: templated segments keep their suffix.
    paths[r.pattern][lower(r.method)] = op;
  }
  return {
      {"openapi", "3.0.3"},
      {"info", {{"title", "sam3 REST API"}, {"version", server_version},
                {"description", "Segment Anything with Concepts (SAM 3), native C++ daemon"}}},
      {"paths", paths},
      {"components",
       {{"securitySchemes",
         {{"ApiKey", {{"type", "apiKey"}, {"in", "header"}, {"name", "X-API-Key"}}},
          {"Bearer", {{"type", "http"}, {"scheme", "bearer"}}}}},
        {"schemas",
         {{"Error",
           {{"type", "object"},
            {"required", json::array({"error"})},
            {"properties",
             {{"error",
               {{"type", "object"},
                {"required", json::array({"code", "type", "message"})},
                {"properties",
                 {{"code", {{"type", "integer"}}},
                  {"type", {{"type", "string"}}},
                  {"message", {{"type", "string"}}},
                  {"request_id", {{"type", "string"}}}}}}}}}}}}}}}};
}

int status_for(const std::exception& e) noexcept {
  if (const auto* h = dynamic_cast<const HttpError*>(&e)) return h->status();
  return http_status_for(e);
}

Response error_response(const std::exception& e, const std::string& request_id) noexcept {
  try {
    int status = 500;
    int retry_after = 0;
    const char* type = nullptr;
    if (const auto* h = dynamic_cast<const HttpError*>(&e)) {
      status = h->status();
      retry_after = h->retry_after_s();
      type = h->type();
    } else {
      status = http_status_for(e);
      type = error_type_name(e);
      if (status == 503) retry_after = 1;
    }
    // Internal failures are logged with their full text; the client sees it
    // too (no secrets live in these messages), prefixed by the request id.
    const std::string message = describe_exception(e);
    if (status >= 500 && status != 503) SAM3_LOG_ERR("request " << request_id << ": " << type << ": " << message);
    json body = formats::error_json(status, type, message);
    body["error"]["request_id"] = request_id;
    Response r = Response::json_body(body, status);
    r.error_type = type;
    if (retry_after > 0) r.headers.emplace_back("Retry-After", std::to_string(retry_after));
    return r;
  } catch (...) {
    Response r;
    r.status = 500;
    r.body = R"({"error":{"code":500,"type":"internal","message":"error while reporting an error"}})";
    return r;
  }
}

Response guarded(const Request& req, const std::function<Response()>& fn) noexcept {
  try {
    return fn();
  } catch (const std::exception& e) {
    return error_response(e, req.request_id);
  } catch (...) {
    static const sam3::Error unknown("a handler threw something that is not a std::exception");
    return error_response(unknown, req.request_id);
  }
}

}  // namespace sam3::daemon
