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

namespace {

// Adds each cell's columns of one band, the cells side by side (one column
// of each per step): independent chains of adds instead of one cell after
// another. GRID > 0 fixes the grid at compile time, so the sums stay in
// registers; 0 takes `grid` at run time.
template <int GRID>
void add_cells(const float* column_sums, int grid, const int64_t* x0, const int64_t* cell_width, int64_t widest,
               float* cells) {
  const int g = GRID > 0 ? GRID : grid;
  float total[GRID > 0 ? GRID : 32] = {};
  for (int64_t j = 0; j < widest; ++j)
    for (int gx = 0; gx < g; ++gx)
      if (j < cell_width[gx]) total[gx] += column_sums[x0[gx] + j];
  std::copy_n(total, g, cells);
}

// Average of each cell of a grid x grid split of one plane (H, W) into out:
// per band of rows, the rows added column by column into band_sums (W
// floats, engine/kernels.h), then each cell's few columns. (Cells of
// b-lenet's 30x30 maps are 8 wide, too short for vectors; summed element by
// element, one cell after another, they cost more than the predictor.)
void average_cells(const float* plane, int64_t H, int64_t W, int grid, float* out, float* band_sums) {
  if (grid == 1) {
    out[0] = static_cast<float>(sum(plane, H * W) / static_cast<double>(H * W));
    return;
  }
  int64_t x0[32], cell_width[32], widest = 0;  // grid <= 32 (FeatureSpec::parse)
  for (int gx = 0; gx < grid; ++gx) {
    x0[gx] = gx * W / grid;                                      // floor
    cell_width[gx] = ((gx + 1) * W + grid - 1) / grid - x0[gx];  // to the ceiling
    widest = std::max(widest, cell_width[gx]);
  }
  const auto add = grid == 2 ? add_cells<2> : grid == 3 ? add_cells<3> : grid == 4 ? add_cells<4>
                 : grid == 7 ? add_cells<7> : add_cells<0>;
  for (int gy = 0; gy < grid; ++gy) {
    const int64_t y0 = gy * H / grid, y1 = ((gy + 1) * H + grid - 1) / grid;  // floor, ceil
    column_sums(plane + y0 * W, y1 - y0, W, W, band_sums);  // (W)
    float* cells = out + gy * grid;  // (grid)
    add(band_sums, grid, x0, cell_width, widest, cells);
    for (int gx = 0; gx < grid; ++gx) cells[gx] /= static_cast<float>((y1 - y0) * cell_width[gx]);
  }
}

}  // namespace

Tensor extract_features(const Tensor& map, const FeatureSpec& spec) {
  BRANCHY_CHECK(map.rank() == 4, "features of a ", map.shape().str(), " map (want N, C, H, W)");
  const int64_t N = map.dim(0), C = map.dim(1), H = map.dim(2), W = map.dim(3);
  const int64_t width = spec.width(map.shape());
  Tensor out = Tensor::uninitialized(Shape{N, width});  // (N, F)
  Tensor band_sums = Tensor::uninitialized(Shape{W});  // scratch of average_cells
  for (int64_t n = 0; n < N; ++n) {
    float* row = out.data() + n * width;
    for (const FeatureSpec::Part& part : spec.parts) {
      for (int64_t c = 0; c < C; ++c) {
        const float* plane = map.data() + (n * C + c) * H * W;
        if (part.kind == FeatureSpec::Part::Kind::global_max) {
          *row++ = max_value(plane, H * W);
        } else {
          average_cells(plane, H, W, part.grid, row, band_sums.data());
          row += part.grid * part.grid;
        }
      }
    }
  }
  return out;
}

}  // namespace branchy
