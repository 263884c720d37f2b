// SPDX-License-Identifier: Apache-2.0
// The daemon with the golden tiny model: every image route end to end, the
// same answers as a direct core call, the feature cache, visualisations,
// batches, concurrent clients, a full queue and a graceful drain.
// Skipped with a message when ../shared/golden is absent.
#include <future>
#include <thread>

#include "core/image_engine.h"
#include "daemon_client.h"
#include "test_util.h"

namespace sam3::test {
namespace {

// The golden case's own threshold: the midpoint between its 6th and 7th
// highest scores, so exactly 6 detections (see case0_text.json).
constexpr double kCase0Threshold = 0.3199625313282013;

class DaemonInference : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    if (golden_dir().empty()) return;
    core::ModelOptions mo;
    mo.model_dir = golden_dir() + "/image_tiny";
    mo.bpe_path = golden_dir() + "/bpe_simple_vocab_16e6.txt.gz";
    model_ = core::load_model(mo);
    daemon_ = new LocalDaemon({}, [] { return core::ModelReplicas{{model_}, {model_}}; });
    ASSERT_TRUE(daemon_->server().wait_until_loaded(std::chrono::seconds(60)));
  }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
    model_.reset();
  }
  void SetUp() override { SAM3_REQUIRE_GOLDEN(); }

  static std::string image(const std::string& c) { return file_bytes(golden_dir() + "/image_tiny/" + c + ".png"); }
  static json text_request(const std::string& png, const std::string& text, double thr) {
    return {{"image", formats::base64_encode(png)},
            {"prompts", {{{"type", "text"}, {"text", text}}}},
            {"confidence_threshold", thr}};
  }

  static std::shared_ptr<const core::Sam3Model> model_;
  static LocalDaemon* daemon_;
};
std::shared_ptr<const core::Sam3Model> DaemonInference::model_;
LocalDaemon* DaemonInference::daemon_ = nullptr;

void expect_consistent(const json& r, int width, int height) {
  ASSERT_TRUE(r.contains("masks")) << r.dump().substr(0, 300);
  EXPECT_EQ(r["masks"].size(), r["num_masks"].get<size_t>());
  EXPECT_EQ(r["boxes"].size(), r["masks"].size());
  EXPECT_EQ(r["scores"].size(), r["masks"].size());
  EXPECT_EQ(r["image_size"]["width"], width);
  EXPECT_EQ(r["image_size"]["height"], height);
  for (const auto& m : r["masks"]) {
    EXPECT_EQ(m["size"], json({height, width}));
    EXPECT_TRUE(m["counts"].is_string());
  }
  for (const auto& b : r["boxes"])
    for (const auto& v : b) EXPECT_TRUE(v.get<double>() >= 0.0 && v.get<double>() <= 1.0);
}

TEST_F(DaemonInference, SegmentMatchesTheGoldenCaseAndADirectCoreCall) {
  const std::string png = image("case0_text");
  const HttpReply r = daemon_->post("/api/v1/image/segment", text_request(png, "red circle", kCase0Threshold));
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  const json j = r.j();
  expect_consistent(j, 320, 240);
  EXPECT_EQ(j["num_masks"], 6);
  EXPECT_GE(j["inference_time_ms"].get<double>(), 0.0);

  const core::ImageEngine engine(model_);
  core::Prompt p;
  p.text = "red circle";
  p.confidence_threshold = static_cast<float>(kCase0Threshold);
  const auto direct = engine.segment(*engine.set_image(formats::decode_image(png)), p);
  ASSERT_EQ(direct.instances.size(), j["scores"].size());
  for (size_t i = 0; i < direct.instances.size(); ++i)
    EXPECT_NEAR(direct.instances[i].score, j["scores"][i].get<double>(), 1e-5);
  std::cout << "[ measured ] daemon segment: " << j["num_masks"] << " masks, " << j["inference_time_ms"] << " ms\n";
}

TEST_F(DaemonInference, ModelInfoWithoutATracker) {
  // The golden detector has no tracker: no video model, no point prompts.
  const json m = daemon_->get("/models/info").j()["models"];
  EXPECT_EQ(m["image"]["loaded"], true);
  EXPECT_EQ(m["video"]["loaded"], false);
  for (const auto& c : m["image"]["capabilities"]) EXPECT_NE(c, "point");
}

TEST_F(DaemonInference, MultipartUploadGivesTheSameResultAsJson) {
  const std::string png = image("case0_text");
  const json via_json = daemon_->post("/api/v1/image/segment", text_request(png, "red circle", kCase0Threshold)).j();
  const std::string body = "--b0undary\r\nContent-Disposition: form-data; name=\"image\"; filename=\"c.png\"\r\n"
                           "Content-Type: image/png\r\n\r\n" + png +
                           "\r\n--b0undary\r\nContent-Disposition: form-data; name=\"text\"\r\n\r\nred circle"
                           "\r\n--b0undary\r\nContent-Disposition: form-data; name=\"confidence_threshold\"\r\n\r\n" +
                           std::to_string(kCase0Threshold) + "\r\n--b0undary--\r\n";
  const HttpReply r = daemon_->post("/api/v1/image/segment", body, {}, "multipart/form-data; boundary=b0undary");
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  const json j = r.j();
  EXPECT_EQ(j["masks"], via_json["masks"]);
  EXPECT_EQ(j["scores"], via_json["scores"]);
}

TEST_F(DaemonInference, BoxAndPointPromptsAnswerWithoutServerErrors) {
  const std::string png = image("case2_boxes_only");
  json box = {{"image", formats::base64_encode(png)},
              {"prompts", {{{"type", "box"}, {"box", {0.5, 0.5, 0.3, 0.3}}, {"label", true}}}},
              {"confidence_threshold", 0.0}};
  const HttpReply b = daemon_->post("/api/v1/image/segment", box);
  ASSERT_EQ(b.status, 200) << b.body.substr(0, 300);
  expect_consistent(b.j(), 640, 480);
  json point = {{"image", formats::base64_encode(png)},
                {"prompts", {{{"type", "point"}, {"points", {{0.5, 0.5}}}, {"point_labels", {1}}}}}};
  const HttpReply p = daemon_->post("/api/v1/image/segment", point);
  // The tiny model has no interactive head: a clear 400, never a 500.
  EXPECT_TRUE(p.status == 200 || p.status == 400) << p.body.substr(0, 300);
}

TEST_F(DaemonInference, VisualizationIsServedAsPng) {
  json req = text_request(image("case0_text"), "red circle", kCase0Threshold);
  req["return_visualization"] = true;
  const json j = daemon_->post("/api/v1/image/segment", req).j();
  ASSERT_TRUE(j.contains("visualization_url")) << j.dump().substr(0, 300);
  const std::string url = j["visualization_url"];
  EXPECT_EQ(url.rfind("/api/v1/images/viz/", 0), 0u);
  const HttpReply png = daemon_->get(url);
  ASSERT_EQ(png.status, 200);
  EXPECT_EQ(png.header("content-type"), "image/png");
  const formats::Image overlay = formats::decode_image(png.body);
  EXPECT_EQ(overlay.width, 320);
  EXPECT_EQ(overlay.height, 240);
}

TEST_F(DaemonInference, CachedFeaturesHitOnTheSecondCall) {
  const std::string png = image("case1_text_box");
  const json req = {{"image", formats::base64_encode(png)},
                    {"text_prompts", {"red circle", "blue square"}},
                    {"confidence_threshold", 0.0}};
  const HttpReply first = daemon_->post("/api/v1/image/cached-features", req);
  ASSERT_EQ(first.status, 200) << first.body.substr(0, 300);
  const HttpReply second = daemon_->post("/api/v1/image/cached-features", req);
  ASSERT_EQ(second.status, 200);
  const json a = first.j(), b = second.j();
  EXPECT_FALSE(a["cache_hit"].get<bool>());
  EXPECT_TRUE(b["cache_hit"].get<bool>());
  ASSERT_EQ(a["results"].size(), 2u);
  EXPECT_EQ(a["results"][0]["prompt"], "red circle");
  EXPECT_EQ(a["results"][1]["prompt"], "blue square");
  EXPECT_EQ(a["results"], b["results"]);  // cached features give identical masks
  for (const auto& r : a["results"]) expect_consistent(r, 500, 375);
  std::cout << "[ measured ] cached-features: miss " << a["inference_time_ms"] << " ms, hit "
            << b["inference_time_ms"] << " ms\n";
  const std::string metrics = daemon_->get("/metrics").body;
  EXPECT_EQ(metrics.find("sam3_feature_cache_hits_total 0\n"), std::string::npos);
  EXPECT_NE(metrics.find("sam3_inference_duration_seconds_count{endpoint=\"/api/v1/image/cached-features\"}"),
            std::string::npos);
}

TEST_F(DaemonInference, BatchReportsPerImageErrors) {
  const json text = {{{"type", "text"}, {"text", "red circle"}}};
  const json req = {{"images",
                     {{{"id", "c0"}, {"image", formats::base64_encode(image("case0_text"))}, {"prompts", text}},
                      {{"id", "broken"}, {"image", "not base64!"}, {"prompts", text}},
                      {{"id", 7}, {"image", formats::base64_encode(image("case2_boxes_only"))}, {"prompts", text}}}},
                    {"confidence_threshold", kCase0Threshold},
                    {"max_concurrent", 1}};
  const HttpReply r = daemon_->post("/api/v1/image/batch", req);
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  const json j = r.j();
  EXPECT_EQ(j["total_images"], 3);
  EXPECT_EQ(j["successful"], 2);
  EXPECT_EQ(j["failed"], 1);
  EXPECT_EQ(j["results"][0]["id"], "c0");
  EXPECT_EQ(j["results"][0]["num_masks"], 6);
  EXPECT_EQ(j["results"][1]["id"], "broken");
  EXPECT_EQ(j["results"][1]["error"]["code"], 400);
  EXPECT_EQ(j["results"][2]["id"], "7");
  expect_consistent(j["results"][2], 640, 480);
}

TEST_F(DaemonInference, ConcurrentClientsGetUnmixedResults) {
  const std::vector<std::string> cases = {"case0_text", "case1_text_box", "case2_boxes_only"};
  const std::vector<std::pair<int, int>> sizes = {{320, 240}, {500, 375}, {640, 480}};
  std::vector<json> serial;
  for (const auto& c : cases)
    serial.push_back(daemon_->post("/api/v1/image/segment", text_request(image(c), "red circle", 0.1)).j());
  std::atomic<int> mismatches{0}, failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2; ++i) {
        const size_t k = static_cast<size_t>(t + i) % cases.size();
        const HttpReply r = daemon_->post("/api/v1/image/segment", text_request(image(cases[k]), "red circle", 0.1));
        if (r.status != 200) {
          ++failures;
          continue;
        }
        const json j = r.j();
        if (j["image_size"]["width"] != sizes[k].first || j["masks"] != serial[k]["masks"]) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(DaemonInference, FullQueueAnswers503WithRetryAfter) {
  daemon::DaemonOptions o;
  o.serve.queue_depth = 1;
  o.cache.enabled = false;  // every request runs the backbone
  LocalDaemon d(o, [] { return core::ModelReplicas{{model_}, {model_}}; });
  ASSERT_TRUE(d.server().wait_until_loaded(std::chrono::seconds(30)));
  const json req = text_request(image("case2_boxes_only"), "red circle", 0.5);
  std::vector<std::future<HttpReply>> replies;
  for (int i = 0; i < 8; ++i)
    replies.push_back(std::async(std::launch::async, [&] { return d.post("/api/v1/image/segment", req); }));
  int ok = 0, overloaded = 0;
  for (auto& f : replies) {
    const HttpReply r = f.get();
    if (r.status == 200) ++ok;
    if (r.status == 503) {
      ++overloaded;
      EXPECT_EQ(r.j()["error"]["type"], "overloaded");
      EXPECT_FALSE(r.header("retry-after").empty());
    }
  }
  std::cout << "[ measured ] queue depth 1, 8 clients: " << ok << " served, " << overloaded << " got 503\n";
  EXPECT_GE(ok, 1);
  EXPECT_GE(overloaded, 1);
  EXPECT_EQ(ok + overloaded, 8);
}

TEST_F(DaemonInference, StopDrainsInFlightRequests) {
  daemon::DaemonOptions o;
  o.cache.enabled = false;
  auto d = std::make_unique<LocalDaemon>(o, [] { return core::ModelReplicas{{model_}, {model_}}; });
  ASSERT_TRUE(d->server().wait_until_loaded(std::chrono::seconds(30)));
  const int port = d->port();
  const json req = text_request(image("case2_boxes_only"), "red circle", 0.5);
  auto inflight = std::async(std::launch::async, [&] { return http(port, "POST", "/api/v1/image/segment", req.dump()); });
  while (d->server().context().in_flight().load() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past admission, into the model
  d->server().stop();
  EXPECT_EQ(inflight.get().status, 200);  // finished, not cut off
  EXPECT_EQ(http(port, "GET", "/health").status, 0);  // nobody listens any more
}

TEST_F(DaemonInference, TwoReplicasServeTheSameAnswers) {
  // Two replicas of the model (on CPU here; one per GPU in a deployment):
  // requests go to the least-loaded one, the answers do not depend on which.
  daemon::DaemonOptions o;
  o.cache.enabled = false;
  LocalDaemon d(o, [] { return core::ModelReplicas{{model_, model_}, {model_}}; });
  ASSERT_TRUE(d.server().wait_until_loaded(std::chrono::seconds(30)));
  const json info = d.get("/models/info").j();
  EXPECT_EQ(info["models"]["image"]["devices"], json::array({"cpu", "cpu"}));
  const std::vector<std::string> cases = {"case0_text", "case1_text_box", "case2_boxes_only"};
  json items = json::array();
  std::vector<json> single;
  for (int i = 0; i < 6; ++i) {
    const std::string& c = cases[static_cast<size_t>(i) % cases.size()];
    items.push_back({{"id", "img" + std::to_string(i)},
                     {"image", formats::base64_encode(image(c))},
                     {"prompts", {{{"type", "text"}, {"text", "red circle"}}}}});
    single.push_back(daemon_->post("/api/v1/image/segment", text_request(image(c), "red circle", 0.1)).j());
  }
  // Two concurrent batches keep both replicas busy.
  const json req = {{"images", items}, {"confidence_threshold", 0.1}, {"max_concurrent", 6}};
  auto other = std::async(std::launch::async, [&] { return d.post("/api/v1/image/batch", req); });
  const HttpReply r = d.post("/api/v1/image/batch", req);
  for (const HttpReply& reply : {r, other.get()}) {
    ASSERT_EQ(reply.status, 200) << reply.body.substr(0, 300);
    const json j = reply.j();
    EXPECT_EQ(j["successful"], 6);
    for (size_t i = 0; i < 6; ++i) {
      EXPECT_EQ(j["results"][i]["id"], "img" + std::to_string(i));
      EXPECT_EQ(j["results"][i]["masks"], single[i]["masks"]) << "image " << i;
      EXPECT_EQ(j["results"][i]["scores"], single[i]["scores"]) << "image " << i;
    }
  }
  // Every image was one job on one of the replicas (backbone batch 1), and
  // /metrics counts them per replica.
  const auto jobs = d.server().context().device_jobs();
  ASSERT_EQ(jobs.size(), 2u);
  EXPECT_EQ(jobs[0].first, "cpu#0");
  EXPECT_EQ(jobs[1].first, "cpu#1");
  EXPECT_EQ(jobs[0].second + jobs[1].second, 12u);
  std::cout << "[ measured ] jobs per replica: " << jobs[0].second << " + " << jobs[1].second << "\n";
  const std::string metrics = d.get("/metrics").body;
  EXPECT_NE(metrics.find("sam3_device_jobs_total{device=\"cpu#0\"} " + std::to_string(jobs[0].second)),
            std::string::npos);
  EXPECT_EQ(d.server().context().queue_depth(), 0);
}

}  // namespace
}  // namespace sam3::test
