// SPDX-License-Identifier: Apache-2.0
// Every case of shared/golden/tokenizer_cases.json (the reference
// SimpleTokenizer, clean="lower", context 32) must match exactly: the cleaned
// text, the BPE ids and the padded/truncated rows.
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "core/errors.h"
#include "core/model/tokenizer.h"
#include "test_util.h"

namespace sam3::core {
namespace {

nlohmann::json load_cases() {
  std::ifstream in(test::golden_dir() + "/tokenizer_cases.json");
  return nlohmann::json::parse(in);
}

TEST(TokenizerParity, EveryGoldenCaseExact) {
  SAM3_REQUIRE_GOLDEN();
  const auto doc = load_cases();
  ASSERT_EQ(doc.at("context_length").get<int>(), 32);
  ASSERT_EQ(doc.at("sot_token_id").get<int64_t>(), Tokenizer::kSotId);
  ASSERT_EQ(doc.at("eot_token_id").get<int64_t>(), Tokenizer::kEotId);
  const Tokenizer tok(test::golden_dir() + "/" + doc.at("vocab_file").get<std::string>());

  const auto& cases = doc.at("cases");
  ASSERT_GE(cases.size(), 20u);
  std::vector<std::string> texts;
  size_t exact = 0;
  for (const auto& c : cases) {
    const auto text = c.at("text").get<std::string>();
    texts.push_back(text);
    const auto want_ids = c.at("ids").get<std::vector<int64_t>>();
    const auto got_clean = tok.clean(text);
    const auto got_bpe = tok.encode(text);
    const auto got_ids = tok.tokenize({text}, 32).at(0);
    EXPECT_EQ(got_clean, c.at("cleaned").get<std::string>()) << "text: " << text;
    EXPECT_EQ(got_bpe, c.at("bpe_ids").get<std::vector<int64_t>>()) << "text: " << text;
    EXPECT_EQ(got_ids, want_ids) << "text: " << text;
    // The reference's attention mask is ids != 0.
    const auto mask = c.at("attention_mask").get<std::vector<int>>();
    for (size_t k = 0; k < mask.size() && k < got_ids.size(); ++k)
      EXPECT_EQ(mask[k] != 0, got_ids[k] != Tokenizer::kPadId) << "text: " << text << " position " << k;
    exact += got_ids == want_ids ? 1 : 0;
  }
  std::cout << "[tokenizer parity] " << exact << "/" << cases.size() << " golden cases exact\n";
  RecordProperty("exact_cases", static_cast<int>(exact));

  // The batch call gives the same rows.
  const auto rows = tok.tokenize(texts, 32);
  ASSERT_EQ(rows.size(), cases.size());
  for (size_t k = 0; k < rows.size(); ++k) EXPECT_EQ(rows[k], cases[k].at("ids").get<std::vector<int64_t>>());
}

TEST(TokenizerParity, SpecVectorsAndDecode) {
  SAM3_REQUIRE_GOLDEN();
  const Tokenizer tok(test::golden_dir() + "/bpe_simple_vocab_16e6.txt.gz");
  // From the porting spec (section 2.5), computed with the shipped vocabulary.
  EXPECT_EQ(tok.encode("visual"), (std::vector<int64_t>{7195}));
  EXPECT_EQ(tok.encode("a red car"), (std::vector<int64_t>{320, 736, 1615}));
  EXPECT_EQ(tok.encode("hello!! 42"), (std::vector<int64_t>{3306, 748, 275, 273}));
  EXPECT_EQ(tok.decode(tok.encode("person in blue vest")), "person in blue vest ");
  EXPECT_EQ(tok.decode({Tokenizer::kSotId}), "<start_of_text>");
  EXPECT_THROW(tok.decode({Tokenizer::kVocabSize}), InvalidInput);
}

}  // namespace
}  // namespace sam3::core
