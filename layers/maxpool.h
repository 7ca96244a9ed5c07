// maxpool.h — 2-d max pooling, PyTorch's nn.MaxPool2d(kernel, stride, padding, ceil_mode).
//
//   forward(x, mode)  x: (N, C, H, W) -> y: (N, C, OH, OW), OH/OW as in
//                     layers/pool_geometry.h. Padding counts as -inf (it never
//                     wins). On ties the first maximum in row-major window order
//                     wins; a NaN wins over numbers, as in PyTorch. Train mode
//                     keeps the argmax of every window for backward.
//   backward(dy)      dy: (N, C, OH, OW) -> dx: (N, C, H, W); each dy goes to
//                     its window's argmax (overlapping windows add up).
//   macs              0: the cost model counts conv and linear layers only
//                     (docs/ALGORITHM.md; BranchyNet's published MACs do the same).
//
// Requires kernel >= 1, stride >= 1, 0 <= padding <= kernel / 2 (constructor
// throws Error). forward throws Error for an input that is not 4-d or that the
// window does not fit; backward throws without a train-mode forward or for dy
// of another shape.
#pragma once

#include <cstdint>
#include <vector>

#include "layers/layer.h"

namespace branchy {

class MaxPool2d : public Layer {
 public:
  MaxPool2d(int kernel, int stride, int padding = 0, bool ceil_mode = false);

  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override;  // "maxpool k2 s2 p0 ceil"

 private:
  int kernel_, stride_, padding_;
  bool ceil_mode_;
  // Kept by a train-mode forward: the shapes, and for every output element
  // the index h * W + w of its maximum within its (H, W) plane.
  Shape in_shape_, out_shape_;
  std::vector<int32_t> argmax_;  // (N, C, OH, OW)
  bool ready_for_backward_ = false;
};

namespace reference {
// The plain definition (windows clipped to the input), which forward must
// match value for value and argmax for argmax. argmax, if given, receives the
// index h * W + w of each window's maximum within its plane: (N, C, OH, OW).
Tensor maxpool2d_forward(const Tensor& x, int kernel, int stride, int padding, bool ceil_mode,
                         std::vector<int32_t>* argmax = nullptr);
}  // namespace reference

}  // namespace branchy
