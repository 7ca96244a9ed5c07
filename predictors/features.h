// features.h — cheap summaries of a feature map that a predictor reads.
//
// A predictor at a branch point reads the trunk map h_i (C, H, W); one on the
// input reads the image. Neither can afford a convolution, so it reads a
// summary, and the summary's cost is counted in the policy's MACs:
//   avg      global average of each channel               C values
//   max      global maximum of each channel               C values
//   gridG    average over a G x G grid of cells per channel (PyTorch's
//            adaptive_avg_pool2d cells)                    C*G*G values
// Summaries join with '+': "grid4+max" is C*16 + C values. Each summary reads
// every element of the map once, and counts C*H*W MACs for it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/shape.h"
#include "engine/tensor.h"

namespace branchy {

struct FeatureSpec {
  struct Part {
    enum class Kind { average_grid, global_max } kind;
    int grid = 1;  // cells per side, for average_grid ("avg" is grid 1)
  };
  std::vector<Part> parts;

  // Parses "avg", "max", "grid4", "grid4+max", ...; Error naming the text otherwise.
  static FeatureSpec parse(const std::string& text);
  std::string str() const;  // the same text back
  // Features per sample for a map of one sample (1, C, H, W).
  int64_t width(const Shape& map) const;
  // MACs per sample of computing them.
  int64_t macs(const Shape& map) const;
};

// (N, C, H, W) -> (N, spec.width(map)): the parts side by side, each channel-major.
Tensor extract_features(const Tensor& map, const FeatureSpec& spec);

}  // namespace branchy
