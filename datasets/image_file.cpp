#include "datasets/image_file.h"

#include <stb_image.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>

#include "datasets/file_bytes.h"
#include "engine/error.h"

namespace branchy {

namespace {

using Bytes = std::vector<uint8_t>;

bool starts_with(const Bytes& bytes, const char* magic, size_t length) {
  return bytes.size() >= length && std::memcmp(bytes.data(), magic, length) == 0;
}

uint32_t big_endian_u32(const Bytes& b, size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}
uint32_t little_endian_u32(const Bytes& b, size_t at) {
  return uint32_t{b[at + 3]} << 24 | uint32_t{b[at + 2]} << 16 | uint32_t{b[at + 1]} << 8 | b[at];
}
uint16_t little_endian_u16(const Bytes& b, size_t at) { return static_cast<uint16_t>(b[at + 1] << 8 | b[at]); }

std::string stb_reason() {
  const char* reason = stbi_failure_reason();
  return reason ? reason : "no reason given";
}

// ---- PNG: 8-byte signature, then chunks; IHDR first, IEND last ------------

// Walks the chunks (length, type, data, CRC-32 of type and data): each must
// lie inside the file with its CRC right, and the last must be IEND. stb
// trusts a chunk's length and reserves that much before reading it (a
// fuzzed 60-byte file once made it ask for 1.5 GB); after this walk no
// length exceeds the file.
void check_png_chunks(const std::string& path, const Bytes& b) {
  size_t at = 8;
  for (int index = 0;; ++index) {
    BRANCHY_CHECK(b.size() - at >= 12, path, ": truncated PNG (it does not end with an IEND chunk)");
    const uint64_t length = big_endian_u32(b, at);
    const std::string type(reinterpret_cast<const char*>(b.data() + at + 4), 4);
    BRANCHY_CHECK(length <= b.size() - at - 12, path, ": truncated PNG (chunk ", index, " '", type, "' of ",
                  length, " bytes runs past the end of the file)");
    // The fuzzers skip the CRC, as fuzzing builds of libpng do: a fuzzer
    // cannot forge CRCs, and would never reach the decoder behind them.
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    const uint32_t crc = static_cast<uint32_t>(crc32(0, b.data() + at + 4, static_cast<uInt>(length + 4)));
    BRANCHY_CHECK(crc == big_endian_u32(b, at + 8 + length), path, ": corrupt PNG (chunk ", index, " '", type,
                  "' fails its CRC check)");
#endif
    BRANCHY_CHECK(index > 0 || (type == "IHDR" && length == 13), path,
                  ": corrupt PNG (it does not start with an IHDR chunk)");
    at += 12 + length;
    if (type == "IEND") break;
  }
}

ImageHeader png_header(const std::string& path, const Bytes& b) {
  check_png_chunks(path, b);
  const uint32_t width = big_endian_u32(b, 16), height = big_endian_u32(b, 20);
  const int colour_type = b[25];
  const int channels = colour_type == 0 ? 1 : colour_type == 4 ? 2 : colour_type == 6 ? 4 : 3;
  return {"PNG", static_cast<int>(std::min<uint32_t>(width, INT32_MAX)),
          static_cast<int>(std::min<uint32_t>(height, INT32_MAX)), channels};
}

// ---- JPEG: starts FF D8 FF, ends with the end-of-image marker FF D9 ---------

ImageHeader jpeg_header(const std::string& path, const Bytes& b) {
  // Some writers pad after the marker; padding is zero bytes.
  size_t end = b.size();
  while (end > 0 && b[end - 1] == 0) --end;
  BRANCHY_CHECK(end >= 4 && b[end - 2] == 0xFF && b[end - 1] == 0xD9, path,
                ": truncated JPEG (it does not end with an end-of-image marker)");
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(b.data(), static_cast<int>(b.size()), &width, &height, &channels))
    fail(path, ": corrupt JPEG header (stb_image: ", stb_reason(), ")");
  return {"JPEG", width, height, channels};
}

// ---- BMP: "BM", file header (14 bytes), an info header, then pixel rows ------

ImageHeader bmp_header(const std::string& path, const Bytes& b) {
  BRANCHY_CHECK(b.size() >= 26, path, ": truncated BMP (no complete header)");
  const uint64_t pixels_at = little_endian_u32(b, 10);
  const uint32_t info_size = little_endian_u32(b, 14);
  int64_t width = 0, height = 0;
  uint32_t bits_per_pixel = 0, compression = 0;
  if (info_size == 12) {  // the old OS/2 header: 16-bit sizes
    width = little_endian_u16(b, 18);
    height = little_endian_u16(b, 20);
    bits_per_pixel = little_endian_u16(b, 24);
  } else {
    BRANCHY_CHECK(info_size >= 40 && b.size() >= 34, path, ": BMP info header of ", info_size,
                  " bytes is not one branchy reads");
    width = static_cast<int32_t>(little_endian_u32(b, 18));
    height = static_cast<int32_t>(little_endian_u32(b, 22));  // negative: rows stored top-down
    bits_per_pixel = little_endian_u16(b, 28);
    compression = little_endian_u32(b, 30);
  }
  if (height < 0) height = -height;
  BRANCHY_CHECK(width >= 0, path, ": BMP declares a negative width ", width);
  // 0 plain rows, 3 and 6 bit fields: rows as stored; RLE (1, 2) stb refuses.
  BRANCHY_CHECK(compression == 0 || compression == 3 || compression == 6, path, ": compressed BMP (method ",
                compression, ") is not supported; save it uncompressed");
  BRANCHY_CHECK(bits_per_pixel >= 1 && bits_per_pixel <= 32, path, ": BMP of ", bits_per_pixel,
                " bits per pixel is not one branchy reads");
  if (width <= max_image_side && height <= max_image_side) {
    const uint64_t row_bytes = (static_cast<uint64_t>(width) * bits_per_pixel + 31) / 32 * 4;  // rows pad to 4 bytes
    const uint64_t needed = pixels_at + row_bytes * static_cast<uint64_t>(height);
    BRANCHY_CHECK(b.size() >= needed, path, ": truncated BMP: ", width, "x", height, " pixels need ", needed,
                  " bytes, the file holds ", b.size());
  }
  return {"BMP", static_cast<int>(std::min<int64_t>(width, INT32_MAX)),
          static_cast<int>(std::min<int64_t>(height, INT32_MAX)), bits_per_pixel == 32 ? 4 : 3};
}

// ---- PGM (P5) and PPM (P6): a text header, then binary samples ------------

// Reads the next decimal number of a PNM header, skipping white space and
// '#' comments; `at` moves past it.
uint64_t pnm_number(const std::string& path, const Bytes& b, size_t& at, const char* what) {
  for (;;) {
    while (at < b.size() && std::isspace(b[at])) ++at;
    if (at < b.size() && b[at] == '#')
      while (at < b.size() && b[at] != '\n') ++at;
    else
      break;
  }
  BRANCHY_CHECK(at < b.size() && std::isdigit(b[at]), path, ": PGM/PPM header has no ", what);
  uint64_t value = 0;
  while (at < b.size() && std::isdigit(b[at])) {
    value = value * 10 + (b[at++] - '0');
    BRANCHY_CHECK(value <= 1'000'000'000, path, ": PGM/PPM header ", what, " is absurdly large");
  }
  return value;
}

ImageHeader pnm_header(const std::string& path, const Bytes& b) {
  const bool grey = b[1] == '5';
  size_t at = 2;
  const uint64_t width = pnm_number(path, b, at, "width");
  const uint64_t height = pnm_number(path, b, at, "height");
  const uint64_t max_value = pnm_number(path, b, at, "maximum value");
  BRANCHY_CHECK(max_value >= 1 && max_value <= 65535, path, ": PGM/PPM maximum value ", max_value,
                " is not in 1..65535");
  BRANCHY_CHECK(at < b.size() && std::isspace(b[at]), path, ": PGM/PPM header does not end in white space");
  const uint64_t pixels_at = at + 1;
  const int channels = grey ? 1 : 3;
  if (width <= max_image_side && height <= max_image_side) {
    const uint64_t needed = width * height * channels * (max_value > 255 ? 2 : 1);
    BRANCHY_CHECK(b.size() - pixels_at >= needed, path, ": truncated ", grey ? "PGM" : "PPM", ": ", width, "x",
                  height, " pixels need ", needed, " bytes, the file holds ", b.size() - pixels_at);
  }
  return {grey ? "PGM" : "PPM", static_cast<int>(std::min<uint64_t>(width, INT32_MAX)),
          static_cast<int>(std::min<uint64_t>(height, INT32_MAX)), channels};
}

ImageHeader image_header(const std::string& path, const Bytes& b) {
  if (starts_with(b, "\x89PNG\r\n\x1a\n", 8)) return png_header(path, b);
  if (starts_with(b, "\xFF\xD8\xFF", 3)) return jpeg_header(path, b);
  if (starts_with(b, "BM", 2)) return bmp_header(path, b);
  if (starts_with(b, "P5", 2) || starts_with(b, "P6", 2)) return pnm_header(path, b);
  if (starts_with(b, "P2", 2) || starts_with(b, "P3", 2))
    fail(path, ": text (P2/P3) PGM/PPM is not supported; save it as binary P5/P6");
  fail(path, ": not a PNG, JPEG, BMP or binary PGM/PPM file (by its first bytes)");
}

}  // namespace

ImageFile read_image_file(const std::string& path) {
  ImageFile file;
  file.path = path;
  file.bytes = read_file_bytes(path, max_image_file_bytes, "the most an image file may hold");
  BRANCHY_CHECK(!file.bytes.empty(), path, ": empty file");
  file.header = image_header(path, file.bytes);
  const ImageHeader& h = file.header;
  BRANCHY_CHECK(h.width >= 1 && h.height >= 1 && h.width <= max_image_side && h.height <= max_image_side, path,
                ": ", h.format, " declares ", h.width, "x", h.height, " pixels; branchy reads 1 to ",
                max_image_side, " a side");
  return file;
}

DecodedImage decode_image(const ImageFile& file, int channels) {
  int width = 0, height = 0, channels_in_file = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(file.bytes.data(), static_cast<int>(file.bytes.size()), &width, &height,
                            &channels_in_file, channels),
      stbi_image_free);
  if (!pixels) fail(file.path, ": corrupt ", file.header.format, " data (stb_image: ", stb_reason(), ")");
  BRANCHY_CHECK(width == file.header.width && height == file.header.height, file.path, ": decodes to ", width,
                "x", height, " pixels but its header declares ", file.header.width, "x", file.header.height);
  DecodedImage image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  const size_t count = static_cast<size_t>(width) * height * channels;
  image.pixels.assign(pixels.get(), pixels.get() + count);
  return image;
}

}  // namespace branchy
