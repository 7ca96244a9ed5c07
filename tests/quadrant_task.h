// quadrant_task.h — the small synthetic task the training tests share: 12×12
// grey images with a bright 4×4 square in one of four quadrants, a tiny
// B-LeNet that learns it in a few epochs, and quick training settings.
#pragma once

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "datasets/dataset.h"
#include "datasets/idx.h"
#include "engine/rng.h"
#include "nets/registry.h"
#include "pipeline/trainer.h"

namespace branchy::testing {

// Four classes: a bright 4×4 square in one of the four quadrants, on noise.
// Easy for a conv net, impossible by chance (25%).
inline Dataset quadrant_dataset(int64_t count, uint64_t seed, const std::string& name) {
  Dataset d;
  d.channels = 1;
  d.height = d.width = 12;
  d.num_classes = 4;
  d.class_names = {"top-left", "top-right", "bottom-left", "bottom-right"};
  d.name = name;
  Rng rng(seed);
  d.pixels.resize(count * 144);
  for (int64_t i = 0; i < count; ++i) {
    const int label = static_cast<int>(rng.below(4));
    d.labels.push_back(label);
    uint8_t* image = d.pixels.data() + i * 144;
    for (int p = 0; p < 144; ++p) image[p] = static_cast<uint8_t>(rng.below(90));
    const int top = (label / 2) * 6 + 1 + static_cast<int>(rng.below(2));
    const int left = (label % 2) * 6 + 1 + static_cast<int>(rng.below(2));
    for (int y = top; y < top + 4; ++y)
      for (int x = left; x < left + 4; ++x) image[y * 12 + x] = 230;
  }
  return d;
}

inline DatasetSplits quadrant_splits() {
  DatasetSplits s;
  s.train = quadrant_dataset(256, 1, "quadrants/train");
  s.validation = quadrant_dataset(64, 2, "quadrants/validation");
  s.test = quadrant_dataset(64, 3, "quadrants/test");
  return s;
}

inline void append_big_endian(std::string& bytes, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(value >> shift));
}

// `data` (12x12 images) as a pair of plain idx files, <prefix>-images-idx3-ubyte and <prefix>-labels-idx1-ubyte.
inline void write_idx_pair(const Dataset& data, const std::string& folder, const std::string& prefix) {
  std::string images, labels;
  append_big_endian(images, idx_images_magic);
  for (uint32_t size : {static_cast<uint32_t>(data.size()), 12u, 12u}) append_big_endian(images, size);
  images.append(data.pixels.begin(), data.pixels.end());
  append_big_endian(labels, idx_labels_magic);
  append_big_endian(labels, static_cast<uint32_t>(data.size()));
  for (int label : data.labels) labels.push_back(static_cast<char>(label));
  std::ofstream(folder + "/" + prefix + "-images-idx3-ubyte", std::ios::binary) << images;
  std::ofstream(folder + "/" + prefix + "-labels-idx1-ubyte", std::ios::binary) << labels;
}

// The quadrant task as an MNIST-format folder (`--data mnist:FOLDER`): 256
// training and 64 validation samples in the training files, 64 test samples.
inline void write_quadrant_mnist(const std::string& folder) {
  std::filesystem::create_directories(folder);
  write_idx_pair(quadrant_dataset(256 + 64, 1, "train"), folder, "train");
  write_idx_pair(quadrant_dataset(64, 3, "test"), folder, "t10k");
}

// The B-LeNet settings of tiny_b_lenet, as `branchy train --config` takes them.
inline constexpr const char* tiny_b_lenet_config = "conv1=4,conv2=6,conv3=6,fc=16,branch_conv=4";

inline std::unique_ptr<BranchyNet> tiny_b_lenet() {
  return build_network("b-lenet", parse_config_overrides(tiny_b_lenet_config), Shape{1, 1, 12, 12}, 4, 11);
}

inline TrainOptions quick_options(const std::string& out_dir, int epochs) {
  TrainOptions o;
  o.epochs = epochs;
  o.batch_size = 32;
  o.learning_rate = 3e-3f;
  o.out_dir = out_dir;
  o.quiet = true;
  o.seed = 5;
  return o;
}

}  // namespace branchy::testing
