// normalizer.h — per-channel standardisation, x' = (x - mean[c]) / std[c].
//
// The statistics are computed once from the training split (pixels in
// [0, 1]) and then applied to every split, so validation and test see the
// same transform. mean() and stddev() are two float vectors, all a checkpoint
// needs to store to rebuild the Normalizer with the two-vector constructor.
//
// Requires: apply() gets (N, C, H, W) with C == channels().
// Ensures:  after from_dataset(d), d's images have per-channel mean 0 and
//           (population) std 1. A constant channel has std 0; it is given
//           std 1 so that it is only centred, not divided by zero.
// Fails:    Error for vectors of different or zero length, a std <= 0, an
//           empty dataset, or a batch whose channel count differs.
#pragma once

#include <string>
#include <vector>

#include "datasets/dataset.h"
#include "engine/tensor.h"

namespace branchy {

class Normalizer {
 public:
  Normalizer(std::vector<float> mean, std::vector<float> stddev);
  static Normalizer from_dataset(const Dataset& data);

  int channels() const { return static_cast<int>(mean_.size()); }
  const std::vector<float>& mean() const { return mean_; }
  const std::vector<float>& stddev() const { return stddev_; }

  void apply(Tensor& batch) const;  // (N, C, H, W), in place
  std::string describe() const;     // "mean [0.286] std [0.353]"

 private:
  std::vector<float> mean_;    // (C)
  std::vector<float> stddev_;  // (C)
  std::vector<float> scale_;   // (C) 1 / std
  std::vector<float> shift_;   // (C) -mean / std
};

}  // namespace branchy
