// Residual and dense blocks: gradients against finite differences, shapes,
// the shortcut and concat paths by hand, MACs, and parameter names.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/error.h"
#include "layers/dense.h"
#include "layers/residual.h"
#include "tests/gradcheck.h"

using namespace branchy;
using branchy::testing::check_gradients;
using branchy::testing::GradCheckOptions;
using branchy::testing::GradCheckResult;
using branchy::testing::random_tensor;
using Catch::Matchers::Contains;

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Keeps every ReLU input off its kink at 0, so no finite difference
// straddles it. Each BN output is weight * x_hat + bias; on these small
// batches |x_hat| stays below about 3. Every BN gets weight in [0.3, 0.36] and
// bias +-[1.1, 1.2] (minus on every third channel), so a ReLU's kink sits
// beyond 3 standard deviations: each channel is wholly on or wholly off (both
// cases are checked). The BN whose output meets the shortcut in the residual
// sum (`sum_bn`) gets bias +-[3, 3.5], so |main path| > 1.9 outweighs any
// shortcut (|x| <= 1; a projection's BN, bias in [-0.25, 0.25], stays
// below 1.4). The only rank-1 trainable params here are BN weights and biases.
void keep_relu_inputs_off_zero(Layer& layer, uint64_t seed, const std::string& sum_bn = "") {
  Rng rng(seed);
  for (ParamRef& ref : layer.named_params()) {
    Tensor& value = ref.param->value;
    if (!ref.param->trainable || value.rank() != 1) continue;
    const bool on_shortcut = ref.name.find("shortcut") != std::string::npos;
    const bool before_sum = !sum_bn.empty() && ref.name == sum_bn + ".bias";
    for (int64_t c = 0; c < value.numel(); ++c) {
      const float sign = c % 3 == 1 ? -1.0f : 1.0f;
      if (ends_with(ref.name, "weight")) value[c] = rng.uniform(0.3f, 0.36f);
      else if (on_shortcut) value[c] = rng.uniform(-0.25f, 0.25f);
      else if (before_sum) value[c] = sign * rng.uniform(3.0f, 3.5f);
      else value[c] = sign * rng.uniform(1.1f, 1.2f);
    }
  }
}

// Every trainable param is checked, so a param that backward forgets fails.
// Looser than the checker's defaults, on purpose: a block chains two or three
// batch norms over batches of 2, each dividing by a small spread, and the
// float32 rounding that reaches the loss through them is about 1e-3 of these
// gradients at the default step (worst error/bound 2 to 4.5 at steps of
// 1e-3..5e-3, falling as the step grows: rounding, not a wrong gradient).
// So: step 2e-2 (the Richardson estimate keeps the truncation error at
// h^4) and 0.5% relative; a gradient off by 1% still fails.
void require_gradients_match(Layer& layer, const Tensor& x) {
  GradCheckOptions options;
  options.epsilon = 2e-2;
  options.relative_tolerance = 5e-3;
  options.absolute_tolerance = 5e-4;
  // The checker visits up to max_coordinates_per_tensor of x and of each trainable param.
  auto visited = [&](int64_t numel) { return std::min<int64_t>(numel, options.max_coordinates_per_tensor); };
  int64_t expected = visited(x.numel());
  for (Param* param : layer.params())
    if (param->trainable) expected += visited(param->value.numel());
  const GradCheckResult result = check_gradients(layer, x, options);
  INFO(result.report);
  REQUIRE(result.passed);
  REQUIRE(result.coordinates_checked + result.kinks_skipped == expected);
}

std::vector<std::string> names_of(Layer& layer) {
  std::vector<std::string> names;
  for (const ParamRef& ref : layer.named_params()) names.push_back(ref.name);
  return names;
}

void zero_conv_weights(Layer& layer) {
  for (ParamRef& ref : layer.named_params())
    if (ref.param->value.rank() == 4) ref.param->value.zero();
}

// x[:, :, ::stride, ::stride] placed at channels [front, front + C_in) of
// out_channels, the rest zero: the padded subsample built the plain way.
Tensor padded_subsample_by_hand(const Tensor& x, int out_channels, int stride, int front) {
  const int64_t oh = (x.dim(2) + stride - 1) / stride, ow = (x.dim(3) + stride - 1) / stride;
  Tensor y(Shape{x.dim(0), out_channels, oh, ow});
  for (int64_t n = 0; n < x.dim(0); ++n)
    for (int64_t c = 0; c < x.dim(1); ++c)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) y.at(n, c + front, i, j) = x.at(n, c, i * stride, j * stride);
  return y;
}

Tensor relu_of(const Tensor& x) {
  Tensor y = x.clone();
  for (int64_t i = 0; i < y.numel(); ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
  return y;
}

}  // namespace

// ---------------------------------------------------------------- gradients

TEST_CASE("residual basic blocks pass the gradient check for every shortcut", "[blocks]") {
  Rng rng(11);
  SECTION("identity shortcut") {
    ResidualBasicBlock block(4, 4, 1, ShortcutKind::identity_or_projection, rng);
    REQUIRE(block.shortcut.path() == ResidualShortcut::Path::identity);
    keep_relu_inputs_off_zero(block, 1, "bn2");
    require_gradients_match(block, random_tensor(Shape{2, 4, 6, 6}, 21));
  }
  SECTION("stride 2 with a projection shortcut") {
    ResidualBasicBlock block(4, 8, 2, ShortcutKind::identity_or_projection, rng);
    REQUIRE(block.shortcut.path() == ResidualShortcut::Path::projection);
    keep_relu_inputs_off_zero(block, 2, "bn2");
    require_gradients_match(block, random_tensor(Shape{2, 4, 6, 6}, 22));
  }
  SECTION("stride 2 with a zero-pad shortcut") {
    ResidualBasicBlock block(4, 8, 2, ShortcutKind::identity_or_zero_pad, rng);
    REQUIRE(block.shortcut.path() == ResidualShortcut::Path::zero_pad);
    keep_relu_inputs_off_zero(block, 3, "bn2");
    require_gradients_match(block, random_tensor(Shape{2, 4, 6, 6}, 23));
  }
}

TEST_CASE("residual bottlenecks with groups pass the gradient check", "[blocks]") {
  Rng rng(12);
  SECTION("groups 2, stride 2, projection") {
    ResidualBottleneck block(4, 4, 8, 2, 2, ShortcutKind::identity_or_projection, rng);
    REQUIRE(block.shortcut.path() == ResidualShortcut::Path::projection);
    keep_relu_inputs_off_zero(block, 4, "bn3");
    require_gradients_match(block, random_tensor(Shape{2, 4, 6, 6}, 24));
  }
  SECTION("groups 2, identity") {
    ResidualBottleneck block(8, 4, 8, 1, 2, ShortcutKind::identity_or_projection, rng);
    REQUIRE(block.shortcut.path() == ResidualShortcut::Path::identity);
    keep_relu_inputs_off_zero(block, 5, "bn3");
    require_gradients_match(block, random_tensor(Shape{2, 8, 6, 6}, 25));
  }
}

TEST_CASE("dense layers, a dense block and a transition pass the gradient check", "[blocks]") {
  Rng rng(13);
  SECTION("dense layer with a bottleneck (BC)") {
    DenseLayer layer(4, 3, 2, rng);
    keep_relu_inputs_off_zero(layer, 6);
    require_gradients_match(layer, random_tensor(Shape{2, 4, 6, 6}, 26));
  }
  SECTION("plain dense layer") {
    DenseLayer layer(4, 3, 0, rng);
    keep_relu_inputs_off_zero(layer, 7);
    require_gradients_match(layer, random_tensor(Shape{2, 4, 6, 6}, 27));
  }
  SECTION("dense block of 2 BC layers") {
    DenseBlock block(4, 2, 3, 2, rng);
    keep_relu_inputs_off_zero(block, 8);
    require_gradients_match(block, random_tensor(Shape{2, 4, 6, 6}, 28));
  }
  SECTION("transition") {
    Transition transition(6, 3, rng);
    keep_relu_inputs_off_zero(transition, 9);
    require_gradients_match(transition, random_tensor(Shape{2, 6, 6, 6}, 29));
  }
}

// ---------------------------------------------------------------- values

TEST_CASE("block output shapes", "[blocks]") {
  Rng rng(14);
  const auto both = {ShortcutKind::identity_or_projection, ShortcutKind::identity_or_zero_pad};
  for (ShortcutKind kind : both) {
    ResidualBasicBlock same(8, 8, 1, kind, rng), down(8, 16, 2, kind, rng);
    REQUIRE(same.out_shape(Shape{3, 8, 7, 5}) == Shape{3, 8, 7, 5});
    REQUIRE(down.out_shape(Shape{3, 8, 7, 5}) == Shape{3, 16, 4, 3});  // ceil(7/2), ceil(5/2)
    ResidualBottleneck bottleneck(8, 16, 32, 2, 4, kind, rng);
    REQUIRE(bottleneck.out_shape(Shape{2, 8, 8, 8}) == Shape{2, 32, 4, 4});
    // forward agrees with out_shape, in both modes
    const Tensor x = random_tensor(Shape{2, 8, 7, 5}, 30);
    REQUIRE(down.forward(x, Mode::train).shape() == Shape{2, 16, 4, 3});
    REQUIRE(down.forward(x, Mode::eval).shape() == Shape{2, 16, 4, 3});
  }
  DenseLayer bc(16, 12, 4, rng), plain(16, 12, 0, rng);
  REQUIRE(bc.out_shape(Shape{2, 16, 8, 8}) == Shape{2, 28, 8, 8});
  REQUIRE(plain.out_shape(Shape{2, 16, 8, 8}) == Shape{2, 28, 8, 8});
  DenseBlock block(16, 3, 12, 4, rng);
  REQUIRE(block.out_channels() == 16 + 3 * 12);
  REQUIRE(block.out_shape(Shape{2, 16, 8, 8}) == Shape{2, 52, 8, 8});
  REQUIRE(block.forward(random_tensor(Shape{2, 16, 5, 5}, 31), Mode::train).shape() == Shape{2, 52, 5, 5});
  Transition transition(52, transition_channels(52, 0.5f), rng);
  REQUIRE(transition.out_shape(Shape{2, 52, 8, 8}) == Shape{2, 26, 4, 4});
  REQUIRE(transition.out_shape(Shape{2, 52, 7, 7}) == Shape{2, 26, 3, 3});  // floor, as torchvision
}

TEST_CASE("an identity block with zero conv weights and eval-mode BN is relu(x)", "[blocks]") {
  // Eval BN with fresh running stats maps 0 to exactly 0, so only the shortcut is left.
  Rng rng(15);
  const Tensor x = random_tensor(Shape{2, 8, 5, 5}, 32);
  ResidualBasicBlock basic(8, 8, 1, ShortcutKind::identity_or_projection, rng);
  zero_conv_weights(basic);
  REQUIRE(max_abs_difference(basic.forward(x, Mode::eval), relu_of(x)) == 0.0f);
  ResidualBottleneck bottleneck(8, 4, 8, 1, 2, ShortcutKind::identity_or_zero_pad, rng);
  zero_conv_weights(bottleneck);
  REQUIRE(max_abs_difference(bottleneck.forward(x, Mode::eval), relu_of(x)) == 0.0f);
}

TEST_CASE("the zero-pad shortcut is the padded subsample, (out - in) / 2 zero channels in front", "[blocks]") {
  Rng rng(16);
  SECTION("doubling with stride 2 on an odd size, alone and inside a block") {
    const Tensor x = random_tensor(Shape{2, 4, 7, 7}, 33);
    const Tensor expected = padded_subsample_by_hand(x, 8, 2, /*front=*/2);  // planes//4 = 2 each side
    REQUIRE(expected.shape() == Shape{2, 8, 4, 4});
    REQUIRE(max_abs_difference(zero_pad_shortcut_forward(x, 8, 2), expected) == 0.0f);
    ResidualBasicBlock block(4, 8, 2, ShortcutKind::identity_or_zero_pad, rng);
    zero_conv_weights(block);
    REQUIRE(max_abs_difference(block.forward(x, Mode::eval), relu_of(expected)) == 0.0f);
  }
  SECTION("an odd channel difference puts the extra zero channel last") {
    const Tensor x = random_tensor(Shape{1, 3, 4, 4}, 34);
    REQUIRE(max_abs_difference(zero_pad_shortcut_forward(x, 6, 1), padded_subsample_by_hand(x, 6, 1, 1)) == 0.0f);
  }
  SECTION("backward is the adjoint of forward") {
    const Tensor x = random_tensor(Shape{2, 4, 7, 6}, 35);
    const Tensor r = random_tensor(Shape{2, 8, 3, 2}, 36);
    const Tensor y = zero_pad_shortcut_forward(x, 8, 3);
    REQUIRE(y.shape() == r.shape());
    const Tensor dx = zero_pad_shortcut_backward(r, x.shape(), 3);
    double left = 0.0, right = 0.0;
    for (int64_t i = 0; i < y.numel(); ++i) left += static_cast<double>(y[i]) * r[i];
    for (int64_t i = 0; i < x.numel(); ++i) right += static_cast<double>(x[i]) * dx[i];
    REQUIRE(left == Approx(right).epsilon(1e-6));
  }
}

TEST_CASE("a dense layer's output starts with its input, unchanged", "[blocks]") {
  Rng rng(17);
  const Tensor x = random_tensor(Shape{3, 5, 4, 4}, 37);
  for (int factor : {0, 4}) {
    DenseLayer layer(5, 6, factor, rng);
    for (Mode mode : {Mode::train, Mode::eval}) {
      const Tensor y = layer.forward(x, mode);
      REQUIRE(y.shape() == Shape{3, 11, 4, 4});
      REQUIRE(max_abs_difference(slice_channels(y, 0, 5), x) == 0.0f);
    }
  }
}

TEST_CASE("channel concat and slice undo each other", "[blocks]") {
  const Tensor a = random_tensor(Shape{3, 2, 4, 5}, 38), b = random_tensor(Shape{3, 5, 4, 5}, 39);
  const Tensor joined = concat_channels(a, b);
  REQUIRE(joined.shape() == Shape{3, 7, 4, 5});
  REQUIRE(joined.at(2, 1, 3, 4) == a.at(2, 1, 3, 4));
  REQUIRE(joined.at(2, 6, 0, 1) == b.at(2, 4, 0, 1));
  REQUIRE(max_abs_difference(slice_channels(joined, 0, 2), a) == 0.0f);
  REQUIRE(max_abs_difference(slice_channels(joined, 2, 7), b) == 0.0f);
  const Tensor features = concat_channels(random_tensor(Shape{4, 3}, 40), random_tensor(Shape{4, 1}, 41));
  REQUIRE(features.shape() == Shape{4, 4});
  REQUIRE_THROWS_WITH(concat_channels(a, random_tensor(Shape{3, 5, 4, 4}, 42)), Contains("concat_channels"));
  REQUIRE_THROWS_WITH(slice_channels(a, 1, 3), Contains("slice_channels"));
}

TEST_CASE("block MACs sum their sub-layers, shortcut included", "[blocks]") {
  // The cost model counts conv and linear layers only (BN, pooling and ReLU
  // count 0, see batchnorm.h), so a block's MACs are its convs' MACs.
  Rng rng(18);
  const Shape image{1, 16, 32, 32};
  ResidualBasicBlock basic(16, 16, 1, ShortcutKind::identity_or_projection, rng);
  REQUIRE(basic.macs(image) == 2LL * 16 * 16 * 9 * 1024);  // two 3×3 convs 16->16 on 32×32
  REQUIRE(basic.macs(Shape{3, 16, 32, 32}) == 3 * basic.macs(image));  // batch included
  // Stride 2 to 16×16; a projection adds its 1×1 conv, a zero pad nothing.
  const int64_t down_main = 32LL * 16 * 9 * 256 + 32LL * 32 * 9 * 256, projection = 32LL * 16 * 256;
  ResidualBasicBlock down(16, 32, 2, ShortcutKind::identity_or_projection, rng);
  REQUIRE(down.macs(image) == down_main + projection);
  ResidualBasicBlock padded(16, 32, 2, ShortcutKind::identity_or_zero_pad, rng);
  REQUIRE(padded.macs(image) == down_main);
  // Bottleneck 16->(8 g2)->32 s2: 1×1 on 32×32, grouped 3×3 to 16×16, 1×1, projection.
  ResidualBottleneck bottleneck(16, 8, 32, 2, 2, ShortcutKind::identity_or_projection, rng);
  REQUIRE(bottleneck.macs(image) == 8LL * 16 * 1024 + 8LL * 4 * 9 * 256 + 32LL * 8 * 256 + projection);
  // Dense block 16 + 2×12 (BC 4) on 8×8: each layer a 1×1 to 48 and a 3×3 to 12.
  DenseBlock dense(16, 2, 12, 4, rng);
  const int64_t layer1 = 48LL * 16 * 64 + 12LL * 48 * 9 * 64, layer2 = 48LL * 28 * 64 + 12LL * 48 * 9 * 64;
  REQUIRE(dense.macs(Shape{1, 16, 8, 8}) == layer1 + layer2);
  REQUIRE(DenseLayer(16, 12, 0, rng).macs(Shape{1, 16, 8, 8}) == 12LL * 16 * 9 * 64);
  Transition transition(40, 20, rng);
  REQUIRE(transition.macs(Shape{1, 40, 8, 8}) == 20LL * 40 * 64);
}

TEST_CASE("block params carry PyTorch's state_dict names", "[blocks]") {
  Rng rng(19);
  const std::vector<std::string> bn = {"weight", "bias", "running_mean", "running_var"};
  auto with_bn = [&](std::vector<std::string> names, const std::string& prefix) {
    for (const std::string& n : bn) names.push_back(prefix + "." + n);
    return names;
  };
  SECTION("basic block with projection") {
    ResidualBasicBlock block(4, 8, 2, ShortcutKind::identity_or_projection, rng);
    std::vector<std::string> expected = {"layer1.0.conv1.weight"};
    expected = with_bn(expected, "layer1.0.bn1");
    expected.push_back("layer1.0.conv2.weight");
    expected = with_bn(expected, "layer1.0.bn2");
    expected.push_back("layer1.0.shortcut.0.weight");
    expected = with_bn(expected, "layer1.0.shortcut.1");
    std::vector<std::string> names;
    for (const ParamRef& ref : block.named_params("layer1.0")) names.push_back(ref.name);
    REQUIRE(names == expected);
  }
  SECTION("basic block with identity or zero pad has no shortcut params") {
    ResidualBasicBlock identity(4, 4, 1, ShortcutKind::identity_or_projection, rng);
    ResidualBasicBlock padded(4, 8, 2, ShortcutKind::identity_or_zero_pad, rng);
    std::vector<std::string> expected = with_bn({"conv1.weight"}, "bn1");
    expected.push_back("conv2.weight");
    expected = with_bn(expected, "bn2");
    REQUIRE(names_of(identity) == expected);
    REQUIRE(names_of(padded) == expected);
  }
  SECTION("bottleneck with projection") {
    ResidualBottleneck block(4, 4, 8, 1, 2, ShortcutKind::identity_or_projection, rng);
    std::vector<std::string> expected;
    for (const std::string i : {"1", "2", "3"}) {
      expected.push_back("conv" + i + ".weight");
      expected = with_bn(expected, "bn" + i);
    }
    expected.push_back("shortcut.0.weight");
    expected = with_bn(expected, "shortcut.1");
    REQUIRE(names_of(block) == expected);
    REQUIRE(block.conv2.weight.value.shape() == Shape{4, 2, 3, 3});  // grouped
  }
  SECTION("dense block and transition, as torchvision's densenet") {
    DenseBlock block(4, 2, 3, 2, rng);
    std::vector<std::string> expected;
    for (const std::string layer : {"denselayer1", "denselayer2"}) {
      expected = with_bn(expected, layer + ".norm1");
      expected.push_back(layer + ".conv1.weight");
      expected = with_bn(expected, layer + ".norm2");
      expected.push_back(layer + ".conv2.weight");
    }
    REQUIRE(names_of(block) == expected);
    DenseLayer plain(4, 3, 0, rng);
    std::vector<std::string> plain_expected = with_bn({}, "norm1");
    plain_expected.push_back("conv1.weight");
    REQUIRE(names_of(plain) == plain_expected);
    REQUIRE(plain.conv1.weight.value.shape() == Shape{3, 4, 3, 3});
    Transition transition(6, 3, rng);
    std::vector<std::string> transition_expected = with_bn({}, "norm");
    transition_expected.push_back("conv.weight");
    REQUIRE(names_of(transition) == transition_expected);
  }
}

TEST_CASE("blocks describe themselves in one line", "[blocks]") {
  Rng rng(20);
  REQUIRE(ResidualBasicBlock(16, 32, 2, ShortcutKind::identity_or_projection, rng).describe() ==
          "basic-block 16->32 s2 proj");
  REQUIRE(ResidualBasicBlock(16, 32, 2, ShortcutKind::identity_or_zero_pad, rng).describe() ==
          "basic-block 16->32 s2 zero-pad");
  REQUIRE(ResidualBasicBlock(16, 16, 1, ShortcutKind::identity_or_zero_pad, rng).describe() ==
          "basic-block 16->16 s1 identity");
  REQUIRE(ResidualBottleneck(64, 32, 128, 2, 8, ShortcutKind::identity_or_projection, rng).describe() ==
          "bottleneck 64->(32 g8)->128 s2 proj");
  REQUIRE(DenseLayer(16, 12, 4, rng).describe() == "dense-layer 16+12 bc4");
  REQUIRE(DenseLayer(16, 12, 0, rng).describe() == "dense-layer 16+12");
  REQUIRE(DenseBlock(16, 2, 12, 4, rng).describe() == "dense-block 16->40 (2 layers, growth 12, bc4)");
  REQUIRE(Transition(40, 20, rng).describe() == "transition 40->20");
}

TEST_CASE("blocks reject bad arguments, inputs and backward calls with branchy::Error", "[blocks]") {
  Rng rng(21);
  REQUIRE_THROWS_WITH(ResidualBasicBlock(8, 4, 1, ShortcutKind::identity_or_zero_pad, rng),
                      Contains("zero-pad shortcut cannot shrink"));
  REQUIRE_THROWS_WITH(ResidualBasicBlock(0, 4, 1, ShortcutKind::identity_or_projection, rng),
                      Contains("basic-block"));
  REQUIRE_THROWS_WITH(ResidualBottleneck(8, 6, 8, 1, 4, ShortcutKind::identity_or_projection, rng),
                      Contains("not divisible by groups 4"));
  REQUIRE_THROWS_WITH(DenseLayer(8, 4, -1, rng), Contains("dense-layer"));
  REQUIRE_THROWS_WITH(DenseBlock(8, 0, 4, 4, rng), Contains("dense-block"));
  REQUIRE_THROWS_WITH(Transition(8, 0, rng), Contains("transition"));
  REQUIRE_THROWS_WITH(transition_channels(8, 1.5f), Contains("compression"));

  ResidualBasicBlock block(4, 8, 2, ShortcutKind::identity_or_projection, rng);
  REQUIRE_THROWS_WITH(block.forward(random_tensor(Shape{2, 5, 6, 6}, 43), Mode::train),
                      Contains("basic-block 4->8 s2 proj: expected input (N, 4, H, W), got (2, 5, 6, 6)"));
  REQUIRE_THROWS_WITH(block.backward(random_tensor(Shape{2, 8, 3, 3}, 44)), Contains("train-mode forward"));
  block.forward(random_tensor(Shape{2, 4, 6, 6}, 45), Mode::eval);
  REQUIRE_THROWS_WITH(block.backward(random_tensor(Shape{2, 8, 3, 3}, 44)), Contains("train-mode forward"));
  block.forward(random_tensor(Shape{2, 4, 6, 6}, 45), Mode::train);
  REQUIRE_THROWS_WITH(block.backward(random_tensor(Shape{2, 8, 6, 6}, 46)), Contains("expected (2, 8, 3, 3)"));

  DenseBlock dense(4, 2, 3, 2, rng);
  REQUIRE_THROWS_WITH(dense.forward(random_tensor(Shape{2, 4, 6}, 47), Mode::train), Contains("dense-block"));
  dense.forward(random_tensor(Shape{2, 4, 6, 6}, 48), Mode::train);
  REQUIRE_THROWS_WITH(dense.backward(random_tensor(Shape{2, 9, 6, 6}, 49)), Contains("expected (2, 10, 6, 6)"));
  Transition transition(4, 2, rng);
  REQUIRE_THROWS_WITH(transition.backward(random_tensor(Shape{2, 2, 3, 3}, 50)), Contains("transition 4->2"));
}
