// SPDX-License-Identifier: Apache-2.0
#include "daemon/request_parse.h"

#include <cmath>

#include "core/errors.h"
#include "formats/base64.h"

namespace sam3::daemon {
namespace {

constexpr size_t kMaxTextChars = 1000;
constexpr size_t kMaxGeometry = 256;

[[noreturn]] void bad(const std::string& field, const std::string& expected, const json& seen) {
  std::string shown = seen.dump(-1, ' ', false, json::error_handler_t::replace);
  if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
  throw InvalidInput("'" + field + "': expected " + expected + ", got " + shown);
}

float unit_number(const json& v, const std::string& field) {
  if (!v.is_number()) bad(field, "a number in [0, 1]", v);
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < 0.0 || d > 1.0) bad(field, "a number in [0, 1]", v);
  return static_cast<float>(d);
}

bool label_value(const json& v, const std::string& field) {
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) return v.get<int64_t>() == 1;
  bad(field, "true/false or 1/0", v);
}

}  // namespace

core::Prompt parse_prompts(const json& prompts, float confidence_threshold, const std::string& field) {
  if (!prompts.is_array() || prompts.empty()) bad(field, "a non-empty array of prompts", prompts);
  core::Prompt p;
  p.confidence_threshold = confidence_threshold;
  for (size_t i = 0; i < prompts.size(); ++i) {
    const json& item = prompts[i];
    const std::string at = field + "[" + std::to_string(i) + "]";
    if (!item.is_object()) bad(at, "an object with a \"type\"", item);
    const auto type = item.find("type");
    if (type == item.end() || !type->is_string()) bad(at + ".type", "\"text\", \"box\" or \"point\"", item.value("type", json()));
    const std::string t = type->get<std::string>();
    if (t == "text") {
      const auto text = item.find("text");
      if (text == item.end() || !text->is_string() || text->get<std::string>().empty())
        bad(at + ".text", "a non-empty string", item.value("text", json()));
      if (text->get<std::string>().size() > kMaxTextChars)
        bad(at + ".text", "at most " + std::to_string(kMaxTextChars) + " characters", json("<long text>"));
      if (p.text) throw InvalidInput("'" + at + "': at most one text prompt per image (use cached-features for several)");
      p.text = text->get<std::string>();
    } else if (t == "box") {
      const auto box = item.find("box");
      if (box == item.end() || !box->is_array() || box->size() != 4)
        bad(at + ".box", "[cx, cy, w, h] normalized to [0, 1]", item.value("box", json()));
      core::BoxPrompt b;
      b.cx = unit_number((*box)[0], at + ".box[0]");
      b.cy = unit_number((*box)[1], at + ".box[1]");
      b.w = unit_number((*box)[2], at + ".box[2]");
      b.h = unit_number((*box)[3], at + ".box[3]");
      if (b.w <= 0.f || b.h <= 0.f) bad(at + ".box", "a positive width and height", *box);
      b.positive = item.contains("label") && !item["label"].is_null() ? label_value(item["label"], at + ".label") : true;
      p.boxes.push_back(b);
    } else if (t == "point") {
      const auto pts = item.find("points");
      if (pts == item.end() || !pts->is_array() || pts->empty())
        bad(at + ".points", "a non-empty array of [x, y]", item.value("points", json()));
      const json labels = item.value("point_labels", json());
      if (!labels.is_null() && (!labels.is_array() || labels.size() != pts->size()))
        bad(at + ".point_labels", "an array as long as points (" + std::to_string(pts->size()) + ")", labels);
      for (size_t k = 0; k < pts->size(); ++k) {
        const json& xy = (*pts)[k];
        const std::string pk = at + ".points[" + std::to_string(k) + "]";
        if (!xy.is_array() || xy.size() != 2) bad(pk, "[x, y] normalized to [0, 1]", xy);
        core::PointPrompt pt;
        pt.x = unit_number(xy[0], pk + "[0]");
        pt.y = unit_number(xy[1], pk + "[1]");
        pt.positive = labels.is_null() ? true : label_value(labels[k], at + ".point_labels[" + std::to_string(k) + "]");
        p.points.push_back(pt);
      }
    } else {
      bad(at + ".type", "\"text\", \"box\" or \"point\"", *type);
    }
  }
  if (p.boxes.size() > kMaxGeometry || p.points.size() > kMaxGeometry)
    throw InvalidInput("'" + field + "': at most " + std::to_string(kMaxGeometry) + " boxes and points each");
  return p;
}

float parse_threshold(const json& body, const char* key, float fallback) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  return unit_number(*it, key);
}

bool parse_bool(const json& body, const char* key, bool fallback) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) bad(key, "true or false", *it);
  return it->get<bool>();
}

int parse_int(const json& body, const char* key, int fallback, int lo, int hi) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) return fallback;
  if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi)
    bad(key, "an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]", *it);
  return static_cast<int>(it->get<int64_t>());
}

std::string parse_image_base64(const json& body, const char* key, size_t max_bytes) {
  const auto it = body.find(key);
  if (it == body.end()) throw InvalidInput(std::string("'") + key + "' is required: a base64-encoded image");
  if (!it->is_string() || it->get_ref<const std::string&>().empty())
    bad(key, "a non-empty base64 string", *it);
  try {
    return formats::base64_decode(it->get_ref<const std::string&>(), max_bytes);
  } catch (const TooLarge&) {
    throw;
  } catch (const InvalidInput& e) {
    throw InvalidInput(std::string("'") + key + "': " + e.what());
  }
}

std::vector<std::string> parse_text_prompts(const json& body, const char* key) {
  const auto it = body.find(key);
  if (it == body.end() || !it->is_array() || it->empty() || it->size() > 64)
    bad(key, "an array of 1 to 64 non-empty strings", it == body.end() ? json() : *it);
  std::vector<std::string> out;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& t = (*it)[i];
    const std::string at = std::string(key) + "[" + std::to_string(i) + "]";
    if (!t.is_string() || t.get<std::string>().empty()) bad(at, "a non-empty string", t);
    if (t.get<std::string>().size() > kMaxTextChars)
      bad(at, "at most " + std::to_string(kMaxTextChars) + " characters", json("<long text>"));
    out.push_back(t.get<std::string>());
  }
  return out;
}

}  // namespace sam3::daemon
