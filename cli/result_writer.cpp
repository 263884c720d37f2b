// SPDX-License-Identifier: Apache-2.0
#include "cli/result_writer.h"

#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/image_inputs.h"
#include "core/error_codes.h"
#include "core/errors.h"
#include "formats/atomic_file.h"
#include "formats/image_io.h"
#include "formats/overlay.h"
#include "formats/png_mask.h"
#include "formats/result_json.h"

namespace sam3::cli {

OutputFormat parse_output_format(const std::string& s) {
  if (s == "json") return OutputFormat::json;
  if (s == "coco") return OutputFormat::coco;
  if (s == "png") return OutputFormat::png;
  if (s == "overlay") return OutputFormat::overlay;
  throw UsageError("--format '" + s + "': expected json, coco, png or overlay");
}

std::string file_stem(const std::string& path) { return std::filesystem::path(path).stem().string(); }

ResultWriter::ResultWriter(OutputFormat format, std::string out) : format_(format), out_(std::move(out)) {
  if (format_ == OutputFormat::png || format_ == OutputFormat::overlay) {
    if (out_ == "-" || out_.empty()) out_ = ".";
    std::error_code ec;
    std::filesystem::create_directories(out_, ec);
    if (!std::filesystem::is_directory(out_)) throw UsageError("--out '" + out_ + "' is not a folder");
  }
}

ResultWriter::~ResultWriter() {
  try {
    finish();
  } catch (const std::exception& e) {
    std::cerr << "sam3: error: " << e.what() << "\n";
  }
}

void ResultWriter::emit_line(const std::string& line) {
  if (out_ == "-" || format_ == OutputFormat::png || format_ == OutputFormat::overlay) {
    std::cout << line << "\n" << std::flush;
  } else {
    buffer_ += line + "\n";
  }
}

void ResultWriter::add(const std::string& name, const formats::Image& image,
                       const std::vector<formats::SegmentResult>& results) {
  const std::string stem = file_stem(name);
  for (size_t r = 0; r < results.size(); ++r) {
    const auto& result = results[r];
    // Several prompts on one image (cached-features) get a suffix per prompt.
    const std::string tag = results.size() > 1 ? stem + "." + std::to_string(r) : stem;
    if (format_ == OutputFormat::coco) {
      for (const auto& entry : formats::coco_results_json(result, next_image_id_)) {
        auto e = entry;
        e["file_name"] = name;
        coco_ += (coco_.empty() ? "" : ",\n") + e.dump();
      }
      continue;
    }
    auto line = formats::batch_result_line("file", name, result);
    if (format_ == OutputFormat::png) {
      nlohmann::json files = nlohmann::json::array();
      for (size_t i = 0; i < result.instances.size(); ++i) {
        const auto path = (std::filesystem::path(out_) / (tag + ".mask" + std::to_string(i) + ".png")).string();
        formats::write_file_atomic(path, formats::encode_mask_png(result.instances[i].mask));
        files.push_back(path);
      }
      line["mask_files"] = files;
    } else if (format_ == OutputFormat::overlay) {
      const auto path = (std::filesystem::path(out_) / (tag + ".overlay.png")).string();
      formats::write_file_atomic(path, formats::encode_png(formats::render_overlay(image, result)));
      line["overlay"] = path;
    }
    emit_line(line.dump());
  }
  ++next_image_id_;
  ++written_;
}

std::string report_input_error(const std::string& name, const std::exception& e) {
  const std::string message = describe_exception(e);
  std::cerr << "sam3: error: " << name << ": " << message << "\n";
  return formats::batch_error_line("file", name, static_cast<int>(exit_code_for(e)), error_type_name(e), message)
      .dump();
}

void ResultWriter::add_error(const std::string& name, const std::exception& e) {
  ++failed_;
  const std::string line = report_input_error(name, e);
  if (format_ == OutputFormat::json) emit_line(line);
}

int ResultWriter::run_images(const std::vector<std::string>& paths, const AppConfig& cfg, const Infer& infer) {
  for (const auto& path : paths) {
    try {
      const formats::Image image = read_input_image(path, cfg);
      add(path, image, infer(image));
    } catch (const InvalidInput& e) {
      add_error(path, e);
    } catch (const NotFound& e) {
      add_error(path, e);
    }
  }
  finish();
  return failed_ ? static_cast<int>(ExitCode::input) : 0;
}

void ResultWriter::finish() {
  if (finished_) return;
  finished_ = true;
  if (format_ == OutputFormat::coco) {
    const std::string doc = "[" + coco_ + "]\n";
    if (out_ == "-") std::cout << doc << std::flush;
    else formats::write_file_atomic(out_, doc);
  } else if (format_ == OutputFormat::json && out_ != "-") {
    formats::write_file_atomic(out_, buffer_);
  }
}

}  // namespace sam3::cli
