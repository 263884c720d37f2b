// SPDX-License-Identifier: Apache-2.0
#include "core/model/tokenizer_unicode.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <vector>

namespace sam3::core::detail {
namespace {

struct CodeRange {
  char32_t lo, hi;
};
struct LowerRun {
  char32_t lo, hi;
  int stride, delta;
};
struct ComposePair {
  char32_t a, b, c;
};
struct CodeMap {
  char32_t from, to;
};
struct WidthMap {
  char32_t from, to, to2;
};
struct CccRun {
  char32_t lo, hi;
  int ccc;
};
struct Entity {
  const char* name;
  const char* value;  // UTF-8
};

#include "core/model/tokenizer_nfc_tables.inc"
#include "core/model/tokenizer_unicode_tables.inc"

template <size_t N>
bool in_ranges(const CodeRange (&table)[N], char32_t c) {
  const auto* it = std::upper_bound(std::begin(table), std::end(table), c,
                                    [](char32_t v, const CodeRange& r) { return v < r.lo; });
  return it != std::begin(table) && c <= std::prev(it)->hi;
}

// Windows-1252 for 0x80..0x9F; its five undefined bytes stay C1 controls, as in
// Python's _invalid_charrefs and ftfy's "sloppy" codec.
constexpr char32_t kCp1252[32] = {0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021,
                                  0x2C6,  0x2030, 0x160,  0x2039, 0x152,  0x8D,   0x17D,  0x8F,
                                  0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
                                  0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178};

const char* find_entity(const std::string& name) {
  const auto* it = std::lower_bound(std::begin(kHtmlEntities), std::end(kHtmlEntities), name,
                                    [](const Entity& e, const std::string& n) { return std::strcmp(e.name, n.c_str()) < 0; });
  if (it != std::end(kHtmlEntities) && name == it->name) return it->value;
  return nullptr;
}

bool is_ascii_alnum(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_hex(char32_t c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int hex_value(char32_t c) {
  if (c <= '9') return static_cast<int>(c - '0');
  return static_cast<int>((c | 0x20) - 'a' + 10);
}

// Python html._replace_charref for a numeric reference.
std::u32string numeric_charref(uint64_t num) {
  if (num == 0) return U"\uFFFD";
  if (num == 0x0D) return U"\r";
  if (num >= 0x80 && num <= 0x9F) return std::u32string(1, kCp1252[num - 0x80]);
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) return U"\uFFFD";
  if ((num >= 0x1 && num <= 0x8) || (num >= 0xE && num <= 0x1F) || (num >= 0x7F && num <= 0x9F) ||
      (num >= 0xFDD0 && num <= 0xFDEF) || num == 0xB || (num & 0xFFFE) == 0xFFFE)
    return U"";
  return std::u32string(1, static_cast<char32_t>(num));
}

// Inverse of the simple lower-case mapping (the lowest code point that lowers
// to c), for ftfy's upper-cased entity names.
char32_t to_upper_simple(char32_t c) {
  for (const auto& r : kLowerRuns) {
    const int64_t src = static_cast<int64_t>(c) - r.delta;
    if (src >= r.lo && src <= r.hi && (src - r.lo) % r.stride == 0) return static_cast<char32_t>(src);
  }
  return c;
}

char32_t lower_simple(char32_t c) {
  const auto* it = std::upper_bound(std::begin(kLowerRuns), std::end(kLowerRuns), c,
                                    [](char32_t v, const LowerRun& r) { return v < r.lo; });
  if (it == std::begin(kLowerRuns)) return c;
  const auto& r = *std::prev(it);
  if (c > r.hi || (c - r.lo) % static_cast<char32_t>(r.stride) != 0) return c;
  return static_cast<char32_t>(static_cast<int64_t>(c) + r.delta);
}

// ftfy.fixes.unescape_html: only "&name;" / "&#...;" with 1..24 ASCII alphanumerics.
std::u32string ftfy_unescape_html(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s[i] == '&') {
      size_t j = i + 1;
      const bool numeric = j < s.size() && s[j] == '#';
      if (numeric) ++j;
      size_t k = j;
      while (k < s.size() && k - j < 24 && is_ascii_alnum(s[k])) ++k;
      if (k > j && k < s.size() && s[k] == ';') {
        const std::u32string_view ref = s.substr(i, k + 1 - i);
        std::string name;
        for (char32_t c : s.substr(j, k + 1 - j)) name.push_back(static_cast<char>(c));
        std::u32string rep;
        bool ok = false;
        if (numeric) {
          rep = html_unescape(ref);
          ok = rep.find(U';') == std::u32string::npos;
        } else if (const char* v = find_entity(name)) {
          rep = utf8_decode(v), ok = true;
        } else {
          // ftfy also decodes all-lowercase entity names that were upper-cased.
          std::string lower = name;
          for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          const char* lv = lower != name ? find_entity(lower) : nullptr;
          bool upper = true;
          for (char ch : name) upper = upper && !(ch >= 'a' && ch <= 'z');
          if (lv && upper) {
            rep = utf8_decode(lv);
            for (char32_t& c : rep) c = to_upper_simple(c);
            ok = true;
          }
        }
        if (ok) {
          out += rep;
          i = k + 1;
          continue;
        }
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

bool is_cased(char32_t c) { return in_ranges(kCasedRanges, c); }
bool is_case_ignorable(char32_t c) { return in_ranges(kCaseIgnorableRanges, c); }

// CPython's handle_capital_sigma: Σ is final in
// \p{cased} \p{case-ignorable}* Σ !(\p{case-ignorable}* \p{cased}).
bool is_final_sigma(std::u32string_view s, size_t i) {
  size_t j = i;
  while (j > 0 && is_case_ignorable(s[j - 1])) --j;
  if (j == 0 || !is_cased(s[j - 1])) return false;
  size_t k = i + 1;
  while (k < s.size() && is_case_ignorable(s[k])) ++k;
  return k == s.size() || !is_cased(s[k]);
}

int combining_class(char32_t c) {
  const auto* it = std::upper_bound(std::begin(kCombiningClasses), std::end(kCombiningClasses), c,
                                    [](char32_t v, const CccRun& r) { return v < r.lo; });
  if (it == std::begin(kCombiningClasses) || c > std::prev(it)->hi) return 0;
  return std::prev(it)->ccc;
}

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kSCount = kLCount * kVCount * kTCount;

// The primary composite of a + b, or 0.
char32_t compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const auto* it = std::lower_bound(std::begin(kComposePairs), std::end(kComposePairs), std::pair{a, b},
                                    [](const ComposePair& p, const std::pair<char32_t, char32_t>& v) {
                                      return p.a < v.first || (p.a == v.first && p.b < v.second);
                                    });
  return it != std::end(kComposePairs) && it->a == a && it->b == b ? it->c : 0;
}

// Full canonical decomposition of c appended to out.
void decompose(char32_t c, std::u32string& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    const char32_t i = c - kSBase;
    out.push_back(kLBase + i / (kVCount * kTCount));
    out.push_back(kVBase + (i % (kVCount * kTCount)) / kTCount);
    if (i % kTCount) out.push_back(kTBase + i % kTCount);
    return;
  }
  const auto* sg = std::lower_bound(std::begin(kNfcSingletons), std::end(kNfcSingletons), c,
                                    [](const CodeMap& m, char32_t v) { return m.from < v; });
  if (sg != std::end(kNfcSingletons) && sg->from == c) return decompose(sg->to, out);
  const auto* ex = std::lower_bound(std::begin(kDecompExcluded), std::end(kDecompExcluded), c,
                                    [](const ComposePair& p, char32_t v) { return p.a < v; });
  if (ex != std::end(kDecompExcluded) && ex->a == c) {
    decompose(ex->b, out);
    return decompose(ex->c, out);
  }
  // Composite of the pair table: indexed by the composite once.
  static const std::vector<ComposePair> by_composite = [] {
    std::vector<ComposePair> v(std::begin(kComposePairs), std::end(kComposePairs));
    std::sort(v.begin(), v.end(), [](const ComposePair& x, const ComposePair& y) { return x.c < y.c; });
    return v;
  }();
  const auto it = std::lower_bound(by_composite.begin(), by_composite.end(), c,
                                   [](const ComposePair& p, char32_t v) { return p.c < v; });
  if (it != by_composite.end() && it->c == c) {
    decompose(it->a, out);
    return decompose(it->b, out);
  }
  out.push_back(c);
}

}  // namespace

std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int len = 0;
    char32_t cp = 0;
    if (b0 < 0x80) {
      out.push_back(b0), ++i;
      continue;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2, cp = b0 & 0x1F;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3, cp = b0 & 0x0F;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4, cp = b0 & 0x07;
    } else {
      out.push_back(0xFFFD), ++i;
      continue;
    }
    int k = 1;
    for (; k < len && i + k < s.size(); ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) break;
      cp = (cp << 6) | (b & 0x3F);
    }
    static constexpr char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (k != len || cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      out.push_back(0xFFFD);
      i += static_cast<size_t>(std::max(1, k));
      continue;
    }
    out.push_back(cp);
    i += static_cast<size_t>(len);
  }
  return out;
}

std::string utf8_encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) {
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

bool is_letter(char32_t c) { return in_ranges(kLetterRanges, c); }
bool is_number(char32_t c) { return in_ranges(kNumberRanges, c); }

bool is_regex_space(char32_t c) {
  return (c >= 0x9 && c <= 0xD) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

bool is_py_space(char32_t c) { return is_regex_space(c) || (c >= 0x1C && c <= 0x1F); }

bool is_other(char32_t c) { return c != 0x345 && !is_regex_space(c) && !is_letter(c) && !is_number(c); }

std::u32string to_lower(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char32_t c = s[i];
    if (c == 0x130) {  // the one multi-character lower-case mapping
      out += U"i\u0307";
    } else if (c == 0x3A3) {
      out.push_back(is_final_sigma(s, i) ? 0x3C2 : 0x3C3);
    } else {
      out.push_back(lower_simple(c));
    }
  }
  return out;
}

std::u32string nfc(std::u32string_view s) {
  // 1. Canonical decomposition (NFD).
  std::u32string d;
  d.reserve(s.size() * 2);
  for (char32_t c : s) decompose(c, d);
  // 2. Canonical ordering: stable sort of each run of non-starters by class.
  for (size_t i = 0; i < d.size();) {
    if (combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + static_cast<std::ptrdiff_t>(i), d.begin() + static_cast<std::ptrdiff_t>(j),
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
  // 3. Canonical composition (UAX #15): a mark composes with the last starter
  // unless a character of the same or a higher class stands between them.
  if (d.empty()) return d;
  size_t starter = 0, out = 1;
  int last_class = combining_class(d[0]) == 0 ? 0 : 256;
  for (size_t i = 1; i < d.size(); ++i) {
    const char32_t c = d[i];
    const int cls = combining_class(c);
    const char32_t composite = compose(d[starter], c);
    if (composite && (last_class < cls || last_class == 0)) {
      d[starter] = composite;
      continue;
    }
    if (cls == 0) starter = out;
    last_class = cls;
    d[out++] = c;
  }
  d.resize(out);
  return d;
}

std::u32string html_unescape(std::u32string_view s) {
  if (s.find(U'&') == std::u32string_view::npos) return std::u32string(s);
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s[i] != '&' || i + 1 >= s.size()) {
      out.push_back(s[i++]);
      continue;
    }
    size_t j = i + 1;
    if (s[j] == '#') {
      const bool hex = j + 1 < s.size() && (s[j + 1] == 'x' || s[j + 1] == 'X');
      size_t k = j + (hex ? 2 : 1);
      uint64_t num = 0;
      const size_t start = k;
      while (k < s.size() && (hex ? is_hex(s[k]) : (s[k] >= '0' && s[k] <= '9'))) {
        num = std::min<uint64_t>(num * (hex ? 16 : 10) + static_cast<uint64_t>(hex ? hex_value(s[k]) : s[k] - '0'),
                                 0x7FFFFFFFull);
        ++k;
      }
      if (k == start) {  // "&#" not followed by digits is literal
        out.push_back(s[i++]);
        continue;
      }
      if (k < s.size() && s[k] == ';') ++k;
      out += numeric_charref(num);
      i = k;
      continue;
    }
    // Named: up to 32 characters outside "\t\n\f <&#;", then an optional ';'.
    size_t k = j;
    auto name_char = [](char32_t c) {
      return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' && c != ';';
    };
    while (k < s.size() && k - j < 32 && name_char(s[k])) ++k;
    if (k == j) {
      out.push_back(s[i++]);
      continue;
    }
    if (k < s.size() && s[k] == ';') ++k;
    const std::u32string_view ref = s.substr(j, k - j);
    const std::string name = utf8_encode(ref);
    if (const char* v = find_entity(name)) {
      out += utf8_decode(v);
    } else {
      // The longest prefix that is an entity (only the legacy semicolon-less
      // names can match here), the rest kept as text.
      bool found = false;
      for (size_t x = ref.size() - 1; x >= 2 && !found; --x) {
        if (const char* pv = find_entity(utf8_encode(ref.substr(0, x)))) {
          out += utf8_decode(pv);
          out += ref.substr(x);
          found = true;
        }
      }
      if (!found) {
        out.push_back('&');
        out += ref;
      }
    }
    i = k;
  }
  return out;
}

std::u32string ftfy_fix_text(std::u32string_view in) {
  // unescape_html="auto": skipped when the text looks like HTML markup.
  std::u32string s = in.find(U'<') == std::u32string_view::npos ? ftfy_unescape_html(in) : std::u32string(in);
  std::u32string t;
  t.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char32_t c = s[i];
    if (c >= 0x80 && c <= 0x9F) c = kCp1252[c - 0x80];  // fix_c1_controls
    switch (c) {                                         // fix_latin_ligatures
      case 0x132: t += U"IJ"; continue;
      case 0x133: t += U"ij"; continue;
      case 0x149: t += U"'n"; continue;  // "\u02bcn", then uncurl_quotes
      case 0x1C4: t += U"D\u017D"; continue;
      case 0x1C5: t += U"D\u017E"; continue;
      case 0x1C6: t += U"d\u017E"; continue;
      case 0x1C7: t += U"LJ"; continue;
      case 0x1C8: t += U"Lj"; continue;
      case 0x1C9: t += U"lj"; continue;
      case 0x1CA: t += U"NJ"; continue;
      case 0x1CB: t += U"Nj"; continue;
      case 0x1CC: t += U"nj"; continue;
      case 0x1F1: t += U"DZ"; continue;
      case 0x1F2: t += U"Dz"; continue;
      case 0x1F3: t += U"dz"; continue;
      case 0xFB00: t += U"ff"; continue;
      case 0xFB01: t += U"fi"; continue;
      case 0xFB02: t += U"fl"; continue;
      case 0xFB03: t += U"ffi"; continue;
      case 0xFB04: t += U"ffl"; continue;
      case 0xFB05: t += U"\u017Ft"; continue;
      case 0xFB06: t += U"st"; continue;
      default: break;
    }
    if (c == 0x3000 || (c >= 0xFF01 && c <= 0xFFEF)) {  // fix_character_width
      const auto* it = std::lower_bound(std::begin(kWidthMap), std::end(kWidthMap), c,
                                        [](const WidthMap& m, char32_t v) { return m.from < v; });
      if (it != std::end(kWidthMap) && it->from == c) {
        t.push_back(it->to);
        if (it->to2) t.push_back(it->to2);
        continue;
      }
    }
    if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';  // uncurl_quotes
    if (c >= 0x201C && c <= 0x201F) c = '"';
    if (c == '\r') {  // fix_line_breaks
      if (i + 1 < s.size() && s[i + 1] == '\n') continue;
      c = '\n';
    }
    if (c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
    // remove_control_chars
    if (c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
        c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC) || (c >= 0x1D173 && c <= 0x1D17A) ||
        (c >= 0xE0000 && c <= 0xE007F))
      continue;
    t.push_back(c);
  }
  return nfc(t);
}

}  // namespace sam3::core::detail
