// SPDX-License-Identifier: Apache-2.0
#include <set>

#include <gtest/gtest.h>
#include <toml++/toml.h>

#include "cli/common.h"
#include "cli/prompt_args.h"
#include "cli/settings.h"
#include "core/errors.h"
#include "test_util.h"

namespace sam3::cli {
namespace {

EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(Settings, NoKeyEnvOrFlagDeclaredTwice) {
  std::set<std::string> keys, envs, flags;
  for (const auto& s : settings()) {
    EXPECT_TRUE(keys.insert(s.key).second) << "key declared twice: " << s.key;
    EXPECT_TRUE(envs.insert(s.env).second) << "env declared twice: " << s.env;
    if (s.flag) EXPECT_TRUE(flags.insert(s.flag).second) << "flag declared twice: " << s.flag;
  }
  // Every environment variable of SPEC.md section 4 is bound.
  for (const char* v : {"SERVER_HOST", "SERVER_PORT", "SERVER_WORKERS", "LOG_LEVEL", "SAM3_CHECKPOINT", "SAM3_BPE_PATH",
                        "IMAGE_MODEL_DEVICE", "IMAGE_MODEL_COMPILE", "IMAGE_MODEL_CONFIDENCE_THRESHOLD",
                        "IMAGE_MODEL_RESOLUTION", "VIDEO_MODEL_GPUS", "VIDEO_MODEL_COMPILE",
                        "VIDEO_MODEL_TEMPORAL_DISAMBIGUATION", "MAX_CONCURRENT_SESSIONS", "SESSION_TIMEOUT_SECONDS",
                        "SESSION_CLEANUP_INTERVAL_SECONDS", "ENABLE_FEATURE_CACHE", "FEATURE_CACHE_TTL_SECONDS",
                        "MAX_CACHE_SIZE_MB", "REQUIRE_API_KEY", "API_KEYS", "RATE_LIMIT_ENABLED",
                        "RATE_LIMIT_REQUESTS_PER_MINUTE", "UPLOAD_DIR", "OUTPUT_DIR", "MAX_UPLOAD_SIZE_MB",
                        "ENABLE_METRICS", "METRICS_PORT"})
    EXPECT_TRUE(envs.count(v)) << "SPEC variable not bound: " << v;
}

TEST(Settings, DefaultsWithoutAnySource) {
  const AppConfig c = resolve_config("", {}, fake_env({}));
  EXPECT_EQ(c.serve.host, "127.0.0.1");
  EXPECT_EQ(c.serve.port, 8080);
  EXPECT_EQ(c.limits.max_upload_mb, 100);
  EXPECT_FLOAT_EQ(c.segment.confidence_threshold, 0.5f);
  EXPECT_EQ(c.model.threads, 0);
  EXPECT_TRUE(c.serve.cors_origins.empty());
}

TEST(Settings, PrecedenceFlagOverEnvOverFileOverDefault) {
  test::TempDir dir;
  const std::string file = dir.file("c.toml");
  test::write_file(file, "[server]\nport = 9001\nhost = \"0.0.0.0\"\nworkers = 3\n[security]\napi_keys = [\"a\", \"b\"]\n");
  AppConfig c = resolve_config(file, {}, fake_env({}));
  EXPECT_EQ(c.serve.port, 9001);
  EXPECT_EQ(c.serve.host, "0.0.0.0");
  EXPECT_EQ(c.serve.api_keys, (std::vector<std::string>{"a", "b"}));

  c = resolve_config(file, {}, fake_env({{"SERVER_PORT", "9002"}}));
  EXPECT_EQ(c.serve.port, 9002);
  EXPECT_EQ(c.serve.workers, 3);  // untouched by env

  FlagValues flags{{"port", std::string("9003")}};
  c = resolve_config(file, flags, fake_env({{"SERVER_PORT", "9002"}}));
  EXPECT_EQ(c.serve.port, 9003);
  EXPECT_EQ(c.serve.host, "0.0.0.0");  // file value survives
}

TEST(Settings, DevicesAndPipelineSizes) {
  const AppConfig c = resolve_config("", FlagValues{{"io-threads", std::string("3")}},
                                     fake_env({{"SAM3_DEVICES", "cuda:0, cuda:1"}, {"SAM3_BACKBONE_BATCH", "4"},
                                               {"SAM3_IO_THREADS", "1"}, {"SAM3_IN_FLIGHT", "12"}}));
  EXPECT_EQ(c.model.devices, (std::vector<std::string>{"cuda:0", "cuda:1"}));
  EXPECT_EQ(c.pipeline.io_threads, 3);  // the flag wins over the environment
  EXPECT_EQ(c.pipeline.backbone_batch, 4);
  EXPECT_EQ(c.pipeline.in_flight, 12);
  const AppConfig d = resolve_config("", {}, fake_env({}));
  EXPECT_TRUE(d.model.devices.empty());
  EXPECT_EQ(d.pipeline.io_threads, 0);
  EXPECT_EQ(d.pipeline.backbone_batch, 1);
}

TEST(Settings, UnknownKeyIsRejectedByName) {
  test::TempDir dir;
  const std::string file = dir.file("c.toml");
  test::write_file(file, "[server]\nprot = 1\n");
  try {
    resolve_config(file, {}, fake_env({}));
    FAIL() << "unknown key accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("server.prot"), std::string::npos) << e.what();
  }
}

TEST(Settings, BadValuesAreRejectedByName) {
  struct Case {
    const char* env;
    const char* value;
  };
  for (const Case& c : {Case{"SERVER_PORT", "70000"}, Case{"SERVER_PORT", "80x"}, Case{"IMAGE_MODEL_DEVICE", "gpu"},
                        Case{"IMAGE_MODEL_CONFIDENCE_THRESHOLD", "1.5"}, Case{"REQUIRE_API_KEY", "maybe"},
                        Case{"LOG_LEVEL", "loud"}, Case{"SAM3_DTYPE", "fp8"}, Case{"SAM3_THREADS", "-1"},
                        Case{"SAM3_DEVICES", "cuda:0,cuda:0"}, Case{"SAM3_DEVICES", "cpu,tpu"},
                        Case{"SAM3_IO_THREADS", "-2"}, Case{"SAM3_BACKBONE_BATCH", "0"}}) {
    try {
      resolve_config("", {}, fake_env({{c.env, c.value}}));
      ADD_FAILURE() << c.env << "=" << c.value << " accepted";
    } catch (const InvalidInput& e) {
      EXPECT_NE(std::string(e.what()).find(c.env), std::string::npos) << e.what();
    }
  }
  try {
    resolve_config("", FlagValues{{"threads", std::string("many")}}, fake_env({}));
    ADD_FAILURE() << "--threads many accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("--threads"), std::string::npos) << e.what();
  }
}

TEST(Settings, TomlSyntaxErrorNamesTheFile) {
  test::TempDir dir;
  const std::string file = dir.file("broken.toml");
  test::write_file(file, "[server\nport = 1\n");
  try {
    resolve_config(file, {}, fake_env({}));
    FAIL() << "broken TOML accepted";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("broken.toml"), std::string::npos) << e.what();
  }
}

TEST(Settings, SampleTomlParsesBackToTheDefaults) {
  test::TempDir dir;
  const std::string file = dir.file("sample.toml");
  test::write_file(file, sample_toml());
  const AppConfig from_file = resolve_config(file, {}, fake_env({}));
  const AppConfig defaults;
  for (const auto& s : settings()) EXPECT_EQ(s.get(from_file), s.get(defaults)) << s.key;
}

TEST(Settings, ShippedSampleFilesDocumentEveryKey) {
  const std::string toml_text = test::read_file(std::string(SAM3_SOURCE_DIR) + "/samples/sam3.toml");
  const std::string env_text = test::read_file(std::string(SAM3_SOURCE_DIR) + "/.env.example");
  ASSERT_FALSE(toml_text.empty());
  ASSERT_FALSE(env_text.empty());
  for (const auto& s : settings()) {
    const std::string key = s.key;
    const std::string leaf = key.substr(key.find('.') + 1);
    EXPECT_NE(toml_text.find(leaf + " ="), std::string::npos) << "samples/sam3.toml lacks " << key;
    EXPECT_NE(env_text.find(std::string(s.env) + "="), std::string::npos) << ".env.example lacks " << s.env;
  }
}

TEST(PromptArgs, BoxesAndPoints) {
  auto b = parse_box("0.5,0.4,0.2,0.1");
  EXPECT_FLOAT_EQ(b.cx, 0.5f);
  EXPECT_FLOAT_EQ(b.h, 0.1f);
  EXPECT_TRUE(b.positive);
  EXPECT_FALSE(parse_box("0.5,0.4,0.2,0.1:neg").positive);
  EXPECT_FALSE(parse_point("0.1,0.9:0").positive);
  EXPECT_TRUE(parse_point("0.1,0.9:pos").positive);
  auto fp = parse_frame_point("12:0.25,0.75:neg");
  EXPECT_EQ(fp.frame, 12);
  EXPECT_FLOAT_EQ(fp.point.x, 0.25f);
  EXPECT_FALSE(fp.point.positive);
  auto fb = parse_frame_box("3:0.5,0.5,0.5,0.5");
  EXPECT_EQ(fb.frame, 3);
  auto sh = parse_shard("2/5");
  EXPECT_EQ(sh.index, 2);
  EXPECT_EQ(sh.count, 5);
}

TEST(PromptArgs, RejectsMalformedValues) {
  for (const char* s : {"", "0.5,0.5,0.5", "0.5,0.5,0.5,0.5,0.5", "a,b,c,d", "0.5,0.5,0,0.2", "1.5,0.5,0.2,0.2",
                        "0.5,0.5,0.2,0.2:maybe", "-0.1,0.5,0.2,0.2", "nan,0.5,0.2,0.2"})
    EXPECT_THROW(parse_box(s), UsageError) << s;
  for (const char* s : {"", "0.5", "0.5,0.5,0.5", "x,0.5", "0.5,2"}) EXPECT_THROW(parse_point(s), UsageError) << s;
  for (const char* s : {"0.5,0.5", "-1:0.5,0.5", "a:0.5,0.5"}) EXPECT_THROW(parse_frame_point(s), UsageError) << s;
  for (const char* s : {"1", "5/5", "-1/3", "a/b", "1/0"}) EXPECT_THROW(parse_shard(s), UsageError) << s;
}

}  // namespace
}  // namespace sam3::cli
