// Tests of datasets/: the real Fashion-MNIST files, small files of every
// format written here into a temporary folder, every malformed-file error,
// the normalizer, the batcher and its augmentation.
#include <stb_image_write.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "datasets/batcher.h"
#include "datasets/cifar.h"
#include "datasets/file_bytes.h"
#include "datasets/idx.h"
#include "datasets/image_folder.h"
#include "datasets/load.h"
#include "datasets/normalizer.h"
#include "engine/error.h"
#include "engine/rng.h"

using namespace branchy;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system temp dir, removed with everything in it.
struct TempFolder {
  fs::path path;
  TempFolder() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("branchy_datasets_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempFolder() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes, bool gzip = false) {
  fs::create_directories(fs::path(path).parent_path());
  if (gzip) {
    gzFile file = gzopen(path.c_str(), "wb");
    REQUIRE(file != nullptr);
    REQUIRE(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) ==
            static_cast<int>(bytes.size()));
    REQUIRE(gzclose(file) == Z_OK);
    return;
  }
  std::ofstream file(path, std::ios::binary);
  file.write(reinterpret_cast<const char*>(bytes.data()),
             static_cast<std::streamsize>(bytes.size()));
  REQUIRE(file.good());
}

std::vector<uint8_t> read_raw(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(file), {});
}

void append_big_endian(std::vector<uint8_t>& bytes, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8)
    bytes.push_back(static_cast<uint8_t>(value >> shift));
}

// An idx file: magic, dims, then `data` (whatever its length: tests lie on purpose).
std::vector<uint8_t> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims,
                               const std::vector<uint8_t>& data) {
  std::vector<uint8_t> bytes;
  append_big_endian(bytes, magic);
  for (uint32_t d : dims) append_big_endian(bytes, d);
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

// Pixel value of image n at (y, x) in the generated MNIST-like files.
uint8_t idx_pixel(int n, int y, int x) { return static_cast<uint8_t>(n * 50 + y * 4 + x); }

// A folder with the four MNIST files for `count` 3x4 train images and 2 test
// images; labels are n % 10. Train files gzip-compressed, test files plain.
void write_small_mnist(const TempFolder& folder, int count) {
  auto images = [](int n_images) {
    std::vector<uint8_t> pixels;
    for (int n = 0; n < n_images; ++n)
      for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 4; ++x) pixels.push_back(idx_pixel(n, y, x));
    return pixels;
  };
  auto labels = [](int n_labels) {
    std::vector<uint8_t> values;
    for (int n = 0; n < n_labels; ++n) values.push_back(static_cast<uint8_t>(n % 10));
    return values;
  };
  write_bytes(folder / "train-images-idx3-ubyte.gz",
              idx_bytes(idx_images_magic, {uint32_t(count), 3, 4}, images(count)), true);
  write_bytes(folder / "train-labels-idx1-ubyte.gz",
              idx_bytes(idx_labels_magic, {uint32_t(count)}, labels(count)), true);
  write_bytes(folder / "t10k-images-idx3-ubyte", idx_bytes(idx_images_magic, {2, 3, 4}, images(2)));
  write_bytes(folder / "t10k-labels-idx1-ubyte", idx_bytes(idx_labels_magic, {2}, labels(2)));
}

SplitOptions validation_of(int64_t count) {
  SplitOptions options;
  options.validation_count = count;
  return options;
}

// A 3-channel dataset of `count` random 5x6 images, labels n % 4.
Dataset random_dataset(int count, uint64_t seed) {
  Dataset data;
  data.channels = 3;
  data.height = 5;
  data.width = 6;
  data.num_classes = 4;
  data.class_names = {"a", "b", "c", "d"};
  data.name = "random";
  Rng rng(seed);
  for (int n = 0; n < count; ++n) {
    for (int64_t i = 0; i < data.sample_bytes(); ++i)
      data.pixels.push_back(
          static_cast<uint8_t>(rng.below(256) / (1 + i / 30)));  // channels differ
    data.labels.push_back(n % 4);
  }
  return data;
}

}  // namespace

// ---------------------------------------------------------------- Fashion-MNIST

namespace {
const DatasetSplits& fashion_mnist() {
  static const DatasetSplits splits = load_dataset("fashion-mnist");  // decoded once for all cases
  return splits;
}
}  // namespace

TEST_CASE("the real Fashion-MNIST files load into 55000 / 5000 / 10000", "[datasets]") {
  const DatasetSplits& data = fashion_mnist();
  REQUIRE(data.train.size() == 55000);
  REQUIRE(data.validation.size() == 5000);
  REQUIRE(data.test.size() == 10000);
  REQUIRE(data.train.sample_shape() == Shape{1, 1, 28, 28});
  REQUIRE(data.test.sample_shape() == Shape{1, 1, 28, 28});
  REQUIRE(data.train.num_classes == 10);
  REQUIRE(data.train.class_names[9] == "Ankle boot");
  REQUIRE(data.train.labels[0] == 9);
  REQUIRE(data.train.name == "fashion-mnist/train");
  data.train.check();
  data.validation.check();
  data.test.check();

  // Facts read from the files with Python's gzip module: the first training
  // image's bytes sum to 76247 and reach 255; the test labels are 1000 per class.
  int64_t first_sum = 0;
  for (int64_t i = 0; i < 784; ++i) first_sum += data.train.pixels[i];
  REQUIRE(first_sum == 76247);
  REQUIRE(*std::max_element(data.train.pixels.begin(), data.train.pixels.begin() + 784) == 255);
  std::vector<int> histogram(10, 0);
  for (int label : data.test.labels) ++histogram[label];
  REQUIRE(histogram == std::vector<int>(10, 1000));

  // The validation split is the last 5000 samples of the training file.
  const std::vector<int> file_labels =
      read_idx_labels(std::string(fashion_mnist_directory) + "/train-labels-idx1-ubyte.gz", 10);
  REQUIRE(file_labels.size() == 60000);
  REQUIRE(std::equal(data.validation.labels.begin(), data.validation.labels.end(),
                     file_labels.begin() + 55000));
  REQUIRE(std::equal(data.train.labels.begin(), data.train.labels.end(), file_labels.begin()));

  // Normalised images come out as (N, 1, 28, 28) with the known statistics.
  const Normalizer normalizer = Normalizer::from_dataset(data.train);
  REQUIRE(normalizer.mean()[0] == Approx(0.286).margin(0.002));
  REQUIRE(normalizer.stddev()[0] == Approx(0.353).margin(0.002));
  const Tensor first = data.train.images(0, 2);
  REQUIRE(first.shape() == Shape{2, 1, 28, 28});
  REQUIRE(first[0] == data.train.pixels[0] / 255.0f);
}

TEST_CASE("limits and fractions shape the splits", "[datasets]") {
  TempFolder folder;
  write_small_mnist(folder, 20);
  SplitOptions options;
  options.validation_fraction = 0.25;
  options.train_limit = 7;
  options.test_limit = 1;
  const DatasetSplits data = load_dataset("mnist:" + folder.path.string(), options);
  REQUIRE(data.train.size() == 7);
  REQUIRE(data.validation.size() == 5);
  REQUIRE(data.validation.labels[0] == 15 % 10);  // samples 15..19 of the file
  REQUIRE(data.test.size() == 1);

  REQUIRE_THROWS_WITH(load_dataset(folder.path.string(), validation_of(20)),
                      Contains("leaves no training samples"));
  options = SplitOptions{};
  options.validation_fraction = 1.5;
  REQUIRE_THROWS_WITH(load_dataset(folder.path.string(), options), Contains("fraction"));
}

// ------------------------------------------------------------------ idx files

TEST_CASE("small idx files load, plain and gzip, with the right pixels and labels", "[datasets]") {
  TempFolder folder;
  write_small_mnist(folder, 6);
  REQUIRE(read_raw(folder / "train-images-idx3-ubyte.gz")[0] == 0x1f);  // really compressed

  for (const std::string& spec : {"mnist:" + folder.path.string(), folder.path.string()}) {
    const DatasetSplits data = load_dataset(spec, validation_of(2));
    REQUIRE(data.train.size() == 4);
    REQUIRE(data.validation.size() == 2);
    REQUIRE(data.test.size() == 2);
    REQUIRE(data.train.sample_shape() == Shape{1, 1, 3, 4});
    REQUIRE(data.train.class_names[3] == "3");
    REQUIRE(data.validation.labels == std::vector<int>{4, 5});
    REQUIRE(data.test.labels == std::vector<int>{0, 1});
    const Tensor images = data.validation.images(0, 2);  // file samples 4 and 5
    for (int n = 0; n < 2; ++n)
      for (int y = 0; y < 3; ++y)
        for (int x = 0; x < 4; ++x)
          REQUIRE(images.at(n, 0, y, x) == idx_pixel(n + 4, y, x) / 255.0f);
  }

  // Compression is told by content: a gzip file without ".gz" reads the same.
  fs::rename(folder / "t10k-images-idx3-ubyte", folder / "plain-copy");
  write_bytes(folder / "t10k-images-idx3-ubyte", read_raw(folder / "plain-copy"), true);
  REQUIRE(read_file_bytes(folder / "t10k-images-idx3-ubyte") == read_raw(folder / "plain-copy"));
}

TEST_CASE("every malformed idx file gives an error naming the file and the problem", "[datasets]") {
  TempFolder folder;
  const std::string images = folder / "images";
  const std::string labels = folder / "labels";
  const std::vector<uint8_t> two_images(2 * 3 * 4, 7);
  write_bytes(labels, idx_bytes(idx_labels_magic, {2}, {1, 2}));

  SECTION("wrong magic") {
    write_bytes(images, idx_bytes(idx_labels_magic, {2, 3, 4}, two_images));
    REQUIRE_THROWS_WITH(read_idx_images(images),
                        Contains(images) && Contains("wrong magic") && Contains("label file"));
    write_bytes(images, {});
    REQUIRE_THROWS_WITH(read_idx_images(images), Contains(images) && Contains("wrong magic"));
  }
  SECTION("dimensions that do not match the file size") {
    write_bytes(images, idx_bytes(idx_images_magic, {3, 3, 4}, two_images));
    REQUIRE_THROWS_WITH(read_idx_images(images), Contains(images) && Contains("dimensions 3x3x4") &&
                                                     Contains("36") && Contains("24"));
    write_bytes(images, idx_bytes(idx_images_magic, {1, 3, 4}, two_images));  // too many bytes
    REQUIRE_THROWS_WITH(read_idx_images(images), Contains(images) && Contains("dimensions"));
    write_bytes(images,
                idx_bytes(idx_images_magic, {0xffffffffu, 0xffffffffu, 0xffffffffu}, two_images));
    REQUIRE_THROWS_WITH(read_idx_images(images), Contains(images) && Contains("dimensions"));
    write_bytes(images, idx_bytes(idx_images_magic, {2, 3}, {}));  // header cut short
    REQUIRE_THROWS_WITH(read_idx_images(images), Contains(images) && Contains("header truncated"));
  }
  SECTION("a truncated gzip stream") {
    std::vector<uint8_t> pixels(2 * 3 * 4);
    for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 37);
    write_bytes(images, idx_bytes(idx_images_magic, {2, 3, 4}, pixels), true);
    const std::vector<uint8_t> whole = read_raw(images);
    // Cut inside the deflate data, and inside the 8-byte CRC/length trailer.
    for (size_t cut : {whole.size() / 2, whole.size() - 3}) {
      write_bytes(images,
                  std::vector<uint8_t>(whole.begin(), whole.begin() + static_cast<long>(cut)));
      REQUIRE_THROWS_WITH(read_idx_images(images), Contains(images) && Contains("truncated gzip"));
    }
  }
  SECTION("a gzip file that inflates past what its header declares stops there") {
    // 2x3x4 images declared, 64 MiB of zeros behind them: a few KiB on disk.
    std::vector<uint8_t> bomb = idx_bytes(idx_images_magic, {2, 3, 4}, two_images);
    bomb.resize(bomb.size() + (size_t{64} << 20), 0);
    write_bytes(images, bomb, true);
    REQUIRE(read_raw(images).size() < (size_t{1} << 20));
    REQUIRE_THROWS_WITH(read_idx_images(images), Contains(images) && Contains("holds more than 40 bytes") &&
                                                     Contains("dimensions in its idx header"));
  }
  SECTION("corrupt gzip data") {
    write_bytes(images, idx_bytes(idx_images_magic, {2, 3, 4}, two_images), true);
    std::vector<uint8_t> bytes = read_raw(images);
    bytes[bytes.size() - 8] ^= 0xff;  // the CRC no longer matches
    write_bytes(images, bytes);
    REQUIRE_THROWS_WITH(read_idx_images(images), Contains(images) && Contains("corrupt gzip"));
  }
  SECTION("labels out of range") {
    write_bytes(labels, idx_bytes(idx_labels_magic, {3}, {1, 10, 2}));
    REQUIRE_THROWS_WITH(read_idx_labels(labels, 10), Contains(labels) && Contains("label 10") &&
                                                         Contains("sample 1") &&
                                                         Contains("out of range"));
  }
  SECTION("image and label counts that differ") {
    write_bytes(images, idx_bytes(idx_images_magic, {2, 3, 4}, two_images));
    write_bytes(labels, idx_bytes(idx_labels_magic, {3}, {1, 2, 3}));
    REQUIRE_THROWS_WITH(read_idx_dataset(images, labels, {"0", "1", "2", "3"}, "x"),
                        Contains(images) && Contains(labels) && Contains("counts differ"));
  }
  SECTION("a missing file") {
    REQUIRE_THROWS_WITH(read_idx_images(folder / "nothing"),
                        Contains(folder / "nothing") && Contains("cannot open"));
    REQUIRE_THROWS_WITH(load_dataset("mnist:" + folder.path.string()),
                        Contains("missing file") && Contains(folder / "train-images-idx3-ubyte") &&
                            Contains(folder / "t10k-labels-idx1-ubyte"));
  }
}

TEST_CASE("an unknown dataset spec lists the accepted forms", "[datasets]") {
  REQUIRE_THROWS_WITH(load_dataset("imagenet"), Contains("unknown dataset 'imagenet'") &&
                                                    Contains("cifar10:DIR") &&
                                                    Contains("folder:DIR"));
  REQUIRE_THROWS_WITH(load_dataset("fashion-mnist:/nonexistent/place"),
                      Contains("/nonexistent/place/train-images-idx3-ubyte"));
}

// ----------------------------------------------------------------------- CIFAR

namespace {

// `count` CIFAR records: labels from `label_of`, pixel (c, y, x) = n + c * 10 + y + x.
std::vector<uint8_t> cifar_records(int count, int label_bytes, int first, int (*label_of)(int)) {
  std::vector<uint8_t> bytes;
  for (int n = first; n < first + count; ++n) {
    for (int b = 0; b < label_bytes; ++b)
      bytes.push_back(static_cast<uint8_t>(b + 1 == label_bytes ? label_of(n) : n % 20));
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) bytes.push_back(static_cast<uint8_t>(n + c * 10 + y + x));
  }
  return bytes;
}

int label_mod_10(int n) { return n % 10; }
int label_mod_100(int n) { return (n * 7) % 100; }

}  // namespace

TEST_CASE("CIFAR-10 and CIFAR-100 binary files load with the right pixels and labels",
          "[datasets]") {
  SECTION("CIFAR-10: five training batches, one test batch") {
    TempFolder folder;
    for (int b = 1; b <= 5; ++b)
      write_bytes(folder / ("data_batch_" + std::to_string(b) + ".bin"),
                  cifar_records(2, 1, (b - 1) * 2, label_mod_10));
    write_bytes(folder / "test_batch.bin", cifar_records(3, 1, 100, label_mod_10));
    const DatasetSplits data = load_dataset("cifar10:" + folder.path.string(), validation_of(4));
    REQUIRE(data.train.size() == 6);
    REQUIRE(data.validation.size() == 4);
    REQUIRE(data.test.size() == 3);
    REQUIRE(data.train.sample_shape() == Shape{1, 3, 32, 32});
    REQUIRE(data.train.num_classes == 10);
    REQUIRE(data.train.class_names[0] == "airplane");
    REQUIRE(data.validation.labels == std::vector<int>{6, 7, 8, 9});
    REQUIRE(data.test.labels == std::vector<int>{0, 1, 2});
    const Tensor images = data.train.images(5, 6);  // record 5: batch 3, second record
    REQUIRE(images.at(0, 0, 0, 0) == 5 / 255.0f);
    REQUIRE(images.at(0, 1, 2, 3) == (5 + 10 + 2 + 3) / 255.0f);      // G plane
    REQUIRE(images.at(0, 2, 31, 30) == (5 + 20 + 31 + 30) / 255.0f);  // B plane

    write_bytes(folder / "batches.meta.txt", {'a', '\n', 'b', '\n', '\n'});
    REQUIRE_THROWS_WITH(load_dataset("cifar10:" + folder.path.string(), validation_of(4)),
                        Contains(folder / "batches.meta.txt") && Contains("2 class names"));
  }
  SECTION("CIFAR-100: the fine label of two label bytes") {
    TempFolder folder;
    write_bytes(folder / "train.bin", cifar_records(5, 2, 0, label_mod_100));
    write_bytes(folder / "test.bin", cifar_records(2, 2, 20, label_mod_100));
    const DatasetSplits data = load_dataset("cifar100:" + folder.path.string(), validation_of(1));
    REQUIRE(data.train.size() == 4);
    REQUIRE(data.train.num_classes == 100);
    REQUIRE(data.train.labels == std::vector<int>{0, 7, 14, 21});
    REQUIRE(data.test.labels == std::vector<int>{40, 47});
    REQUIRE(data.test.images(1, 2).at(0, 2, 1, 1) == (21 + 20 + 1 + 1) / 255.0f);
  }
}

TEST_CASE("malformed CIFAR files give an error naming the file and the problem", "[datasets]") {
  TempFolder folder;
  const std::string path = folder / "data_batch_1.bin";
  const std::vector<std::string> names10 =
      cifar_class_names(folder.path.string(), CifarKind::cifar10);
  const std::vector<std::string> names100 =
      cifar_class_names(folder.path.string(), CifarKind::cifar100);

  std::vector<uint8_t> bytes = cifar_records(2, 1, 0, label_mod_10);
  bytes.pop_back();
  write_bytes(path, bytes);
  REQUIRE_THROWS_WITH(read_cifar_records({path}, CifarKind::cifar10, names10, "c"),
                      Contains(path) && Contains("not a multiple") && Contains("3073"));
  // A valid CIFAR-10 file is not a whole number of CIFAR-100 records.
  write_bytes(path, cifar_records(2, 1, 0, label_mod_10));
  REQUIRE_THROWS_WITH(read_cifar_records({path}, CifarKind::cifar100, names100, "c"),
                      Contains(path) && Contains("multiple") && Contains("3074"));

  write_bytes(path, cifar_records(3, 1, 0, [](int n) { return n == 2 ? 10 : 0; }));
  REQUIRE_THROWS_WITH(
      read_cifar_records({path}, CifarKind::cifar10, names10, "c"),
      Contains(path) && Contains("label 10") && Contains("record 2") && Contains("out of range"));
  write_bytes(path, cifar_records(1, 2, 0, [](int) { return 100; }));
  REQUIRE_THROWS_WITH(read_cifar_records({path}, CifarKind::cifar100, names100, "c"),
                      Contains(path) && Contains("out of range"));

  // Only data_batch_1.bin exists: the error names every missing file.
  REQUIRE_THROWS_WITH(load_dataset("cifar10:" + folder.path.string()),
                      Contains("missing") && Contains(folder / "data_batch_2.bin") &&
                          Contains(folder / "test_batch.bin") &&
                          !Contains(folder / "data_batch_1.bin"));
}

// ---------------------------------------------------------------- image folders

namespace {

// A w x h image with `components` interleaved channels, value = base + y * w + x (+ 60 per
// channel).
void write_png(const std::string& path, int width, int height, int components, int base) {
  fs::create_directories(fs::path(path).parent_path());
  std::vector<uint8_t> pixels;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < components; ++c)
        pixels.push_back(static_cast<uint8_t>(base + y * width + x + 60 * c));
  REQUIRE(stbi_write_png(path.c_str(), width, height, components, pixels.data(),
                         width * components) != 0);
}

}  // namespace

TEST_CASE("an image folder of PNGs loads with sorted classes and the right pixels", "[datasets]") {
  SECTION("grey images") {
    TempFolder folder;
    write_png(folder / "train/zebra/a.png", 3, 2, 1, 100);
    write_png(folder / "train/ant/b.png", 3, 2, 1, 10);
    write_png(folder / "train/ant/c.png", 3, 2, 1, 20);
    write_png(folder / "test/zebra/d.png", 3, 2, 1, 30);
    write_bytes(folder / "train/ant/notes.txt", {'h', 'i'});  // not an image: skipped
    const DatasetSplits data = load_dataset("folder:" + folder.path.string(), validation_of(0));
    REQUIRE(data.train.class_names == std::vector<std::string>{"ant", "zebra"});
    REQUIRE(data.train.size() == 3);
    REQUIRE(data.validation.size() == 0);
    REQUIRE(data.train.sample_shape() == Shape{1, 1, 2, 3});
    REQUIRE(data.test.labels == std::vector<int>{1});
    REQUIRE(data.test.images(0, 1).at(0, 0, 1, 2) == (30 + 1 * 3 + 2) / 255.0f);
    // The training order is shuffled (fixed seed); each sample keeps its own label.
    std::multiset<int> labels(data.train.labels.begin(), data.train.labels.end());
    REQUIRE(labels == std::multiset<int>{0, 0, 1});
    for (int64_t i = 0; i < data.train.size(); ++i) {
      const int base = data.train.sample(i)[0];
      REQUIRE((base == 100 ? 1 : 0) == data.train.labels[i]);
      REQUIRE(data.train.sample(i)[5] == base + 5);
    }
  }
  SECTION("grey and RGB mixed give RGB") {
    TempFolder folder;
    write_png(folder / "train/a/rgb.png", 2, 2, 3, 0);
    write_png(folder / "train/b/grey.png", 2, 2, 1, 50);
    write_png(folder / "test/a/rgba.png", 2, 2, 4, 5);
    const DatasetSplits data = load_dataset("folder:" + folder.path.string(), validation_of(0));
    REQUIRE(data.train.channels == 3);
    const Dataset& train = data.train;
    const int64_t rgb = train.labels[0] == 0 ? 0 : 1;
    REQUIRE(train.sample(rgb)[0 * 4 + 3] == 3);       // R plane, pixel (1, 1)
    REQUIRE(train.sample(rgb)[2 * 4 + 1] == 121);     // B plane, pixel (0, 1)
    REQUIRE(train.sample(1 - rgb)[1 * 4 + 2] == 52);  // grey repeated into G
    REQUIRE(data.test.sample(0)[1 * 4 + 0] == 65);    // alpha dropped, G kept
  }
}

TEST_CASE("malformed image folders give an error naming the file and the problem", "[datasets]") {
  TempFolder folder;
  write_png(folder / "train/a/one.png", 4, 4, 1, 0);
  write_png(folder / "test/a/two.png", 4, 4, 1, 0);
  const std::string spec = "folder:" + folder.path.string();
  SECTION("an unreadable image") {
    write_bytes(folder / "train/a/broken.png", {'n', 'o', 't', ' ', 'p', 'n', 'g'});
    REQUIRE_THROWS_WITH(load_dataset(spec, validation_of(0)),
                        Contains(folder / "train/a/broken.png") && Contains("not a PNG, JPEG, BMP"));
  }
  SECTION("images of two sizes") {
    write_png(folder / "test/a/wide.png", 5, 4, 1, 0);
    REQUIRE_THROWS_WITH(
        load_dataset(spec, validation_of(0)),
        Contains(folder / "test/a/wide.png") && Contains("size 5x4") && Contains("one size"));
  }
  SECTION("a test class not in train") {
    write_png(folder / "test/zz/x.png", 4, 4, 1, 0);
    REQUIRE_THROWS_WITH(load_dataset(spec, validation_of(0)),
                        Contains("'zz'") && Contains("not one of the training classes"));
  }
  SECTION("missing folders") {
    fs::remove_all(folder.path / "test");
    REQUIRE_THROWS_WITH(load_dataset(spec, validation_of(0)),
                        Contains(folder / "test") && Contains("missing"));
  }
}

// --------------------------------------------------------- normalizer, batcher

TEST_CASE("the normalizer gives per-channel mean 0 and std 1 on the training split", "[datasets]") {
  const Dataset data = random_dataset(40, 7);
  const Normalizer normalizer = Normalizer::from_dataset(data);
  REQUIRE(normalizer.channels() == 3);
  Tensor images = normalized_images(data, 0, data.size(), &normalizer);  // (40, 3, 5, 6)
  for (int c = 0; c < 3; ++c) {
    double sum = 0, sum_squares = 0, count = 0;
    for (int64_t n = 0; n < images.dim(0); ++n)
      for (int y = 0; y < 5; ++y)
        for (int x = 0; x < 6; ++x) {
          sum += images.at(n, c, y, x);
          sum_squares += double(images.at(n, c, y, x)) * images.at(n, c, y, x);
          ++count;
        }
    REQUIRE(sum / count == Approx(0.0).margin(1e-5));
    REQUIRE(sum_squares / count == Approx(1.0).epsilon(1e-4));
  }
  REQUIRE(normalizer.mean()[0] > normalizer.mean()[1]);  // the channels really differ

  // Two vectors are all it takes to rebuild it (as from a checkpoint).
  const Normalizer copy(normalizer.mean(), normalizer.stddev());
  Tensor again = data.images(0, 3);
  copy.apply(again);
  REQUIRE(max_abs_difference(again, images.batch_slice(0, 3)) == 0.0f);

  REQUIRE_THROWS_WITH(Normalizer({0.5f}, {0.0f}), Contains("std must be positive"));
  REQUIRE_THROWS_WITH(Normalizer({0.5f, 0.5f}, {1.0f}), Contains("2 means and 1"));
  Tensor grey(Shape{1, 1, 5, 6});
  REQUIRE_THROWS_WITH(normalizer.apply(grey), Contains("3 channels"));
}

TEST_CASE("the batcher covers every index once per epoch, repeatably for a seed", "[datasets]") {
  const Dataset data = random_dataset(23, 3);
  const Normalizer normalizer = Normalizer::from_dataset(data);
  auto epoch_indices = [&](Batcher& batcher, int64_t epoch, std::vector<int64_t>& sizes) {
    batcher.start_epoch(epoch);
    std::vector<int64_t> seen;
    Batch batch;
    while (batcher.next(batch)) {
      sizes.push_back(batch.size());
      REQUIRE(batch.images.shape() == Shape{batch.size(), 3, 5, 6});
      for (int64_t i = 0; i < batch.size(); ++i)
        REQUIRE(batch.labels[i] == data.labels[batch.indices[i]]);
      // Without augmentation a batch is exactly the normalised samples.
      REQUIRE(max_abs_difference(batch.images,
                                 normalized_images(data, batch.indices, &normalizer)) == 0.0f);
      seen.insert(seen.end(), batch.indices.begin(), batch.indices.end());
    }
    return seen;
  };
  Batcher first(data, 5, true, 42, &normalizer);
  Batcher second(data, 5, true, 42, &normalizer);
  Batcher other_seed(data, 5, true, 43, &normalizer);
  REQUIRE(first.batches_per_epoch() == 5);
  std::vector<int64_t> sizes;
  const std::vector<int64_t> order = epoch_indices(first, 0, sizes);
  REQUIRE(sizes == std::vector<int64_t>{5, 5, 5, 5, 3});  // the last, partial batch is included
  std::vector<int64_t> sorted = order;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 23; ++i) REQUIRE(sorted[i] == i);
  REQUIRE(order != sorted);  // shuffled

  REQUIRE(epoch_indices(second, 0, sizes) == order);
  REQUIRE(epoch_indices(other_seed, 0, sizes) != order);
  const std::vector<int64_t> epoch_one = epoch_indices(first, 1, sizes);
  REQUIRE(epoch_one != order);
  REQUIRE(epoch_indices(second, 1, sizes) == epoch_one);  // resuming at an epoch repeats it

  Batcher in_order(data, 10, false, 1, nullptr);
  std::vector<int64_t> expected(23);
  for (int64_t i = 0; i < 23; ++i) expected[i] = i;
  Batch batch;
  std::vector<int64_t> seen;
  while (in_order.next(batch)) seen.insert(seen.end(), batch.indices.begin(), batch.indices.end());
  REQUIRE(seen == expected);
  REQUIRE_FALSE(in_order.next(batch));

  REQUIRE_THROWS_WITH(Batcher(data, 0, true, 1), Contains("batch size 0"));
  const Normalizer grey({0.5f}, {0.25f});
  REQUIRE_THROWS_WITH(Batcher(data, 4, true, 1, &grey), Contains("normalizer has 1 channels"));
}

TEST_CASE("random crop pads with black and flip mirrors, as torchvision does", "[datasets]") {
  // A 1-channel 3x3 image 1..9 (as bytes 10, 20, ..., 90).
  const std::vector<uint8_t> image = {10, 20, 30, 40, 50, 60, 70, 80, 90};
  auto augmented = [&](int padding, int top, int left, bool flip) {
    std::vector<float> out(9);
    augment_sample(image.data(), 1, 3, 3, padding, AugmentDraw{top, left, flip}, out.data());
    std::vector<int> tens;
    for (float v : out) tens.push_back(static_cast<int>(std::lround(v * 255.0f / 10.0f)));
    return tens;
  };
  REQUIRE(augmented(1, 1, 1, false) ==
          std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9});  // centre window
  REQUIRE(augmented(1, 0, 0, false) ==
          std::vector<int>{0, 0, 0, 0, 1, 2, 0, 4, 5});  // top-left window
  REQUIRE(augmented(1, 2, 1, false) ==
          std::vector<int>{4, 5, 6, 7, 8, 9, 0, 0, 0});  // bottom window
  REQUIRE(augmented(0, 0, 0, true) == std::vector<int>{3, 2, 1, 6, 5, 4, 9, 8, 7});
  // Crop first, then flip: the window at left 2 is [2 3 0], mirrored [0 3 2].
  REQUIRE(augmented(1, 1, 2, true) == std::vector<int>{0, 3, 2, 0, 6, 5, 0, 9, 8});

  // Through the batcher: every sample is one of the 18 possible windows, all
  // of them turn up, and the same seed draws the same ones.
  Dataset data;
  data.channels = 1;
  data.height = 3;
  data.width = 3;
  data.num_classes = 1;
  data.class_names = {"only"};
  data.name = "tiny";
  for (int n = 0; n < 400; ++n) {
    data.pixels.insert(data.pixels.end(), image.begin(), image.end());
    data.labels.push_back(0);
  }
  std::vector<std::vector<float>> windows;
  for (int top = 0; top <= 2; ++top)
    for (int left = 0; left <= 2; ++left)
      for (bool flip : {false, true}) {
        std::vector<float> out(9);
        augment_sample(image.data(), 1, 3, 3, 1, AugmentDraw{top, left, flip}, out.data());
        windows.push_back(out);
      }
  auto draws_of_epoch = [&](uint64_t seed) {
    Batcher batcher(data, 64, true, seed, nullptr, Augmentation{1, true});
    std::vector<int> chosen;
    Batch batch;
    while (batcher.next(batch))
      for (int64_t i = 0; i < batch.size(); ++i) {
        const std::vector<float> sample(batch.images.data() + i * 9,
                                        batch.images.data() + i * 9 + 9);
        const auto found = std::find(windows.begin(), windows.end(), sample);
        REQUIRE(found != windows.end());
        chosen.push_back(static_cast<int>(found - windows.begin()));
      }
    return chosen;
  };
  const std::vector<int> chosen = draws_of_epoch(9);
  REQUIRE(std::set<int>(chosen.begin(), chosen.end()).size() == 18);
  REQUIRE(draws_of_epoch(9) == chosen);
  REQUIRE(draws_of_epoch(10) != chosen);
}
