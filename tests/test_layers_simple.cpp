// Tests of the parameter-free and normalisation layers: relu, max/avg pooling,
// global average pooling, flatten, dropout, batch norm, LRN. Each has a
// finite-difference gradient check and value checks worked out by hand;
// PyTorch fixture comparisons live in their own test file.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>
#include <vector>

#include "engine/error.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "layers/avgpool.h"
#include "layers/batchnorm.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/global_avgpool.h"
#include "layers/lrn.h"
#include "layers/maxpool.h"
#include "layers/relu.h"
#include "tests/gradcheck.h"

using namespace branchy;
using branchy::testing::check_gradients;
using branchy::testing::GradCheckOptions;
using branchy::testing::GradCheckResult;
using branchy::testing::random_tensor;
using Catch::Matchers::Contains;

namespace {

void require_gradients_match(Layer& layer, const Tensor& x, const GradCheckOptions& options = {}) {
  const GradCheckResult result = check_gradients(layer, x, options);
  INFO(result.report);
  REQUIRE(result.passed);
  REQUIRE(result.coordinates_checked > 0);
}

// A random permutation of distinct values `spacing` apart, centred on 0: a
// finite-difference step of 1e-2 can never change which element of a window
// is the maximum, so max pooling has no kinks and no ties.
Tensor distinct_values(const Shape& shape, uint64_t seed, float spacing = 0.05f) {
  std::vector<int64_t> order(static_cast<size_t>(shape.numel()));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  rng.shuffle(order);
  Tensor t = Tensor::uninitialized(shape);
  const double centre = static_cast<double>(shape.numel()) / 2.0;
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>((order[i] - centre) * spacing);
  return t;
}

// 1..n laid out row-major in a (1, 1, size, size) image.
Tensor counting_image(int64_t size) {
  Tensor t = Tensor::uninitialized(Shape{1, 1, size, size});
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = static_cast<float>(i + 1);
  return t;
}

void require_values(const Tensor& actual, const std::vector<float>& expected, float tolerance = 1e-5f) {
  REQUIRE(actual.numel() == static_cast<int64_t>(expected.size()));
  for (int64_t i = 0; i < actual.numel(); ++i) {
    INFO("element " << i);
    REQUIRE(actual[i] == Approx(expected[i]).margin(tolerance));
  }
}

}  // namespace

// ---------------------------------------------------------------- gradients

TEST_CASE("relu and flatten pass the gradient check", "[layers-simple]") {
  ReLU relu;
  require_gradients_match(relu, random_tensor(Shape{2, 3, 4, 5}, 1, /*min_magnitude=*/0.05f));
  Flatten flatten;
  require_gradients_match(flatten, random_tensor(Shape{2, 3, 4, 5}, 2));
}

TEST_CASE("max pooling passes the gradient check with stride, padding and ceil mode", "[layers-simple]") {
  struct Case {
    int kernel, stride, padding;
    bool ceil_mode;
    Shape input;
  };
  const std::vector<Case> cases = {
      {2, 2, 0, true, Shape{2, 2, 17, 17}},  // B-LeNet's 17 -> 9
      {3, 2, 1, true, Shape{2, 3, 7, 7}},    // overlapping windows, padding, ceil
      {3, 2, 0, false, Shape{1, 2, 9, 8}},   // stride != kernel, floor mode
      {2, 3, 1, true, Shape{2, 1, 8, 10}},   // stride > kernel: gaps between windows
      {2, 2, 1, false, Shape{1, 3, 6, 5}},
  };
  for (const Case& c : cases) {
    MaxPool2d pool(c.kernel, c.stride, c.padding, c.ceil_mode);
    INFO(pool.describe() << " on " << c.input.str());
    require_gradients_match(pool, distinct_values(c.input, 3));
  }
}

TEST_CASE("average pooling passes the gradient check with stride, padding and ceil mode", "[layers-simple]") {
  struct Case {
    int kernel, stride, padding;
    bool ceil_mode;
    Shape input;
  };
  const std::vector<Case> cases = {
      {2, 2, 0, true, Shape{2, 2, 17, 17}},
      {3, 2, 1, true, Shape{2, 3, 7, 7}},
      {3, 2, 1, true, Shape{1, 2, 8, 8}},  // last window hangs past the padding
      {3, 2, 0, false, Shape{1, 2, 9, 8}},
      {2, 3, 1, true, Shape{2, 1, 8, 10}},
  };
  for (const Case& c : cases) {
    AvgPool2d pool(c.kernel, c.stride, c.padding, c.ceil_mode);
    INFO(pool.describe() << " on " << c.input.str());
    require_gradients_match(pool, random_tensor(c.input, 4));
  }
}

TEST_CASE("global average pooling passes the gradient check", "[layers-simple]") {
  GlobalAvgPool2d pool;
  require_gradients_match(pool, random_tensor(Shape{2, 3, 5, 4}, 5));
}

TEST_CASE("dropout passes the gradient check when every forward draws the same mask", "[layers-simple]") {
  Dropout dropout(0.4f, 99);
  GradCheckOptions options;
  options.before_forward = [&dropout] { dropout.reseed(1234); };
  require_gradients_match(dropout, random_tensor(Shape{3, 4, 5}, 6), options);
}

TEST_CASE("batch norm in train mode passes the gradient check for 4-d and 2-d input", "[layers-simple]") {
  for (const Shape& input : {Shape{4, 3, 5, 5}, Shape{8, 5}, Shape{3, 2, 6}}) {
    const int channels = static_cast<int>(input[1]);
    BatchNorm2d bn(channels);
    // Weights away from 1 and biases away from 0, so their gradients matter.
    Rng rng(7);
    for (int c = 0; c < channels; ++c) {
      bn.weight.value[c] = rng.uniform(0.5f, 1.5f);
      bn.bias.value[c] = rng.uniform(-0.5f, 0.5f);
    }
    INFO("input " << input.str());
    require_gradients_match(bn, random_tensor(input, 8));
  }
}

TEST_CASE("local response norm passes the gradient check for sizes 3, 4 and 5", "[layers-simple]") {
  // alpha and k chosen so the normalisation is far from the identity.
  LocalResponseNorm size3(3, 0.6f, 0.75f, 1.0f);
  require_gradients_match(size3, random_tensor(Shape{2, 7, 3, 3}, 9));
  LocalResponseNorm size4(4, 1.0f, 0.5f, 2.0f);  // asymmetric window
  require_gradients_match(size4, random_tensor(Shape{2, 6, 2, 3}, 10));
  LocalResponseNorm size5(5, 1.0f, 0.75f, 1.0f);
  require_gradients_match(size5, random_tensor(Shape{2, 8, 3, 2}, 11));
}

// ---------------------------------------------------------------- values

TEST_CASE("max pooling values in ceil mode, with padding, and first-max-wins routing", "[layers-simple]") {
  // 3x3 image 1..9, k2 s2 ceil: the windows on the right/bottom edge are clipped.
  MaxPool2d ceil_pool(2, 2, 0, true);
  require_values(ceil_pool.forward(counting_image(3), Mode::eval), {5, 6, 8, 9});

  // 4x4 image 1..16, k3 s2 p1 ceil -> 3x3; rows read: {0,1}, {1,2,3}, {3}.
  MaxPool2d padded_pool(3, 2, 1, true);
  require_values(padded_pool.forward(counting_image(4), Mode::eval), {6, 8, 8, 14, 16, 16, 14, 16, 16});

  // Ties: the gradient goes to the first maximum in row-major order only.
  MaxPool2d pool(2, 2);
  Tensor flat = Tensor::filled(Shape{1, 1, 2, 2}, 1.0f);
  pool.forward(flat, Mode::train);
  require_values(pool.backward(Tensor::filled(Shape{1, 1, 1, 1}, 3.0f)), {3, 0, 0, 0});

  // Overlapping windows that share a maximum add their gradients there.
  MaxPool2d overlapping(3, 2, 1, true);
  overlapping.forward(counting_image(4), Mode::train);
  Tensor dx = overlapping.backward(Tensor::filled(Shape{1, 1, 3, 3}, 1.0f));
  REQUIRE(dx.at(0, 0, 3, 3) == 4.0f);  // 16 is the maximum of four windows
  REQUIRE(dx.at(0, 0, 1, 1) == 1.0f);  // 6
  REQUIRE(dx.at(0, 0, 0, 0) == 0.0f);
  REQUIRE(std::accumulate(dx.data(), dx.data() + dx.numel(), 0.0f) == 9.0f);
}

TEST_CASE("average pooling divides by the window's positions inside the padded input", "[layers-simple]") {
  // 3x3 image 1..9, k2 s2 ceil: edge windows hang off the input and divide by fewer.
  AvgPool2d ceil_pool(2, 2, 0, true);
  require_values(ceil_pool.forward(counting_image(3), Mode::eval), {3.0f, 4.5f, 7.5f, 9.0f});

  // 3x3, k3 s2 p1 (floor): zero padding counts, every divisor is 9.
  AvgPool2d padded_pool(3, 2, 1, false);
  require_values(padded_pool.forward(counting_image(3), Mode::eval),
                 {12.0f / 9, 16.0f / 9, 24.0f / 9, 28.0f / 9});

  // 4x4, k3 s2 p1 ceil -> 3x3: the last window covers row 3 and one padding
  // row, then hangs past the padding, so it divides by 2 along that axis.
  AvgPool2d hanging_pool(3, 2, 1, true);
  require_values(hanging_pool.forward(counting_image(4), Mode::eval),
                 {14.0f / 9, 30.0f / 9, 12.0f / 6, 57.0f / 9, 99.0f / 9, 36.0f / 6, 27.0f / 6, 45.0f / 6,
                  16.0f / 4});

  // Backward of the ceil example: each element gets dy / its window's divisor.
  ceil_pool.forward(counting_image(3), Mode::train);
  require_values(ceil_pool.backward(Tensor::filled(Shape{1, 1, 2, 2}, 1.0f)),
                 {0.25f, 0.25f, 0.5f, 0.25f, 0.25f, 0.5f, 0.5f, 0.5f, 1.0f});
}

TEST_CASE("global average pooling, relu and flatten values", "[layers-simple]") {
  GlobalAvgPool2d pool;
  Tensor x = Tensor::from_vector(Shape{1, 2, 1, 3}, {1, 2, 6, -3, 0, 0});
  require_values(pool.forward(x, Mode::train), {3.0f, -1.0f});
  require_values(pool.backward(Tensor::from_vector(Shape{1, 2}, {3.0f, 6.0f})), {1, 1, 1, 2, 2, 2});

  ReLU relu;
  require_values(relu.forward(Tensor::from_vector(Shape{1, 4}, {-1, 0, 2, -0.5f}), Mode::train), {0, 0, 2, 0});
  require_values(relu.backward(Tensor::from_vector(Shape{1, 4}, {5, 6, 7, 8})), {0, 0, 7, 0});

  Flatten flatten;
  Tensor image = random_tensor(Shape{2, 3, 2, 2}, 12);
  Tensor flat = flatten.forward(image, Mode::train);
  REQUIRE(flat.shape() == Shape{2, 12});
  REQUIRE(flat.shares_storage_with(image));
  REQUIRE(flat.to_vector() == image.to_vector());
  REQUIRE(flatten.backward(flat).shape() == Shape{2, 3, 2, 2});
}

TEST_CASE("dropout keeps about 1 - p of the entries and preserves the mean", "[layers-simple]") {
  const float p = 0.3f;
  Dropout dropout(p, 42);
  Tensor ones = Tensor::filled(Shape{200, 1000}, 1.0f);
  Tensor y = dropout.forward(ones, Mode::train);
  const float kept_value = 1.0f / (1.0f - p);  // kept entries are scaled up
  int64_t kept = 0, neither_dropped_nor_scaled = 0;
  double total = 0.0;
  for (int64_t i = 0; i < y.numel(); ++i) {
    if (y[i] == kept_value) ++kept;
    else if (y[i] != 0.0f) ++neither_dropped_nor_scaled;
    total += y[i];
  }
  REQUIRE(neither_dropped_nor_scaled == 0);
  // 200,000 draws: the standard deviation of the kept share is about 0.001.
  REQUIRE(static_cast<double>(kept) / y.numel() == Approx(1.0 - p).margin(0.01));
  REQUIRE(total / y.numel() == Approx(1.0).margin(0.015));

  // Backward applies the same mask.
  Tensor dx = dropout.backward(Tensor::filled(y.shape(), 2.0f));
  for (int64_t i = 0; i < y.numel(); i += 997) REQUIRE(dx[i] == 2.0f * y[i]);

  // Eval is the identity on the same storage; the same seed gives the same mask.
  REQUIRE(dropout.forward(ones, Mode::eval).shares_storage_with(ones));
  Dropout first(0.5f, 5), second(0.5f, 5);
  Tensor x = random_tensor(Shape{4, 50}, 13);
  REQUIRE(first.forward(x, Mode::train).to_vector() == second.forward(x, Mode::train).to_vector());
  // p = 0 keeps everything; p = 1 drops everything.
  REQUIRE(Dropout(0.0f, 1).forward(x, Mode::train).to_vector() == x.to_vector());
  REQUIRE(max_abs_difference(Dropout(1.0f, 1).forward(x, Mode::train), Tensor(x.shape())) == 0.0f);
}

TEST_CASE("batch norm train step: normalised output and running stats with unbiased variance",
          "[layers-simple]") {
  BatchNorm2d bn(2, 1e-5f, 0.1f);
  // (N=2, C=2, 1, 2): channel 0 holds {1, 2, 3, 6}, channel 1 holds {0, 0, 4, 4}.
  Tensor x = Tensor::from_vector(Shape{2, 2, 1, 2}, {1, 2, 0, 0, 3, 6, 4, 4});
  Tensor y = bn.forward(x, Mode::train);
  // Channel 0: mean 3, biased var 14/4 = 3.5, unbiased 14/3.
  // Channel 1: mean 2, biased var 4, unbiased 16/3.
  require_values(bn.running_mean.value, {0.3f, 0.2f});
  require_values(bn.running_var.value, {0.9f + 0.1f * 14.0f / 3.0f, 0.9f + 0.1f * 16.0f / 3.0f});
  const float inv0 = 1.0f / std::sqrt(3.5f + 1e-5f), inv1 = 1.0f / std::sqrt(4.0f + 1e-5f);
  require_values(y, {-2 * inv0, -1 * inv0, -2 * inv1, -2 * inv1, 0.0f, 3 * inv0, 2 * inv1, 2 * inv1});

  // A constant gradient moves only the bias: dL/dx is 0 for a normalised layer.
  Tensor dx = bn.backward(Tensor::filled(x.shape(), 1.0f));
  REQUIRE(max_abs_difference(dx, Tensor(x.shape())) < 1e-6f);
  require_values(bn.bias.grad, {4.0f, 4.0f});
  require_values(bn.weight.grad, {0.0f, 0.0f});
}

TEST_CASE("batch norm in eval mode uses the running statistics", "[layers-simple]") {
  BatchNorm2d bn(2, 1e-3f);
  bn.running_mean.value = Tensor::from_vector(Shape{2}, {1.0f, -2.0f});
  bn.running_var.value = Tensor::from_vector(Shape{2}, {4.0f - 1e-3f, 0.25f - 1e-3f});  // std 2 and 0.5
  bn.weight.value = Tensor::from_vector(Shape{2}, {3.0f, 1.0f});
  bn.bias.value = Tensor::from_vector(Shape{2}, {0.5f, -1.0f});
  // 4-d (1, 2, 1, 2) and 2-d (2, 2) input.
  require_values(bn.forward(Tensor::from_vector(Shape{1, 2, 1, 2}, {1, 5, -2, 0}), Mode::eval),
                 {0.5f, 6.5f, -1.0f, 3.0f});
  require_values(bn.forward(Tensor::from_vector(Shape{2, 2}, {3, -1, -1, -3}), Mode::eval),
                 {3.5f, 1.0f, -2.5f, -3.0f});
  // Eval changes no running statistic and keeps nothing for backward.
  require_values(bn.running_mean.value, {1.0f, -2.0f});
  REQUIRE_THROWS_AS(bn.backward(Tensor(Shape{2, 2})), Error);
}

TEST_CASE("batch norm names its params as PyTorch does; running stats are buffers", "[layers-simple]") {
  BatchNorm2d bn(4);
  const std::vector<ParamRef> params = bn.named_params("stage0.bn1");
  REQUIRE(params.size() == 4);
  REQUIRE(params[0].name == "stage0.bn1.weight");
  REQUIRE(params[1].name == "stage0.bn1.bias");
  REQUIRE(params[2].name == "stage0.bn1.running_mean");
  REQUIRE(params[3].name == "stage0.bn1.running_var");
  REQUIRE(params[0].param->trainable);
  REQUIRE(params[1].param->trainable);
  REQUIRE_FALSE(params[2].param->trainable);
  REQUIRE_FALSE(params[3].param->trainable);
  require_values(bn.weight.value, {1, 1, 1, 1});
  require_values(bn.bias.value, {0, 0, 0, 0});
  require_values(bn.running_mean.value, {0, 0, 0, 0});
  require_values(bn.running_var.value, {1, 1, 1, 1});
  REQUIRE(bn.params().size() == 4);
}

TEST_CASE("local response norm values, windows clipped at the channel edges", "[layers-simple]") {
  // x = (1, 2, 3) over three channels of one pixel.
  Tensor x = Tensor::from_vector(Shape{1, 3, 1, 1}, {1, 2, 3});
  // size 2: W(c) = [c - 1, c]; d = 1 + 0.1 * (1, 5, 13); y = x / sqrt(d).
  LocalResponseNorm size2(2, 0.2f, 0.5f, 1.0f);
  require_values(size2.forward(x, Mode::eval), {0.9534626f, 1.6329932f, 1.9781414f});
  // size 3: W(c) = [c - 1, c + 1]; d = 2 + 0.1 * (5, 14, 13); y = x * d^-0.75.
  LocalResponseNorm size3(3, 0.3f, 0.75f, 2.0f);
  require_values(size3.forward(x, Mode::eval), {0.5029734f, 0.7987683f, 1.2252813f});
  // Defaults (alpha 1e-4) leave small activations nearly unchanged.
  LocalResponseNorm alexnet(5);
  REQUIRE(alexnet.describe() == "lrn size5 alpha0.0001 beta0.75 k1");
  Tensor y = alexnet.forward(x, Mode::eval);
  REQUIRE(y[2] == Approx(3.0f * std::pow(1.0f + 1e-4f / 5 * 14.0f, -0.75f)));
}

// ---------------------------------------------------------------- shapes and errors

TEST_CASE("pool output shapes follow PyTorch's ceil mode (B-LeNet's 30->15, 17->9, 11->6)",
          "[layers-simple]") {
  MaxPool2d pool(2, 2, 0, true);
  REQUIRE(pool.describe() == "maxpool k2 s2 p0 ceil");
  REQUIRE(pool.out_shape(Shape{1, 5, 30, 30}) == Shape{1, 5, 15, 15});
  REQUIRE(pool.out_shape(Shape{1, 10, 17, 17}) == Shape{1, 10, 9, 9});
  REQUIRE(pool.out_shape(Shape{1, 20, 11, 11}) == Shape{1, 20, 6, 6});
  REQUIRE(pool.out_shape(Shape{1, 5, 15, 15}) == Shape{1, 5, 8, 8});
  // The cost model counts conv and linear only, as BranchyNet's B-LeNet numbers do.
  REQUIRE(pool.macs(Shape{1, 5, 30, 30}) == 0);
  REQUIRE(MaxPool2d(2, 2).out_shape(Shape{1, 10, 17, 17}) == Shape{1, 10, 8, 8});
  REQUIRE(MaxPool2d(2, 2).describe() == "maxpool k2 s2 p0");
  // The ceil-mode rule that drops a window of only right padding:
  // 5 with k2 s2 p1 gives ceil(5/2) + 1 = 4, but the 4th window starts at 6 >= 5 + 1.
  REQUIRE(MaxPool2d(2, 2, 1, true).out_shape(Shape{1, 1, 5, 5}) == Shape{1, 1, 3, 3});
  REQUIRE(MaxPool2d(3, 2, 1, true).out_shape(Shape{1, 1, 4, 7}) == Shape{1, 1, 3, 4});
  REQUIRE(AvgPool2d(2, 2, 0, true).out_shape(Shape{2, 3, 17, 11}) == Shape{2, 3, 9, 6});
  REQUIRE(AvgPool2d(3, 2, 1, false).out_shape(Shape{2, 3, 8, 8}) == Shape{2, 3, 4, 4});
  REQUIRE(GlobalAvgPool2d().out_shape(Shape{2, 3, 8, 8}) == Shape{2, 3});
}

TEST_CASE("bad shapes and arguments throw branchy::Error naming the layer", "[layers-simple]") {
  MaxPool2d max_pool(2, 2, 0, true);
  REQUIRE_THROWS_WITH(max_pool.out_shape(Shape{1, 2, 3}),
                      Contains("maxpool k2 s2 p0 ceil") && Contains("(1, 2, 3)"));
  REQUIRE_THROWS_AS(MaxPool2d(3, 1).forward(Tensor(Shape{1, 1, 2, 2}), Mode::eval), Error);
  REQUIRE_THROWS_WITH(AvgPool2d(3, 1).out_shape(Shape{1, 1, 2, 5}), Contains("avgpool k3 s1 p0"));
  REQUIRE_THROWS_AS(MaxPool2d(2, 2, 2), Error);  // padding above kernel / 2
  REQUIRE_THROWS_AS(AvgPool2d(0, 1), Error);
  REQUIRE_THROWS_AS(AvgPool2d(2, 0), Error);
  REQUIRE_THROWS_WITH(GlobalAvgPool2d().out_shape(Shape{4, 3}), Contains("global avgpool"));
  REQUIRE_THROWS_WITH(Flatten().out_shape(Shape{4}), Contains("flatten"));

  BatchNorm2d bn(3);
  REQUIRE_THROWS_WITH(bn.forward(Tensor(Shape{2, 4, 2, 2}), Mode::train),
                      Contains("batchnorm 3") && Contains("(2, 4, 2, 2)"));
  REQUIRE_THROWS_AS(bn.out_shape(Shape{1, 3, 1, 1, 1}), Error);
  REQUIRE_THROWS_AS(bn.forward(Tensor(Shape{1, 3}), Mode::train), Error);  // one value per channel
  REQUIRE_NOTHROW(bn.forward(Tensor(Shape{1, 3}), Mode::eval));
  REQUIRE_THROWS_AS(BatchNorm2d(0), Error);
  REQUIRE_THROWS_AS(BatchNorm2d(-2), Error);

  REQUIRE_THROWS_WITH(LocalResponseNorm(5).out_shape(Shape{2, 8}), Contains("lrn size5"));
  REQUIRE_THROWS_AS(LocalResponseNorm(0), Error);
  REQUIRE_THROWS_AS(Dropout(1.5f, 1), Error);
  REQUIRE_THROWS_AS(Dropout(-0.1f, 1), Error);
}

TEST_CASE("backward needs a train-mode forward and a dy of the output's shape", "[layers-simple]") {
  Tensor x = random_tensor(Shape{2, 3, 4, 4}, 14);
  std::vector<LayerPtr> layers;
  layers.push_back(std::make_unique<ReLU>());
  layers.push_back(std::make_unique<MaxPool2d>(2, 2));
  layers.push_back(std::make_unique<AvgPool2d>(2, 2));
  layers.push_back(std::make_unique<GlobalAvgPool2d>());
  layers.push_back(std::make_unique<Flatten>());
  layers.push_back(std::make_unique<Dropout>(0.5f, 3));
  layers.push_back(std::make_unique<BatchNorm2d>(3));
  layers.push_back(std::make_unique<LocalResponseNorm>(3));
  for (LayerPtr& layer : layers) {
    INFO(layer->describe());
    Tensor y = layer->forward(x, Mode::eval);
    REQUIRE(y.shape() == layer->out_shape(x.shape()));
    REQUIRE_THROWS_AS(layer->backward(y), Error);  // eval kept nothing
    y = layer->forward(x, Mode::train);
    REQUIRE(layer->backward(y).shape() == x.shape());
    REQUIRE_THROWS_AS(layer->backward(Tensor(Shape{1, 1, 1, 1, 1})), Error);
  }
}

TEST_CASE("large inputs give the same answers on one thread and on several", "[layers-simple]") {
  // Big enough that worth_parallel() turns the OpenMP loops on.
  const Tensor x = random_tensor(Shape{8, 16, 24, 24}, 15);
  std::vector<LayerPtr> layers;
  layers.push_back(std::make_unique<MaxPool2d>(3, 2, 1, true));
  layers.push_back(std::make_unique<AvgPool2d>(3, 2, 1, true));
  layers.push_back(std::make_unique<GlobalAvgPool2d>());
  layers.push_back(std::make_unique<BatchNorm2d>(16));
  layers.push_back(std::make_unique<LocalResponseNorm>(5, 0.5f));
  for (LayerPtr& layer : layers) {
    INFO(layer->describe());
    const Shape out = layer->out_shape(x.shape());
    const Tensor dy = random_tensor(out, 17);
    Tensor y_serial, dx_serial, y_parallel, dx_parallel;
    {
      ThreadCountScope serial(1);
      y_serial = layer->forward(x, Mode::train);
      dx_serial = layer->backward(dy);
    }
    {
      ThreadCountScope parallel(2);
      y_parallel = layer->forward(x, Mode::train);
      dx_parallel = layer->backward(dy);
    }
    REQUIRE(max_abs_difference(y_serial, y_parallel) == 0.0f);
    REQUIRE(max_abs_difference(dx_serial, dx_parallel) == 0.0f);
  }
}
