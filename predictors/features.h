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

// Where the cells of a grid x grid split of an H x W plane lie (PyTorch's
// adaptive_avg_pool2d: floor of the start, ceiling of the end, so that
// neighbours may share a row or column), and 1 / each cell's size.
struct GridCells {
  int grid = 1;
  int64_t y0[32], y1[32];         // band gy: rows [y0, y1)
  int64_t x0[32], width[32];      // cell gx: columns [x0, x0 + width)
  float inverse_size[32 * 32];    // (grid, grid)

  GridCells(int64_t H, int64_t W, int cells_per_side);
};

// A spec's features for maps of one shape, with every cell worked out once:
// a router asks for one sample's features at a time, where placing the cells
// cost as much as adding the map up (b-lenet's 5x30x30 h0).
class FeaturePlan {
 public:
  FeaturePlan(const FeatureSpec& spec, const Shape& map);  // map (N, C, H, W); N is not used
  int64_t width() const { return width_; }                 // features per sample
  // One sample's map (C, H, W) -> its features (width()), the parts side by
  // side, each channel-major. Allocates nothing while the bands of the largest
  // grid fit in 1,024 floats (maps up to 248 wide at grid4).
  void extract(const float* map, float* out) const;
  // (N, C, H, W) -> (N, width()), the map of the shape planned for.
  Tensor extract_all(const Tensor& map) const;

 private:
  FeatureSpec spec_;
  int64_t C_, H_, W_, width_;
  std::vector<GridCells> cells_;  // per part (unused by global_max parts)
  int64_t band_floats_;           // scratch of the largest grid: its bands, W + 8 floats each
};

// (N, C, H, W) -> (N, spec.width(map)): the parts side by side, each channel-major.
Tensor extract_features(const Tensor& map, const FeatureSpec& spec);

}  // namespace branchy
