#include "layers/linear.h"

#include "engine/blas.h"
#include "engine/error.h"
#include "engine/init.h"

namespace branchy {

Linear::Linear(int in_features, int out_features, Rng& rng, bool bias_on)
    : in_features_(in_features), out_features_(out_features), has_bias_(bias_on) {
  BRANCHY_CHECK(in_features > 0 && out_features > 0, "linear: bad sizes ", in_features, "->", out_features);
  weight = Param(Shape{out_features, in_features});
  if (has_bias_) bias = Param(Shape{out_features});
  init_pytorch_default(weight.value, has_bias_ ? &bias.value : nullptr, rng);
}

Shape Linear::out_shape(const Shape& in) const {
  BRANCHY_CHECK(in.rank() >= 2 && in.sample_numel() == in_features_, describe(), ": expects ",
                in_features_, " features per sample, got input ", in.str());
  return Shape{in[0], out_features_};
}

int64_t Linear::macs(const Shape& in) const { return in[0] * static_cast<int64_t>(in_features_) * out_features_; }

std::string Linear::describe() const {
  return "linear " + std::to_string(in_features_) + "->" + std::to_string(out_features_) +
         (has_bias_ ? "" : " nobias");
}

void Linear::collect_params(const std::string& prefix, std::vector<ParamRef>& out) {
  out.push_back({join_name(prefix, "weight"), &weight});
  if (has_bias_) out.push_back({join_name(prefix, "bias"), &bias});
}

Tensor Linear::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());
  const int N = static_cast<int>(x.dim(0));
  Tensor y = Tensor::uninitialized(out);  // (N, F_out)
  // y (N, F_out) = x (N, F_in) * W^T (F_in, F_out)
  gemm_parallel(false, true, N, out_features_, in_features_, 1.0f, x.data(), in_features_,
                weight.value.data(), in_features_, 0.0f, y.data(), out_features_);
  if (has_bias_)
    for (int n = 0; n < N; ++n)
      for (int o = 0; o < out_features_; ++o) y[static_cast<int64_t>(n) * out_features_ + o] += bias.value[o];
  input_ = mode == Mode::train ? x : Tensor();
  return y;
}

Tensor Linear::backward(const Tensor& dy) {
  BRANCHY_CHECK(input_.defined(), describe(), ": backward without a train-mode forward");
  const int N = static_cast<int>(input_.dim(0));
  BRANCHY_CHECK(dy.shape() == (Shape{N, out_features_}), describe(), ": gradient ", dy.shape().str(),
                " does not match output (", N, ", ", out_features_, ")");
  Tensor dx = Tensor::uninitialized(input_.shape());
  // dx (N, F_in) = dy (N, F_out) * W (F_out, F_in)
  gemm_parallel(false, false, N, in_features_, out_features_, 1.0f, dy.data(), out_features_,
                weight.value.data(), in_features_, 0.0f, dx.data(), in_features_);
  // dW (F_out, F_in) += dy^T (F_out, N) * x (N, F_in)
  gemm_parallel(true, false, out_features_, in_features_, N, 1.0f, dy.data(), out_features_, input_.data(),
                in_features_, 1.0f, weight.grad.data(), in_features_);
  if (has_bias_)
    for (int n = 0; n < N; ++n)
      for (int o = 0; o < out_features_; ++o) bias.grad[o] += dy[static_cast<int64_t>(n) * out_features_ + o];
  return dx;
}

}  // namespace branchy
