// SPDX-License-Identifier: Apache-2.0
// Unicode pieces the CLIP tokenizer needs to reproduce the reference's text
// cleaning (ftfy.fix_text, html.unescape, str.lower) and its `regex` pattern
// (\p{L}, \p{N}, \s) without ICU. Internal to tokenizer.cpp; pure functions,
// thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace sam3::core::detail {

// UTF-8 <-> code points. Invalid or truncated sequences decode to U+FFFD.
std::u32string utf8_decode(std::string_view s);
std::string utf8_encode(std::u32string_view s);

bool is_letter(char32_t c);       // regex [\p{L}] (IGNORECASE)
bool is_number(char32_t c);       // regex [\p{N}]
bool is_regex_space(char32_t c);  // regex \s
bool is_py_space(char32_t c);     // str.isspace() (what str.strip() removes)
// regex [^\s\p{L}\p{N}] (IGNORECASE). Not simply "none of the above": with
// IGNORECASE the `regex` module matches U+0345 with none of the four classes.
bool is_other(char32_t c);

// Python's str.lower(): simple mappings, U+0130 -> "i\u0307" and CPython's final-sigma rule.
std::u32string to_lower(std::u32string_view s);

// unicodedata.normalize("NFC", s): canonical decomposition, canonical ordering
// of combining marks, composition (with exclusions and Hangul), Unicode 14.
std::u32string nfc(std::u32string_view s);

// Python's html.unescape (named entities: HTML 4 set and the legacy
// semicolon-less names; numeric references with Python's replacement rules).
std::u32string html_unescape(std::u32string_view s);

// ftfy.fix_text with its defaults, minus the mojibake detector: HTML entities
// (when the text has no '<'), C1 controls as Windows-1252, Latin ligatures,
// full/half-width forms, curly quotes, line breaks, control characters, NFC.
std::u32string ftfy_fix_text(std::u32string_view s);

}  // namespace sam3::core::detail
