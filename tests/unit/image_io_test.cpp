// SPDX-License-Identifier: Apache-2.0
// Image decode: formats, colour conversion, EXIF orientation, limits checked
// from the header, and clear errors for corrupt, truncated or empty data.
// Test images are made here (hand-written PNG/BMP/TIFF, OpenCV-encoded JPEG).
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include "core/errors.h"
#include "formats/image_io.h"
#include "formats/image_probe.h"
#include "formats/png_mask.h"
#include "test_util.h"

namespace sam3::formats {
namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string le16(uint32_t v) {
  return {static_cast<char>(v), static_cast<char>(v >> 8)};
}
std::string le32(uint32_t v) {
  return le16(v & 0xffff) + le16(v >> 16);
}

std::string png_chunk(const std::string& type, const std::string& data) {
  const std::string td = type + data;
  const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(td.data()), static_cast<uInt>(td.size()));
  return be32(static_cast<uint32_t>(data.size())) + td + be32(static_cast<uint32_t>(crc));
}

// A PNG from raw scanlines (each already prefixed with its filter byte 0).
std::string make_png(uint32_t w, uint32_t h, int color_type, int bit_depth, const std::string& scanlines) {
  std::string ihdr = be32(w) + be32(h);
  ihdr += {static_cast<char>(bit_depth), static_cast<char>(color_type), 0, 0, 0};
  uLongf zlen = compressBound(static_cast<uLong>(scanlines.size()));
  std::string z(zlen, '\0');
  compress(reinterpret_cast<Bytef*>(z.data()), &zlen, reinterpret_cast<const Bytef*>(scanlines.data()),
           static_cast<uLong>(scanlines.size()));
  z.resize(zlen);
  return "\x89PNG\r\n\x1a\n" + png_chunk("IHDR", ihdr) + png_chunk("IDAT", z) + png_chunk("IEND", "");
}

Image random_image(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  Image img{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (auto& v : img.rgb) v = static_cast<uint8_t>(rng());
  return img;
}

// 32x16: left half red, right half blue (16x16 blocks survive JPEG well).
Image halves() {
  Image img{32, 16, std::vector<uint8_t>(32 * 16 * 3, 0)};
  for (int y = 0; y < 16; ++y)
    for (int x = 0; x < 32; ++x) img.rgb[(y * 32 + x) * 3 + (x < 16 ? 0 : 2)] = 255;
  return img;
}

const uint8_t* px(const Image& img, int x, int y) {
  return img.rgb.data() + (static_cast<size_t>(y) * img.width + x) * 3;
}

void expect_near_rgb(const Image& img, int x, int y, int r, int g, int b) {
  const uint8_t* p = px(img, x, y);
  EXPECT_NEAR(p[0], r, 40) << "at " << x << "," << y;
  EXPECT_NEAR(p[1], g, 40) << "at " << x << "," << y;
  EXPECT_NEAR(p[2], b, 40) << "at " << x << "," << y;
}

template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return {};
}

TEST(ImageIo, PngRoundTripIsExact) {
  const Image img = random_image(37, 23, 1);
  const std::string png = encode_png(img);
  EXPECT_EQ(probe_image(png).format, ImageFormat::png);
  const Image back = decode_image(png);
  EXPECT_EQ(back.width, 37);
  EXPECT_EQ(back.height, 23);
  EXPECT_EQ(back.rgb, img.rgb);
}

TEST(ImageIo, JpegKeepsRgbOrder) {
  const Image back = decode_image(encode_jpeg(halves(), 95));
  ASSERT_EQ(back.width, 32);
  ASSERT_EQ(back.height, 16);
  expect_near_rgb(back, 4, 8, 255, 0, 0);
  expect_near_rgb(back, 28, 8, 0, 0, 255);
}

TEST(ImageIo, GreyPngBecomesRgb) {
  Mask m{3, 2, {0, 1, 0, 1, 1, 0}};
  const Image img = decode_image(encode_mask_png(m));  // 8-bit grey 0/255
  ASSERT_EQ(img.rgb.size(), 18u);
  for (int i = 0; i < 6; ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(img.rgb[i * 3 + c], m.data[i] ? 255 : 0);
  // 16-bit grey: OpenCV keeps the high byte.
  std::string rows;
  rows += '\0';
  rows += "\xAB\xCD\x12\x34";
  const Image g16 = decode_image(make_png(2, 1, 0, 16, rows));
  EXPECT_EQ(g16.rgb, (std::vector<uint8_t>{0xAB, 0xAB, 0xAB, 0x12, 0x12, 0x12}));
}

TEST(ImageIo, RgbaPngDropsAlphaAndKeepsRgbOrder) {
  std::string rows;
  rows += '\0';
  rows += std::string("\xFF\x00\x00\xFF", 4) + std::string("\x00\x80\xFF\x00", 4);  // opaque red, clear azure
  const Image img = decode_image(make_png(2, 1, 6, 8, rows));
  EXPECT_EQ(img.rgb, (std::vector<uint8_t>{255, 0, 0, 0, 128, 255}));
  // Grey + alpha.
  std::string ga;
  ga += '\0';
  ga += std::string("\x40\xFF\x90\x00", 4);
  EXPECT_EQ(decode_image(make_png(2, 1, 4, 8, ga)).rgb, (std::vector<uint8_t>{0x40, 0x40, 0x40, 0x90, 0x90, 0x90}));
}

TEST(ImageIo, DecodesBmpAndTiff) {
  // 2x2 24-bit BMP, bottom-up rows padded to 4 bytes, BGR pixels.
  const std::string row_bottom = std::string("\x00\x00\xFF\x00\xFF\x00", 6) + std::string(2, '\0');  // red, green
  const std::string row_top = std::string("\xFF\x00\x00\xFF\xFF\xFF", 6) + std::string(2, '\0');     // blue, white
  std::string bmp = "BM" + le32(54 + 16) + le32(0) + le32(54);
  bmp += le32(40) + le32(2) + le32(2) + le16(1) + le16(24) + le32(0) + le32(16) + le32(2835) + le32(2835) + le32(0) +
         le32(0);
  bmp += row_bottom + row_top;
  const Image b = decode_image(bmp);
  EXPECT_EQ(b.rgb, (std::vector<uint8_t>{0, 0, 255, 255, 255, 255, 255, 0, 0, 0, 255, 0}));

  // 2x1 uncompressed RGB TIFF, little-endian, one strip.
  auto entry = [](uint16_t tag, uint16_t type, uint32_t count, uint32_t value) {
    return le16(tag) + le16(type) + le32(count) + (type == 3 && count == 1 ? le16(value) + le16(0) : le32(value));
  };
  std::string tif = "II*" + std::string(1, '\0') + le32(8) + le16(10);
  tif += entry(256, 3, 1, 2) + entry(257, 3, 1, 1) + entry(258, 3, 3, 134) + entry(259, 3, 1, 1) + entry(262, 3, 1, 2) +
         entry(273, 4, 1, 140) + entry(277, 3, 1, 3) + entry(278, 3, 1, 1) + entry(279, 4, 1, 6) + entry(284, 3, 1, 1) +
         le32(0);
  tif += le16(8) + le16(8) + le16(8);
  ASSERT_EQ(tif.size(), 140u);
  tif += std::string("\x10\x20\x30\xF0\xE0\xD0", 6);
  const ImageHeader th = probe_image(tif);
  EXPECT_EQ(th.format, ImageFormat::tiff);
  EXPECT_EQ(th.width, 2);
  EXPECT_EQ(th.height, 1);
  EXPECT_EQ(decode_image(tif).rgb, (std::vector<uint8_t>{0x10, 0x20, 0x30, 0xF0, 0xE0, 0xD0}));
}

TEST(ImageIo, DecodesWebp) {
  // 6x4, left half red, right half blue, written by OpenCV 4.6 / libwebp:
  // lossless (VP8L chunk) and lossy quality 90 (VP8 chunk).
  const std::string lossless(
      "\x52\x49\x46\x46\x1E\x00\x00\x00\x57\x45\x42\x50\x56\x50\x38\x4C\x12\x00\x00\x00\x2F\x05\xC0\x00\x00\x0F"
      "\x10\xF3\xBF\xFF\xF3\x1F\x0E\x7A\x10\xD1\xFF\x00",
      38);
  const std::string lossy(
      "\x52\x49\x46\x46\x5E\x00\x00\x00\x57\x45\x42\x50\x56\x50\x38\x20\x52\x00\x00\x00\x30\x03\x00\x9D\x01\x2A"
      "\x06\x00\x04\x00\x00\xC0\x12\x25\xA8\x02\x74\xBA\x01\xF8\x01\x46\x03\xF0\x02\xB4\x03\xF8\x00\x1E\x87\x9D"
      "\x99\x00\x00\xFE\xFE\xAA\xF1\x98\x7B\xD8\xA8\xF2\xC4\x3F\xF9\xF4\x42\xF5\x6F\xF4\x37\xFE\xB4\x73\xE7\xD1"
      "\x0B\xD5\xBF\xD0\xDF\xFF\xAE\x89\xFF\xEC\x37\xCC\x8C\xAC\xE7\xD0\xDF\x32\x32\xF9\xBE\x00\x00\x00",
      102);
  for (const std::string* webp : {&lossless, &lossy}) {
    const ImageHeader h = probe_image(*webp);
    EXPECT_EQ(h.format, ImageFormat::webp);
    EXPECT_EQ(h.width, 6);
    EXPECT_EQ(h.height, 4);
    const Image img = decode_image(*webp);
    ASSERT_EQ(img.width, 6);
    ASSERT_EQ(img.height, 4);
    expect_near_rgb(img, 0, 0, 255, 0, 0);
    expect_near_rgb(img, 5, 3, 0, 0, 255);
  }
  EXPECT_EQ(decode_image(lossless).rgb[0], 255);  // lossless is exact
  EXPECT_THROW(decode_image(lossless.substr(0, 30)), InvalidInput);
}

TEST(ImageIo, AppliesExifOrientation) {
  // Insert an EXIF APP1 segment right after SOI: big-endian TIFF, one IFD
  // entry Orientation (0x0112) SHORT = 6 ("rotate 90 clockwise to display").
  const std::string jpeg = encode_jpeg(halves(), 95);
  std::string tiff = std::string("MM\0*", 4) + be32(8);
  tiff += std::string("\x00\x01", 2);  // one entry
  tiff += std::string("\x01\x12\x00\x03", 4) + be32(1) + std::string("\x00\x06\x00\x00", 4);
  tiff += be32(0);  // no next IFD
  const std::string payload = std::string("Exif\0\0", 6) + tiff;
  const uint16_t len = static_cast<uint16_t>(payload.size() + 2);
  const std::string app1 =
      std::string("\xFF\xE1", 2) + static_cast<char>(len >> 8) + static_cast<char>(len & 0xff) + payload;
  const std::string rotated = jpeg.substr(0, 2) + app1 + jpeg.substr(2);

  const Image img = decode_image(rotated);
  // The 32x16 image (red left, blue right) turned clockwise: 16x32, red on top.
  ASSERT_EQ(img.width, 16);
  ASSERT_EQ(img.height, 32);
  expect_near_rgb(img, 8, 4, 255, 0, 0);
  expect_near_rgb(img, 8, 28, 0, 0, 255);
}

TEST(ImageIo, RejectsEmptyGarbageAndUnsupported) {
  EXPECT_NE(message_of<InvalidInput>([] { decode_image(""); }).find("empty"), std::string::npos);
  EXPECT_NE(
      message_of<InvalidInput>([] { decode_image("hello, this is not an image"); }).find("unsupported image format"),
      std::string::npos);
  EXPECT_THROW(decode_image("GIF89a\x01\x00\x01\x00"), InvalidInput);
  EXPECT_THROW(decode_image(std::string("\x89PNG\r\n\x1a\n", 8)), InvalidInput);
  EXPECT_THROW(decode_image(std::string("\xFF\xD8\xFF", 3)), InvalidInput);
}

TEST(ImageIo, RejectsTruncatedData) {
  const std::string jpeg = encode_jpeg(random_image(64, 48, 2), 90);
  const std::string png = encode_png(random_image(64, 48, 3));
  for (const double frac : {0.1, 0.5, 0.9, 0.999}) {
    const auto cut = [&](const std::string& s) { return s.substr(0, static_cast<size_t>(s.size() * frac)); };
    EXPECT_NE(message_of<InvalidInput>([&] { decode_image(cut(jpeg)); }).find("truncated JPEG"), std::string::npos);
    EXPECT_NE(message_of<InvalidInput>([&] { decode_image(cut(png)); }).find("truncated PNG"), std::string::npos);
  }
  // Missing only the end-of-image marker.
  EXPECT_THROW(decode_image(jpeg.substr(0, jpeg.size() - 2)), InvalidInput);
  EXPECT_NO_THROW(decode_image(jpeg + "trailing bytes after EOI are ignored"));
}

TEST(ImageIo, RejectsCorruptPngData) {
  std::string png = encode_png(random_image(64, 48, 4));
  const size_t idat = png.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  for (size_t i = idat + 20; i < idat + 60; ++i) png[i] = static_cast<char>(png[i] ^ 0x5a);
  EXPECT_NE(message_of<InvalidInput>([&] { decode_image(png); }).find("cannot decode png"), std::string::npos);
}

TEST(ImageIo, RejectsHugeDeclaredSizeBeforeDecoding) {
  const auto t0 = std::chrono::steady_clock::now();
  // PNG declaring 100000 x 100000 with a tiny (wrong) IDAT.
  const std::string png = make_png(100000, 100000, 2, 8, std::string(64, '\0'));
  EXPECT_NE(message_of<TooLarge>([&] { decode_image(png); }).find("100000x100000"), std::string::npos);
  // A real JPEG whose frame header is patched to 60000 x 60000.
  std::string jpeg = encode_jpeg(random_image(16, 16, 5));
  const size_t sof = jpeg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpeg[sof + 5] = jpeg[sof + 7] = static_cast<char>(60000 >> 8);
  jpeg[sof + 6] = jpeg[sof + 8] = static_cast<char>(60000 & 0xff);
  EXPECT_EQ(probe_image(jpeg).width, 60000);
  EXPECT_THROW(decode_image(jpeg), TooLarge);
  // BMP and WebP headers.
  std::string bmp = "BM" + le32(70) + le32(0) + le32(54) + le32(40) + le32(50000) + le32(50000) + le16(1) + le16(24);
  bmp += std::string(40, '\0');
  EXPECT_THROW(decode_image(bmp), TooLarge);
  std::string webp = "RIFF" + le32(22) + "WEBPVP8X" + le32(10) + std::string(4, '\0');
  webp += std::string("\xFF\x3F\x00\xFF\x3F\x00", 6);  // 16384 x 16384 canvas
  EXPECT_EQ(probe_image(webp).format, ImageFormat::webp);
  EXPECT_EQ(probe_image(webp).width, 16384);
  EXPECT_THROW(decode_image(webp), TooLarge);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(ms, 500.0) << "bomb checks must not decode";
}

TEST(ImageIo, EnforcesLimits) {
  const std::string png = encode_png(random_image(20, 10, 6));
  ImageLimits small_bytes;
  small_bytes.max_bytes = png.size() - 1;
  EXPECT_THROW(decode_image(png, small_bytes), TooLarge);
  ImageLimits small_pixels;
  small_pixels.max_pixels = 199;
  EXPECT_THROW(decode_image(png, small_pixels), TooLarge);
  small_pixels.max_pixels = 200;
  EXPECT_NO_THROW(decode_image(png, small_pixels));
}

TEST(ImageIo, ReadImageFileNamesTheFile) {
  test::TempDir dir;
  const Image img = random_image(8, 8, 7);
  test::write_file(dir.file("ok.png"), encode_png(img));
  EXPECT_EQ(read_image_file(dir.file("ok.png")).rgb, img.rgb);
  test::write_file(dir.file("bad.jpg"), "not really a jpeg");
  EXPECT_NE(message_of<InvalidInput>([&] { read_image_file(dir.file("bad.jpg")); }).find("bad.jpg"), std::string::npos);
  EXPECT_NE(message_of<NotFound>([&] { read_image_file(dir.file("missing.png")); }).find("missing.png"),
            std::string::npos);
  ImageLimits tiny;
  tiny.max_bytes = 10;
  EXPECT_NE(message_of<TooLarge>([&] { read_image_file(dir.file("ok.png"), tiny); }).find("ok.png"), std::string::npos);
}

TEST(ImageIo, EncodeChecksTheImage) {
  EXPECT_THROW(encode_png(Image{2, 2, std::vector<uint8_t>(11)}), InvalidInput);
  EXPECT_THROW(encode_png(Image{}), InvalidInput);
  EXPECT_THROW(encode_jpeg(random_image(2, 2, 8), 0), InvalidInput);
}

}  // namespace
}  // namespace sam3::formats
