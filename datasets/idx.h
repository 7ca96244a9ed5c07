// idx.h — MNIST-format idx files (MNIST, Fashion-MNIST, KMNIST...), plain or gzip.
//
// An idx file is a 4-byte big-endian magic (0x0000 08 D: unsigned bytes, D
// dimensions), D big-endian uint32 sizes, then the bytes row-major. Images
// are idx3 (magic 0x00000803: count, rows, columns); labels idx1 (magic
// 0x00000801: count).
//
// Requires: files in that format, plain or gzip (told by content, not name).
// Ensures:  read_idx_dataset returns a checked Dataset of (N, 1, H, W) grey
//           images whose labels are all below num_classes.
// Fails:    Error naming the file and the problem — "wrong magic", header or
//           data sizes that do not match the "dimensions", a "truncated gzip
//           stream", a label "out of range", image and label "counts differ".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace branchy {

constexpr uint32_t idx_images_magic = 0x00000803;
constexpr uint32_t idx_labels_magic = 0x00000801;

struct IdxImages {
  std::vector<uint8_t> pixels;  // (count, height, width)
  int64_t count = 0;
  int height = 0;
  int width = 0;
};

IdxImages read_idx_images(const std::string& path);
// Labels (count), each checked to be in [0, num_classes).
std::vector<int> read_idx_labels(const std::string& path, int num_classes);

// An image file and its label file as one Dataset named `name`.
Dataset read_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         const std::vector<std::string>& class_names, const std::string& name);

}  // namespace branchy
