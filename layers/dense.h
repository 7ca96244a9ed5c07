// dense.h — the blocks of DenseNet (Huang et al. 2017), each with its own
// backward, and the channel concat/slice they are built on.
//
//   DenseLayer (in, growth k, bottleneck factor f)
//     f > 0 (DenseNet-B/BC):  new = conv2(relu(norm2(conv1(relu(norm1(x))))))
//                             conv1 1×1 in->f*k, conv2 3×3 padding 1 f*k->k
//     f = 0 (plain DenseNet): new = conv1(relu(norm1(x))), conv1 3×3 padding 1 in->k
//     y = concat(x, new) along channels: (N, in, H, W) -> (N, in + k, H, W).
//     No conv has a bias (a BN follows each, or the next layer's BN does).
//   DenseBlock (in, L layers, k, f): DenseLayers with inputs in, in+k, ...,
//     in+(L-1)k, applied in turn: (N, in, H, W) -> (N, in + L*k, H, W).
//   Transition (in, out): pool(conv(relu(norm(x)))), conv 1×1 no bias,
//     avgpool 2×2 stride 2 (floor): (N, in, H, W) -> (N, out, H/2, W/2).
//     DenseNet-BC compresses: out = transition_channels(in, theta) = floor(theta * in).
//
// Param names (torchvision's densenet.py state_dict names):
//   DenseLayer: norm1.{weight,bias,running_mean,running_var}, conv1.weight,
//               and for f > 0 norm2.{...}, conv2.weight
//   DenseBlock: denselayer1.<DenseLayer names>, denselayer2..., (1-based)
//   Transition: norm.{...}, conv.weight
//
// forward(x, mode) keeps what backward needs in Mode::train (inside the
// sub-layers); backward(dy) adds the gradient that reaches x through the
// concat's copy to the one that comes back through the new features. macs()
// sums the sub-layers' macs; under the cost model (conv and linear layers
// only, docs/ALGORITHM.md) that is the convs' MACs. Copies count nothing.
//
// Fails (branchy::Error naming the block): non-positive channels, growth or
// layer count, a negative bottleneck factor; forward on input that is not
// (N, in, H, W); backward without a train-mode forward, or with dy of another
// shape.
#pragma once

#include <memory>
#include <vector>

#include "engine/rng.h"
#include "layers/avgpool.h"
#include "layers/batchnorm.h"
#include "layers/conv2d.h"
#include "layers/relu.h"

namespace branchy {

// Joins along channels: (N, C1, ...) + (N, C2, ...) -> (N, C1 + C2, ...).
// Requires equal rank >= 2 and equal sizes except dimension 1 (throws Error).
Tensor concat_channels(const Tensor& first, const Tensor& second);
// Copies channels [begin, end): (N, C, ...) -> (N, end - begin, ...).
// Requires rank >= 2 and 0 <= begin < end <= C (throws Error).
Tensor slice_channels(const Tensor& x, int64_t begin, int64_t end);

// floor(compression * in_channels), at least 1; requires 0 < compression <= 1.
int transition_channels(int in_channels, float compression);

class DenseLayer : public Layer {
 public:
  DenseLayer(int in_channels, int growth_rate, int bottleneck_factor, Rng& rng);

  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  void collect_params(const std::string& prefix, std::vector<ParamRef>& out) override;
  int64_t macs(const Shape& in) const override;
  std::string describe() const override;  // "dense-layer 16+12 bc4", "dense-layer 16+12"
  void for_each_layer(const LayerVisitor& visit) override;

  int in_channels() const { return in_channels_; }
  int out_channels() const { return in_channels_ + growth_rate_; }
  bool has_bottleneck() const { return bottleneck_factor_ > 0; }

  BatchNorm2d norm1;  // (in)
  ReLU relu1;
  Conv2d conv1;                         // f > 0: 1×1 in->f*k; f = 0: 3×3 p1 in->k
  std::unique_ptr<BatchNorm2d> norm2;   // f > 0 only: (f*k)
  ReLU relu2;                           // f > 0 only
  std::unique_ptr<Conv2d> conv2;        // f > 0 only: 3×3 p1 f*k->k

 private:
  int in_channels_, growth_rate_, bottleneck_factor_;
  Shape out_shape_;  // of the last train-mode forward
  bool ready_for_backward_ = false;
};

class DenseBlock : public Layer {
 public:
  DenseBlock(int in_channels, int num_layers, int growth_rate, int bottleneck_factor, Rng& rng);

  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  void collect_params(const std::string& prefix, std::vector<ParamRef>& out) override;
  int64_t macs(const Shape& in) const override;
  std::string describe() const override;  // "dense-block 16->40 (2 layers, growth 12, bc4)"
  void for_each_layer(const LayerVisitor& visit) override;

  int in_channels() const { return in_channels_; }
  int out_channels() const { return in_channels_ + num_layers_ * growth_rate_; }

  std::vector<std::unique_ptr<DenseLayer>> layers;  // denselayer1 .. denselayerL

 private:
  int in_channels_, num_layers_, growth_rate_, bottleneck_factor_;
  Shape out_shape_;  // of the last train-mode forward
  bool ready_for_backward_ = false;
};

class Transition : public Layer {
 public:
  Transition(int in_channels, int out_channels, Rng& rng);

  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  void collect_params(const std::string& prefix, std::vector<ParamRef>& out) override;
  int64_t macs(const Shape& in) const override;
  std::string describe() const override;  // "transition 40->20"
  void for_each_layer(const LayerVisitor& visit) override;

  BatchNorm2d norm;  // (in)
  ReLU relu;
  Conv2d conv;  // 1×1 in->out, no bias
  AvgPool2d pool;  // 2×2 stride 2

 private:
  int in_channels_, out_channels_;
  Shape out_shape_;  // of the last train-mode forward
  bool ready_for_backward_ = false;
};

}  // namespace branchy
