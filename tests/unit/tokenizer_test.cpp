// SPDX-License-Identifier: Apache-2.0
// Tokenizer mechanics without the real vocabulary: Unicode helpers against
// values computed with Python (str.lower, html.unescape, unicodedata, ftfy),
// BPE/truncation/padding on a small synthetic merges file, and the errors.
#include <zlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/model/tokenizer.h"
#include "core/model/tokenizer_unicode.h"
#include "test_util.h"

namespace sam3::core {
namespace {

using detail::utf8_decode;
using detail::utf8_encode;

std::string u8(std::u32string_view s) { return utf8_encode(s); }

TEST(TokenizerUnicode, Utf8RoundTripAndInvalidBytes) {
  const std::string s = "a\xC3\xA9\xE6\x9D\xB1\xF0\x9F\x90\xB6";  // a é 東 🐶
  EXPECT_EQ(utf8_decode(s), (std::u32string{U'a', 0xE9, 0x6771, 0x1F436}));
  EXPECT_EQ(utf8_encode(utf8_decode(s)), s);
  EXPECT_EQ(utf8_decode("\xFF" "a\xC3"), (std::u32string{0xFFFD, U'a', 0xFFFD}));
  EXPECT_EQ(utf8_decode("\xC0\xAF"), (std::u32string{0xFFFD}));  // overlong
}

TEST(TokenizerUnicode, CharacterClassesFollowTheRegexModule) {
  EXPECT_TRUE(detail::is_letter(U'a'));
  EXPECT_TRUE(detail::is_letter(0x6771));   // 東
  EXPECT_TRUE(detail::is_letter(0x30FC));   // ー (Lm)
  EXPECT_FALSE(detail::is_letter(0x301));   // combining acute (Mn)
  EXPECT_TRUE(detail::is_number(U'7'));
  EXPECT_TRUE(detail::is_number(0x663));    // Arabic-Indic three
  EXPECT_TRUE(detail::is_number(0x2163));   // Roman numeral four (Nl)
  EXPECT_TRUE(detail::is_other(U'!'));
  EXPECT_TRUE(detail::is_other(0x1F436));
  EXPECT_FALSE(detail::is_other(0x345));    // matched by no alternative under IGNORECASE
  EXPECT_TRUE(detail::is_regex_space(0x3000));
  EXPECT_FALSE(detail::is_regex_space(0x1C));
  EXPECT_TRUE(detail::is_py_space(0x1C));
}

TEST(TokenizerUnicode, LowerMatchesPython) {
  EXPECT_EQ(u8(detail::to_lower(U"ÀÉÎ STRASSE Ǆ ΟΔΟΣ Σ"))
            , "àéî strasse ǆ οδος σ");
  EXPECT_EQ(u8(detail::to_lower(U"İ")), "i\xCC\x87");
  // Final sigma skips case-ignorables and needs a cased letter before: Python gives these.
  EXPECT_EQ(u8(detail::to_lower(U"ΑΣ' Σ aΣ文 aΣ\u0301b")), "ας' σ aς文 aσ\u0301b");
  EXPECT_EQ(u8(detail::to_lower(U"АБВ ＡＢ Ⅳ")), "абв ａｂ ⅳ");
}

TEST(TokenizerUnicode, NfcComposes) {
  EXPECT_EQ(u8(detail::nfc(U"cafe\u0301")), "café");
  EXPECT_EQ(u8(detail::nfc(U"\u1EA1\u0302")), "\u1EAD");  // ạ + ̂ -> ậ
  EXPECT_EQ(u8(detail::nfc(U"\u212B")), "Å");              // Angstrom sign singleton
  EXPECT_EQ(u8(detail::nfc(U"\u1112\u1161\u11AB")), "한");  // Hangul jamo
  EXPECT_EQ(u8(detail::nfc(U"\u00E9\u0327")), "\u0229\u0301");  // é + cedilla: reordered, recomposed
  EXPECT_EQ(u8(detail::nfc(U"a\u0300\u0323")), "\u1EA1\u0300");  // marks sorted by class
  EXPECT_EQ(u8(detail::nfc(U"\u0958")), "\u0915\u093C");         // composition exclusion
}

TEST(TokenizerUnicode, HtmlUnescapeMatchesPython) {
  auto un = [](std::u32string_view s) { return u8(detail::html_unescape(s)); };
  EXPECT_EQ(un(U"&amp; &lt;b&gt; &quot;x&quot; &apos;"), "& <b> \"x\" '");
  EXPECT_EQ(un(U"&ampx &notanentity; &bogus;"), "&x ¬anentity; &bogus;");
  EXPECT_EQ(un(U"&#65;&#x42;&#67 &#x80; &#0; &#1;|"), "ABC € \uFFFD |");
  EXPECT_EQ(un(U"&# &#x; a&b"), "&# &#x; a&b");
  EXPECT_EQ(un(U"&eacute;&Eacute;&nbsp;"), "éÉ\u00A0");
}

TEST(TokenizerUnicode, FtfyFixes) {
  auto fix = [](std::u32string_view s) { return u8(detail::ftfy_fix_text(s)); };
  EXPECT_EQ(fix(U"\uFB01ne \uFB03"), "fine ffi");
  EXPECT_EQ(fix(U"\u201Cq\u201D \u2018s\u2019"), "\"q\" 's'");
  EXPECT_EQ(fix(U"\uFF21\uFF42\uFF43\u3000\uFF11"), "Abc 1");
  EXPECT_EQ(fix(U"\u0093x\u0094"), "\"x\"");       // C1 controls read as Windows-1252
  EXPECT_EQ(fix(std::u32string(U"\uFEFFa\0b\r\nc", 7)), "ab\nc");  // control characters, line breaks
  EXPECT_EQ(fix(U"&amp;lt;"), "&lt;");             // one round of ftfy's own unescape
  EXPECT_EQ(fix(U"<p>&amp;</p>"), "<p>&amp;</p>"); // ...skipped for markup
}

// A merges file with the real layout: a header line and 48894 merges, of
// which the first four build "hello</w>".
std::string write_vocab(const test::TempDir& dir, size_t merges = 48894) {
  const std::string path = dir.file("bpe.txt.gz");
  gzFile f = gzopen(path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  std::string text = "\"bpe_simple_vocab_16e6.txt#version: 0.2\n";
  const char* real[] = {"h e", "l l", "he ll", "hell o</w>"};
  for (size_t r = 0; r < merges; ++r)
    text += (r < 4 ? std::string(real[r]) : "q" + std::to_string(r) + " z" + std::to_string(r)) + "\n";
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
  return path;
}

TEST(Tokenizer, BpeTruncationAndPadding) {
  test::TempDir dir;
  const Tokenizer tok(write_vocab(dir));
  const int64_t hello = 512 + 3;  // 256 bytes, 256 bytes + "</w>", then merges in order
  EXPECT_EQ(tok.encode("  HELLO  "), (std::vector<int64_t>{hello}));
  // "h e" (rank 0) does not apply: the word is h, e</w>. Printable bytes come first in the vocabulary.
  EXPECT_EQ(tok.encode("he"), (std::vector<int64_t>{'h' - '!', 256 + 'e' - '!'}));
  EXPECT_EQ(tok.encode("a <end_of_text>"), (std::vector<int64_t>{256 + 'a' - '!', Tokenizer::kEotId}));
  EXPECT_EQ(tok.tokenize({"hello"}, 5).at(0), (std::vector<int64_t>{Tokenizer::kSotId, hello, Tokenizer::kEotId, 0, 0}));
  EXPECT_EQ(tok.tokenize({"hello hello hello"}, 4).at(0),
            (std::vector<int64_t>{Tokenizer::kSotId, hello, hello, Tokenizer::kEotId}));
  EXPECT_EQ(tok.tokenize({""}, 3).at(0), (std::vector<int64_t>{Tokenizer::kSotId, Tokenizer::kEotId, 0}));
  EXPECT_EQ(tok.tokenize({"a", "b"}).size(), 2u);
  EXPECT_EQ(tok.tokenize({"a"}).at(0).size(), static_cast<size_t>(Tokenizer::kDefaultContextLength));
  EXPECT_THROW(tok.tokenize({"a"}, 0), InvalidInput);
  EXPECT_EQ(tok.decode(tok.encode("hello")), "hello ");
}

TEST(Tokenizer, MissingOrBrokenVocabulary) {
  test::TempDir dir;
  try {
    Tokenizer tok(dir.file("absent.txt.gz"));
    FAIL() << "expected ModelMissing";
  } catch (const ModelMissing& e) {
    EXPECT_NE(std::string(e.what()).find("absent.txt.gz"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("SAM3_BPE_PATH"), std::string::npos);
  }
  const auto path = write_vocab(dir, 100);
  EXPECT_THROW(Tokenizer{path}, ModelError);
}

TEST(Tokenizer, FindVocab) {
  test::TempDir dir;
  EXPECT_THROW(Tokenizer::find_vocab(dir.path().string(), ""), ModelMissing);
  EXPECT_THROW(Tokenizer::find_vocab("", dir.file("nope.gz")), ModelMissing);
  std::filesystem::create_directories(dir.path() / "assets");
  const auto in_assets = (dir.path() / "assets" / Tokenizer::kVocabFileName).string();
  test::write_file(in_assets, "x");
  EXPECT_EQ(Tokenizer::find_vocab(dir.path().string(), ""), in_assets);
  const auto top = dir.file(Tokenizer::kVocabFileName);
  test::write_file(top, "x");
  EXPECT_EQ(Tokenizer::find_vocab(dir.path().string(), ""), top);
  EXPECT_EQ(Tokenizer::find_vocab(dir.path().string(), in_assets), in_assets);
  try {
    Tokenizer::find_vocab("", "");
    FAIL() << "expected ModelMissing";
  } catch (const ModelMissing& e) {
    EXPECT_NE(std::string(e.what()).find("SAM3_BPE_PATH"), std::string::npos);
  }
}

}  // namespace
}  // namespace sam3::core
