// avgpool.h — 2-d average pooling, PyTorch's nn.AvgPool2d(kernel, stride,
// padding, ceil_mode) with count_include_pad = True.
//
//   forward(x, mode)  x: (N, C, H, W) -> y: (N, C, OH, OW), OH/OW as in
//                     layers/pool_geometry.h. Each output is the sum of the
//                     window's input elements (padding adds 0) divided by the
//                     number of window positions inside the *padded* input:
//                     zero padding counts, but the part of a ceil-mode window
//                     that hangs past the right/bottom padding does not.
//   backward(dy)      dy: (N, C, OH, OW) -> dx: (N, C, H, W); each dy is
//                     spread over its window's input elements, divided alike.
//   macs              0: the cost model counts conv and linear layers only
//                     (docs/ALGORITHM.md; BranchyNet's published MACs do the same).
//
// Requires kernel >= 1, stride >= 1, 0 <= padding <= kernel / 2 (constructor
// throws Error). forward throws Error for an input that is not 4-d or that the
// window does not fit; backward throws without a train-mode forward or for dy
// of another shape. Keeps only shapes for backward (it is linear).
#pragma once

#include "layers/layer.h"

namespace branchy {

class AvgPool2d : public Layer {
 public:
  AvgPool2d(int kernel, int stride, int padding = 0, bool ceil_mode = false);

  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override;  // "avgpool k3 s2 p1 ceil"

 private:
  int kernel_, stride_, padding_;
  bool ceil_mode_;
  Shape in_shape_, out_shape_;  // of the last train-mode forward
  bool ready_for_backward_ = false;
};

}  // namespace branchy
