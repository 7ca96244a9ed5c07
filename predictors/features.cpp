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

// Average of each cell of a grid x grid split of one plane (H, W) into out;
// a cell's rows are summed with the vector kernel (a plain double loop over
// a 32x32 map cost more than the predictor it fed).
void average_cells(const float* plane, int64_t H, int64_t W, int grid, float* out) {
  for (int gy = 0; gy < grid; ++gy) {
    const int64_t y0 = gy * H / grid, y1 = ((gy + 1) * H + grid - 1) / grid;  // floor, ceil
    for (int gx = 0; gx < grid; ++gx) {
      const int64_t x0 = gx * W / grid, x1 = ((gx + 1) * W + grid - 1) / grid;
      double total = 0.0;
      if (x0 == 0 && x1 == W) {
        total = sum(plane + y0 * W, (y1 - y0) * W);  // whole rows: one contiguous run
      } else if (x1 - x0 < 16) {
        // Rows shorter than a vector: a call per row cost more than its adds
        // (b-lenet's 15x15 maps in 4x4 cells: ~400 calls, 4 us per sample).
        float cell = 0.0f;
        for (int64_t y = y0; y < y1; ++y)
          for (int64_t x = x0; x < x1; ++x) cell += plane[y * W + x];
        total = cell;
      } else {
        for (int64_t y = y0; y < y1; ++y) total += sum(plane + y * W + x0, x1 - x0);
      }
      out[gy * grid + gx] = static_cast<float>(total / static_cast<double>((y1 - y0) * (x1 - x0)));
    }
  }
}

}  // namespace

Tensor extract_features(const Tensor& map, const FeatureSpec& spec) {
  BRANCHY_CHECK(map.rank() == 4, "features of a ", map.shape().str(), " map (want N, C, H, W)");
  const int64_t N = map.dim(0), C = map.dim(1), H = map.dim(2), W = map.dim(3);
  const int64_t width = spec.width(map.shape());
  Tensor out = Tensor::uninitialized(Shape{N, width});  // (N, F)
  for (int64_t n = 0; n < N; ++n) {
    float* row = out.data() + n * width;
    for (const FeatureSpec::Part& part : spec.parts) {
      for (int64_t c = 0; c < C; ++c) {
        const float* plane = map.data() + (n * C + c) * H * W;
        if (part.kind == FeatureSpec::Part::Kind::global_max) {
          *row++ = max_value(plane, H * W);
        } else {
          average_cells(plane, H, W, part.grid, row);
          row += part.grid * part.grid;
        }
      }
    }
  }
  return out;
}

}  // namespace branchy
