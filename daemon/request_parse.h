// SPDX-License-Identifier: Apache-2.0
// JSON request fields -> core parameter structs, with every field validated
// and every error naming the field, what was expected and what was seen.
// Pure functions, thread-safe. \throws InvalidInput (400) / TooLarge (413).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/image_engine.h"

namespace sam3::daemon {

using nlohmann::json;

// `prompts`: [{type: "text", text}, {type: "box", box: [cx,cy,w,h], label},
// {type: "point", points: [[x,y]...], point_labels: [1|0...]}], combined into
// one prompt set. At most one text prompt; at least one prompt.
core::Prompt parse_prompts(const json& prompts, float confidence_threshold, const std::string& field = "prompts");

// body[key] as a number in [0, 1], or `fallback` when absent / null.
float parse_threshold(const json& body, const char* key, float fallback);

// body[key] as a bool, or `fallback` when absent / null.
bool parse_bool(const json& body, const char* key, bool fallback);

// body[key] as an integer in [lo, hi], or `fallback` when absent / null.
int parse_int(const json& body, const char* key, int fallback, int lo, int hi);

// body[key] as a base64 image (a data: URL prefix is accepted), decoded to
// its encoded bytes, at most max_bytes.
std::string parse_image_base64(const json& body, const char* key, size_t max_bytes);

// `text_prompts`: a non-empty array of non-empty strings (at most 64).
std::vector<std::string> parse_text_prompts(const json& body, const char* key);

}  // namespace sam3::daemon
