// quadrant_task.h — the small synthetic task the training tests share: 12×12
// grey images with a bright 4×4 square in one of four quadrants, a tiny
// B-LeNet that learns it in a few epochs, and quick training settings.
#pragma once

#include <memory>
#include <string>

#include "datasets/dataset.h"
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
