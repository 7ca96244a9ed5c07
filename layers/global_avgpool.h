// global_avgpool.h — the mean of every channel plane: (N, C, H, W) -> (N, C),
// as ResNet/DenseNet heads use before their classifier (PyTorch's
// AdaptiveAvgPool2d(1) followed by flatten).
//
//   forward(x, mode)  y[n][c] = mean over h, w of x[n][c][h][w]. Train mode
//                     keeps the input shape only (the layer is linear).
//   backward(dy)      dy: (N, C) -> dx: (N, C, H, W), dx = dy / (H * W).
//   macs              0: the cost model counts conv and linear layers only
//                     (docs/ALGORITHM.md; BranchyNet's published MACs do the same).
//
// Fails: an input that is not 4-d or has an empty plane, backward without a
// train-mode forward, or dy of another shape, throws Error naming "global avgpool".
#pragma once

#include "layers/layer.h"

namespace branchy {

class GlobalAvgPool2d : public Layer {
 public:
  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override { return "global avgpool"; }

 private:
  Shape in_shape_;  // of the last train-mode forward
  bool ready_for_backward_ = false;
};

}  // namespace branchy
