#include "layers/conv2d_reference.h"

namespace branchy {

namespace {

struct Sizes {
  int64_t N, C, H, W, O, K, OH, OW, group_in, group_out;
};

Sizes sizes_of(const Tensor& x, const Tensor& weight, int stride, int padding, int groups) {
  Sizes s;
  s.N = x.dim(0), s.C = x.dim(1), s.H = x.dim(2), s.W = x.dim(3);
  s.O = weight.dim(0), s.K = weight.dim(2);
  s.OH = (s.H + 2 * padding - s.K) / stride + 1;
  s.OW = (s.W + 2 * padding - s.K) / stride + 1;
  s.group_in = s.C / groups;
  s.group_out = s.O / groups;
  return s;
}

}  // namespace

Tensor conv2d_forward_reference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                int stride, int padding, int groups) {
  const Sizes s = sizes_of(x, weight, stride, padding, groups);
  Tensor y(Shape{s.N, s.O, s.OH, s.OW});
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < s.O; ++o) {
      const int64_t group_start = (o / s.group_out) * s.group_in;
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          double acc = bias.defined() ? bias[o] : 0.0;
          for (int64_t c = 0; c < s.group_in; ++c)
            for (int64_t kh = 0; kh < s.K; ++kh)
              for (int64_t kw = 0; kw < s.K; ++kw) {
                const int64_t ih = oh * stride + kh - padding, iw = ow * stride + kw - padding;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                acc += static_cast<double>(weight.at(o, c, kh, kw)) * x.at(n, group_start + c, ih, iw);
              }
          y.at(n, o, oh, ow) = static_cast<float>(acc);
        }
    }
  return y;
}

void conv2d_backward_reference(const Tensor& x, const Tensor& weight, const Tensor& dy, int stride,
                               int padding, int groups, Tensor& dx, Tensor& dweight, Tensor& dbias) {
  const Sizes s = sizes_of(x, weight, stride, padding, groups);
  dx = Tensor(x.shape());
  dweight = Tensor(weight.shape());
  if (dbias.defined()) dbias.zero();
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < s.O; ++o) {
      const int64_t group_start = (o / s.group_out) * s.group_in;
      for (int64_t oh = 0; oh < s.OH; ++oh)
        for (int64_t ow = 0; ow < s.OW; ++ow) {
          const float g = dy.at(n, o, oh, ow);
          if (dbias.defined()) dbias[o] += g;
          for (int64_t c = 0; c < s.group_in; ++c)
            for (int64_t kh = 0; kh < s.K; ++kh)
              for (int64_t kw = 0; kw < s.K; ++kw) {
                const int64_t ih = oh * stride + kh - padding, iw = ow * stride + kw - padding;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                dweight.at(o, c, kh, kw) += g * x.at(n, group_start + c, ih, iw);
                dx.at(n, group_start + c, ih, iw) += g * weight.at(o, c, kh, kw);
              }
        }
    }
}

}  // namespace branchy
