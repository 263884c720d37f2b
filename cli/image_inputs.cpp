// SPDX-License-Identifier: Apache-2.0
#include "cli/image_inputs.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/common.h"
#include "cli/prompt_args.h"
#include "core/errors.h"
#include "formats/image_io.h"

namespace sam3::cli {
namespace fs = std::filesystem;

core::Prompt make_prompt(const PromptFlags& flags, const AppConfig& cfg) {
  core::Prompt p;
  if (!flags.text.empty()) p.text = flags.text;
  for (const auto& b : flags.boxes) p.boxes.push_back(parse_box(b));
  for (const auto& pt : flags.points) p.points.push_back(parse_point(pt));
  if (!p.text && p.boxes.empty() && p.points.empty())
    throw UsageError("no prompt: give --text, --box or --point");
  if (!p.points.empty() && p.boxes.size() > 1)
    throw UsageError("with --point, at most one --box (the interactive box) may be given");
  p.confidence_threshold = cfg.segment.confidence_threshold;
  return p;
}

namespace {
bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* e : {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
    if (ext == e) return true;
  return false;
}

std::vector<std::string> read_lines(std::istream& in) {
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    out.push_back(line);
  }
  return out;
}
}  // namespace

std::vector<std::string> list_inputs(const std::string& source) {
  if (source == "-") return read_lines(std::cin);
  std::error_code ec;
  if (fs::is_directory(source, ec)) {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(source, ec))
      if (e.is_regular_file() && is_image_file(e.path())) out.push_back(e.path().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  if (!fs::exists(source, ec)) throw NotFound("input '" + source + "' does not exist");
  if (is_image_file(source)) return {source};
  std::ifstream in(source);
  if (!in) throw NotFound("cannot open list file '" + source + "'");
  return read_lines(in);
}

formats::Image read_input_image(const std::string& path, const AppConfig& cfg) {
  formats::ImageLimits limits;
  limits.max_bytes = static_cast<size_t>(cfg.limits.max_upload_mb) << 20;
  limits.max_pixels = static_cast<uint64_t>(cfg.limits.max_image_pixels);
  return formats::read_image_file(path, limits);
}

}  // namespace sam3::cli
