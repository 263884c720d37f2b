// SPDX-License-Identifier: Apache-2.0
// The OpenAI CLIP byte-level BPE tokenizer as SAM 3 uses it
// (sam3/model/tokenizer_ve.py SimpleTokenizer, clean="lower"):
//   text -> ftfy.fix_text -> html.unescape x2 -> strip -> collapse whitespace
//        -> lower() -> regex pieces -> UTF-8 bytes -> byte-to-unicode -> BPE -> ids
// and [SOT] + ids + [EOT], truncated to the context (EOT kept last), padded with 0.
// The vocabulary is bpe_simple_vocab_16e6.txt.gz: 256 byte symbols, the same
// with "</w>", the first 48894 merges of the file, then the two special tokens
// "<start_of_text>" (49406) and "<end_of_text>" (49407).
//
// ftfy is reproduced without its mojibake detector (see tokenizer_unicode.h):
// text that is valid UTF-8 and not double-encoded tokenizes exactly as the
// reference does (checked against shared/golden/tokenizer_cases.json).
//
// Thread-safety: immutable after construction; every method is const and may be
// called from several threads at once.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sam3::core {

class Tokenizer {
public:
  static constexpr int64_t kSotId = 49406;  // <start_of_text>
  static constexpr int64_t kEotId = 49407;  // <end_of_text>
  static constexpr int64_t kPadId = 0;      // also the id of "!" inside a word (the reference's quirk)
  static constexpr int64_t kVocabSize = 49408;
  static constexpr int kDefaultContextLength = 32;
  static constexpr const char* kVocabFileName = "bpe_simple_vocab_16e6.txt.gz";

  // Reads the gzip'd merges file.
  // \throws ModelMissing if the file does not exist (naming it and SAM3_BPE_PATH),
  //         ModelError if it is not a gzip'd CLIP merges list.
  explicit Tokenizer(const std::string& bpe_gz_path);

  // The reference's clean_fn ("lower"), as UTF-8.
  std::string clean(std::string_view text) const;

  // BPE ids of the cleaned text, without SOT/EOT and without truncation.
  // Invalid UTF-8 bytes are read as U+FFFD.
  std::vector<int64_t> encode(std::string_view text) const;

  // One row of exactly context_length ids per text: SOT, ids, EOT, zeros; a row
  // longer than the context is cut to context_length and its last id set to EOT.
  // \throws InvalidInput if context_length < 1.
  std::vector<std::vector<int64_t>> tokenize(const std::vector<std::string>& texts,
                                             int context_length = kDefaultContextLength) const;

  // Text of ids (debugging aid, as the reference's decode: "</w>" -> " ").
  std::string decode(const std::vector<int64_t>& ids) const;

  const std::string& path() const noexcept { return path_; }

  // Where the vocabulary is: explicit_path when not empty (it must exist; the CLI
  // fills it from --bpe / SAM3_BPE_PATH), else bpe_simple_vocab_16e6.txt.gz in
  // model_dir or model_dir/assets.
  // \throws ModelMissing naming every place looked at and SAM3_BPE_PATH.
  static std::string find_vocab(const std::string& model_dir, const std::string& explicit_path);

private:
  std::vector<int64_t> bpe(const std::string& piece) const;

  std::string path_;
  std::string byte_symbol_[256];                            // byte -> UTF-8 of its unicode stand-in
  std::unordered_map<std::string, int64_t> encoder_;        // symbol -> id
  std::vector<std::string> decoder_;                        // id -> symbol
  std::unordered_map<std::string, int32_t> merge_ranks_;    // "first second" -> rank
  std::unordered_map<std::string, unsigned char> byte_of_;  // stand-in -> byte (decode)
};

}  // namespace sam3::core
