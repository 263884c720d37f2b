// SPDX-License-Identifier: Apache-2.0
// Where image results go: JSON lines (stdout or a file), one COCO results
// file, PNG masks or overlays in a folder. Files are written atomically.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "formats/types.h"

namespace sam3::cli {

struct AppConfig;

enum class OutputFormat { json, coco, png, overlay };
OutputFormat parse_output_format(const std::string& s);

class ResultWriter {
public:
  // out: "-" for stdout (json/coco) or a file; for png/overlay a folder ("-" = ".").
  ResultWriter(OutputFormat format, std::string out);
  ~ResultWriter();

  // Emits (or keeps, for files) the result of one image. `key` is "file" or "id".
  void add(const std::string& name, const formats::Image& image, const std::vector<formats::SegmentResult>& results);
  // A failed image: a JSON error line for json output, always a line on stderr.
  void add_error(const std::string& name, const std::exception& e);
  // Writes accumulated output (COCO file, JSON file). Idempotent.
  void finish();

  // For each path: decode under the config's limits, run `infer` on the image,
  // and add its results; bad inputs (InvalidInput, NotFound) become error
  // lines and the loop goes on. Returns the exit code (0, or 3 when any failed).
  using Infer = std::function<std::vector<formats::SegmentResult>(const formats::Image&)>;
  int run_images(const std::vector<std::string>& paths, const AppConfig& cfg, const Infer& infer);

  int64_t written() const { return written_; }
  int64_t failed() const { return failed_; }

private:
  void emit_line(const std::string& line);

  OutputFormat format_;
  std::string out_;
  std::string buffer_;       // JSON lines for a file target
  std::string coco_;         // COCO entries, comma-separated
  int64_t next_image_id_ = 1;
  int64_t written_ = 0, failed_ = 0;
  bool finished_ = false;
};

// One failed input as the CLI reports it: a line on stderr, and the JSON
// error line for stdout (returned). Shared by ResultWriter and `sam3 batch`.
std::string report_input_error(const std::string& name, const std::exception& e);

// "dir/name.jpg" -> "name".
std::string file_stem(const std::string& path);

}  // namespace sam3::cli
