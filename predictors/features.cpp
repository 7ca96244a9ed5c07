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

// Where the cells of a grid x grid split of an H x W plane lie (PyTorch's
// adaptive_avg_pool2d: floor of the start, ceiling of the end, so that
// neighbours may share a row or column), and 1 / each cell's size.
struct GridCells {
  int grid = 1;
  int64_t y0[32], y1[32];         // band gy: rows [y0, y1)
  int64_t x0[32], width[32];      // cell gx: columns [x0, x0 + width)
  float inverse_size[32 * 32];    // (grid, grid)

  GridCells(int64_t H, int64_t W, int cells_per_side) : grid(cells_per_side) {
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
};

// Average of each cell of one plane (H, W) into out (grid * grid): each band
// of rows added column by column into its row of band_sums (grid rows of
// W + 8 floats, the 8 readable for segment_sums), then every cell's few
// columns at once (engine/kernels.h). (Cells of b-lenet's 30x30 maps are 8
// wide, too short for a vector loop of their own.)
void average_cells(const float* plane, int64_t H, int64_t W, const GridCells& cells, float* out, float* band_sums) {
  const int grid = cells.grid;
  if (grid == 1) {
    out[0] = static_cast<float>(sum(plane, H * W) / static_cast<double>(H * W));
    return;
  }
  const float* segments[32 * 32];
  int64_t widths[32 * 32];
  for (int gy = 0; gy < grid; ++gy) {
    float* band = band_sums + gy * (W + 8);  // (W)
    column_sums(plane + cells.y0[gy] * W, cells.y1[gy] - cells.y0[gy], W, W, band);
    for (int gx = 0; gx < grid; ++gx) {
      segments[gy * grid + gx] = band + cells.x0[gx];
      widths[gy * grid + gx] = cells.width[gx];
    }
  }
  segment_sums(segments, widths, grid * grid, out);
  for (int cell = 0; cell < grid * grid; ++cell) out[cell] *= cells.inverse_size[cell];
}

}  // namespace

Tensor extract_features(const Tensor& map, const FeatureSpec& spec) {
  BRANCHY_CHECK(map.rank() == 4, "features of a ", map.shape().str(), " map (want N, C, H, W)");
  const int64_t N = map.dim(0), C = map.dim(1), H = map.dim(2), W = map.dim(3);
  const int64_t width = spec.width(map.shape());
  Tensor out = Tensor::uninitialized(Shape{N, width});  // (N, F)
  // Scratch of average_cells: the largest grid's bands, W + 8 floats each
  // (zeros past W); on the stack for the maps predictors read (a router
  // calls this per sample: no allocation).
  int largest_grid = 1;
  for (const FeatureSpec::Part& part : spec.parts) largest_grid = std::max(largest_grid, part.grid);
  const int64_t scratch = largest_grid * (W + 8);
  float stack_sums[1024];
  Tensor heap_sums;
  float* band_sums = stack_sums;
  if (scratch > 1024) {
    heap_sums = Tensor(Shape{scratch});
    band_sums = heap_sums.data();
  }
  for (int band = 0; band < largest_grid; ++band) std::fill_n(band_sums + band * (W + 8) + W, 8, 0.0f);
  for (int64_t n = 0; n < N; ++n) {
    float* row = out.data() + n * width;
    for (const FeatureSpec::Part& part : spec.parts) {
      if (part.kind == FeatureSpec::Part::Kind::global_max) {
        for (int64_t c = 0; c < C; ++c) *row++ = max_value(map.data() + (n * C + c) * H * W, H * W);
        continue;
      }
      const GridCells cells(H, W, part.grid);
      for (int64_t c = 0; c < C; ++c) {
        average_cells(map.data() + (n * C + c) * H * W, H, W, cells, row, band_sums);
        row += part.grid * part.grid;
      }
    }
  }
  return out;
}

}  // namespace branchy
