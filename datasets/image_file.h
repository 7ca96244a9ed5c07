// image_file.h — one image file, read whole and checked before it is decoded.
//
// branchy reads PNG, JPEG, BMP and binary PGM/PPM (P5/P6) files, decoding
// them with stb_image. stb trusts a file more than we may: it allocates
// whatever size a header declares, and its PNM and BMP readers fill the
// pixels a short file lacks with whatever the memory held. So a file is read
// whole (at most max_image_file_bytes), its format told by its first bytes
// (never by its name), its declared size checked against max_image_side (and
// by callers against the size they want) and its length against what that
// size needs; only then does stb decode it.
//
// Requires: a readable regular file.
// Ensures:  read_image_file returns the bytes and the header of a file that
//           is complete as far as its format lets us tell (PNG: an IEND
//           chunk; JPEG: an end-of-image marker; BMP, PGM, PPM: every pixel
//           byte). decode_image returns (H, W, C) interleaved pixels.
// Fails:    Error naming the path and the problem in words: "not a PNG,
//           JPEG, BMP or binary PGM/PPM file", "declares W x H pixels",
//           "truncated: ... needs N bytes of pixels, holds M", "corrupt".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace branchy {

// Sides and bytes beyond any image branchy's networks take (their inputs are
// at most 4096 pixels a side).
constexpr int max_image_side = 4096;
constexpr uint64_t max_image_file_bytes = uint64_t{64} << 20;

struct ImageHeader {
  std::string format;  // "PNG", "JPEG", "BMP", "PGM" or "PPM"
  int width = 0;
  int height = 0;
  int channels = 0;  // in the file: 1 grey, 2 grey + alpha, 3 colour, 4 colour + alpha
};

struct ImageFile {
  std::string path;
  std::vector<uint8_t> bytes;  // the whole file
  ImageHeader header;
};

// Reads and checks `path` (see above); decodes nothing.
ImageFile read_image_file(const std::string& path);

struct DecodedImage {
  int width = 0;
  int height = 0;
  int channels = 0;             // as asked
  std::vector<uint8_t> pixels;  // (height, width, channels) interleaved
};

// Decodes a checked file into `channels` (1 grey or 3 colour) channels.
DecodedImage decode_image(const ImageFile& file, int channels);

}  // namespace branchy
