// fused_inference.h — conv -> batch norm -> ReLU at inference as one pass.
//
// In Mode::eval a batch norm is a fixed per-channel affine (its running
// statistics), so it folds into the convolution before it:
//
//   bn(conv(x))[o] = scale[o] * (W[o] * x + b[o]) + shift[o]
//                  = (scale[o] * W[o]) * x + (scale[o] * b[o] + shift[o])
//
// and a ReLU after it is applied as the convolution writes its output. Two
// passes over the activation (batch norm's and ReLU's) disappear; the result
// equals running the layers one by one up to float rounding (tested in
// tests/test_fused_inference.cpp). Training never fuses: backward needs
// each layer's own input.
#pragma once

#include "layers/batchnorm.h"
#include "layers/conv2d.h"

namespace branchy {

// relu?(bn?(conv(x))), x (N, C_in, H, W); bn may be null (conv + bias + ReLU).
Tensor conv_inference(Conv2d& conv, BatchNorm2d* bn, bool relu, const Tensor& x);

}  // namespace branchy
