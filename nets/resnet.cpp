// B-ResNet: the CIFAR ResNet of He et al. 2016 (depth 6n+2, basic blocks,
// option-A zero-pad shortcuts) with two side branches after BranchyNet's
// B-ResNet design (kunglab/branchynet networks/resnet_cifar10.py).
//
//   stage 0   stem: conv 3×3 p1 C→w (no bias) → BN → ReLU                  → (w, H, W)
//   branch 0  conv1 5×5 p2 w→b0 → ReLU → LRN → conv2 3×3 p1 b0→b0/2 → ReLU
//             → conv3 3×3 p1 b0/2→b0/2 → ReLU → maxpool 3/2 → FC → classes
//   stage 1   n basic blocks w→w                                          → (w, H, W)
//   branch 1  one basic block w→b1 → maxpool 3/2 → FC → classes
//   stage 2   n basic blocks w→2w (first stride 2), n blocks 2w→4w (first
//             stride 2) → global average pool → FC 4w→classes
// with w = base_channels (16), b0 = branch0_width, b1 = branch1_width
// (a projection shortcut in branch 1 when b1 != w). Max-pooling is in ceil
// mode; LRN is BranchyNet's (Chainer n=3, alpha=5e-5, k=2; ours divides alpha
// by the size, hence 1.5e-4).
//
// BranchyNet cuts its first branch one block later (after the stem and one
// block); here it reads the stem's output, so a branch costs what its own
// layers cost and the trunk before it is as short as it can be.
//
// MACs (conv + linear only, one sample, defaults depth 8, base_channels 16,
// branch0_width 8, branch1_width 16):
//                    3×32×32        1×28×28
//   stage 0          442,368        112,896
//   branch 0       3,729,408      2,855,328
//   stage 1        4,718,592      3,612,672
//   branch 1       4,759,552      3,644,032
//   stage 2        7,078,528      5,419,648
//   trunk         12,239,488      9,145,216
// depth 110 on 3×32×32: trunk 252,887,680 MACs, 1,727,962 parameters (the
// paper's 1.7M); with branch0_width 64 (BranchyNet's width) branch 0 costs
// 54,607,872 MACs, 21.6% of the trunk, as in BranchyNet's B-ResNet-110.
// (docs/NETWORKS.md has the tables with parameters.)
//
// Settings: depth (8; 6n+2, n >= 1), base_channels (16), branch0_width (8,
// even), branch1_width (16).
#include "engine/error.h"
#include "layers/batchnorm.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/global_avgpool.h"
#include "layers/linear.h"
#include "layers/lrn.h"
#include "layers/maxpool.h"
#include "layers/relu.h"
#include "layers/residual.h"
#include "nets/branch_parts.h"
#include "nets/registry.h"

namespace branchy {

namespace {

struct ResNetSettings {
  int blocks_per_stage;  // n of depth = 6n + 2
  int base_channels, branch0_width, branch1_width;
};

ResNetSettings read_settings(NetConfig& config) {
  ResNetSettings s;
  const int depth = config.integer("depth", 8);
  BRANCHY_CHECK(depth >= 8 && (depth - 2) % 6 == 0, "b-resnet: setting 'depth' must be 6n+2 with n >= 1 (8, 14, 20, ",
                "32, 56, 110, ...), got ", depth);
  s.blocks_per_stage = (depth - 2) / 6;
  s.base_channels = config.integer("base_channels", 16);
  s.branch0_width = config.integer("branch0_width", 8);
  s.branch1_width = config.integer("branch1_width", 16);
  BRANCHY_CHECK(s.base_channels > 0, "b-resnet: setting 'base_channels' must be positive, got ", s.base_channels);
  BRANCHY_CHECK(s.branch0_width >= 2 && s.branch0_width % 2 == 0,
                "b-resnet: setting 'branch0_width' must be even and at least 2, got ", s.branch0_width);
  BRANCHY_CHECK(s.branch1_width > 0, "b-resnet: setting 'branch1_width' must be positive, got ", s.branch1_width);
  return s;
}

// `count` basic blocks in->out named block<first>, block<first+1>, ...; the
// first one has `stride` (and a zero-pad shortcut when the shape changes).
int add_blocks(Sequential& s, int first, int count, int in, int out, int stride, Rng& rng) {
  for (int b = 0; b < count; ++b)
    s.emplace<ResidualBasicBlock>("block" + std::to_string(first + b), b == 0 ? in : out, out, b == 0 ? stride : 1,
                                  ShortcutKind::identity_or_zero_pad, rng);
  return first + count;
}

Conv2d& add_conv(Sequential& s, const std::string& name, int in, int out, int kernel, Rng& rng) {
  return s.emplace<Conv2d>(name, in, out, kernel, Conv2dOptions{1, kernel / 2, 1, true}, rng);
}

}  // namespace

std::unique_ptr<BranchyNet> build_b_resnet(NetConfig& config, Rng& rng) {
  const Shape input = config.sample_shape();
  const int classes = config.classes();
  const ResNetSettings w = read_settings(config);
  const int c1 = w.base_channels, c2 = 2 * c1, c3 = 4 * c1;
  auto net = std::make_unique<BranchyNet>("b-resnet", input, classes);

  Sequential& stage0 = net->add_stage();
  stage0.emplace<Conv2d>("conv", static_cast<int>(input[1]), c1, 3, Conv2dOptions{1, 1, 1, false}, rng);
  stage0.emplace<BatchNorm2d>("bn", c1);
  stage0.emplace<ReLU>("relu");
  const Shape h0 = stage0.out_shape(input);  // (1, c1, H, W)

  Sequential& branch0 = net->add_branch();
  const int half = w.branch0_width / 2;
  add_conv(branch0, "conv1", c1, w.branch0_width, 5, rng);
  branch0.emplace<ReLU>("relu1");
  branch0.emplace<LocalResponseNorm>("lrn", 3, 3 * 5e-5f, 0.75f, 2.0f);
  add_conv(branch0, "conv2", w.branch0_width, half, 3, rng);
  branch0.emplace<ReLU>("relu2");
  add_conv(branch0, "conv3", half, half, 3, rng);
  branch0.emplace<ReLU>("relu3");
  add_pooled_classifier(branch0, "pool", h0, classes, rng);

  Sequential& stage1 = net->add_stage();
  int next_block = add_blocks(stage1, 1, w.blocks_per_stage, c1, c1, 1, rng);
  const Shape h1 = stage1.out_shape(h0);  // (1, c1, H, W)

  Sequential& branch1 = net->add_branch();
  branch1.emplace<ResidualBasicBlock>("block", c1, w.branch1_width, 1, ShortcutKind::identity_or_projection, rng);
  add_pooled_classifier(branch1, "pool", h1, classes, rng);

  // Blocks keep counting across stages so every checkpoint name is unique
  // and says how deep in the trunk the block sits.
  Sequential& stage2 = net->add_stage();
  next_block = add_blocks(stage2, next_block, w.blocks_per_stage, c1, c2, 2, rng);
  add_blocks(stage2, next_block, w.blocks_per_stage, c2, c3, 2, rng);
  stage2.emplace<GlobalAvgPool2d>("pool");  // (1, c3)
  stage2.emplace<Linear>("fc", c3, classes, rng);
  return net;
}

}  // namespace branchy
