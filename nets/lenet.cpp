// LeNet and BranchyNet's B-LeNet (kunglab/branchynet networks/lenet_mnist.py).
//
// On 1×28×28 (max-pooling 2×2 stride 2 in ceil mode, as Chainer's cover_all):
//   stage 0   conv 1→5 k5 p3                              → 5×30×30    112,500 MACs
//   branch 0  pool → ReLU → conv 5→10 k3 p1 → pool → ReLU → FC 640→10  107,650 MACs
//   stage 1   pool → ReLU → conv 5→10 k5 p3 (17×17) → pool → ReLU →
//             conv 10→20 k5 p3 (11×11) → pool (6×6) → ReLU → FC 720→84 → FC 84→10
//                                                                      1,027,570 MACs
// Settings: conv1, conv2, conv3 (trunk widths 5, 10, 20), fc (84),
// branch_conv (10).
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/maxpool.h"
#include "layers/relu.h"
#include "nets/registry.h"

namespace branchy {

namespace {

struct LeNetWidths {
  int conv1, conv2, conv3, fc, branch_conv;
};

LeNetWidths read_widths(NetConfig& config, bool with_branch) {
  LeNetWidths w;
  w.conv1 = config.integer("conv1", 5);
  w.conv2 = config.integer("conv2", 10);
  w.conv3 = config.integer("conv3", 20);
  w.fc = config.integer("fc", 84);
  w.branch_conv = with_branch ? config.integer("branch_conv", 10) : 0;
  return w;
}

void add_pool_relu(Sequential& s, const std::string& suffix) {
  s.emplace<MaxPool2d>("pool" + suffix, 2, 2, 0, true);
  s.emplace<ReLU>("relu" + suffix);
}

// Everything after conv1: the rest of the trunk, ending in the classifier.
void add_trunk_tail(Sequential& s, const Shape& in, const LeNetWidths& w, int classes, Rng& rng) {
  add_pool_relu(s, "1");
  s.emplace<Conv2d>("conv2", w.conv1, w.conv2, 5, Conv2dOptions{1, 3, 1, true}, rng);
  add_pool_relu(s, "2");
  s.emplace<Conv2d>("conv3", w.conv2, w.conv3, 5, Conv2dOptions{1, 3, 1, true}, rng);
  add_pool_relu(s, "3");
  s.emplace<Flatten>("flatten");
  const int features = checked_int(s.out_shape(in).sample_numel(), "classifier input");
  s.emplace<Linear>("fc1", features, w.fc, rng);
  s.emplace<Linear>("fc2", w.fc, classes, rng);
}

}  // namespace

std::unique_ptr<BranchyNet> build_lenet(NetConfig& config, Rng& rng) {
  const Shape input = config.sample_shape();
  const int classes = config.classes();
  const LeNetWidths w = read_widths(config, false);
  auto net = std::make_unique<BranchyNet>("lenet", input, classes);
  Sequential& trunk = net->add_stage();
  trunk.emplace<Conv2d>("conv1", static_cast<int>(input[1]), w.conv1, 5, Conv2dOptions{1, 3, 1, true}, rng);
  add_trunk_tail(trunk, input, w, classes, rng);
  return net;
}

std::unique_ptr<BranchyNet> build_b_lenet(NetConfig& config, Rng& rng) {
  const Shape input = config.sample_shape();
  const int classes = config.classes();
  const LeNetWidths w = read_widths(config, true);
  auto net = std::make_unique<BranchyNet>("b-lenet", input, classes);
  Sequential& stage0 = net->add_stage();
  stage0.emplace<Conv2d>("conv1", static_cast<int>(input[1]), w.conv1, 5, Conv2dOptions{1, 3, 1, true}, rng);
  const Shape h0 = stage0.out_shape(input);

  Sequential& branch0 = net->add_branch();
  add_pool_relu(branch0, "1");
  branch0.emplace<Conv2d>("conv", w.conv1, w.branch_conv, 3, Conv2dOptions{1, 1, 1, true}, rng);
  add_pool_relu(branch0, "2");
  branch0.emplace<Flatten>("flatten");
  branch0.emplace<Linear>("fc", checked_int(branch0.out_shape(h0).sample_numel(), "classifier input"), classes, rng);

  Sequential& stage1 = net->add_stage();
  add_trunk_tail(stage1, h0, w, classes, rng);
  return net;
}

}  // namespace branchy
