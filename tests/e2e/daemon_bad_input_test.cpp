// SPDX-License-Identifier: Apache-2.0
// Bad input never crashes the daemon: each malformed request gets the right
// status and a JSON error, the daemon keeps serving between them, and memory
// stays flat over thousands of requests. Runs without a model: input is
// validated before a model is needed.
#include <zlib.h>

#include <thread>

#include "daemon_client.h"
#include "test_util.h"

namespace sam3::test {
namespace {

// A PNG whose header declares width x height (the pixels are never there).
std::string png_declaring(uint32_t width, uint32_t height) {
  auto be32 = [](uint32_t v) {
    return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
  };
  auto chunk = [&](const std::string& type, const std::string& data) {
    const std::string td = type + data;
    return be32(static_cast<uint32_t>(data.size())) + td +
           be32(static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(td.data()), static_cast<uInt>(td.size()))));
  };
  std::string ihdr = be32(width) + be32(height) + std::string{8, 2, 0, 0, 0};
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", std::string("\x78\x9c\x03\x00\x00\x00\x00\x01", 8)) +
         chunk("IEND", "");
}

struct BadCase {
  std::string name;
  std::string method;
  std::string path;
  std::string body;
  int status;
  std::vector<std::string> headers = {};
  std::string content_type = "application/json";
};

std::string seg(const json& prompts, const std::string& image_b64, const json& extra = json::object()) {
  json j = {{"image", image_b64}, {"prompts", prompts}};
  for (const auto& [k, v] : extra.items()) j[k] = v;
  return j.dump();
}

std::string multipart(const std::string& boundary, const std::vector<std::pair<std::string, std::string>>& parts,
                      bool close = true) {
  std::string b;
  for (const auto& [name, data] : parts) {
    b += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"";
    if (name == "image") b += "; filename=\"x.png\"\r\nContent-Type: image/png";
    b += "\r\n\r\n" + data + "\r\n";
  }
  if (close) b += "--" + boundary + "--\r\n";
  return b;
}

daemon::DaemonOptions small_limits() {
  daemon::DaemonOptions o;
  o.limits.max_upload_mb = 1;
  o.limits.max_image_pixels = 4'000'000;
  return o;
}

std::vector<BadCase> bad_cases() {
  const std::string png = formats::base64_encode(tiny_png());
  const json text = {{{"type", "text"}, {"text", "cat"}}};
  const std::string S = "/api/v1/image/segment";
  const std::string B = "/api/v1/image/batch";
  const std::string C = "/api/v1/image/cached-features";
  const std::string mp = "multipart/form-data; boundary=XyZ";
  std::string nested(200, '[');
  nested = "{\"image\":" + nested + std::string(200, ']') + "}";
  const std::string half_png = formats::base64_encode(tiny_png(64, 64).substr(0, 60));
  return {
      {"truncated JSON", "POST", S, R"({"image": "abc)", 400},
      {"JSON array body", "POST", S, "[1,2,3]", 400},
      {"empty body", "POST", S, "", 400},
      {"trailing garbage", "POST", S, seg(text, png) + "}", 400},
      {"invalid UTF-8", "POST", S, "{\"image\":\"\xff\xfe\",\"prompts\":[]}", 400},
      {"nested 200 deep", "POST", S, nested, 400},
      {"image missing", "POST", S, json{{"prompts", text}}.dump(), 400},
      {"image is a number", "POST", S, seg(text, "x").replace(9, 3, "42"), 400},
      {"image empty", "POST", S, seg(text, ""), 400},
      {"base64 bad characters", "POST", S, seg(text, "@@@@"), 400},
      {"base64 bad padding", "POST", S, seg(text, "a==="), 400},
      {"base64 not an image", "POST", S, seg(text, formats::base64_encode("hello world")), 400},
      {"truncated PNG", "POST", S, seg(text, half_png), 400},
      {"huge declared dimensions", "POST", S, seg(text, formats::base64_encode(png_declaring(100000, 100000))), 413},
      {"zero declared dimensions", "POST", S, seg(text, formats::base64_encode(png_declaring(0, 0))), 400},
      {"prompts missing", "POST", S, json{{"image", png}}.dump(), 400},
      {"prompts not an array", "POST", S, seg("cat", png), 400},
      {"prompts empty", "POST", S, seg(json::array(), png), 400},
      {"prompt unknown type", "POST", S, seg({{{"type", "mask"}}}, png), 400},
      {"prompt without type", "POST", S, seg({{{"text", "cat"}}}, png), 400},
      {"text empty", "POST", S, seg({{{"type", "text"}, {"text", ""}}}, png), 400},
      {"text not a string", "POST", S, seg({{{"type", "text"}, {"text", 7}}}, png), 400},
      {"two text prompts", "POST", S, seg({{{"type", "text"}, {"text", "a"}}, {{"type", "text"}, {"text", "b"}}}, png), 400},
      {"box of 3 numbers", "POST", S, seg({{{"type", "box"}, {"box", {0.5, 0.5, 0.2}}}}, png), 400},
      {"box negative size", "POST", S, seg({{{"type", "box"}, {"box", {0.5, 0.5, -0.1, 0.2}}}}, png), 400},
      {"box out of range", "POST", S, seg({{{"type", "box"}, {"box", {1.5, 0.5, 0.1, 0.2}}}}, png), 400},
      {"box with a string", "POST", S, seg({{{"type", "box"}, {"box", {"a", 0.5, 0.1, 0.2}}}}, png), 400},
      {"box label not bool", "POST", S, seg({{{"type", "box"}, {"box", {0.5, 0.5, 0.1, 0.2}}, {"label", "yes"}}}, png), 400},
      {"point not a pair", "POST", S, seg({{{"type", "point"}, {"points", {{0.5}}}}}, png), 400},
      {"point labels mismatch", "POST", S,
       seg({{{"type", "point"}, {"points", {{0.5, 0.5}, {0.1, 0.1}}}, {"point_labels", {1}}}}, png), 400},
      {"threshold above 1", "POST", S, seg(text, png, {{"confidence_threshold", 2.0}}), 400},
      {"threshold a string", "POST", S, seg(text, png, {{"confidence_threshold", "high"}}), 400},
      {"visualization not bool", "POST", S, seg(text, png, {{"return_visualization", "yes"}}), 400},
      {"declared body over limit", "POST", S, "", 413, {"Content-Length: 5000000000"}, ""},
      {"body over limit", "POST", S, std::string(1100 * 1024, 'x'), 413},
      {"multipart without boundary", "POST", S, "--x\r\n", 400, {}, "multipart/form-data"},
      {"multipart truncated", "POST", S, multipart("XyZ", {{"image", tiny_png()}}, false).substr(0, 60), 400, {}, mp},
      {"multipart no image part", "POST", S, multipart("XyZ", {{"text", "cat"}}), 400, {}, mp},
      {"multipart unknown field", "POST", S, multipart("XyZ", {{"image", tiny_png()}, {"bogus", "1"}}), 400, {}, mp},
      {"multipart bad prompts JSON", "POST", S, multipart("XyZ", {{"image", tiny_png()}, {"prompts", "[{"}}), 400, {}, mp},
      {"multipart bad threshold", "POST", S,
       multipart("XyZ", {{"image", tiny_png()}, {"text", "cat"}, {"confidence_threshold", "abc"}}), 400, {}, mp},
      {"batch images not an array", "POST", B, json{{"images", "x"}}.dump(), 400},
      {"batch images empty", "POST", B, json{{"images", json::array()}}.dump(), 400},
      {"batch max_concurrent 0", "POST", B,
       json{{"images", {{{"id", "a"}, {"image", png}, {"prompts", text}}}}, {"max_concurrent", 0}}.dump(), 400},
      {"cached-features no prompts", "POST", C, json{{"image", png}}.dump(), 400},
      {"cached-features prompt not string", "POST", C, json{{"image", png}, {"text_prompts", {1}}}.dump(), 400},
      {"cached-features bad base64", "POST", C, json{{"image", "%%%%"}, {"text_prompts", {"a"}}}.dump(), 400},
      {"viz traversal encoded", "GET", "/api/v1/images/viz/..%2F..%2F..%2Fetc%2Fpasswd.png", "", 404},
      {"viz traversal plain", "GET", "/api/v1/images/viz/../../../../etc/passwd.png", "", 404},
      {"viz id not hex", "GET", "/api/v1/images/viz/passwd.png", "", 400},
      {"viz id unknown", "GET", "/api/v1/images/viz/00000000000000000000000000000000.png", "", 404},
      {"viz without .png", "GET", "/api/v1/images/viz/00000000000000000000000000000000", "", 404},
      {"unknown session", "GET", "/api/v1/video/sessions/does-not-exist/status", "", 404},
      {"unknown route", "GET", "/api/v2/nothing", "", 404},
      {"wrong method", "GET", S, "", 405},
      {"delete on sessions", "DELETE", "/api/v1/sessions", "", 405},
  };
}

TEST(DaemonBadInput, EachBadRequestGetsItsStatusAndTheDaemonKeepsServing) {
  LocalDaemon d(small_limits());
  const auto cases = bad_cases();
  ASSERT_GE(cases.size(), 30u);
  for (const auto& c : cases) {
    std::string req = c.method + " " + c.path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
    bool explicit_length = false;
    for (const auto& h : c.headers) {
      req += h + "\r\n";
      explicit_length |= h.rfind("Content-Length", 0) == 0;
    }
    if (c.method == "POST") {
      if (!c.content_type.empty()) req += "Content-Type: " + c.content_type + "\r\n";
      if (!explicit_length) req += "Content-Length: " + std::to_string(c.body.size()) + "\r\n";
    }
    req += "\r\n" + c.body;
    const HttpReply r = parse_reply(http_raw(d.port(), req, /*half_close=*/explicit_length, 20));
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body.substr(0, 300);
    const json j = r.j();
    EXPECT_TRUE(j.is_object() && j["error"].is_object()) << c.name << ": " << r.body.substr(0, 200);
    if (j.is_object() && j["error"].is_object()) {
      EXPECT_EQ(j["error"]["code"], c.status) << c.name;
      EXPECT_TRUE(j["error"]["message"].is_string() && !j["error"]["message"].get<std::string>().empty()) << c.name;
      EXPECT_TRUE(j["error"]["type"].is_string()) << c.name;
    }
    EXPECT_EQ(r.body.find("root:"), std::string::npos) << c.name;
    ASSERT_EQ(d.get("/health").status, 200) << "daemon stopped serving after: " << c.name;
  }
  std::cout << "[ measured ] " << cases.size() << " distinct bad inputs answered\n";
}

TEST(DaemonBadInput, WrongApiKeyAndGarbageRequests) {
  daemon::DaemonOptions o = small_limits();
  o.serve.require_api_key = true;
  o.serve.api_keys = {"secret"};
  LocalDaemon d(o);
  EXPECT_EQ(d.post("/api/v1/image/segment", std::string("{}"), {"X-API-Key: wrong"}).status, 401);
  EXPECT_EQ(d.post("/api/v1/image/segment", std::string("{}"), {"Authorization: Bearer "}).status, 401);
  // Not HTTP at all, a half request, and a client that disconnects mid-body.
  http_raw(d.port(), "\x16\x03\x01\x02\x00garbage\r\n\r\n", true, 5);
  http_raw(d.port(), "POST /api/v1/image/segment HTTP/1.1\r\nContent-Length: 100\r\n", true, 5);
  http_raw(d.port(), "POST /api/v1/image/segment HTTP/1.1\r\nX-API-Key: secret\r\nContent-Length: 100\r\n\r\n{\"im",
           true, 5);
  EXPECT_EQ(d.get("/health").status, 200);
}

TEST(DaemonBadInput, MemoryStaysFlatOverThousandsOfRequests) {
  LocalDaemon d(small_limits());
  const auto cases = bad_cases();
  auto round = [&](int n) {
    for (int i = 0; i < n; ++i) {
      const BadCase& c = cases[static_cast<size_t>(i) % cases.size()];
      if (c.headers.empty() && c.body.size() < 100000) {
        if (c.method == "POST") d.post(c.path, c.body, {}, c.content_type);
        else http(d.port(), c.method, c.path);
      } else {
        d.get("/health");
      }
    }
  };
  round(500);  // warm-up: allocator pools, civetweb threads, caches
  const long before = rss_bytes();
  round(2500);
  const long after = rss_bytes();
  const double growth_mb = (after - before) / 1048576.0;
  std::cout << "[ measured ] RSS growth over 2500 requests: " << growth_mb << " MiB\n";
  EXPECT_LT(growth_mb, 16.0);
  EXPECT_EQ(d.get("/health").status, 200);
}

}  // namespace
}  // namespace sam3::test
