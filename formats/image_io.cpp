// SPDX-License-Identifier: Apache-2.0
#include "formats/image_io.h"

#include <climits>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/errors.h"
#include "formats/atomic_file.h"
#include "formats/image_probe.h"

namespace sam3::formats {
namespace {

std::string size_text(int64_t w, int64_t h) {
  return std::to_string(w) + "x" + std::to_string(h);
}

void check_pixels(int64_t w, int64_t h, const ImageLimits& limits) {
  if (static_cast<uint64_t>(w) * static_cast<uint64_t>(h) > limits.max_pixels)
    throw TooLarge("image of " + size_text(w, h) + " = " + std::to_string(w * h) + " pixels exceeds the limit of " +
                   std::to_string(limits.max_pixels) + " pixels");
}

// Wraps an RGB Image as BGR for OpenCV's encoders.
cv::Mat to_bgr(const Image& image) {
  const cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.rgb.data()));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  return bgr;
}

std::string encode_with(const cv::Mat& mat, const char* ext, const std::vector<int>& params) {
  std::vector<uchar> buf;
  try {
    if (!cv::imencode(ext, mat, buf, params)) throw Error(std::string("OpenCV could not encode ") + ext);
  } catch (const cv::Exception& e) {
    throw Error(std::string("OpenCV could not encode ") + ext + ": " + e.err);
  }
  return std::string(buf.begin(), buf.end());
}

}  // namespace

void check_image(const Image& image, const char* what) {
  if (image.width <= 0 || image.height <= 0)
    throw InvalidInput(std::string(what) + ": expected a non-empty image, got " + size_text(image.width, image.height));
  const uint64_t want = uint64_t{3} * static_cast<uint64_t>(image.width) * static_cast<uint64_t>(image.height);
  if (image.rgb.size() != want)
    throw InvalidInput(std::string(what) + ": a " + size_text(image.width, image.height) + " RGB image needs " +
                       std::to_string(want) + " bytes, got " + std::to_string(image.rgb.size()));
}

Image decode_image(std::string_view bytes, const ImageLimits& limits) {
  if (bytes.size() > limits.max_bytes)
    throw TooLarge("image data is " + std::to_string(bytes.size()) + " bytes, over the limit of " +
                   std::to_string(limits.max_bytes));
  if (bytes.size() > static_cast<size_t>(INT_MAX))
    throw TooLarge("image data is " + std::to_string(bytes.size()) + " bytes, more than OpenCV can decode");
  const ImageHeader header = probe_image(bytes);
  const char* fmt = image_format_name(header.format);
  check_pixels(header.width, header.height, limits);

  cv::Mat bgr;
  try {
    const cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
    // IMREAD_COLOR: 8-bit BGR whatever the source depth/channels, EXIF
    // orientation applied (OpenCV >= 3.1; checked by image_io_test).
    bgr = cv::imdecode(raw, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw InvalidInput(std::string("cannot decode ") + fmt + " image: " + e.err);
  }
  if (bgr.empty() || bgr.type() != CV_8UC3)
    throw InvalidInput(std::string("cannot decode ") + fmt +
                       " image: the data is corrupt or uses an unsupported variant");
  check_pixels(bgr.cols, bgr.rows, limits);  // formats whose header size was unknown

  Image out;
  out.width = bgr.cols;
  out.height = bgr.rows;
  out.rgb.resize(static_cast<size_t>(out.width) * out.height * 3);
  cv::Mat rgb(out.height, out.width, CV_8UC3, out.rgb.data());
  cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);  // writes into out.rgb: same size and type, no reallocation
  return out;
}

Image read_image_file(const std::string& path, const ImageLimits& limits) {
  const std::string bytes = read_file(path, limits.max_bytes);  // NotFound / TooLarge name the file
  try {
    return decode_image(bytes, limits);
  } catch (const TooLarge& e) {
    throw TooLarge("'" + path + "': " + e.what());
  } catch (const InvalidInput& e) {
    throw InvalidInput("'" + path + "': " + e.what());
  }
}

std::string encode_png(const Image& image) {
  check_image(image, "encode_png");
  return encode_with(to_bgr(image), ".png", {cv::IMWRITE_PNG_COMPRESSION, 3});
}

std::string encode_jpeg(const Image& image, int quality) {
  check_image(image, "encode_jpeg");
  if (quality < 1 || quality > 100)
    throw InvalidInput("encode_jpeg: expected quality 1..100, got " + std::to_string(quality));
  return encode_with(to_bgr(image), ".jpg", {cv::IMWRITE_JPEG_QUALITY, quality});
}

}  // namespace sam3::formats
