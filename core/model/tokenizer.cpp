// SPDX-License-Identifier: Apache-2.0
#include "core/model/tokenizer.h"

#include <zlib.h>

#include <array>
#include <cctype>
#include <filesystem>
#include <limits>
#include <memory>

#include "core/errors.h"
#include "core/model/tokenizer_unicode.h"

namespace sam3::core {
namespace {

namespace fs = std::filesystem;
using detail::utf8_decode;
using detail::utf8_encode;

// CLIP keeps merges[1 : 49152 - 256 - 2 + 1] of the file (line 0 is a header).
constexpr size_t kNumMerges = 49152 - 256 - 2;
constexpr const char* kSpecials[2] = {"<start_of_text>", "<end_of_text>"};

std::string read_gzip(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw ModelError("cannot open the BPE vocabulary '" + path + "'");
  std::unique_ptr<gzFile_s, int (*)(gzFile)> guard(f, gzclose);
  std::string out;
  std::array<char, 1 << 16> buf{};
  for (;;) {
    const int n = gzread(f, buf.data(), static_cast<unsigned>(buf.size()));
    if (n < 0) {
      int err = 0;
      const char* msg = gzerror(f, &err);
      throw ModelError("reading the BPE vocabulary '" + path + "': " + (msg ? msg : "gzip error"));
    }
    if (n == 0) break;
    out.append(buf.data(), static_cast<size_t>(n));
  }
  return out;
}

// GPT-2/CLIP bytes_to_unicode(): printable bytes stand for themselves, the
// others are moved to U+0100.. in byte order. Returned in the reference's
// vocabulary order (printable ranges first).
std::vector<std::pair<unsigned char, char32_t>> bytes_to_unicode() {
  std::vector<std::pair<unsigned char, char32_t>> out;
  auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
  for (int b = 0; b < 256; ++b)
    if (printable(b)) out.emplace_back(static_cast<unsigned char>(b), static_cast<char32_t>(b));
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (!printable(b)) out.emplace_back(static_cast<unsigned char>(b), static_cast<char32_t>(256 + n++));
  return out;
}

// The regex's IGNORECASE on lower-cased text: only U+017F (long s) still folds
// onto an ASCII letter of the literal alternatives.
bool fold_equal(char32_t text, char lit) { return text == static_cast<char32_t>(lit) || (text == 0x17F && lit == 's'); }

size_t match_literal(const std::u32string& s, size_t i, std::string_view lit) {
  if (s.size() - i < lit.size()) return 0;
  for (size_t k = 0; k < lit.size(); ++k)
    if (!fold_equal(s[i + k], lit[k])) return 0;
  return lit.size();
}

// re.findall(pat, text) for
//   <start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// (leftmost alternative wins at each position; unmatched characters are skipped).
std::vector<std::u32string> split_pieces(const std::u32string& s) {
  static constexpr std::string_view kLiterals[] = {"<start_of_text>", "<end_of_text>", "'s", "'t", "'re",
                                                   "'ve",             "'m",            "'ll", "'d"};
  std::vector<std::u32string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 0;
    for (std::string_view lit : kLiterals)
      if ((len = match_literal(s, i, lit)) != 0) break;
    if (len == 0 && detail::is_letter(s[i])) {
      while (i + len < s.size() && detail::is_letter(s[i + len])) ++len;
    } else if (len == 0 && detail::is_number(s[i])) {
      len = 1;
    } else if (len == 0 && detail::is_other(s[i])) {
      while (i + len < s.size() && detail::is_other(s[i + len])) ++len;
    }
    if (len == 0) {
      ++i;  // whitespace (or U+0345): no alternative matches here
      continue;
    }
    out.emplace_back(s.substr(i, len));
    i += len;
  }
  return out;
}

std::u32string strip_py(const std::u32string& s) {
  size_t b = 0, e = s.size();
  while (b < e && detail::is_py_space(s[b])) ++b;
  while (e > b && detail::is_py_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Splits a UTF-8 string into its code points (each as UTF-8).
std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t n = 1;
    while (i + n < s.size() && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) ++n;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace

Tokenizer::Tokenizer(const std::string& bpe_gz_path) : path_(bpe_gz_path) {
  std::error_code ec;
  if (!fs::is_regular_file(bpe_gz_path, ec))
    throw ModelMissing("CLIP BPE vocabulary not found: '" + bpe_gz_path + "' (expected " + kVocabFileName +
                       "; set SAM3_BPE_PATH or --bpe)");
  const std::string text = read_gzip(bpe_gz_path);

  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos <= text.size() && lines.size() < kNumMerges + 1;) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    lines.emplace_back(text.data() + pos, nl - pos);
    pos = nl + 1;
  }
  if (lines.size() < kNumMerges + 1)
    throw ModelError("BPE vocabulary '" + bpe_gz_path + "': expected at least " + std::to_string(kNumMerges + 1) +
                     " lines (a header and the merges), got " + std::to_string(lines.size()));

  decoder_.reserve(kVocabSize);
  for (const auto& [byte, cp] : bytes_to_unicode()) {
    byte_symbol_[byte] = utf8_encode(std::u32string(1, cp));
    byte_of_[byte_symbol_[byte]] = byte;
    decoder_.push_back(byte_symbol_[byte]);
  }
  for (size_t k = 0; k < 256; ++k) decoder_.push_back(decoder_[k] + "</w>");
  merge_ranks_.reserve(kNumMerges);
  for (size_t r = 0; r < kNumMerges; ++r) {
    const std::string_view line = lines[r + 1];
    // Python's str.split(): runs of whitespace, exactly two parts expected.
    std::vector<std::string> parts;
    for (size_t p = 0; p < line.size();) {
      while (p < line.size() && std::isspace(static_cast<unsigned char>(line[p]))) ++p;
      size_t q = p;
      while (q < line.size() && !std::isspace(static_cast<unsigned char>(line[q]))) ++q;
      if (q > p) parts.emplace_back(line.substr(p, q - p));
      p = q;
    }
    if (parts.size() != 2)
      throw ModelError("BPE vocabulary '" + bpe_gz_path + "' line " + std::to_string(r + 2) +
                       ": expected two symbols, got '" + std::string(line) + "'");
    // dict(zip(merges, range)): a repeated merge keeps its last rank.
    merge_ranks_[parts[0] + " " + parts[1]] = static_cast<int32_t>(r);
    decoder_.push_back(parts[0] + parts[1]);
  }
  for (const char* s : kSpecials) decoder_.emplace_back(s);
  encoder_.reserve(decoder_.size());
  // dict(zip(vocab, range)): a repeated symbol keeps its last id.
  for (size_t id = 0; id < decoder_.size(); ++id) encoder_[decoder_[id]] = static_cast<int64_t>(id);
}

std::string Tokenizer::clean(std::string_view text) const {
  std::u32string s = detail::ftfy_fix_text(utf8_decode(text));
  s = strip_py(detail::html_unescape(detail::html_unescape(s)));
  std::u32string w;  // whitespace_clean: \s+ -> " ", strip
  w.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (detail::is_regex_space(s[i])) {
      while (i < s.size() && detail::is_regex_space(s[i])) ++i;
      w.push_back(U' ');
    } else {
      w.push_back(s[i++]);
    }
  }
  return utf8_encode(detail::to_lower(strip_py(w)));
}

std::vector<int64_t> Tokenizer::bpe(const std::string& piece) const {
  std::vector<std::string> word = utf8_chars(piece);
  word.back() += "</w>";
  while (word.size() > 1) {
    int32_t best = std::numeric_limits<int32_t>::max();
    size_t best_at = 0;
    std::string key;
    for (size_t k = 0; k + 1 < word.size(); ++k) {
      key.assign(word[k]).append(" ").append(word[k + 1]);
      const auto it = merge_ranks_.find(key);
      if (it != merge_ranks_.end() && it->second < best) best = it->second, best_at = k;
    }
    if (best == std::numeric_limits<int32_t>::max()) break;
    const std::string first = word[best_at], second = word[best_at + 1];
    std::vector<std::string> merged;
    merged.reserve(word.size());
    for (size_t k = 0; k < word.size();) {
      if (k + 1 < word.size() && word[k] == first && word[k + 1] == second) {
        merged.push_back(first + second);
        k += 2;
      } else {
        merged.push_back(word[k++]);
      }
    }
    word = std::move(merged);
  }
  std::vector<int64_t> ids;
  ids.reserve(word.size());
  for (const auto& sym : word) {
    const auto it = encoder_.find(sym);
    if (it == encoder_.end()) throw ModelError("BPE symbol '" + sym + "' missing from the vocabulary '" + path_ + "'");
    ids.push_back(it->second);
  }
  return ids;
}

std::vector<int64_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids;
  for (const std::u32string& piece : split_pieces(utf8_decode(clean(text)))) {
    std::string symbols;
    for (unsigned char b : utf8_encode(piece)) symbols += byte_symbol_[b];
    // The reference's BPE cache is seeded with the two specials: they map to their ids.
    if (symbols == kSpecials[0] || symbols == kSpecials[1]) {
      ids.push_back(symbols == kSpecials[0] ? kSotId : kEotId);
      continue;
    }
    const auto piece_ids = bpe(symbols);
    ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
  }
  return ids;
}

std::vector<std::vector<int64_t>> Tokenizer::tokenize(const std::vector<std::string>& texts,
                                                      int context_length) const {
  if (context_length < 1)
    throw InvalidInput("tokenizer context length must be >= 1, got " + std::to_string(context_length));
  const auto ctx = static_cast<size_t>(context_length);
  std::vector<std::vector<int64_t>> rows;
  rows.reserve(texts.size());
  for (const auto& text : texts) {
    std::vector<int64_t> ids{kSotId};
    const auto body = encode(text);
    ids.insert(ids.end(), body.begin(), body.end());
    ids.push_back(kEotId);
    if (ids.size() > ctx) {
      ids.resize(ctx);
      ids.back() = kEotId;
    }
    ids.resize(ctx, kPadId);
    rows.push_back(std::move(ids));
  }
  return rows;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string symbols;
  for (int64_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= decoder_.size())
      throw InvalidInput("token id " + std::to_string(id) + " outside the vocabulary [0, " +
                         std::to_string(decoder_.size()) + ")");
    symbols += decoder_[static_cast<size_t>(id)];
  }
  std::string bytes;
  for (const auto& ch : utf8_chars(symbols)) {
    const auto it = byte_of_.find(ch);
    bytes += it != byte_of_.end() ? std::string(1, static_cast<char>(it->second)) : ch;
  }
  std::string out;  // "</w>" -> " "
  for (size_t i = 0; i < bytes.size();) {
    if (bytes.compare(i, 4, "</w>") == 0) {
      out.push_back(' ');
      i += 4;
    } else {
      out.push_back(bytes[i++]);
    }
  }
  return out;
}

std::string Tokenizer::find_vocab(const std::string& model_dir, const std::string& explicit_path) {
  std::error_code ec;
  if (!explicit_path.empty()) {
    if (fs::is_regular_file(explicit_path, ec)) return explicit_path;
    throw ModelMissing("CLIP BPE vocabulary not found: '" + explicit_path + "' (given by --bpe / SAM3_BPE_PATH)");
  }
  std::vector<std::string> tried;
  if (!model_dir.empty()) {
    for (const fs::path& p : {fs::path(model_dir) / kVocabFileName, fs::path(model_dir) / "assets" / kVocabFileName}) {
      if (fs::is_regular_file(p, ec)) return p.string();
      tried.push_back("'" + p.string() + "'");
    }
  }
  std::string where;
  for (const auto& t : tried) where += (where.empty() ? "" : ", ") + t;
  throw ModelMissing(std::string("CLIP BPE vocabulary ") + kVocabFileName + " not found" +
                     (where.empty() ? std::string(" (no model folder given)") : " in " + where) +
                     "; set SAM3_BPE_PATH or --bpe to its path");
}

}  // namespace sam3::core
