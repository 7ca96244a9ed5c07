// small_nets.h — tiny networks the tests share: fast to run, every path alive.
#pragma once

#include <memory>

#include "datasets/dataset.h"
#include "engine/rng.h"
#include "nets/registry.h"

namespace branchy::testing {

// B-LeNet with 3/4/4 trunk channels, an 8-wide FC and a 3-channel branch,
// on 1×12×12 images, 4 classes.
inline std::unique_ptr<BranchyNet> small_b_lenet(uint64_t seed) {
  const Json config = {{"conv1", 3}, {"conv2", 4}, {"conv3", 4}, {"fc", 8}, {"branch_conv", 3}};
  return build_network("b-lenet", config, Shape{1, 1, 12, 12}, 4, seed);
}

// `count` random 1x12x12 images with random labels of 4 classes.
inline Dataset random_image_dataset(int64_t count, uint64_t seed) {
  Dataset d;
  d.channels = 1;
  d.height = d.width = 12;
  d.num_classes = 4;
  d.name = "random";
  Rng rng(seed);
  d.pixels.resize(static_cast<size_t>(count * d.sample_bytes()));
  for (uint8_t& p : d.pixels) p = static_cast<uint8_t>(rng.below(256));
  for (int64_t i = 0; i < count; ++i) d.labels.push_back(static_cast<int>(rng.below(4)));
  return d;
}

}  // namespace branchy::testing
