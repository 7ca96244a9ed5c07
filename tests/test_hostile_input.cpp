// Hostile input: files made to exhaust memory or to be classified from
// garbage. Each case here once crashed, took gigabytes or gave an answer
// from uninitialised memory (issue 12's defects 2, 4, 5 and 7); now each is
// one error naming the file and the problem, raised before any large
// allocation.
#include <catch2/catch.hpp>
#include <stb_image_write.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "datasets/image_file.h"
#include "datasets/load.h"
#include "engine/error.h"
#include "engine/shape.h"
#include "engine/tensor.h"
#include "formats/checkpoint.h"
#include "pipeline/model_file.h"
#include "small_nets.h"
#include "temp_folder.h"

using namespace branchy;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

void write_bytes(const std::string& path, const Bytes& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                              static_cast<std::streamsize>(bytes.size()));
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

Bytes text_bytes(const std::string& text) { return Bytes(text.begin(), text.end()); }

void append_big_endian(Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

// A PNG chunk: length, type, data, CRC-32 of type and data.
void append_png_chunk(Bytes& out, const char* type, const Bytes& data) {
  append_big_endian(out, static_cast<uint32_t>(data.size()));
  Bytes typed(type, type + 4);
  typed.insert(typed.end(), data.begin(), data.end());
  out.insert(out.end(), typed.begin(), typed.end());
  append_big_endian(out, static_cast<uint32_t>(crc32(0, typed.data(), static_cast<uInt>(typed.size()))));
}

// A small, well-formed grey PNG that declares width x height: the kind of
// 68-byte file that once made a dataset reserve 770 MB.
Bytes png_declaring(uint32_t width, uint32_t height) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes header;
  append_big_endian(header, width);
  append_big_endian(header, height);
  header.insert(header.end(), {8, 0, 0, 0, 0});  // 8-bit grey, deflate, no interlace
  append_png_chunk(png, "IHDR", header);
  append_png_chunk(png, "IDAT", {0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01});
  append_png_chunk(png, "IEND", {});
  return png;
}

// A binary PGM: header, then `pixel_bytes` of the width x height it declares.
Bytes pgm(int width, int height, int max_value, size_t pixel_bytes) {
  Bytes file = text_bytes("P5\n# made by a test\n" + std::to_string(width) + " " + std::to_string(height) + "\n" +
                          std::to_string(max_value) + "\n");
  for (size_t i = 0; i < pixel_bytes; ++i) file.push_back(static_cast<uint8_t>(i * 7));
  return file;
}

// A w x h grey gradient, for the writers of stb_image_write.
std::vector<uint8_t> gradient(int width, int height) {
  std::vector<uint8_t> pixels;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) pixels.push_back(static_cast<uint8_t>(16 * y + 3 * x));
  return pixels;
}

// `bytes` without its last `drop` bytes.
Bytes without_last(const Bytes& bytes, size_t drop) {
  REQUIRE(bytes.size() > drop);
  return Bytes(bytes.begin(), bytes.end() - static_cast<std::ptrdiff_t>(drop));
}

// Rewrites the network settings stored in a model file.
void rewrite_config(const std::string& path, const Json& settings) {
  Checkpoint file = load_safetensors(path);
  Json config = parse_json(file.metadata.at("config"), "config");
  for (const auto& [key, value] : settings.items()) config[key] = value;
  file.metadata["config"] = dump_json(config);
  save_safetensors(path, file.tensors, file.metadata);
}

}  // namespace

TEST_CASE("a model file's network settings are checked before the network is built", "[hostile]") {
  const branchy::testing::TemporaryFolder folder("hostile-config");
  const std::string path = folder.file("model.safetensors");
  struct Case {
    Json settings;
    const char* says;
  };
  // Each once allocated gigabytes (or truncated an int) before any check.
  const std::vector<Case> cases = {
      {{{"height", 6000}, {"width", 6000}}, "larger than branchy builds"},  // an 8 GB classifier
      {{{"height", 3000}, {"width", 3000}}, "needs more than"},             // a 2 GB one
      {{{"classes", 1000000}}, "classes"},                          // 5.5 GB
      {{{"conv1", 1000000}}, "needs more than"},                    // 2.8 GB
      {{{"height", 1000000}, {"width", 1000000}}, "larger than branchy builds"},  // "bad sizes -2060225206"
      {{{"height", 4000}, {"width", 4000}, {"conv3", 200000}}, "needs more than"},
  };
  for (const Case& c : cases) {
    INFO("settings " << c.settings.dump());
    save_model(path, *branchy::testing::small_b_lenet(3), ModelInfo{});
    rewrite_config(path, c.settings);
    REQUIRE_THROWS_WITH(load_model(path), Contains(path) && Contains(c.says));
  }
  save_model(path, *branchy::testing::small_b_lenet(3), ModelInfo{});
  REQUIRE_NOTHROW(load_model(path));  // and the honest file still loads
}

TEST_CASE("sizes are 64-bit, overflow-checked, and a tensor budget stops allocation", "[hostile]") {
  const int64_t big = int64_t{1} << 40;
  REQUIRE_THROWS_WITH(Shape({big, big}).numel(), Contains("overflows 64 bits"));
  REQUIRE_THROWS_WITH(Shape({1, big, big}).sample_numel(), Contains("overflows 64 bits"));
  REQUIRE(Shape({3, big}).numel() == 3 * big);
  REQUIRE(checked_int(2147483647, "x") == 2147483647);
  REQUIRE_THROWS_WITH(checked_int(int64_t{1} << 31, "classifier input"), Contains("classifier input of 2147483648"));

  TensorBudget budget(100, "the test network");
  Tensor fits(Shape{10, 10});  // exactly the budget
  REQUIRE_THROWS_WITH(Tensor(Shape{1}), Contains("the test network needs more than 100 values"));
  {
    TensorBudget inner(1000, "inner");  // the innermost budget counts
    REQUIRE_NOTHROW(Tensor(Shape{1000}));
  }
  REQUIRE_THROWS(Tensor(Shape{1}));
}

TEST_CASE("image files are checked whole before stb_image decodes them", "[hostile]") {
  const branchy::testing::TemporaryFolder folder("hostile-image");
  const std::string path = folder.file("image");
  const int w = 7, h = 5;
  const std::vector<uint8_t> pixels = gradient(w, h);

  SECTION("each format branchy reads decodes to the pixels written") {
    REQUIRE(stbi_write_png((path + ".png").c_str(), w, h, 1, pixels.data(), w));
    REQUIRE(stbi_write_bmp((path + ".bmp").c_str(), w, h, 1, pixels.data()));
    Bytes binary_pgm = pgm(w, h, 255, 0);
    binary_pgm.insert(binary_pgm.end(), pixels.begin(), pixels.end());
    write_bytes(path + ".pgm", binary_pgm);
    for (const char* extension : {".png", ".bmp", ".pgm"}) {
      INFO(extension);
      const ImageFile file = read_image_file(path + extension);
      REQUIRE(file.header.width == w);
      REQUIRE(file.header.height == h);
      REQUIRE(decode_image(file, 1).pixels == pixels);
    }
    REQUIRE(stbi_write_jpg((path + ".jpg").c_str(), w, h, 1, pixels.data(), 100));
    const DecodedImage jpeg = decode_image(read_image_file(path + ".jpg"), 1);
    REQUIRE(jpeg.pixels.size() == pixels.size());
    for (size_t i = 0; i < pixels.size(); ++i) REQUIRE(std::abs(jpeg.pixels[i] - pixels[i]) <= 8);
    REQUIRE(decode_image(read_image_file(path + ".png"), 3).pixels.size() == pixels.size() * 3);
  }

  SECTION("a PGM holding 10 of its 784 pixel bytes is refused, not read from stale memory") {
    write_bytes(path, pgm(28, 28, 255, 10));
    REQUIRE_THROWS_WITH(read_image_file(path),
                        Contains(path) && Contains("truncated PGM") && Contains("784 bytes") && Contains("holds 10"));
    write_bytes(path, pgm(28, 28, 65535, 784));  // 16-bit samples need twice the bytes
    REQUIRE_THROWS_WITH(read_image_file(path), Contains("1568 bytes"));
  }
  SECTION("a PGM with maximum value 0, or a text PGM, is refused") {
    write_bytes(path, pgm(2, 2, 0, 4));
    REQUIRE_THROWS_WITH(read_image_file(path), Contains(path) && Contains("maximum value 0"));
    write_bytes(path, text_bytes("P2\n2 2\n255\n1 2 3 4\n"));
    REQUIRE_THROWS_WITH(read_image_file(path), Contains("text (P2/P3)"));
  }
  SECTION("PNG, BMP and JPEG files cut short are called truncated") {
    REQUIRE(stbi_write_png((path + ".png").c_str(), w, h, 1, pixels.data(), w));
    REQUIRE(stbi_write_bmp((path + ".bmp").c_str(), w, h, 1, pixels.data()));
    REQUIRE(stbi_write_jpg((path + ".jpg").c_str(), w, h, 1, pixels.data(), 90));
    for (const char* extension : {".png", ".bmp", ".jpg"}) {
      INFO(extension);
      const Bytes whole = read_bytes(path + extension);
      write_bytes(path, without_last(whole, 5));
      REQUIRE_THROWS_WITH(read_image_file(path), Contains(path) && Contains("truncated"));
    }
  }
  SECTION("declared sizes past the limit are refused in words, before any allocation") {
    write_bytes(path, png_declaring(20000, 20000));
    REQUIRE_THROWS_WITH(read_image_file(path), Contains(path) && Contains("declares 20000x20000 pixels"));
    write_bytes(path, png_declaring(1u << 24, 1u << 24));  // once "unknown image type"
    REQUIRE_THROWS_WITH(read_image_file(path), Contains("declares 16777216x16777216 pixels"));
    write_bytes(path, pgm(100000, 100000, 255, 4));
    REQUIRE_THROWS_WITH(read_image_file(path), Contains("declares 100000x100000 pixels"));
  }
  SECTION("a PNG chunk longer than the file, or with a wrong CRC, is refused before stb reserves memory for it") {
    // A fuzzed 63-byte PNG once made stb ask for 1.5 GB: it trusted a chunk's length.
    Bytes bytes = png_declaring(4, 4);
    const size_t idat = 33;  // after the signature (8) and IHDR (25)
    bytes[idat] = 0x41;      // IDAT's length becomes about 1.1 GB
    write_bytes(path, bytes);
    REQUIRE_THROWS_WITH(read_image_file(path), Contains(path) && Contains("chunk 1 'IDAT'") &&
                                                   Contains("runs past the end of the file"));
    bytes = png_declaring(4, 4);
    bytes[idat + 8] ^= 1;  // a flipped bit in IDAT's data
    write_bytes(path, bytes);
    REQUIRE_THROWS_WITH(read_image_file(path), Contains("chunk 1 'IDAT' fails its CRC check"));
  }
  SECTION("other formats and corrupt data are named") {
    write_bytes(path, text_bytes("GIF89a\x01\x00\x01\x00"));
    REQUIRE_THROWS_WITH(read_image_file(path), Contains(path) && Contains("not a PNG, JPEG, BMP or binary PGM/PPM"));
    write_bytes(path, {});
    REQUIRE_THROWS_WITH(read_image_file(path), Contains("empty file"));
    write_bytes(path, png_declaring(4, 4));  // complete chunks, but its pixel data is empty
    REQUIRE_THROWS_WITH(decode_image(read_image_file(path), 1), Contains(path) && Contains("corrupt PNG data"));
  }
}

TEST_CASE("an image folder of bombs or short files fails before reserving memory", "[hostile]") {
  const branchy::testing::TemporaryFolder folder("hostile-folder");
  const fs::path root = folder.path();
  const std::vector<uint8_t> pixels = gradient(4, 4);
  fs::create_directories(root / "test/a");
  REQUIRE(stbi_write_png((root / "test/a/ok.png").string().c_str(), 4, 4, 1, pixels.data(), 4));
  SECTION("four 68-byte PNGs that declare 20000x20000 (once 770 MB)") {
    for (int i = 0; i < 4; ++i)
      write_bytes((root / "train/a" / (std::to_string(i) + ".png")).string(), png_declaring(20000, 20000));
    REQUIRE_THROWS_WITH(load_dataset("folder:" + root.string()), Contains("declares 20000x20000 pixels"));
  }
  SECTION("a short PGM among good images") {
    fs::create_directories(root / "train/a");
    REQUIRE(stbi_write_png((root / "train/a/ok.png").string().c_str(), 4, 4, 1, pixels.data(), 4));
    write_bytes((root / "train/a/short.pgm").string(), pgm(4, 4, 255, 10));
    REQUIRE_THROWS_WITH(load_dataset("folder:" + root.string()),
                        Contains((root / "train/a/short.pgm").string()) && Contains("truncated PGM"));
  }
}
