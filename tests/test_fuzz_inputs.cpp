// The fuzz targets' inputs, replayed in the normal suite: every seed
// (tests/fuzz/seeds/TARGET/*) and every past finding
// (tests/fuzz/findings/TARGET/*) goes through its target, compiled here by
// g++ (and under ASan + UBSan in `make test SANITIZE=1`). A finding that
// regresses fails here without a fuzzer. The hidden case [.fuzz-seeds]
// rewrites the seeds: `build/release/run_tests "[.fuzz-seeds]"`.
#include <catch2/catch.hpp>
#include <stb_image_write.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "fuzz_targets.h"
#include "pipeline/model_file.h"
#include "small_nets.h"

using namespace branchy;
namespace fs = std::filesystem;

namespace {

const char* const target_names[] = {"idx", "cifar", "image", "model", "cli"};

std::vector<uint8_t> file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::string big_endian(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}

void write_gzip(const fs::path& path, const std::string& bytes) {
  gzFile file = gzopen(path.string().c_str(), "wb9");
  REQUIRE(file);
  REQUIRE(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  REQUIRE(gzclose(file) == Z_OK);
}

void write_seeds(const fs::path& root) {
  for (const char* name : target_names) fs::create_directories(root / name);
  // idx: 3 images of 4x4, their labels; one plain, one gzip.
  std::string images = big_endian(0x803) + big_endian(3) + big_endian(4) + big_endian(4);
  for (int i = 0; i < 48; ++i) images.push_back(static_cast<char>(i * 5));
  const std::string labels = big_endian(0x801) + big_endian(3) + std::string("\x01\x07\x09", 3);
  write_text(root / "idx/images.idx", images);
  write_text(root / "idx/labels.idx", labels);
  write_gzip(root / "idx/images.idx.gz", images);
  // CIFAR: two CIFAR-10 records (label byte + 3072 pixels); one CIFAR-100 record (2 label bytes).
  std::string cifar10, cifar100 = std::string("\x03\x2a", 2);
  for (int r = 0; r < 2; ++r) {
    cifar10.push_back(static_cast<char>(r + 4));
    for (int i = 0; i < 3072; ++i) cifar10.push_back(static_cast<char>(i * 3 + r));
  }
  for (int i = 0; i < 3072; ++i) cifar100.push_back(static_cast<char>(i));
  write_text(root / "cifar/cifar10.bin", cifar10);
  write_text(root / "cifar/cifar100.bin", cifar100);
  // Images: every format branchy reads, 5x4.
  std::vector<uint8_t> grey, colour;
  for (int i = 0; i < 20; ++i) grey.push_back(static_cast<uint8_t>(i * 12));
  for (int i = 0; i < 60; ++i) colour.push_back(static_cast<uint8_t>(i * 4));
  const std::string image = (root / "image").string();
  REQUIRE(stbi_write_png((image + "/grey.png").c_str(), 5, 4, 1, grey.data(), 5));
  REQUIRE(stbi_write_png((image + "/colour.png").c_str(), 5, 4, 3, colour.data(), 15));
  REQUIRE(stbi_write_bmp((image + "/colour.bmp").c_str(), 5, 4, 3, colour.data()));
  REQUIRE(stbi_write_jpg((image + "/grey.jpg").c_str(), 5, 4, 1, grey.data(), 90));
  write_text(root / "image/grey.pgm", "P5\n5 4\n255\n" + std::string(grey.begin(), grey.end()));
  write_text(root / "image/colour.ppm", "P6 5 4 255\n" + std::string(colour.begin(), colour.end()));
  // Models: a small B-LeNet as training leaves it, and calibrated.
  auto net = branchy::testing::small_b_lenet(5);
  ModelInfo info;
  save_model((root / "model/b-lenet.safetensors").string(), *net, info);
  info.thresholds = {0.25f};
  info.normalizer = Normalizer({0.5f}, {0.25f});
  info.dataset = {{"spec", "fashion-mnist"}, {"class_names", {"a", "b", "c", "d"}}};
  save_model((root / "model/calibrated.safetensors").string(), *net, info);
  // Command lines, one word a line.
  write_text(root / "cli/train", "train\n--net\nb-lenet\n--epochs\n2\n--lr\n0.01\n--config\nconv1=4,fc=20\n--threads\n2");
  write_text(root / "cli/eval", "eval\nm.safetensors\n--policy\nall\n--thresholds\n0.1,0.2\n--trace\nt.csv\n--json");
  write_text(root / "cli/calibrate", "calibrate\nm.safetensors\n--grid\n0.1,0.5,1\n--max-drop\n0.01\n--dry-run");
  write_text(root / "cli/fit", "fit-predictor\nm.safetensors\n--kind\nexit\n--placement\neach\n--features\ngrid4+max");
  write_text(root / "cli/infer", "infer\nm.safetensors\n--image\nx.png\n--policy\nbranchy\n--trace");
  write_text(root / "cli/info", "info\nm.safetensors\n--time\n3");
}

}  // namespace

TEST_CASE("every fuzz seed and past finding is refused in words or parsed", "[fuzz]") {
  int replayed = 0;
  for (const char* name : target_names) {
    const fuzz::Target target = fuzz::target_named(name);
    REQUIRE(target != nullptr);
    int seeds = 0;
    for (const char* kind : {"seeds", "findings"}) {
      const fs::path folder = fs::path("tests/fuzz") / kind / name;
      if (!fs::is_directory(folder)) continue;
      for (const fs::directory_entry& entry : fs::directory_iterator(folder)) {
        INFO("input " << entry.path().string());
        const std::vector<uint8_t> bytes = file_bytes(entry.path());
        REQUIRE_NOTHROW(target(bytes.data(), bytes.size()));  // an Error is caught inside: anything else escapes
        ++replayed;
        seeds += kind == std::string("seeds");
      }
    }
    INFO("target " << name);
    REQUIRE(seeds >= 2);  // the seeds are there (the suite runs from the repository root)
  }
  REQUIRE(replayed >= 10);
}

TEST_CASE("writes the fuzz seeds", "[.fuzz-seeds]") { write_seeds("tests/fuzz/seeds"); }
