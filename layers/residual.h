// residual.h — the residual blocks of ResNet and ResNeXt, each with its own
// backward (the two paths meet in a sum, which a plain Sequential cannot hold).
//
//   ResidualBasicBlock  (ResNet-18/34, CIFAR ResNet-20/32/56/110)
//     y = relu( bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x) )
//     conv1 3×3 stride s, conv2 3×3 stride 1, both padding 1 and no bias.
//   ResidualBottleneck  (ResNet-50, ResNeXt-29)
//     y = relu( bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x) )
//     conv1 1×1 in->b, conv2 3×3 b->b stride s groups g, conv3 1×1 b->out.
//     ResNeXt-29 (Xie et al. 2017): g = cardinality, b = cardinality * width.
//   Shapes: x (N, C_in, H, W) -> y (N, C_out, ceil(H/s), ceil(W/s)).
//
// The shortcut (ResidualShortcut, also usable alone):
//   identity   when C_in == C_out and s == 1, whatever the kind asked for;
//   otherwise, by ShortcutKind:
//   projection (identity_or_projection): conv 1×1 stride s, no bias, then BN.
//   zero pad   (identity_or_zero_pad, option A of He et al. 2016 for CIFAR):
//              take x[:, :, ::s, ::s] and add C_out - C_in zero channels,
//              (C_out - C_in) / 2 before the input's channels and the rest
//              after them. For doubling this is the common "LambdaLayer"
//              code's F.pad(..., (0,0,0,0, planes//4, planes//4)). No params.
//
// Param names (PyTorch state_dict names of the classic CIFAR ResNet code,
// akamaster/pytorch_resnet_cifar10; torchvision calls the shortcut
// "downsample"):
//   basic:      conv1.weight, bn1.{weight,bias,running_mean,running_var},
//               conv2.weight, bn2.{...},
//               and for a projection shortcut.0.weight, shortcut.1.{...}
//   bottleneck: conv1.weight, bn1.{...}, conv2.weight, bn2.{...},
//               conv3.weight, bn3.{...}, shortcut.0.weight, shortcut.1.{...}
//   (BN's num_batches_tracked is not kept; see batchnorm.h.)
//
// forward(x, mode) keeps what backward needs in Mode::train (inside the
// sub-layers); backward(dy) runs both paths backwards, adds their dx, and adds
// every sub-layer's parameter gradients. macs() is the sum of the sub-layers'
// macs, shortcut included; under the cost model (conv and linear layers only,
// docs/ALGORITHM.md) that is the convs' MACs. The residual sum counts nothing.
//
// Fails (branchy::Error naming the block): non-positive channels or stride, a
// zero-pad shortcut that would shrink channels, bottleneck channels not
// divisible by groups; forward on input of the wrong channel count or rank;
// backward without a train-mode forward, or with dy of another shape.
#pragma once

#include <memory>

#include "engine/rng.h"
#include "layers/batchnorm.h"
#include "layers/conv2d.h"
#include "layers/relu.h"

namespace branchy {

enum class ShortcutKind { identity_or_projection, identity_or_zero_pad };

// x[:, :, ::stride, ::stride] with zero channels added to reach out_channels
// ((out - in) / 2 before, the rest after): (N, C_in, H, W) -> (N, C_out, ceil(H/s), ceil(W/s)).
Tensor zero_pad_shortcut_forward(const Tensor& x, int out_channels, int stride);
// Its adjoint: dy (N, C_out, OH, OW) -> dx (N, C_in, H, W) of `in_shape`, zero off the sampled grid.
Tensor zero_pad_shortcut_backward(const Tensor& dy, const Shape& in_shape, int stride);

// The shortcut path of a residual block, see above.
class ResidualShortcut : public Layer {
 public:
  enum class Path { identity, projection, zero_pad };

  ResidualShortcut(int in_channels, int out_channels, int stride, ShortcutKind kind, Rng& rng);

  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  void collect_params(const std::string& prefix, std::vector<ParamRef>& out) override;  // "0.weight", "1.*"
  int64_t macs(const Shape& in) const override;
  std::string describe() const override;  // "identity", "proj", "zero-pad"
  void for_each_layer(const LayerVisitor& visit) override;

  Path path() const { return path_; }

  std::unique_ptr<Conv2d> conv;    // projection only: 1×1 stride s, no bias
  std::unique_ptr<BatchNorm2d> bn;  // projection only

 private:
  int in_channels_, out_channels_, stride_;
  Path path_;
  Shape in_shape_;  // of the last train-mode forward (zero-pad backward needs it)
  bool ready_for_backward_ = false;
};

class ResidualBasicBlock : public Layer {
 public:
  ResidualBasicBlock(int in_channels, int out_channels, int stride, ShortcutKind shortcut, Rng& rng);

  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  void collect_params(const std::string& prefix, std::vector<ParamRef>& out) override;
  int64_t macs(const Shape& in) const override;
  std::string describe() const override;  // "basic-block 16->32 s2 proj"
  void for_each_layer(const LayerVisitor& visit) override;

  Conv2d conv1;  // 3×3 stride s: C_in -> C_out
  BatchNorm2d bn1;
  ReLU relu1;
  Conv2d conv2;  // 3×3: C_out -> C_out
  BatchNorm2d bn2;
  ResidualShortcut shortcut;
  ReLU relu_out;  // after the sum

 private:
  int in_channels_, out_channels_, stride_;
  Shape out_shape_;  // of the last train-mode forward
  bool ready_for_backward_ = false;
};

class ResidualBottleneck : public Layer {
 public:
  ResidualBottleneck(int in_channels, int bottleneck_channels, int out_channels, int stride, int groups,
                     ShortcutKind shortcut, Rng& rng);

  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  void collect_params(const std::string& prefix, std::vector<ParamRef>& out) override;
  int64_t macs(const Shape& in) const override;
  std::string describe() const override;  // "bottleneck 64->(32 g8)->128 s2 proj"
  void for_each_layer(const LayerVisitor& visit) override;

  Conv2d conv1;  // 1×1: C_in -> b
  BatchNorm2d bn1;
  ReLU relu1;
  Conv2d conv2;  // 3×3 stride s, groups g: b -> b
  BatchNorm2d bn2;
  ReLU relu2;
  Conv2d conv3;  // 1×1: b -> C_out
  BatchNorm2d bn3;
  ResidualShortcut shortcut;
  ReLU relu_out;  // after the sum

 private:
  int in_channels_, bottleneck_channels_, out_channels_, stride_, groups_;
  Shape out_shape_;  // of the last train-mode forward
  bool ready_for_backward_ = false;
};

}  // namespace branchy
