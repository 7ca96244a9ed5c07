// BranchyNet's B-AlexNet (kunglab/branchynet networks/alex_cifar10.py), with
// two side branches read from the trunk right after conv2 and conv3.
//
// Max-pooling is 3×3 stride 2 in ceil mode (Chainer's cover_all): 32→16→8→4,
// 28→14→7→3. LRN is Chainer's local_response_normalization(n=3, alpha=5e-5,
// beta=0.75, k=2); our LocalResponseNorm divides alpha by the size (PyTorch's
// formula), so it gets alpha = 3 * 5e-5.
//
//   stage 0   conv1 C→32 k5 p2 → ReLU → pool → LRN → conv2 32→64 k5 p2
//   branch 0  ReLU → pool → LRN → conv1 64→32 k3 p1 → ReLU → conv2 32→32 k3 p1
//             → ReLU → pool → FC (32·4·4 = 512 on 32×32) → classes
//   stage 1   ReLU → pool → LRN → conv3 64→96 k3 p1
//   branch 1  ReLU → pool → LRN → conv 96→32 k3 p1 → ReLU → pool → FC (128) → classes
//   stage 2   ReLU → conv4 96→96 k3 p1 → ReLU → conv5 96→64 k3 p1 → ReLU → pool
//             → FC 1024→256 → ReLU → dropout → FC 256→128 → ReLU → dropout → FC 128→classes
//
// MACs (conv + linear only, one sample, defaults):
//                    3×32×32        1×28×28
//   stage 0       15,564,800     10,662,400
//   branch 0       1,774,592      1,357,632
//   stage 1        3,538,944      2,709,504
//   branch 1         443,648        249,152
//   stage 2        9,143,552      6,955,264
//   trunk         28,247,296     20,327,168
// (docs/NETWORKS.md has the table with parameters.)
//
// Settings (defaults = BranchyNet's widths): conv1 32, conv2 64, conv3 96,
// conv4 96, conv5 64, fc1 256, fc2 128, branch0_conv 32, branch1_conv 32,
// dropout 0.5 (probability of dropping).
#include "engine/error.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/lrn.h"
#include "layers/maxpool.h"
#include "layers/relu.h"
#include "nets/branch_parts.h"
#include "nets/registry.h"

namespace branchy {

namespace {

struct AlexNetSettings {
  int conv1, conv2, conv3, conv4, conv5, fc1, fc2, branch0_conv, branch1_conv;
  float dropout;
};

AlexNetSettings read_settings(NetConfig& config) {
  AlexNetSettings s;
  s.conv1 = config.integer("conv1", 32);
  s.conv2 = config.integer("conv2", 64);
  s.conv3 = config.integer("conv3", 96);
  s.conv4 = config.integer("conv4", 96);
  s.conv5 = config.integer("conv5", 64);
  s.fc1 = config.integer("fc1", 256);
  s.fc2 = config.integer("fc2", 128);
  s.branch0_conv = config.integer("branch0_conv", 32);
  s.branch1_conv = config.integer("branch1_conv", 32);
  s.dropout = static_cast<float>(config.number("dropout", 0.5));
  for (int width : {s.conv1, s.conv2, s.conv3, s.conv4, s.conv5, s.fc1, s.fc2, s.branch0_conv, s.branch1_conv})
    BRANCHY_CHECK(width > 0, "b-alexnet: every width setting must be positive, got ", width);
  BRANCHY_CHECK(s.dropout >= 0.0f && s.dropout < 1.0f, "b-alexnet: setting 'dropout' must be in [0, 1), got ",
                s.dropout);
  return s;
}

// Chainer's max_pooling_2d(3, 2) (cover_all = ceil mode).
void add_pool(Sequential& s, const std::string& name) { s.emplace<MaxPool2d>(name, 3, 2, 0, true); }

// Chainer's local_response_normalization(n=3, alpha=5e-5, beta=0.75, k=2).
void add_lrn(Sequential& s, const std::string& name) {
  s.emplace<LocalResponseNorm>(name, 3, 3 * 5e-5f, 0.75f, 2.0f);
}

Conv2d& add_conv(Sequential& s, const std::string& name, int in, int out, int kernel, Rng& rng) {
  return s.emplace<Conv2d>(name, in, out, kernel, Conv2dOptions{1, kernel / 2, 1, true}, rng);
}

// BranchyNet's norm(): ReLU, pool, LRN, applied to a raw conv output.
void add_norm(Sequential& s, const std::string& suffix) {
  s.emplace<ReLU>("relu" + suffix);
  add_pool(s, "pool" + suffix);
  add_lrn(s, "lrn" + suffix);
}

}  // namespace

std::unique_ptr<BranchyNet> build_b_alexnet(NetConfig& config, Rng& rng) {
  const Shape input = config.sample_shape();
  const int classes = config.classes();
  const AlexNetSettings w = read_settings(config);
  auto net = std::make_unique<BranchyNet>("b-alexnet", input, classes);

  Sequential& stage0 = net->add_stage();
  add_conv(stage0, "conv1", static_cast<int>(input[1]), w.conv1, 5, rng);
  stage0.emplace<ReLU>("relu1");
  add_pool(stage0, "pool1");
  add_lrn(stage0, "lrn1");
  add_conv(stage0, "conv2", w.conv1, w.conv2, 5, rng);
  const Shape h0 = stage0.out_shape(input);  // (1, conv2, H/2, W/2)

  Sequential& branch0 = net->add_branch();
  add_norm(branch0, "1");
  add_conv(branch0, "conv1", w.conv2, w.branch0_conv, 3, rng);
  branch0.emplace<ReLU>("relu2");
  add_conv(branch0, "conv2", w.branch0_conv, w.branch0_conv, 3, rng);
  branch0.emplace<ReLU>("relu3");
  add_pool(branch0, "pool3");
  add_classifier(branch0, "fc", h0, classes, rng);

  Sequential& stage1 = net->add_stage();
  add_norm(stage1, "2");
  add_conv(stage1, "conv3", w.conv2, w.conv3, 3, rng);
  const Shape h1 = stage1.out_shape(h0);  // (1, conv3, H/4, W/4)

  Sequential& branch1 = net->add_branch();
  add_norm(branch1, "1");
  add_conv(branch1, "conv", w.conv3, w.branch1_conv, 3, rng);
  branch1.emplace<ReLU>("relu2");
  add_pool(branch1, "pool2");
  add_classifier(branch1, "fc", h1, classes, rng);

  Sequential& stage2 = net->add_stage();
  stage2.emplace<ReLU>("relu3");
  add_conv(stage2, "conv4", w.conv3, w.conv4, 3, rng);
  stage2.emplace<ReLU>("relu4");
  add_conv(stage2, "conv5", w.conv4, w.conv5, 3, rng);
  stage2.emplace<ReLU>("relu5");
  add_pool(stage2, "pool5");
  stage2.emplace<Flatten>("flatten");
  stage2.emplace<Linear>("fc1", checked_int(stage2.out_shape(h1).sample_numel(), "classifier input"), w.fc1, rng);
  stage2.emplace<ReLU>("relu6");
  stage2.emplace<Dropout>("dropout6", w.dropout, rng.next_u64());
  stage2.emplace<Linear>("fc2", w.fc1, w.fc2, rng);
  stage2.emplace<ReLU>("relu7");
  stage2.emplace<Dropout>("dropout7", w.dropout, rng.next_u64());
  stage2.emplace<Linear>("fc3", w.fc2, classes, rng);
  return net;
}

}  // namespace branchy
