// linear.h — fully connected layer, y = x W^T + b.
//
//   x (N, F_in) -> y (N, F_out); an input (N, C, H, W) with C*H*W = F_in is
//   read as flattened (and its gradient returned in that shape).
//   weight (F_out, F_in), bias (F_out): PyTorch's layout.
#pragma once

#include "engine/rng.h"
#include "layers/layer.h"

namespace branchy {

class Linear : public Layer {
 public:
  // Weights drawn as PyTorch's default (U(-1/sqrt(F_in), 1/sqrt(F_in))).
  Linear(int in_features, int out_features, Rng& rng, bool bias = true);

  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  void collect_params(const std::string& prefix, std::vector<ParamRef>& out) override;
  int64_t macs(const Shape& in) const override;
  std::string describe() const override;

  Param weight;  // (F_out, F_in)
  Param bias;    // (F_out)

 private:
  int in_features_, out_features_;
  bool has_bias_;
  Tensor input_;  // as given to forward, kept in train mode
};

}  // namespace branchy
