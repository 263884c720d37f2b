// SPDX-License-Identifier: Apache-2.0
// The daemon's pieces without sockets: auth, rate limiting, multipart,
// routing, errors, metrics and request parsing.
#include <gtest/gtest.h>

#include "daemon/auth.h"
#include "daemon/metrics.h"
#include "daemon/multipart.h"
#include "daemon/rate_limit.h"
#include "daemon/request_parse.h"
#include "daemon/router.h"

namespace sam3::daemon {
namespace {

TEST(DaemonAuth, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret2"));
  EXPECT_FALSE(constant_time_equal("", "x"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

TEST(DaemonAuth, HeaderAndBearer) {
  ApiKeyAuth auth(true, {"k1"});
  Request r;
  EXPECT_THROW(auth.check(r), HttpError);
  r.headers = {{"x-api-key", "k1"}};
  EXPECT_EQ(auth.check(r), "k1");
  r.headers = {{"Authorization", "Bearer k1"}};
  EXPECT_EQ(auth.check(r), "k1");
  r.headers = {{"Authorization", "Bearer k2"}};
  try {
    auth.check(r);
    FAIL();
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 401);
  }
  ApiKeyAuth open(false, {});
  EXPECT_NO_THROW(open.check(Request{}));
}

TEST(DaemonRateLimit, BucketRefillsOverTime) {
  auto now = RateLimiter::Clock::now();
  RateLimiter rl(true, 60, [&] { return now; });  // one token per second
  for (int i = 0; i < 60; ++i) EXPECT_EQ(rl.acquire("a"), 0);
  EXPECT_EQ(rl.acquire("a"), 1);
  EXPECT_EQ(rl.acquire("b"), 0);
  now += std::chrono::milliseconds(1100);
  EXPECT_EQ(rl.acquire("a"), 0);
  EXPECT_GE(rl.acquire("a"), 1);
  try {
    rl.check("a");
    FAIL();
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 429);
    EXPECT_GE(e.retry_after_s(), 1);
  }
  RateLimiter off(false, 1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(off.acquire("a"), 0);
}

TEST(DaemonMultipart, ParsesFieldsAndFiles) {
  const std::string body =
      "--AaB03x\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nred car\r\n"
      "--AaB03x\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
      "\x89PNG\r\n--not-the-boundary\r\n--AaB03x--\r\n";
  const auto parts = parse_multipart(body, "multipart/form-data; boundary=\"AaB03x\"");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].name, "text");
  EXPECT_EQ(parts[0].data, "red car");
  EXPECT_EQ(parts[1].filename, "a.png");
  EXPECT_EQ(parts[1].content_type, "image/png");
  EXPECT_EQ(parts[1].data, "\x89PNG\r\n--not-the-boundary");
}

TEST(DaemonMultipart, RejectsMalformedBodies) {
  const std::string ct = "multipart/form-data; boundary=b";
  EXPECT_THROW(multipart_boundary("application/json"), InvalidInput);
  EXPECT_THROW(multipart_boundary("multipart/form-data"), InvalidInput);
  EXPECT_THROW(parse_multipart("garbage", ct), InvalidInput);
  EXPECT_THROW(parse_multipart("--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nno end", ct), InvalidInput);
  EXPECT_THROW(parse_multipart("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--", ct), InvalidInput);
  EXPECT_THROW(parse_multipart("--b\r\nContent-Disposition: form-data; name=\"x\"", ct), InvalidInput);
  EXPECT_EQ(parse_multipart("--b--\r\n", ct).size(), 0u);
}

TEST(DaemonRouter, MatchesPatternsAndReportsAllowedMethods) {
  Router r;
  r.add(Route{"GET", "/a/{id}.png", "png", "t", true, [](Request&) { return Response{}; }, nullptr, nullptr});
  r.add(Route{"POST", "/a/b", "b", "t", true, [](Request&) { return Response{}; }, nullptr, nullptr});
  auto m = r.match("GET", "/a/abc.png");
  ASSERT_NE(m.route, nullptr);
  EXPECT_EQ(m.params.at("id"), "abc");
  EXPECT_EQ(r.match("GET", "/a/.png").route, nullptr);
  EXPECT_EQ(r.match("GET", "/a/abc.jpg").route, nullptr);
  EXPECT_EQ(r.match("GET", "/a/abc.png/").route, nullptr);
  auto wrong = r.match("GET", "/a/b");
  EXPECT_EQ(wrong.route, nullptr);
  EXPECT_EQ(wrong.allowed, std::vector<std::string>{"POST"});
  const json api = r.openapi("1");
  EXPECT_TRUE(api["paths"]["/a/{id}.png"]["get"]["parameters"][0]["name"] == "id");
}

TEST(DaemonRouter, GuardedMapsEveryErrorType) {
  Request req;
  req.request_id = "r1";
  auto status_of = [&](auto thrower) { return guarded(req, [&]() -> Response { thrower(); return {}; }).status; };
  EXPECT_EQ(status_of([] { throw InvalidInput("x"); }), 400);
  EXPECT_EQ(status_of([] { throw TooLarge("x"); }), 413);
  EXPECT_EQ(status_of([] { throw NotFound("x"); }), 404);
  EXPECT_EQ(status_of([] { throw Overloaded("x"); }), 503);
  EXPECT_EQ(status_of([] { throw ModelMissing("x"); }), 503);
  EXPECT_EQ(status_of([] { throw ModelError("x"); }), 500);
  EXPECT_EQ(status_of([] { throw HttpError(429, "rate_limited", "x", 3); }), 429);
  EXPECT_EQ(status_of([] { throw std::runtime_error("x"); }), 500);
  EXPECT_EQ(status_of([] { throw 42; }), 500);
  const Response r = guarded(req, []() -> Response { throw Overloaded("queue full"); });
  const json j = json::parse(r.body);
  EXPECT_EQ(j["error"]["code"], 503);
  EXPECT_EQ(j["error"]["type"], "overloaded");
  EXPECT_EQ(j["error"]["message"], "queue full");
  EXPECT_EQ(j["error"]["request_id"], "r1");
  EXPECT_EQ(r.headers.at(0).first, "Retry-After");
}

TEST(DaemonMetrics, HistogramIsCumulative) {
  Metrics m;
  m.observe_inference("/x", 0.02);
  m.observe_inference("/x", 0.3);
  m.observe_inference("/x", 100);
  m.count_request("/x", 200);
  const std::string t = m.render({});
  EXPECT_NE(t.find("sam3_inference_duration_seconds_bucket{endpoint=\"/x\",le=\"0.025\"} 1"), std::string::npos) << t;
  EXPECT_NE(t.find("sam3_inference_duration_seconds_bucket{endpoint=\"/x\",le=\"0.5\"} 2"), std::string::npos);
  EXPECT_NE(t.find("sam3_inference_duration_seconds_bucket{endpoint=\"/x\",le=\"+Inf\"} 3"), std::string::npos);
  EXPECT_NE(t.find("sam3_inference_duration_seconds_count{endpoint=\"/x\"} 3"), std::string::npos);
  EXPECT_NE(t.find("sam3_requests_total{endpoint=\"/x\",status=\"200\"} 1"), std::string::npos);
}

TEST(DaemonRequestParse, PromptsCombineIntoOnePromptSet) {
  const json prompts = json::parse(R"([
    {"type": "text", "text": "car"},
    {"type": "box", "box": [0.5, 0.5, 0.2, 0.4], "label": false},
    {"type": "point", "points": [[0.1, 0.2], [0.3, 0.4]], "point_labels": [1, 0]}])");
  const core::Prompt p = parse_prompts(prompts, 0.4f);
  EXPECT_EQ(p.text.value(), "car");
  ASSERT_EQ(p.boxes.size(), 1u);
  EXPECT_FALSE(p.boxes[0].positive);
  EXPECT_FLOAT_EQ(p.boxes[0].h, 0.4f);
  ASSERT_EQ(p.points.size(), 2u);
  EXPECT_TRUE(p.points[0].positive);
  EXPECT_FALSE(p.points[1].positive);
  EXPECT_FLOAT_EQ(p.confidence_threshold, 0.4f);
  try {
    parse_prompts(json::parse(R"([{"type": "box", "box": [0.5, 0.5, 2, 0.1]}])"), 0.5f);
    FAIL();
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("prompts[0].box[2]"), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_int(json::object(), "n", 4, 1, 8), 4);
  EXPECT_THROW(parse_int(json{{"n", 9}}, "n", 4, 1, 8), InvalidInput);
  EXPECT_THROW(parse_image_base64(json{{"image", "AAAA"}}, "image", 2), TooLarge);
}

}  // namespace
}  // namespace sam3::daemon
