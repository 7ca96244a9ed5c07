// conv_direct.h — stride-1 convolution computed from shifted input rows, with
// no column matrix: the inference path for convolutions with few channels.
//
//   y[o][oh][ow] = b[o] + sum over c, kh, kw of
//                  w[o][c][kh][kw] * x_padded[c][oh + kh][ow + kw]
//
// Why: im2col writes a matrix C*K*K times the size of the image, and for a
// 1- or 5-channel input that copy costs as much as the GEMM it feeds, while a
// GEMM with 5..20 output rows runs far below the machine's peak. Outputs are
// computed over the padded width (see conv_direct.cpp), 2 vectors of
// positions x 8 output channels at a time in registers: each input vector
// loaded feeds 8 multiply-adds.
//
// Requires: stride 1 (g.stride_h == g.stride_w == 1), groups 1; image
// (C, H, W), weight (O, C, KH, KW), bias (O) or null, out (O, OH, OW), no
// overlap. Works on a zero-padded per-thread copy of the image (im2col.h).
// conv2d_reference.h's direct loops are its reference; tests compare them.
#pragma once

#include "engine/im2col.h"

namespace branchy {

// split_channels: spread blocks of output channels over the threads (for a
// batch too small to give every thread an image), when the work pays for it.
// relu: write max(y, 0) (conv + bias + ReLU fused at inference).
void conv2d_direct_stride1(const float* image, const ConvGeometry& g, const float* weight, const float* bias,
                           int out_channels, float* out, bool split_channels = false, bool relu = false);

// Whether conv2d_direct_stride1 is expected to beat im2col + GEMM for this
// shape (measured in `make bench`, "conv direct" rows): stride 1, and few
// enough output channels that the GEMM would run with a short M.
bool direct_conv_pays(const ConvGeometry& g, int out_channels, int groups);

}  // namespace branchy
