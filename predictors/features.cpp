#include "predictors/features.h"

#include <algorithm>
#include <limits>

#include "engine/error.h"
#include "engine/kernels.h"

namespace branchy {

FeatureSpec FeatureSpec::parse(const std::string& text) {
  FeatureSpec spec;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t end = std::min(text.find('+', begin), text.size());
    const std::string part = text.substr(begin, end - begin);
    if (part == "avg") {
      spec.parts.push_back({Part::Kind::average_grid, 1});
    } else if (part == "max") {
      spec.parts.push_back({Part::Kind::global_max, 1});
    } else if (part.size() > 4 && part.rfind("grid", 0) == 0 &&
               part.find_first_not_of("0123456789", 4) == std::string::npos && part.size() <= 6) {
      const int grid = std::stoi(part.substr(4));
      BRANCHY_CHECK(grid >= 1 && grid <= 32, "features '", text, "': grid ", grid, " is outside 1..32");
      spec.parts.push_back({Part::Kind::average_grid, grid});
    } else {
      fail("features '", text, "': unknown part '", part, "' (known: avg, max, gridG such as grid4, joined by +)");
    }
    begin = end + 1;
  }
  return spec;
}

std::string FeatureSpec::str() const {
  std::string text;
  for (const Part& p : parts) {
    if (!text.empty()) text += "+";
    if (p.kind == Part::Kind::global_max) text += "max";
    else text += p.grid == 1 ? "avg" : "grid" + std::to_string(p.grid);
  }
  return text;
}

int64_t FeatureSpec::width(const Shape& map) const {
  int64_t total = 0;
  for (const Part& p : parts) total += map[1] * p.grid * p.grid;
  return total;
}

int64_t FeatureSpec::macs(const Shape& map) const {
  return static_cast<int64_t>(parts.size()) * map[1] * map[2] * map[3];
}

GridCells::GridCells(int64_t H, int64_t W, int cells_per_side) : grid(cells_per_side) {
  for (int g = 0; g < grid; ++g) {  // grid <= 32 (FeatureSpec::parse)
    y0[g] = g * H / grid;
    y1[g] = ((g + 1) * H + grid - 1) / grid;
    x0[g] = g * W / grid;
    width[g] = ((g + 1) * W + grid - 1) / grid - x0[g];
  }
  for (int gy = 0; gy < grid; ++gy)
    for (int gx = 0; gx < grid; ++gx)
      inverse_size[gy * grid + gx] = 1.0f / static_cast<float>((y1[gy] - y0[gy]) * width[gx]);
}

namespace {

// Average of each cell of one plane (H, W) into out (grid * grid), grid >= 2:
// each band of rows added column by column into its row of band_sums (grid
// rows of W + 8 floats, the 8 readable for scaled_segment_sums), then every
// cell's few columns at once (engine/kernels.h). (Cells of b-lenet's 30x30
// maps are 8 wide, too short for a vector loop of their own.) Returns the
// plane's maximum, read on the same pass: the bands cover every row.
float average_cells(const float* plane, int64_t W, const GridCells& cells, float* out, float* band_sums) {
  const int grid = cells.grid;
  const float plane_max = band_column_sums(plane, W, cells.y0, cells.y1, grid, band_sums, W + 8);
  const float* segments[32 * 32];
  int64_t widths[32 * 32];
  for (int gy = 0; gy < grid; ++gy)
    for (int gx = 0; gx < grid; ++gx) {
      segments[gy * grid + gx] = band_sums + gy * (W + 8) + cells.x0[gx];
      widths[gy * grid + gx] = cells.width[gx];
    }
  scaled_segment_sums(segments, widths, cells.inverse_size, grid * grid, out);
  return plane_max;
}

const Shape& checked_map(const Shape& map) {
  BRANCHY_CHECK(map.rank() == 4, "features of a ", map.str(), " map (want N, C, H, W)");
  return map;
}

}  // namespace

FeaturePlan::FeaturePlan(const FeatureSpec& spec, const Shape& map)
    : spec_(spec), C_(checked_map(map)[1]), H_(map[2]), W_(map[3]), width_(spec.width(map)) {
  int largest_grid = 1;
  for (const FeatureSpec::Part& part : spec.parts) {
    cells_.emplace_back(H_, W_, part.grid);
    largest_grid = std::max(largest_grid, part.grid);
  }
  band_floats_ = largest_grid * (W_ + 8);
}

void FeaturePlan::extract(const float* map, float* out) const {
  // The bands' sums (largest grid, W + 8 each; zeros past W, read by
  // scaled_segment_sums), on the stack for the maps predictors read.
  float stack_sums[1024];
  std::vector<float> heap_sums;
  float* band_sums = stack_sums;
  if (band_floats_ > 1024) {
    heap_sums.resize(band_floats_);
    band_sums = heap_sums.data();
  }
  for (int64_t band = 0; band < band_floats_ / (W_ + 8); ++band) std::fill_n(band_sums + band * (W_ + 8) + W_, 8, 0.0f);
  // A channel at a time, every part of it: a "max" after a grid takes the
  // maximum its bands found (b-lenet's grid4+max reads h0 once, not twice).
  for (int64_t c = 0; c < C_; ++c) {
    const float* plane = map + c * H_ * W_;  // (H, W)
    float plane_max = 0.0f;
    bool have_max = false;
    float* part_out = out;  // part p's features: (C, cells of the part)
    for (size_t p = 0; p < spec_.parts.size(); ++p) {
      const FeatureSpec::Part& part = spec_.parts[p];
      const int64_t cells = part.kind == FeatureSpec::Part::Kind::global_max ? 1 : part.grid * part.grid;
      float* at = part_out + c * cells;
      if (part.kind == FeatureSpec::Part::Kind::global_max) {
        *at = have_max ? plane_max : max_value(plane, H_ * W_);
      } else if (part.grid == 1) {
        *at = static_cast<float>(sum(plane, H_ * W_) / static_cast<double>(H_ * W_));
      } else {
        plane_max = average_cells(plane, W_, cells_[p], at, band_sums);
        have_max = true;
      }
      part_out += C_ * cells;
    }
  }
}

Tensor FeaturePlan::extract_all(const Tensor& map) const {
  BRANCHY_CHECK(map.rank() == 4 && map.dim(1) == C_ && map.dim(2) == H_ && map.dim(3) == W_, "features of a ",
                map.shape().str(), " map, planned for (N, ", C_, ", ", H_, ", ", W_, ")");
  const int64_t N = map.dim(0), sample = C_ * H_ * W_;
  Tensor out = Tensor::uninitialized(Shape{N, width_});  // (N, F)
  for (int64_t n = 0; n < N; ++n) extract(map.data() + n * sample, out.data() + n * width_);
  return out;
}

Tensor extract_features(const Tensor& map, const FeatureSpec& spec) {
  return FeaturePlan(spec, map.shape()).extract_all(map);
}

}  // namespace branchy
