// The four larger branchy networks (b-alexnet, b-resnet, b-resnext,
// b-densenet): they build on MNIST- and CIFAR-shaped input, every exit gives
// (N, classes), a few Adam steps on one batch lower the joint loss, every
// segment gets a gradient, and the full-size settings of the papers give the
// papers' parameter counts. MACs count conv and linear layers (see
// docs/NETWORKS.md); the expectations allow the small extra of layers that
// count their element-wise work.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "engine/error.h"
#include "engine/loss.h"
#include "engine/optimizer.h"
#include "nets/registry.h"
#include "tests/gradcheck.h"

using namespace branchy;
using branchy::testing::random_tensor;

namespace {

const char* const kNetworks[] = {"b-alexnet", "b-resnet", "b-resnext", "b-densenet"};

// Settings small enough that a training step takes milliseconds. Dropout is
// off so the train-mode loss is a function of the weights alone (AlexNet, with
// no batch norm, is also the slowest of the four to fit a batch).
Json tiny_settings(const std::string& network) {
  if (network == "b-alexnet")
    return parse_config_overrides(
        "conv1=16,conv2=16,conv3=16,conv4=16,conv5=16,fc1=32,fc2=32,branch0_conv=16,branch1_conv=16,dropout=0");
  if (network == "b-resnet") return parse_config_overrides("depth=8,base_channels=4,branch0_width=4,branch1_width=4");
  if (network == "b-resnext")
    return parse_config_overrides(
        "depth=11,cardinality=2,base_width=2,stem_channels=8,stage1_channels=8,stage2_channels=16,"
        "stage3_channels=16,branch0_width=4,branch1_width=8");
  return parse_config_overrides("depth=10,growth=4,branch0_width=4,branch1_width=4");
}

// The parameters of one segment (a stage or a branch), with their gradients.
bool has_nonzero_gradient(Sequential& segment) {
  for (const ParamRef& ref : segment.named_params()) {
    if (!ref.param->trainable) continue;
    const Tensor& g = ref.param->grad;
    for (int64_t i = 0; i < g.numel(); ++i)
      if (g[i] != 0.0f) return true;
  }
  return false;
}

int64_t trunk_parameter_count(BranchyNet& net) {
  int64_t total = 0;
  for (int i = 0; i < net.num_stages(); ++i)
    for (const ParamRef& ref : net.stage(i).named_params())
      if (ref.param->trainable) total += ref.param->value.numel();
  return total;
}

// Random images (N, C, H, W) in which the rows of band labels[n] of
// `classes` horizontal bands are brighter: something a network can learn
// from, as from real data, while the noise keeps every image distinct.
Tensor labelled_images(const Shape& shape, const std::vector<int>& labels, int classes) {
  Tensor x = random_tensor(shape, 4);
  const int64_t N = shape[0], C = shape[1], H = shape[2], W = shape[3];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          float& v = x[((n * C + c) * H + h) * W + w];
          v = 0.5f * v + (h * classes / H == labels[n] ? 1.0f : 0.0f);
        }
  return x;
}

// Sum over exits of the mean cross-entropy; back-propagates it when `learn`.
float joint_loss(BranchyNet& net, const Tensor& x, const std::vector<int>& labels, bool learn) {
  const std::vector<Tensor> logits = net.forward_exits(x, learn ? Mode::train : Mode::eval);
  std::vector<Tensor> d_logits(logits.size());
  float total = 0.0f;
  for (size_t e = 0; e < logits.size(); ++e)
    total += softmax_cross_entropy(logits[e], labels, learn ? &d_logits[e] : nullptr);
  if (learn) {
    net.zero_grad();
    net.backward_exits(d_logits);
  }
  return total;
}

}  // namespace

TEST_CASE("every network builds on 1x28x28 and 3x32x32 and gives (N, classes) at each exit", "[networks]") {
  const Shape inputs[] = {Shape{1, 1, 28, 28}, Shape{1, 3, 32, 32}};
  for (const char* name : kNetworks) {
    for (const Shape& input : inputs) {
      const int classes = input[1] == 1 ? 10 : 7;
      INFO(name << " on " << input.str());
      // The defaults, as `branchy train --net <name>` builds them.
      auto net = build_network(name, Json::object(), input, classes, 1);
      REQUIRE(net->num_exits() == 3);
      REQUIRE(net->stage_output_shape(2) == (Shape{1, classes}));
      const Tensor x = random_tensor(Shape{2, input[1], input[2], input[3]}, 2);
      const std::vector<Tensor> logits = net->forward_exits(x, Mode::eval);
      REQUIRE(logits.size() == 3);
      for (const Tensor& exit_logits : logits) {
        REQUIRE(exit_logits.shape() == (Shape{2, classes}));
        for (int64_t i = 0; i < exit_logits.numel(); ++i) REQUIRE(std::isfinite(exit_logits[i]));
      }
      // Each segment does work, and the stored config rebuilds the same network.
      for (int i = 0; i < 3; ++i) REQUIRE(net->stage_macs(i) > 0);
      for (int i = 0; i < 2; ++i) REQUIRE(net->branch_macs(i) > 0);
      auto again = rebuild_network(name, net->config(), 1);
      REQUIRE(max_abs_difference(again->forward_final(x, Mode::eval), logits[2]) == 0.0f);
    }
  }
}

TEST_CASE("Adam steps on one batch of 8 labelled images lower every network's joint loss; every segment "
          "gets a gradient",
          "[networks]") {
  const Shape inputs[] = {Shape{1, 1, 28, 28}, Shape{1, 3, 32, 32}};
  for (const char* name : kNetworks) {
    for (const Shape& input : inputs) {
      const int classes = input[1] == 1 ? 10 : 5;
      INFO(name << " on " << input.str());
      auto net = build_network(name, tiny_settings(name), input, classes, 3);
      std::vector<int> labels(8);
      for (int n = 0; n < 8; ++n) labels[n] = n % classes;
      const Tensor x = labelled_images(Shape{8, input[1], input[2], input[3]}, labels, classes);

      const float before = joint_loss(*net, x, labels, true);
      for (int i = 0; i < net->num_stages(); ++i) {
        INFO("stage " << i);
        REQUIRE(has_nonzero_gradient(net->stage(i)));
      }
      for (int i = 0; i + 1 < net->num_stages(); ++i) {
        INFO("branch " << i);
        REQUIRE(has_nonzero_gradient(net->branch(i)));
      }
      AdamOptions options;
      options.learning_rate = 5e-3f;
      Adam adam(net->named_params(), options);
      adam.step();
      float after = before;
      std::string losses;
      for (int step = 1; step < 15; ++step) {
        after = joint_loss(*net, x, labels, true);
        losses += " " + std::to_string(after);
        adam.step();
      }
      INFO("joint loss " << before << " ->" << losses);
      REQUIRE(std::isfinite(after));
      REQUIRE(after < 0.75f * before);
    }
  }
}

TEST_CASE("the full-size settings give the papers' networks", "[networks]") {
  const Shape cifar{1, 3, 32, 32};
  SECTION("ResNet-110: 1.7M parameters, about 253M MACs") {
    auto net = build_network("b-resnet", parse_config_overrides("depth=110"), cifar, 10, 1);
    REQUIRE(trunk_parameter_count(*net) == Approx(1.73e6).epsilon(0.01));
    // conv + linear: 252.9M; BN's per-element work would add 1.1M.
    REQUIRE(net->full_macs() >= 252'000'000);
    REQUIRE(net->full_macs() <= 255'000'000);
    REQUIRE(net->stage(1).size() == 18);  // 18 blocks in stage 1; the rest in stage 2 with the head
    REQUIRE(net->stage(2).size() == 36 + 2);
  }
  SECTION("ResNeXt-29 8x64d: 34.4M parameters") {
    auto net = build_network("b-resnext",
                             parse_config_overrides("depth=29,cardinality=8,base_width=64,stem_channels=64,"
                                                    "stage1_channels=256,stage2_channels=512,stage3_channels=1024"),
                             cifar, 10, 1);
    REQUIRE(trunk_parameter_count(*net) == Approx(34.4e6).epsilon(0.01));
    REQUIRE(net->full_macs() == Approx(5.39e9).epsilon(0.01));  // conv + linear: 5.387G
  }
  SECTION("DenseNet-BC 100/12: 0.8M parameters") {
    auto net = build_network("b-densenet", parse_config_overrides("depth=100,growth=12"), cifar, 10, 1);
    REQUIRE(trunk_parameter_count(*net) == Approx(0.769e6).epsilon(0.01));
    REQUIRE(net->full_macs() == Approx(290e6).epsilon(0.02));  // conv + linear: 287.9M
  }
}

TEST_CASE("b-resnet's first branch costs more of the trunk as its width grows", "[networks]") {
  const Shape cifar{1, 3, 32, 32};
  auto ratio = [&](int branch0_width) {
    const Json settings = {{"branch0_width", branch0_width}};
    auto net = build_network("b-resnet", settings, cifar, 10, 1);
    return static_cast<double>(net->branch_macs(0)) / static_cast<double>(net->full_macs());
  };
  const double narrow = ratio(4), medium = ratio(8), wide = ratio(32);
  INFO("branch 0 / trunk MACs: " << narrow << ", " << medium << ", " << wide);
  REQUIRE(narrow < medium);
  REQUIRE(medium < wide);
  REQUIRE(wide > 4 * medium);  // conv1 grows with the width, conv2/conv3 with its square
  // BranchyNet's ResNet-110 branch (width 64) costs about a fifth of the trunk.
  Json settings = parse_config_overrides("depth=110,branch0_width=64");
  auto net = build_network("b-resnet", settings, cifar, 10, 1);
  const double branchy_ratio = static_cast<double>(net->branch_macs(0)) / static_cast<double>(net->full_macs());
  REQUIRE(branchy_ratio > 0.18);
  REQUIRE(branchy_ratio < 0.25);
}

TEST_CASE("bad network settings are errors naming the setting", "[networks]") {
  const Shape mnist{1, 1, 28, 28};
  REQUIRE_THROWS_WITH(build_network("b-resnet", parse_config_overrides("widht=4"), mnist, 10, 1),
                      Catch::Contains("b-resnet") && Catch::Contains("widht"));
  REQUIRE_THROWS_WITH(build_network("b-resnet", parse_config_overrides("depth=12"), mnist, 10, 1),
                      Catch::Contains("'depth'") && Catch::Contains("6n+2"));
  REQUIRE_THROWS_WITH(build_network("b-resnext", parse_config_overrides("depth=12"), mnist, 10, 1),
                      Catch::Contains("'depth'") && Catch::Contains("9n+2"));
  REQUIRE_THROWS_WITH(build_network("b-densenet", parse_config_overrides("depth=12"), mnist, 10, 1),
                      Catch::Contains("'depth'") && Catch::Contains("6m+4"));
  REQUIRE_THROWS_WITH(build_network("b-alexnet", parse_config_overrides("dropout=1"), mnist, 10, 1),
                      Catch::Contains("'dropout'"));
}
