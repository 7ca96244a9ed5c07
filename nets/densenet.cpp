// B-DenseNet: DenseNet-BC of Huang et al. 2017 (depth L, growth k, three
// dense blocks of (L-4)/6 bottleneck layers, compression 0.5) with two side
// branches, one after each of the first two transitions.
//
//   stage 0   conv 3×3 p1 C→2k (no bias) → dense block 1 → transition 1   → (c1, H/2, W/2)
//   branch 0  BN → ReLU → conv1 3×3 p1 c1→b0 → ReLU → maxpool 3/2
//             → conv2 3×3 p1 b0→b0 → ReLU → maxpool 3/2 → FC → classes
//   stage 1   dense block 2 → transition 2                              → (c2, H/4, W/4)
//   branch 1  BN → ReLU → conv1 3×3 p1 c2→b1 → ReLU → conv2 3×3 p1 b1→b1
//             → ReLU → maxpool 3/2 → FC → classes
//   stage 2   dense block 3 → BN → ReLU → global average pool → FC → classes
// with m = (L-4)/6 layers per block, c1 = floor(θ(2k + mk)),
// c2 = floor(θ(c1 + mk)), θ = compression, b0/b1 = branch0/1_width. The
// transitions end in 2×2 average pooling (floor), so 28→14→7 and 32→16→8.
// A branch starts with BN → ReLU because a transition ends in a raw conv +
// pool (DenseNet normalises at the start of each layer, not at the end).
//
// DenseNet-BC 100/12 (depth=100 growth=12): 769,162 parameters (the paper's
// 0.8M), 287,929,692 trunk MACs on 3×32×32.
//
// MACs (conv + linear only, one sample, defaults depth 22, growth 8):
//                    3×32×32        1×28×28
//   stage 0       10,698,752      7,965,440
//   branch 0         887,296        678,816
//   stage 1        2,705,408      2,071,328
//   branch 1         352,768        269,568
//   stage 2          627,148        480,268
//   trunk         14,031,308     10,517,036
// (docs/NETWORKS.md has the tables with parameters.)
//
// Settings: depth (22; 6m+4, m >= 1), growth (8), bottleneck (4: the 1×1
// conv gives bottleneck·k channels; 0 = plain DenseNet layers), compression
// (0.5), branch0_width (16), branch1_width (16).
#include "engine/error.h"
#include "layers/batchnorm.h"
#include "layers/conv2d.h"
#include "layers/dense.h"
#include "layers/flatten.h"
#include "layers/global_avgpool.h"
#include "layers/linear.h"
#include "layers/maxpool.h"
#include "layers/relu.h"
#include "nets/branch_parts.h"
#include "nets/registry.h"

namespace branchy {

namespace {

struct DenseNetSettings {
  int layers_per_block;  // m of depth = 6m + 4
  int growth, bottleneck;
  float compression;
  int branch0_width, branch1_width;
};

DenseNetSettings read_settings(NetConfig& config) {
  DenseNetSettings s;
  const int depth = config.integer("depth", 22);
  BRANCHY_CHECK(depth >= 10 && (depth - 4) % 6 == 0,
                "b-densenet: setting 'depth' must be 6m+4 with m >= 1 (10, 22, 40, 100, ...), got ", depth);
  s.layers_per_block = (depth - 4) / 6;
  s.growth = config.integer("growth", 8);
  s.bottleneck = config.integer("bottleneck", 4);
  s.compression = static_cast<float>(config.number("compression", 0.5));
  s.branch0_width = config.integer("branch0_width", 16);
  s.branch1_width = config.integer("branch1_width", 16);
  BRANCHY_CHECK(s.growth > 0, "b-densenet: setting 'growth' must be positive, got ", s.growth);
  BRANCHY_CHECK(s.bottleneck >= 0, "b-densenet: setting 'bottleneck' must be 0 or more, got ", s.bottleneck);
  BRANCHY_CHECK(s.compression > 0.0f && s.compression <= 1.0f,
                "b-densenet: setting 'compression' must be in (0, 1], got ", s.compression);
  BRANCHY_CHECK(s.branch0_width > 0 && s.branch1_width > 0,
                "b-densenet: settings 'branch0_width' and 'branch1_width' must be positive");
  return s;
}

// A dense block and its transition, appended to `s`; returns the channels after the transition.
int add_block_and_transition(Sequential& s, int index, int in, const DenseNetSettings& w, Rng& rng) {
  const std::string suffix = std::to_string(index);
  const DenseBlock& block = s.emplace<DenseBlock>("denseblock" + suffix, in, w.layers_per_block, w.growth,
                                                  w.bottleneck, rng);
  const int out = transition_channels(block.out_channels(), w.compression);
  s.emplace<Transition>("transition" + suffix, block.out_channels(), out, rng);
  return out;
}

Conv2d& add_conv(Sequential& s, const std::string& name, int in, int out, Rng& rng) {
  return s.emplace<Conv2d>(name, in, out, 3, Conv2dOptions{1, 1, 1, true}, rng);
}

void add_norm_relu(Sequential& s, int channels) {
  s.emplace<BatchNorm2d>("norm", channels);
  s.emplace<ReLU>("relu");
}

}  // namespace

std::unique_ptr<BranchyNet> build_b_densenet(NetConfig& config, Rng& rng) {
  const Shape input = config.sample_shape();
  const int classes = config.classes();
  const DenseNetSettings w = read_settings(config);
  auto net = std::make_unique<BranchyNet>("b-densenet", input, classes);

  Sequential& stage0 = net->add_stage();
  const int stem = 2 * w.growth;
  stage0.emplace<Conv2d>("conv0", static_cast<int>(input[1]), stem, 3, Conv2dOptions{1, 1, 1, false}, rng);
  const int c1 = add_block_and_transition(stage0, 1, stem, w, rng);
  const Shape h0 = stage0.out_shape(input);  // (1, c1, H/2, W/2)

  Sequential& branch0 = net->add_branch();
  add_norm_relu(branch0, c1);
  add_conv(branch0, "conv1", c1, w.branch0_width, rng);
  branch0.emplace<ReLU>("relu1");
  branch0.emplace<MaxPool2d>("pool1", 3, 2, 0, true);
  add_conv(branch0, "conv2", w.branch0_width, w.branch0_width, rng);
  branch0.emplace<ReLU>("relu2");
  add_pooled_classifier(branch0, "pool2", h0, classes, rng);

  Sequential& stage1 = net->add_stage();
  const int c2 = add_block_and_transition(stage1, 2, c1, w, rng);
  const Shape h1 = stage1.out_shape(h0);  // (1, c2, H/4, W/4)

  Sequential& branch1 = net->add_branch();
  add_norm_relu(branch1, c2);
  add_conv(branch1, "conv1", c2, w.branch1_width, rng);
  branch1.emplace<ReLU>("relu1");
  add_conv(branch1, "conv2", w.branch1_width, w.branch1_width, rng);
  branch1.emplace<ReLU>("relu2");
  add_pooled_classifier(branch1, "pool", h1, classes, rng);

  Sequential& stage2 = net->add_stage();
  const DenseBlock& block3 = stage2.emplace<DenseBlock>("denseblock3", c2, w.layers_per_block, w.growth,
                                                        w.bottleneck, rng);
  add_norm_relu(stage2, block3.out_channels());
  stage2.emplace<GlobalAvgPool2d>("pool");  // (1, c3)
  stage2.emplace<Linear>("fc", block3.out_channels(), classes, rng);
  return net;
}

}  // namespace branchy
