// small_nets.h — tiny networks the tests share: fast to run, every path alive.
#pragma once

#include <memory>

#include "nets/registry.h"

namespace branchy::testing {

// B-LeNet with 3/4/4 trunk channels, an 8-wide FC and a 3-channel branch,
// on 1×12×12 images, 4 classes.
inline std::unique_ptr<BranchyNet> small_b_lenet(uint64_t seed) {
  const Json config = {{"conv1", 3}, {"conv2", 4}, {"conv3", 4}, {"fc", 8}, {"branch_conv", 3}};
  return build_network("b-lenet", config, Shape{1, 1, 12, 12}, 4, seed);
}

}  // namespace branchy::testing
