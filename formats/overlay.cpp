// SPDX-License-Identifier: Apache-2.0
#include "formats/overlay.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

#include "core/errors.h"
#include "formats/image_io.h"

namespace sam3::formats {
namespace {

cv::Scalar scalar(const std::array<uint8_t, 3>& c) {
  return cv::Scalar(c[0], c[1], c[2]);
}

std::string label_text(const Instance& inst) {
  char buf[64];
  if (inst.obj_id)
    std::snprintf(buf, sizeof buf, "#%lld %.2f", static_cast<long long>(*inst.obj_id), inst.score);
  else
    std::snprintf(buf, sizeof buf, "%.2f", inst.score);
  return buf;
}

}  // namespace

std::array<uint8_t, 3> palette_color(uint64_t index) {
  // HSV with hue stepping by the golden ratio; s and v fixed for legibility.
  const double h = std::fmod(0.1 + static_cast<double>(index % 100003) * 0.6180339887498949, 1.0) * 6.0;
  const double s = 0.75, v = 0.95;
  const int sector = static_cast<int>(h) % 6;
  const double f = h - std::floor(h);
  const double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  double r = v, g = t, b = p;
  switch (sector) {
    case 0:
      r = v;
      g = t;
      b = p;
      break;
    case 1:
      r = q;
      g = v;
      b = p;
      break;
    case 2:
      r = p;
      g = v;
      b = t;
      break;
    case 3:
      r = p;
      g = q;
      b = v;
      break;
    case 4:
      r = t;
      g = p;
      b = v;
      break;
    default:
      r = v;
      g = p;
      b = q;
      break;
  }
  auto u8 = [](double x) { return static_cast<uint8_t>(std::lround(x * 255.0)); };
  return {u8(r), u8(g), u8(b)};
}

Image render_overlay(const Image& image, const SegmentResult& result, const OverlayOptions& options) {
  check_image(image, "render_overlay");
  if (!(options.alpha >= 0.f && options.alpha <= 1.f))
    throw InvalidInput("render_overlay: expected alpha in 0..1, got " + std::to_string(options.alpha));
  for (size_t i = 0; i < result.instances.size(); ++i) {
    const Mask& m = result.instances[i].mask;
    if (m.width != image.width || m.height != image.height ||
        m.data.size() != static_cast<size_t>(m.width) * static_cast<size_t>(m.height))
      throw InvalidInput("render_overlay: mask " + std::to_string(i) + " is " + std::to_string(m.width) + "x" +
                         std::to_string(m.height) + ", expected the image's " + std::to_string(image.width) + "x" +
                         std::to_string(image.height));
  }

  Image out = image;
  cv::Mat canvas(out.height, out.width, CV_8UC3, out.rgb.data());  // RGB order throughout
  const int short_side = std::min(out.width, out.height);
  const int thickness = std::max(1, short_side / 400);
  const double font_scale = std::clamp(short_side / 1000.0, 0.35, 1.5);
  // Fixed-point blend weights (x256) keep the result exact and platform-independent.
  const int a = static_cast<int>(std::lround(options.alpha * 256.f));

  for (size_t i = 0; i < result.instances.size(); ++i) {
    const Instance& inst = result.instances[i];
    const auto color = palette_color(inst.obj_id ? static_cast<uint64_t>(*inst.obj_id) : i);
    const uint8_t* m = inst.mask.data.data();
    uint8_t* px = out.rgb.data();
    for (size_t p = 0, n = inst.mask.data.size(); p < n; ++p, px += 3) {
      if (!m[p]) continue;
      for (int c = 0; c < 3; ++c) px[c] = static_cast<uint8_t>((px[c] * (256 - a) + color[c] * a + 128) >> 8);
    }
    if (options.draw_contours) {
      const cv::Mat mask(inst.mask.height, inst.mask.width, CV_8UC1, const_cast<uint8_t*>(m));
      std::vector<std::vector<cv::Point>> contours;
      cv::findContours(mask, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
      cv::drawContours(canvas, contours, -1, scalar(color), thickness, cv::LINE_8);
    }
  }
  // Boxes and labels last so that no mask covers them.
  for (size_t i = 0; i < result.instances.size(); ++i) {
    const Instance& inst = result.instances[i];
    const auto color = palette_color(inst.obj_id ? static_cast<uint64_t>(*inst.obj_id) : i);
    const cv::Point p0(static_cast<int>(std::lround(inst.box_xyxy[0])),
                       static_cast<int>(std::lround(inst.box_xyxy[1])));
    const cv::Point p1(static_cast<int>(std::lround(inst.box_xyxy[2])),
                       static_cast<int>(std::lround(inst.box_xyxy[3])));
    if (options.draw_boxes) cv::rectangle(canvas, p0, p1, scalar(color), thickness, cv::LINE_8);
    if (options.draw_labels) {
      const std::string text = label_text(inst);
      int baseline = 0;
      const cv::Size ts = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, font_scale, 1, &baseline);
      // Above the box when there is room, inside it otherwise.
      const int top = p0.y - ts.height - baseline - 2 >= 0 ? p0.y - ts.height - baseline - 2 : std::max(0, p0.y);
      const cv::Point org(std::max(0, p0.x), top);
      cv::rectangle(canvas, org, org + cv::Point(ts.width + 4, ts.height + baseline + 2), scalar(color), cv::FILLED);
      const int luma = (299 * color[0] + 587 * color[1] + 114 * color[2]) / 1000;
      const cv::Scalar ink = luma > 140 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
      cv::putText(canvas, text, org + cv::Point(2, ts.height + 1), cv::FONT_HERSHEY_SIMPLEX, font_scale, ink, 1,
                  cv::LINE_8);
    }
  }
  return out;
}

}  // namespace sam3::formats
