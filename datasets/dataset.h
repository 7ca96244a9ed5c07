// dataset.h — a labelled set of images held in memory, and its three splits.
//
// Pixels are stored as the raw bytes of the file (uint8, 0..255), not floats:
// Fashion-MNIST is 47 MB this way instead of 188 MB, CIFAR-10 180 MB instead of
// 720 MB. A batch is converted to float when it is asked for (images(), or
// the Batcher), scaled to [0, 1] — so 0 stays "black" and the per-channel
// Normalizer works on [0, 1] values, as torchvision's ToTensor + Normalize do.
//
// Requires: pixels.size() == size() * C * H * W; every label in
//           [0, num_classes). The loaders ensure both; code that builds a
//           Dataset by hand can call check() to be told what is off.
// Ensures:  images(begin, end) is (end - begin, C, H, W) float in [0, 1].
// Fails:    ranges outside [0, size()] throw Error naming the dataset.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/shape.h"
#include "engine/tensor.h"

namespace branchy {

struct Dataset {
  std::vector<uint8_t> pixels;  // (N, C, H, W) raw bytes, 0..255
  std::vector<int> labels;      // (N) in [0, num_classes)
  int channels = 0;             // 1 (grey) or 3 (RGB)
  int height = 0;
  int width = 0;
  int num_classes = 0;
  std::vector<std::string> class_names;  // num_classes names, index = label
  std::string name;                      // "fashion-mnist/train", for messages

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  int64_t sample_bytes() const { return int64_t{channels} * height * width; }
  // The shape of one sample as a batch of one: (1, C, H, W). Use
  // sample_shape().with_batch(B) for a batch of B.
  Shape sample_shape() const { return Shape{1, channels, height, width}; }
  // Raw bytes of sample i: (C, H, W).
  const uint8_t* sample(int64_t i) const { return pixels.data() + i * sample_bytes(); }

  // Samples [begin, end) as floats in [0, 1]: (end - begin, C, H, W).
  Tensor images(int64_t begin, int64_t end) const;
  // Samples at `indices`, in that order, as floats in [0, 1]: (indices.size(), C, H, W).
  Tensor images(const std::vector<int64_t>& indices) const;

  // A copy of samples [begin, end) named `name`, same classes.
  Dataset slice(int64_t begin, int64_t end, const std::string& name) const;

  // Throws Error if sizes or labels are inconsistent (see the contract above).
  void check() const;
};

// train: what the model learns from. validation: held out of the training
// file (its last samples), for thresholds and model selection. test: the
// test file, used only for final numbers.
struct DatasetSplits {
  Dataset train;
  Dataset validation;
  Dataset test;
};

// A raw byte as a float in [0, 1]: exactly byte / 255.0f.
inline float unit_float(uint8_t byte) { return static_cast<float>(byte) / 255.0f; }
// Writes `count` raw bytes as floats in [0, 1] into `out`.
void bytes_to_unit_floats(const uint8_t* bytes, int64_t count, float* out);

}  // namespace branchy
