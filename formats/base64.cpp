// SPDX-License-Identifier: Apache-2.0
#include "formats/base64.h"

#include <array>
#include <cstdint>

#include "core/errors.h"

namespace sam3::formats {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> make_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}
constexpr std::array<int8_t, 256> kTable = make_table();

std::string describe_byte(unsigned char c) {
  if (c >= 0x21 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  return "byte " + std::to_string(c);
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (rest == 2 ? uint32_t{p[i + 1]} << 8 : 0);
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string base64_decode(std::string_view text, size_t max_bytes) {
  size_t offset = 0;  // of text's first byte within the caller's string, for messages
  if (text.substr(0, 5) == "data:") {
    const size_t comma = text.find(',');
    const size_t marker = text.substr(0, comma).rfind(";base64");
    if (comma == std::string_view::npos || marker == std::string_view::npos || marker + 7 != comma)
      throw InvalidInput("base64: a data URL must look like 'data:<type>;base64,<data>'");
    offset = comma + 1;
    text.remove_prefix(offset);
  }
  if (!text.empty() && text.back() == '\n') {
    text.remove_suffix(1);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  }
  if (text.size() % 4 != 0)
    throw InvalidInput("base64: expected a length that is a multiple of 4, got " + std::to_string(text.size()) +
                       " characters (missing '=' padding?)");
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = (text[text.size() - 2] == '=') ? 2 : 1;
  const size_t out_size = text.size() / 4 * 3 - pad;
  if (out_size > max_bytes)
    throw TooLarge("base64: decoded data is " + std::to_string(out_size) + " bytes, the limit is " +
                   std::to_string(max_bytes));

  std::string out;
  out.resize(out_size);
  size_t o = 0;
  const size_t body = text.size() - pad;
  uint32_t acc = 0;
  for (size_t i = 0; i < body; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const int8_t v = kTable[c];
    if (v < 0) {
      const std::string why = c == '=' ? "padding '=' before the end" : "invalid character " + describe_byte(c);
      throw InvalidInput("base64: " + why + " at offset " + std::to_string(offset + i));
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    if (i % 4 == 3) {
      out[o++] = static_cast<char>(acc >> 16);
      out[o++] = static_cast<char>(acc >> 8);
      out[o++] = static_cast<char>(acc);
      acc = 0;
    }
  }
  // The last quantum: 3 characters give 2 bytes, 2 give 1 byte (the unused
  // low bits are ignored, as most decoders do).
  if (pad == 1) {
    out[o++] = static_cast<char>(acc >> 10);
    out[o++] = static_cast<char>(acc >> 2);
  } else if (pad == 2) {
    out[o++] = static_cast<char>(acc >> 4);
  }
  return out;
}

}  // namespace sam3::formats
