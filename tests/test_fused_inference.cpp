// Inference fusion (layers/fused_inference.h) against the layers run one by
// one: conv -> batch norm -> ReLU folded into one convolution, on the direct
// path and the im2col path (strided, 1x1, grouped), and Sequential's eval
// forward, which fuses such runs wherever they occur.
#include <catch2/catch.hpp>

#include <cmath>

#include "engine/rng.h"
#include "engine/threads.h"
#include "layers/batchnorm.h"
#include "layers/conv2d.h"
#include "layers/fused_inference.h"
#include "layers/maxpool.h"
#include "layers/relu.h"
#include "nets/sequential.h"
#include "tests/gradcheck.h"

using namespace branchy;
using branchy::testing::random_tensor;
using branchy::testing::relative_difference;

namespace {

// Running statistics and affine far from the identity, so a missed fold shows.
void randomize_statistics(BatchNorm2d& bn, int channels, uint64_t seed) {
  Rng rng(seed);
  for (int c = 0; c < channels; ++c) {
    bn.weight.value[c] = 0.5f + rng.uniform();
    bn.bias.value[c] = rng.uniform() - 0.5f;
    bn.running_mean.value[c] = rng.uniform() - 0.5f;
    bn.running_var.value[c] = 0.2f + 2.0f * rng.uniform();
  }
}

}  // namespace

TEST_CASE("conv + batch norm + ReLU folded equals the three layers run one by one", "[fused]") {
  struct Case {
    int in, out, kernel, stride, padding, groups, size;
    bool bias;
  };
  const Case cases[] = {
      {16, 16, 3, 1, 1, 1, 14, false},  // direct path (b-resnet's 3x3)
      {5, 10, 5, 1, 3, 1, 15, true},    // direct path with a conv bias (b-lenet)
      {1, 16, 3, 1, 1, 1, 12, false},   // im2col: one input channel
      {16, 32, 3, 2, 1, 1, 14, false},  // im2col: stride 2
      {16, 32, 1, 1, 0, 1, 7, true},    // 1x1: the image is its own column matrix
      {32, 32, 3, 1, 1, 8, 8, false},   // grouped, direct a group at a time
  };
  Rng weights(91);
  for (int threads : {1, 2}) {
    ThreadCountScope scope(threads);
    int trial = 0;
    for (const Case& c : cases) {
      Conv2d conv(c.in, c.out, c.kernel, Conv2dOptions{c.stride, c.padding, c.groups, c.bias}, weights);
      BatchNorm2d bn(c.out);
      randomize_statistics(bn, c.out, 92 + trial);
      ReLU relu;
      const Tensor x = random_tensor(Shape{3, c.in, c.size, c.size}, 93 + trial++);
      const Tensor conv_out = conv.forward(x, Mode::eval);
      const Tensor bn_out = bn.forward(conv_out, Mode::eval);
      const Tensor relu_out = relu.forward(bn_out, Mode::eval);
      INFO(conv.describe() << " on " << x.shape().str() << ", " << threads << " threads");
      REQUIRE(relative_difference(conv_inference(conv, &bn, true, x), relu_out) < 1e-5f);
      REQUIRE(relative_difference(conv_inference(conv, &bn, false, x), bn_out) < 1e-5f);
      REQUIRE(relative_difference(conv_inference(conv, nullptr, true, x), relu.forward(conv_out, Mode::eval)) < 1e-6f);
      // Folding leaves the layer's own filters alone.
      REQUIRE(max_abs_difference(conv.forward(x, Mode::eval), conv_out) == 0.0f);
    }
  }
}

TEST_CASE("Sequential's eval forward fuses conv runs and equals its layers run one by one", "[fused]") {
  Rng rng(95);
  Sequential net;
  net.emplace<Conv2d>("conv1", 4, 8, 3, Conv2dOptions{1, 1, 1, false}, rng);
  auto& bn1 = net.emplace<BatchNorm2d>("bn1", 8);
  net.emplace<ReLU>("relu1");
  net.emplace<MaxPool2d>("pool", 2, 2);
  net.emplace<Conv2d>("conv2", 8, 6, 5, Conv2dOptions{1, 2, 1, true}, rng);
  net.emplace<ReLU>("relu2");
  net.emplace<Conv2d>("conv3", 6, 4, 3, Conv2dOptions{1, 1, 1, false}, rng);
  auto& bn3 = net.emplace<BatchNorm2d>("bn3", 4);  // last: conv + bn without ReLU
  randomize_statistics(bn1, 8, 96);
  randomize_statistics(bn3, 4, 97);
  const Tensor x = random_tensor(Shape{2, 4, 12, 12}, 98);
  Tensor expected = x;
  for (size_t i = 0; i < net.size(); ++i) expected = net.layer(i).forward(expected, Mode::eval);
  REQUIRE(relative_difference(net.forward(x, Mode::eval), expected) < 1e-5f);
}
