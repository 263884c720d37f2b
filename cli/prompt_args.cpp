// SPDX-License-Identifier: Apache-2.0
#include "cli/prompt_args.h"

#include <cmath>
#include <sstream>
#include <vector>

#include "cli/common.h"

namespace sam3::cli {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

float parse_coord(const std::string& v, const std::string& whole, const char* what) {
  try {
    size_t pos = 0;
    const float f = std::stof(v, &pos);
    if (pos != v.size() || !std::isfinite(f)) throw std::invalid_argument("");
    return f;
  } catch (const std::exception&) {
    throw UsageError(std::string(what) + " '" + whole + "': '" + v + "' is not a number");
  }
}

// Splits "VALUES[:LABEL]" and returns the label's polarity.
bool split_label(const std::string& s, std::string& values, const char* what) {
  const auto colon = s.find(':');
  values = s.substr(0, colon);
  if (colon == std::string::npos) return true;
  const std::string label = s.substr(colon + 1);
  if (label == "pos" || label == "1" || label == "+" || label == "positive") return true;
  if (label == "neg" || label == "0" || label == "-" || label == "negative") return false;
  throw UsageError(std::string(what) + " '" + s + "': label '" + label + "' must be pos/1 or neg/0");
}

void check_unit(float v, const std::string& whole, const char* what) {
  if (v < 0.f || v > 1.f)
    throw UsageError(std::string(what) + " '" + whole + "': coordinates are normalized and must lie in [0, 1]");
}

int parse_frame(const std::string& v, const std::string& whole, const char* what) {
  try {
    size_t pos = 0;
    const long n = std::stol(v, &pos);
    if (pos != v.size() || n < 0 || n > 100'000'000) throw std::invalid_argument("");
    return static_cast<int>(n);
  } catch (const std::exception&) {
    throw UsageError(std::string(what) + " '" + whole + "': frame '" + v + "' must be a non-negative integer");
  }
}

}  // namespace

core::BoxPrompt parse_box(const std::string& s) {
  std::string values;
  core::BoxPrompt b;
  b.positive = split_label(s, values, "--box");
  const auto p = split(values, ',');
  if (p.size() != 4) throw UsageError("--box '" + s + "': expected CX,CY,W,H (normalized)");
  b.cx = parse_coord(p[0], s, "--box");
  b.cy = parse_coord(p[1], s, "--box");
  b.w = parse_coord(p[2], s, "--box");
  b.h = parse_coord(p[3], s, "--box");
  for (float v : {b.cx, b.cy, b.w, b.h}) check_unit(v, s, "--box");
  if (b.w <= 0.f || b.h <= 0.f) throw UsageError("--box '" + s + "': width and height must be positive");
  return b;
}

core::PointPrompt parse_point(const std::string& s) {
  std::string values;
  core::PointPrompt p;
  p.positive = split_label(s, values, "--point");
  const auto v = split(values, ',');
  if (v.size() != 2) throw UsageError("--point '" + s + "': expected X,Y (normalized)");
  p.x = parse_coord(v[0], s, "--point");
  p.y = parse_coord(v[1], s, "--point");
  check_unit(p.x, s, "--point");
  check_unit(p.y, s, "--point");
  return p;
}

namespace {
// "FRAME:REST" -> (frame, REST) for the video prompt flags.
std::pair<int, std::string> split_frame(const std::string& s, const char* flag, const char* expected) {
  const auto colon = s.find(':');
  if (colon == std::string::npos) throw UsageError(std::string(flag) + " '" + s + "': expected " + expected);
  return {parse_frame(s.substr(0, colon), s, flag), s.substr(colon + 1)};
}
}  // namespace

FramePoint parse_frame_point(const std::string& s) {
  auto [frame, rest] = split_frame(s, "--point", "FRAME:X,Y[:LABEL]");
  return {frame, parse_point(rest)};
}

FrameBox parse_frame_box(const std::string& s) {
  auto [frame, rest] = split_frame(s, "--box", "FRAME:CX,CY,W,H[:LABEL]");
  return {frame, parse_box(rest)};
}

Shard parse_shard(const std::string& s) {
  const auto slash = s.find('/');
  if (slash == std::string::npos) throw UsageError("--shard '" + s + "': expected I/N");
  Shard sh;
  try {
    sh.index = std::stoi(s.substr(0, slash));
    sh.count = std::stoi(s.substr(slash + 1));
  } catch (const std::exception&) {
    throw UsageError("--shard '" + s + "': expected I/N with integers");
  }
  if (sh.count < 1 || sh.index < 0 || sh.index >= sh.count)
    throw UsageError("--shard '" + s + "': need 0 <= I < N");
  return sh;
}

}  // namespace sam3::cli
