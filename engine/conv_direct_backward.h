// conv_direct_backward.h — the two gradients of a stride-1 convolution
// computed from shifted rows, with no column matrix: the training twin of
// conv_direct.h.
//
// For y = conv(x, w) with stride 1 and padding p (one image, groups 1):
//
//   dW[o][c][kh][kw] += sum over oh, ow of dy[o][oh][ow] * x_padded[c][oh + kh][ow + kw]
//   dx = conv(dy, w_flipped) with padding K - 1 - p, where
//        w_flipped[c][o][kh][kw] = w[o][c][K-1-kh][K-1-kw]
//
// The second line is the textbook identity "the input gradient of a
// convolution is a full convolution of the output gradient with the filter
// turned 180 degrees and its in/out channels swapped"; it lets the forward
// kernel (conv_direct.h) compute dx.
//
// Why: im2col + GEMM copies every input value K*K times into a column matrix
// that the GEMM then packs again; with 8..64 channels those copies (and
// col2im's scatter) cost more than the multiply-adds (a b-resnet training
// profile: im2col, col2im and sgemm's packing 32% of the time, the sgemm
// kernel 20%). conv2d_reference.h's loops are the reference; tests compare.
#pragma once

#include "engine/im2col.h"

namespace branchy {

// Whether the direct kernels serve this convolution in training: stride 1,
// groups 1, a 3x3 or 5x5 kernel, padding at most K - 1.
bool direct_training_conv_supported(const ConvGeometry& g, int groups);

// d_weight (O, C, KH, KW) += the weight gradient of `count` images
// (count, C, H, W) whose output gradients are dy (count, O, OH, OW).
// Single-threaded: callers give each thread its own images and d_weight.
void conv2d_direct_backward_weights(const float* images, const float* dy, int64_t count, const ConvGeometry& g,
                                    int out_channels, float* d_weight);

// w_flipped (C, O, KH, KW) from weight (O, C, KH, KW), for the input gradient.
void flip_filters_for_input_gradient(const float* weight, int out_channels, const ConvGeometry& g,
                                     float* w_flipped);

// The geometry of the convolution that computes dx from dy (O, OH, OW).
ConvGeometry input_gradient_geometry(const ConvGeometry& g, int out_channels);

// dx (C, H, W) = the input gradient of one image, overwritten, from dy
// (O, OH, OW) and w_flipped. Single-threaded.
void conv2d_direct_backward_data(const float* dy, const ConvGeometry& g, int out_channels,
                                 const float* w_flipped, float* dx);

}  // namespace branchy
