// conv2d_reference.h — convolution written as the definition, loop by loop.
// Slow and obviously right: the fast Conv2d is tested against these.
//
//   y[n][o][oh][ow] = bias[o] + sum over c in o's group, kh, kw of
//       weight[o][c - group_start][kh][kw] * x[n][c][oh*stride + kh - pad][ow*stride + kw - pad]
#pragma once

#include "engine/tensor.h"

namespace branchy {

// x (N, C, H, W), weight (O, C/groups, K, K), bias (O) or undefined -> y (N, O, OH, OW)
Tensor conv2d_forward_reference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                int stride, int padding, int groups);

// Given dy (N, O, OH, OW): dx (N, C, H, W), and dweight, dbias (overwritten; dbias may be undefined).
void conv2d_backward_reference(const Tensor& x, const Tensor& weight, const Tensor& dy, int stride,
                               int padding, int groups, Tensor& dx, Tensor& dweight, Tensor& dbias);

}  // namespace branchy
