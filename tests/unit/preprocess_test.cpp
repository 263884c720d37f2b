// SPDX-License-Identifier: Apache-2.0
// Preprocessing (Sam3Processor.set_image transform): shape, value range,
// input validation, and parity with the reference's input.preprocessed.
#include <iostream>
#include <string>

#include "core/checkpoint/safetensors.h"
#include "core/errors.h"
#include "core/model/preprocess.h"
#include "formats/image_io.h"
#include "test_util.h"

namespace {

using sam3::core::preprocess_image;
using sam3::core::preprocess_rgb_tensor;

sam3::formats::Image make_image(int w, int h) {
  sam3::formats::Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(static_cast<size_t>(w) * h * 3);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = static_cast<uint8_t>((i * 37 + i / 7) % 256);
  return img;
}

TEST(Preprocess, ShapeDtypeAndRange) {
  auto x = preprocess_image(make_image(40, 30), 28);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{1, 3, 28, 28}));
  EXPECT_EQ(x.scalar_type(), torch::kFloat32);
  EXPECT_GE(x.min().item<float>(), -1.0f);
  EXPECT_LE(x.max().item<float>(), 1.0f);
  // Values are (k/255 - 0.5)/0.5 for integer k: the resize rounds to 8 bits.
  auto k = (x * 0.5 + 0.5) * 255.0;
  EXPECT_LT((k - k.round()).abs().max().item<float>(), 1e-3f);
}

TEST(Preprocess, SameSizeIsExactNormalisation) {
  auto img = make_image(16, 16);
  auto x = preprocess_image(img, 16);
  // Pixel (y=2, x=5), channel 1 maps straight through without a resize.
  const uint8_t v = img.rgb[(2 * 16 + 5) * 3 + 1];
  EXPECT_FLOAT_EQ(x[0][1][2][5].item<float>(), (v / 255.0f - 0.5f) / 0.5f);
}

TEST(Preprocess, ConstantImageStaysConstant) {
  sam3::formats::Image img;
  img.width = 33;
  img.height = 17;
  img.rgb.assign(33 * 17 * 3, 200);
  auto x = preprocess_image(img, 24);
  const float want = (200 / 255.0f - 0.5f) / 0.5f;
  EXPECT_NEAR(x.min().item<float>(), want, 1e-6);
  EXPECT_NEAR(x.max().item<float>(), want, 1e-6);
}

TEST(Preprocess, ChannelOrderIsKept) {
  sam3::formats::Image img;
  img.width = 8;
  img.height = 8;
  img.rgb.resize(8 * 8 * 3);
  for (size_t i = 0; i < img.rgb.size(); i += 3) {
    img.rgb[i] = 255;  // R
    img.rgb[i + 1] = 0;
    img.rgb[i + 2] = 0;
  }
  auto x = preprocess_image(img, 4);
  EXPECT_FLOAT_EQ(x[0][0].min().item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(x[0][1].max().item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(x[0][2].max().item<float>(), -1.0f);
}

TEST(Preprocess, RejectsBadInput) {
  sam3::formats::Image empty;
  EXPECT_THROW(preprocess_image(empty, 16), sam3::InvalidInput);
  auto img = make_image(4, 4);
  img.rgb.pop_back();
  EXPECT_THROW(preprocess_image(img, 16), sam3::InvalidInput);
  EXPECT_THROW(preprocess_image(make_image(4, 4), 0), sam3::InvalidInput);
  EXPECT_THROW(preprocess_rgb_tensor(torch::zeros({4, 4, 3}, torch::kFloat32), 8), sam3::InvalidInput);
  EXPECT_THROW(preprocess_rgb_tensor(torch::zeros({4, 4, 4}, torch::kUInt8), 8), sam3::InvalidInput);
}

// input.preprocessed of every golden case, from the case PNG.
TEST(Preprocess, MatchesReferenceGolden) {
  SAM3_REQUIRE_GOLDEN();
  torch::NoGradGuard no_grad;
  const std::string dir = sam3::test::golden_dir() + "/image_tiny/";
  for (const char* name : {"case0_text", "case1_text_box", "case2_boxes_only"}) {
    SCOPED_TRACE(name);
    auto img = sam3::formats::read_image_file(dir + name + ".png");
    sam3::core::SafeTensorsFile golden(dir + name + ".safetensors");
    auto want = golden.get("input.preprocessed");
    auto got = preprocess_image(img, static_cast<int>(want.size(-1)));
    ASSERT_EQ(got.sizes(), want.sizes());
    auto diff = (got - want).abs();
    const float max_err = diff.max().item<float>();
    const double grey = 1.0 / 127.5;
    const int64_t differing = (diff > grey * 0.5).sum().item<int64_t>();
    std::cout << "[preprocess] " << name << ": max abs err " << max_err << " (" << max_err / grey
              << " grey levels), values differing by a grey level: " << differing << " of " << want.numel()
              << "\n";
    RecordProperty(std::string(name) + "_max_abs_err", std::to_string(max_err));
    RecordProperty(std::string(name) + "_differing_values", std::to_string(differing));
    EXPECT_LE(max_err, grey + 1e-6);
  }
}

}  // namespace
