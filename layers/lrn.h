// lrn.h — local response normalisation across channels, PyTorch's
// nn.LocalResponseNorm(size, alpha, beta, k) (AlexNet's LRN).
//
//   x: (N, C, ...) -> y: same shape, with the window of channel c being
//   W(c) = [c - size/2, c + (size-1)/2] clipped to [0, C) (integer division):
//     d_c = k + alpha / size * sum_{c' in W(c)} x_{c'}^2
//     y_c = x_c * d_c^(-beta)
//   alpha is divided by `size` even where the window is clipped at the edges,
//   as PyTorch's zero-padded average does.
//   Train mode keeps x, y and d for backward; eval keeps nothing.
//   backward(dy): the exact gradient,
//     dx_j = dy_j * d_j^(-beta)
//            - 2 * alpha * beta / size * x_j * sum_{c : j in W(c)} dy_c * y_c / d_c.
//   macs: 0, the cost model counts conv and linear layers only (docs/ALGORITHM.md).
//
// Requires size >= 1, k > 0, alpha >= 0 (constructor throws Error), so d > 0. forward
// throws Error for input of rank other than 3..5; backward throws without a
// train-mode forward or for dy of another shape.
#pragma once

#include "layers/layer.h"

namespace branchy {

class LocalResponseNorm : public Layer {
 public:
  explicit LocalResponseNorm(int size, float alpha = 1e-4f, float beta = 0.75f, float k = 1.0f);

  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  std::string describe() const override;  // "lrn size5 alpha0.0001 beta0.75 k1"

 private:
  int size_;
  float alpha_, beta_, k_;
  Tensor x_, y_, denominator_;  // (N, C, ...) from the last train-mode forward; denominator_ is d
};

}  // namespace branchy
