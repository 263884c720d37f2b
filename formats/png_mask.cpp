// SPDX-License-Identifier: Apache-2.0
#include "formats/png_mask.h"

#include <algorithm>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include "core/errors.h"
#include "formats/image_probe.h"

namespace sam3::formats {
namespace {

constexpr uint64_t kMaxMaskPixels = 100'000'000;  // as ImageLimits' default

void check_mask(const Mask& m, const std::string& what) {
  if (m.width <= 0 || m.height <= 0)
    throw InvalidInput(what + ": expected a non-empty mask, got " + std::to_string(m.width) + "x" +
                       std::to_string(m.height));
  const size_t want = static_cast<size_t>(m.width) * static_cast<size_t>(m.height);
  if (m.data.size() != want)
    throw InvalidInput(what + ": a " + std::to_string(m.width) + "x" + std::to_string(m.height) + " mask needs " +
                       std::to_string(want) + " bytes, got " + std::to_string(m.data.size()));
}

std::string png_bytes(const cv::Mat& mat) {
  std::vector<uchar> buf;
  try {
    if (!cv::imencode(".png", mat, buf, {cv::IMWRITE_PNG_COMPRESSION, 3})) throw Error("OpenCV could not encode a PNG");
  } catch (const cv::Exception& e) {
    throw Error(std::string("OpenCV could not encode a PNG: ") + e.err);
  }
  return std::string(buf.begin(), buf.end());
}

}  // namespace

std::string encode_mask_png(const Mask& mask) {
  check_mask(mask, "encode_mask_png");
  cv::Mat img(mask.height, mask.width, CV_8UC1);
  const uint8_t* src = mask.data.data();
  for (int y = 0; y < mask.height; ++y) {
    uint8_t* row = img.ptr<uint8_t>(y);
    for (int x = 0; x < mask.width; ++x) row[x] = *src++ ? 255 : 0;
  }
  return png_bytes(img);
}

std::string encode_label_png(int width, int height, const std::vector<Mask>& masks, const std::vector<uint32_t>& ids) {
  if (width <= 0 || height <= 0)
    throw InvalidInput("encode_label_png: expected a non-empty size, got " + std::to_string(width) + "x" +
                       std::to_string(height));
  if (!ids.empty() && ids.size() != masks.size())
    throw InvalidInput("encode_label_png: expected " + std::to_string(masks.size()) + " ids (one per mask), got " +
                       std::to_string(ids.size()));
  uint32_t max_label = 0;
  for (size_t i = 0; i < masks.size(); ++i) {
    const uint32_t label = ids.empty() ? static_cast<uint32_t>(i + 1) : ids[i];
    if (label == 0 || label > 65535)
      throw InvalidInput("encode_label_png: label of mask " + std::to_string(i) + " must be 1..65535, got " +
                         std::to_string(label));
    const std::string what = "encode_label_png: mask " + std::to_string(i);
    check_mask(masks[i], what);
    if (masks[i].width != width || masks[i].height != height)
      throw InvalidInput(what + " is " + std::to_string(masks[i].width) + "x" + std::to_string(masks[i].height) +
                         ", expected " + std::to_string(width) + "x" + std::to_string(height));
    max_label = std::max(max_label, label);
  }
  std::vector<uint16_t> labels(static_cast<size_t>(width) * height, 0);
  for (size_t i = 0; i < masks.size(); ++i) {
    const auto label = static_cast<uint16_t>(ids.empty() ? i + 1 : ids[i]);
    const uint8_t* m = masks[i].data.data();
    for (size_t p = 0; p < labels.size(); ++p)
      if (m[p]) labels[p] = label;
  }
  cv::Mat img;
  if (max_label <= 255) {
    img.create(height, width, CV_8UC1);
    std::transform(labels.begin(), labels.end(), img.ptr<uint8_t>(0),
                   [](uint16_t v) { return static_cast<uint8_t>(v); });
  } else {
    img = cv::Mat(height, width, CV_16UC1, labels.data());
  }
  return png_bytes(img);
}

LabelImage decode_label_png(std::string_view bytes) {
  const ImageHeader header = probe_image(bytes);
  if (header.format != ImageFormat::png)
    throw InvalidInput(std::string("mask: expected a PNG, got ") + image_format_name(header.format));
  if (static_cast<uint64_t>(header.width) * static_cast<uint64_t>(header.height) > kMaxMaskPixels)
    throw TooLarge("mask: a " + std::to_string(header.width) + "x" + std::to_string(header.height) +
                   " PNG exceeds the limit of " + std::to_string(kMaxMaskPixels) + " pixels");
  cv::Mat img;
  try {
    const cv::Mat raw(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
    img = cv::imdecode(raw, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw InvalidInput(std::string("mask: cannot decode PNG: ") + e.err);
  }
  if (img.empty()) throw InvalidInput("mask: cannot decode PNG: the data is corrupt");
  if (img.channels() != 1 || (img.depth() != CV_8U && img.depth() != CV_16U))
    throw InvalidInput("mask: expected an 8- or 16-bit greyscale PNG, got " + std::to_string(img.channels()) +
                       " channels");
  LabelImage out{img.cols, img.rows, {}};
  out.labels.reserve(static_cast<size_t>(img.cols) * img.rows);
  for (int y = 0; y < img.rows; ++y) {
    if (img.depth() == CV_8U) {
      const uint8_t* row = img.ptr<uint8_t>(y);
      out.labels.insert(out.labels.end(), row, row + img.cols);
    } else {
      const uint16_t* row = img.ptr<uint16_t>(y);
      out.labels.insert(out.labels.end(), row, row + img.cols);
    }
  }
  return out;
}

Mask decode_mask_png(std::string_view bytes) {
  const LabelImage l = decode_label_png(bytes);
  Mask m{l.width, l.height, std::vector<uint8_t>(l.labels.size())};
  std::transform(l.labels.begin(), l.labels.end(), m.data.begin(), [](uint16_t v) { return v ? 1 : 0; });
  return m;
}

}  // namespace sam3::formats
