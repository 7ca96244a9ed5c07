// MaxPool2d's framed fast path against the plain clipped-window definition
// (reference::maxpool2d_forward): values and argmax must agree exactly, for
// kernels 2 and 3 (the unrolled paths) and others, with padding, ceil mode,
// ties, NaN and -inf, on one and two threads.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "engine/rng.h"
#include "engine/threads.h"
#include "layers/maxpool.h"

using namespace branchy;

namespace {

int draw(Rng& rng, int low, int high) { return low + static_cast<int>(rng.below(high - low + 1)); }

// Values from a small set, so windows often tie; a few NaN and -inf.
Tensor awkward_input(const Shape& shape, Rng& rng) {
  Tensor x = Tensor::uninitialized(shape);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const uint64_t pick = rng.below(40);
    x[i] = pick == 0   ? std::numeric_limits<float>::quiet_NaN()
           : pick == 1 ? -std::numeric_limits<float>::infinity()
                       : static_cast<float>(rng.below(6)) - 2.0f;
  }
  return x;
}

bool same_value(float a, float b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

}  // namespace

TEST_CASE("unpadded max pooling at inference equals the definition at every width", "[pool-fast]") {
  // Its own path (no frame): the networks' 2x2 and 3x3 windows at stride 2
  // and others, rows narrower and wider than a vector, odd sizes in ceil
  // and floor mode, NaN and -inf.
  Rng rng(7);
  for (auto [kernel, stride] : {std::pair{2, 2}, std::pair{3, 2}, std::pair{3, 1}, std::pair{4, 3}})
  for (int64_t width = kernel; width <= 40; ++width)
    for (bool ceil_mode : {false, true}) {
      const int64_t height = kernel + rng.below(7);
      const Shape shape{2, 3, height, width};
      MaxPool2d pool(kernel, stride, 0, ceil_mode);
      INFO(pool.describe() << " on " << shape.str());
      const Tensor x = awkward_input(shape, rng);
      const Tensor expected = reference::maxpool2d_forward(x, kernel, stride, 0, ceil_mode, nullptr);
      const Tensor y = pool.forward(x, Mode::eval);
      REQUIRE(y.shape() == expected.shape());
      for (int64_t i = 0; i < expected.numel(); ++i) REQUIRE(same_value(y[i], expected[i]));
    }
}

TEST_CASE("framed max pooling equals the clipped-window definition, argmax included", "[pool-fast]") {
  Rng rng(5);
  for (int trial = 0; trial < 120; ++trial) {
    const int kernel = draw(rng, 1, 4);
    const int stride = draw(rng, 1, 3);
    const int padding = draw(rng, 0, kernel / 2);
    const bool ceil_mode = rng.below(2) == 1;
    const int64_t height = draw(rng, kernel, 13), width = draw(rng, kernel, 13);
    const Shape shape{draw(rng, 1, 3), draw(rng, 1, 40), height, width};
    ThreadCountScope scope(trial % 2 == 0 ? 1 : 2);
    MaxPool2d pool(kernel, stride, padding, ceil_mode);
    INFO(pool.describe() << " on " << shape.str() << " threads " << num_threads());
    const Tensor x = awkward_input(shape, rng);

    std::vector<int32_t> argmax;
    const Tensor expected = reference::maxpool2d_forward(x, kernel, stride, padding, ceil_mode, &argmax);
    const Tensor eval_y = pool.forward(x, Mode::eval);
    const Tensor train_y = pool.forward(x, Mode::train);
    REQUIRE(eval_y.shape() == expected.shape());
    int64_t mismatches = 0;
    for (int64_t i = 0; i < expected.numel(); ++i)
      mismatches += !same_value(eval_y[i], expected[i]) || !same_value(train_y[i], expected[i]);
    REQUIRE(mismatches == 0);

    // The argmax shows in backward: a one-hot dy lands exactly where the
    // reference's argmax says.
    const int64_t plane_out = expected.dim(2) * expected.dim(3), plane_in = height * width;
    for (int probe = 0; probe < 5; ++probe) {
      const int64_t o = rng.below(expected.numel());
      Tensor dy(expected.shape());
      dy[o] = 1.0f;
      const Tensor dx = pool.backward(dy);
      const int64_t target = (o / plane_out) * plane_in + argmax[static_cast<size_t>(o)];
      REQUIRE(dx[target] == 1.0f);
    }
  }
}
