// B-ResNeXt: the CIFAR ResNeXt of Xie et al. 2017 (ResNeXt-29: depth 9n+2,
// bottleneck blocks with grouped 3×3 convolutions) with two side branches.
//
//   stage 0   stem: conv 3×3 p1 C→s (no bias) → BN → ReLU               → (s, H, W)
//   branch 0  conv1 3×3 p1 s→b0 → ReLU → maxpool 3/2 → conv2 3×3 p1 b0→b0
//             → ReLU → maxpool 3/2 → FC → classes
//   stage 1   n bottleneck blocks s→o1, bottleneck D1 = C·d              → (o1, H, W)
//   branch 1  one bottleneck block o1→(D1, C groups)→b1 → maxpool 3/2 → FC → classes
//   stage 2   n blocks o1→o2 (D2 = 2·C·d, first stride 2), n blocks o2→o3
//             (D3 = 4·C·d, first stride 2) → global average pool → FC o3→classes
// with s = stem_channels, o1..o3 = stage1..3_channels, C = cardinality,
// d = base_width, b0 = branch0_width, b1 = branch1_width. Every shortcut that
// changes shape is a projection (1×1 conv + BN), as in the paper's code.
// Max-pooling is in ceil mode.
//
// ResNeXt-29 8×64d is depth=29 cardinality=8 base_width=64 stem_channels=64
// stage1_channels=256 stage2_channels=512 stage3_channels=1024:
// 34,426,698 parameters (the paper's 34.4M), 5,387,266,048 trunk MACs on 3×32×32.
//
// MACs (conv + linear only, one sample, defaults depth 11, cardinality 4,
// base_width 4, stem 16, stages 32/64/128, branch0_width 16, branch1_width 32):
//                    3×32×32        1×28×28
//   stage 0          442,368        112,896
//   branch 0       2,959,360      2,265,760
//   stage 1        1,900,544      1,455,104
//   branch 1       1,720,320      1,317,120
//   stage 2        5,375,232      4,115,712
//   trunk          7,718,144      5,683,712
// (docs/NETWORKS.md has the tables with parameters.)
//
// Settings: depth (11; 9n+2, n >= 1), cardinality (4), base_width (4),
// stem_channels (16), stage1_channels (32), stage2_channels (64),
// stage3_channels (128), branch0_width (16), branch1_width (32).
#include "engine/error.h"
#include "layers/batchnorm.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/global_avgpool.h"
#include "layers/linear.h"
#include "layers/maxpool.h"
#include "layers/relu.h"
#include "layers/residual.h"
#include "nets/branch_parts.h"
#include "nets/registry.h"

namespace branchy {

namespace {

struct ResNeXtSettings {
  int blocks_per_stage;  // n of depth = 9n + 2
  int cardinality, base_width, stem_channels;
  int stage_channels[3];
  int branch0_width, branch1_width;
};

ResNeXtSettings read_settings(NetConfig& config) {
  ResNeXtSettings s;
  const int depth = config.integer("depth", 11);
  BRANCHY_CHECK(depth >= 11 && (depth - 2) % 9 == 0,
                "b-resnext: setting 'depth' must be 9n+2 with n >= 1 (11, 20, 29, ...), got ", depth);
  s.blocks_per_stage = (depth - 2) / 9;
  s.cardinality = config.integer("cardinality", 4);
  s.base_width = config.integer("base_width", 4);
  s.stem_channels = config.integer("stem_channels", 16);
  s.stage_channels[0] = config.integer("stage1_channels", 32);
  s.stage_channels[1] = config.integer("stage2_channels", 64);
  s.stage_channels[2] = config.integer("stage3_channels", 128);
  s.branch0_width = config.integer("branch0_width", 16);
  s.branch1_width = config.integer("branch1_width", 32);
  for (int width : {s.cardinality, s.base_width, s.stem_channels, s.stage_channels[0], s.stage_channels[1],
                    s.stage_channels[2], s.branch0_width, s.branch1_width})
    BRANCHY_CHECK(width > 0, "b-resnext: every width setting must be positive, got ", width);
  return s;
}

// Bottleneck channels of stage i (0-based): C·d, doubled at every downsampling.
int bottleneck_channels(const ResNeXtSettings& s, int stage) { return s.cardinality * s.base_width << stage; }

// `count` bottleneck blocks in->out named block<first>...; the first has `stride`.
int add_blocks(Sequential& s, int first, int count, int in, int bottleneck, int out, int stride, int groups,
               Rng& rng) {
  for (int b = 0; b < count; ++b)
    s.emplace<ResidualBottleneck>("block" + std::to_string(first + b), b == 0 ? in : out, bottleneck, out,
                                  b == 0 ? stride : 1, groups, ShortcutKind::identity_or_projection, rng);
  return first + count;
}

}  // namespace

std::unique_ptr<BranchyNet> build_b_resnext(NetConfig& config, Rng& rng) {
  const Shape input = config.sample_shape();
  const int classes = config.classes();
  const ResNeXtSettings w = read_settings(config);
  const int groups = w.cardinality;
  const int* out = w.stage_channels;
  auto net = std::make_unique<BranchyNet>("b-resnext", input, classes);

  Sequential& stage0 = net->add_stage();
  stage0.emplace<Conv2d>("conv", static_cast<int>(input[1]), w.stem_channels, 3, Conv2dOptions{1, 1, 1, false}, rng);
  stage0.emplace<BatchNorm2d>("bn", w.stem_channels);
  stage0.emplace<ReLU>("relu");
  const Shape h0 = stage0.out_shape(input);  // (1, s, H, W)

  Sequential& branch0 = net->add_branch();
  branch0.emplace<Conv2d>("conv1", w.stem_channels, w.branch0_width, 3, Conv2dOptions{1, 1, 1, true}, rng);
  branch0.emplace<ReLU>("relu1");
  branch0.emplace<MaxPool2d>("pool1", 3, 2, 0, true);
  branch0.emplace<Conv2d>("conv2", w.branch0_width, w.branch0_width, 3, Conv2dOptions{1, 1, 1, true}, rng);
  branch0.emplace<ReLU>("relu2");
  add_pooled_classifier(branch0, "pool2", h0, classes, rng);

  Sequential& stage1 = net->add_stage();
  int next_block = add_blocks(stage1, 1, w.blocks_per_stage, w.stem_channels, bottleneck_channels(w, 0), out[0], 1,
                              groups, rng);
  const Shape h1 = stage1.out_shape(h0);  // (1, o1, H, W)

  Sequential& branch1 = net->add_branch();
  branch1.emplace<ResidualBottleneck>("block", out[0], bottleneck_channels(w, 0), w.branch1_width, 1, groups,
                                      ShortcutKind::identity_or_projection, rng);
  add_pooled_classifier(branch1, "pool", h1, classes, rng);

  Sequential& stage2 = net->add_stage();
  next_block = add_blocks(stage2, next_block, w.blocks_per_stage, out[0], bottleneck_channels(w, 1), out[1], 2,
                          groups, rng);
  add_blocks(stage2, next_block, w.blocks_per_stage, out[1], bottleneck_channels(w, 2), out[2], 2, groups, rng);
  stage2.emplace<GlobalAvgPool2d>("pool");  // (1, o3)
  stage2.emplace<Linear>("fc", out[2], classes, rng);
  return net;
}

}  // namespace branchy
