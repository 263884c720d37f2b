// SPDX-License-Identifier: Apache-2.0
#include "formats/image_probe.h"

#include <algorithm>
#include <cstring>

#include "core/errors.h"

namespace sam3::formats {
namespace {

using Bytes = const unsigned char*;

uint32_t be16(Bytes p) {
  return (uint32_t{p[0]} << 8) | p[1];
}
uint32_t be32(Bytes p) {
  return (be16(p) << 16) | be16(p + 2);
}
uint32_t le16(Bytes p) {
  return (uint32_t{p[1]} << 8) | p[0];
}
uint32_t le24(Bytes p) {
  return (uint32_t{p[2]} << 16) | le16(p);
}
uint32_t le32(Bytes p) {
  return (le16(p + 2) << 16) | le16(p);
}

[[noreturn]] void truncated(const char* fmt, const std::string& where) {
  throw InvalidInput(std::string("truncated ") + fmt + " data: " + where);
}
[[noreturn]] void malformed(const char* fmt, const std::string& what) {
  throw InvalidInput(std::string("malformed ") + fmt + " data: " + what);
}

ImageHeader probe_png(Bytes b, size_t n) {
  // Signature (8), then IHDR: length (4) "IHDR" width (4) height (4) ...
  if (n < 8 + 8 + 13 + 4) truncated("PNG", "the header is incomplete");
  if (be32(b + 8) != 13 || std::memcmp(b + 12, "IHDR", 4) != 0) malformed("PNG", "the first chunk is not IHDR");
  ImageHeader h{ImageFormat::png, be32(b + 16), be32(b + 20)};
  if (h.width == 0 || h.height == 0 || h.width > 0x7fffffff || h.height > 0x7fffffff)
    malformed("PNG", "declared size " + std::to_string(h.width) + "x" + std::to_string(h.height) + " is invalid");
  // Walk the chunks to IEND; CRCs are libpng's job.
  size_t p = 8;
  for (;;) {
    if (p + 8 > n) truncated("PNG", "the data ends at byte " + std::to_string(n) + " before the IEND chunk");
    const uint64_t len = be32(b + p);
    if (len > 0x7fffffff)
      malformed("PNG", "chunk at byte " + std::to_string(p) + " declares length " + std::to_string(len));
    if (p + 12 + len > n) truncated("PNG", "the chunk at byte " + std::to_string(p) + " runs past the end of the data");
    if (std::memcmp(b + p + 4, "IEND", 4) == 0) break;
    p += 12 + len;
  }
  return h;
}

bool is_sof(unsigned m) {
  // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
  return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

ImageHeader probe_jpeg(Bytes b, size_t n) {
  ImageHeader h{ImageFormat::jpeg, 0, 0};
  bool have_frame = false;
  size_t p = 2;  // after SOI
  auto ends_early = [&] {
    truncated("JPEG", "the data ends at byte " + std::to_string(n) + " before the end-of-image marker");
  };
  for (;;) {
    if (p >= n) ends_early();
    if (b[p] != 0xFF) {
      // libjpeg skips stray bytes between segments with a warning; so do we.
      const void* ff = std::memchr(b + p, 0xFF, n - p);
      if (ff == nullptr) ends_early();
      p = static_cast<size_t>(static_cast<Bytes>(ff) - b);
    }
    while (p < n && b[p] == 0xFF) ++p;  // fill bytes
    if (p >= n) ends_early();
    const unsigned m = b[p++];
    if (m == 0xD9) break;                                              // EOI
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) continue;  // no payload
    if (p + 2 > n) ends_early();
    const size_t len = be16(b + p);
    if (len < 2) malformed("JPEG", "segment at byte " + std::to_string(p) + " declares length " + std::to_string(len));
    if (p + len > n) ends_early();
    if (is_sof(m)) {
      if (len < 8) malformed("JPEG", "frame header too short");
      h.height = be16(b + p + 3);  // may be 0: height given later by DNL
      h.width = be16(b + p + 5);
      if (h.width == 0) malformed("JPEG", "frame header declares width 0");
      have_frame = true;
    }
    p += len;
    if (m == 0xDA) {
      if (!have_frame) malformed("JPEG", "scan data before any frame header");
      // Entropy-coded data: 0xFF is followed by 0x00 (stuffing), a restart
      // marker or fill; anything else is the next marker.
      for (;;) {
        const void* ff = p < n ? std::memchr(b + p, 0xFF, n - p) : nullptr;
        if (ff == nullptr) ends_early();
        const size_t q = static_cast<size_t>(static_cast<Bytes>(ff) - b);
        if (q + 1 >= n) ends_early();
        const unsigned nb = b[q + 1];
        if (nb == 0x00 || (nb >= 0xD0 && nb <= 0xD7)) {
          p = q + 2;
        } else if (nb == 0xFF) {
          p = q + 1;
        } else {
          p = q;
          break;
        }
      }
    }
  }
  if (!have_frame) malformed("JPEG", "no frame (SOF) header before the end-of-image marker");
  return h;
}

ImageHeader probe_bmp(Bytes b, size_t n) {
  if (n < 26) truncated("BMP", "the header is incomplete");
  const uint32_t header_size = le32(b + 14);
  ImageHeader h{ImageFormat::bmp, 0, 0};
  if (header_size == 12) {  // OS/2 BITMAPCOREHEADER: 16-bit sizes
    h.width = le16(b + 18);
    h.height = le16(b + 20);
  } else {
    h.width = static_cast<int32_t>(le32(b + 18));
    h.height = static_cast<int32_t>(le32(b + 22));
    if (h.height < 0) h.height = -h.height;  // top-down
  }
  if (h.width <= 0 || h.height <= 0)
    malformed("BMP", "declared size " + std::to_string(h.width) + "x" + std::to_string(h.height) + " is invalid");
  return h;
}

ImageHeader probe_tiff(Bytes b, size_t n) {
  const bool le = b[0] == 'I';
  auto u16 = [&](size_t p) { return le ? le16(b + p) : be16(b + p); };
  auto u32 = [&](size_t p) { return le ? le32(b + p) : be32(b + p); };
  ImageHeader h{ImageFormat::tiff, 0, 0};
  if (u16(2) == 43) return h;  // BigTIFF: size checked after decoding
  const size_t ifd = u32(4);
  if (ifd + 2 > n) truncated("TIFF", "the first directory lies past the end of the data");
  const size_t count = u16(ifd);
  if (ifd + 2 + 12 * count > n) truncated("TIFF", "the first directory runs past the end of the data");
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    const uint32_t tag = u16(e);
    const uint32_t type = u16(e + 2);
    if (tag != 256 && tag != 257) continue;  // ImageWidth, ImageLength
    const int64_t v = type == 3 ? u16(e + 8) : type == 4 ? u32(e + 8) : 0;
    (tag == 256 ? h.width : h.height) = v;
  }
  if (h.width <= 0 || h.height <= 0)
    malformed("TIFF", "declared size " + std::to_string(h.width) + "x" + std::to_string(h.height) + " is invalid");
  return h;
}

ImageHeader probe_webp(Bytes b, size_t n) {
  if (n < 30) truncated("WebP", "the header is incomplete");
  if (uint64_t{le32(b + 4)} + 8 > n)
    truncated("WebP", "the RIFF container declares " + std::to_string(le32(b + 4) + uint64_t{8}) + " bytes, got " +
                          std::to_string(n));
  ImageHeader h{ImageFormat::webp, 0, 0};
  if (std::memcmp(b + 12, "VP8X", 4) == 0) {
    h.width = int64_t{le24(b + 24)} + 1;
    h.height = int64_t{le24(b + 27)} + 1;
  } else if (std::memcmp(b + 12, "VP8L", 4) == 0) {
    if (b[20] != 0x2f) malformed("WebP", "bad lossless signature");
    const uint32_t bits = le32(b + 21);
    h.width = int64_t{bits & 0x3fff} + 1;
    h.height = int64_t{(bits >> 14) & 0x3fff} + 1;
  } else if (std::memcmp(b + 12, "VP8 ", 4) == 0) {
    if (b[23] != 0x9d || b[24] != 0x01 || b[25] != 0x2a) malformed("WebP", "bad lossy start code");
    h.width = le16(b + 26) & 0x3fff;
    h.height = le16(b + 28) & 0x3fff;
  } else {
    malformed("WebP", "unknown first chunk");
  }
  if (h.width <= 0 || h.height <= 0)
    malformed("WebP", "declared size " + std::to_string(h.width) + "x" + std::to_string(h.height) + " is invalid");
  return h;
}

}  // namespace

const char* image_format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::png:
      return "png";
    case ImageFormat::jpeg:
      return "jpeg";
    case ImageFormat::bmp:
      return "bmp";
    case ImageFormat::tiff:
      return "tiff";
    case ImageFormat::webp:
      return "webp";
  }
  return "unknown";
}

ImageHeader probe_image(std::string_view bytes) {
  const auto* b = reinterpret_cast<Bytes>(bytes.data());
  const size_t n = bytes.size();
  if (n == 0) throw InvalidInput("image data is empty");
  auto starts = [&](const char* magic, size_t len) { return n >= len && std::memcmp(b, magic, len) == 0; };
  if (starts("\x89PNG\r\n\x1a\n", 8)) return probe_png(b, n);
  if (starts("\xFF\xD8\xFF", 3)) return probe_jpeg(b, n);
  if (starts("BM", 2)) return probe_bmp(b, n);
  if (starts("II*\0", 4) || starts("MM\0*", 4) || starts("II+\0", 4) || starts("MM\0+", 4)) {
    if (n < 8) truncated("TIFF", "the header is incomplete");
    return probe_tiff(b, n);
  }
  if (starts("RIFF", 4) && n >= 12 && std::memcmp(b + 8, "WEBP", 4) == 0) return probe_webp(b, n);
  throw InvalidInput("unsupported image format (expected JPEG, PNG, BMP, TIFF or WebP; the data starts with " + [&] {
    std::string hex;
    static const char* digits = "0123456789abcdef";
    for (size_t i = 0; i < std::min<size_t>(n, 8); ++i) {
      hex += digits[b[i] >> 4];
      hex += digits[b[i] & 15];
    }
    return hex;
  }() + ")");
}

}  // namespace sam3::formats
