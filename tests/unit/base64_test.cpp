// SPDX-License-Identifier: Apache-2.0
// Strict base64: RFC 4648 vectors, data URLs, and every kind of malformed input.
#include <gtest/gtest.h>

#include <string>

#include "core/errors.h"
#include "formats/base64.h"

namespace sam3::formats {
namespace {

TEST(Base64, Rfc4648Vectors) {
  const std::pair<std::string, std::string> v[] = {{"", ""},
                                                   {"f", "Zg=="},
                                                   {"fo", "Zm8="},
                                                   {"foo", "Zm9v"},
                                                   {"foob", "Zm9vYg=="},
                                                   {"fooba", "Zm9vYmE="},
                                                   {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : v) {
    EXPECT_EQ(base64_encode(plain), encoded);
    EXPECT_EQ(base64_decode(encoded), plain);
  }
}

TEST(Base64, RoundTripsAllByteValues) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= bytes.size(); len += 37) {
    const std::string part = bytes.substr(0, len);
    EXPECT_EQ(base64_decode(base64_encode(part)), part);
  }
  EXPECT_EQ(base64_encode(std::string("\xfb\xff", 2)), "+/8=");
}

TEST(Base64, AcceptsDataUrlAndTrailingNewline) {
  EXPECT_EQ(base64_decode("data:image/png;base64,Zm9vYmFy"), "foobar");
  EXPECT_EQ(base64_decode("data:image/jpeg;base64,Zg=="), "f");
  EXPECT_EQ(base64_decode("Zm9vYmFy\n"), "foobar");
  EXPECT_EQ(base64_decode("Zm9vYmFy\r\n"), "foobar");
  EXPECT_EQ(base64_decode("data:image/png;base64,Zm8=\n"), "fo");
}

TEST(Base64, RejectsMalformedInput) {
  const char* bad[] = {
      "Zm9vYmF",       // length 7
      "Zm9v YmFy",     // inner space
      " Zm9vYmFy",     // leading space
      "Zm9vYmFy\n\n",  // two newlines
      "Zm9vYmFy ",     // trailing space
      "Zm9-YmFy",      // URL-safe alphabet
      "Zm9_YmFy",
      "Zg=a",  // data after padding
      "Z===",  // too much padding
      "====",
      "Zg==Zm8=",                   // padding in the middle
      "Zm9vYmFy=",                  // stray '='
      "Zm9vYm\xc3\xa9",             // non-ASCII
      "data:image/png,Zm9v",        // data URL without ;base64
      "data:image/png;base64Zm9v",  // no comma
  };
  for (const char* s : bad) EXPECT_THROW(base64_decode(s), InvalidInput) << s;
}

TEST(Base64, MessagesNameTheOffset) {
  try {
    base64_decode("data:image/png;base64,Zm9v*mFy");
    FAIL() << "expected InvalidInput";
  } catch (const InvalidInput& e) {
    EXPECT_NE(std::string(e.what()).find("'*' at offset 26"), std::string::npos) << e.what();
  }
}

TEST(Base64, EnforcesDecodedSizeLimit) {
  EXPECT_EQ(base64_decode("Zm9vYmFy", 6), "foobar");
  EXPECT_THROW(base64_decode("Zm9vYmFy", 5), TooLarge);
  EXPECT_THROW(base64_decode("Zm9vYg==", 3), TooLarge);
}

}  // namespace
}  // namespace sam3::formats
