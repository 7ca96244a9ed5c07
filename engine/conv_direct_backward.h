// conv_direct_backward.h — the two gradients of a stride-1 convolution
// computed from shifted rows, with no column matrix: the training twin of
// conv_direct.h.
//
// For y = conv(x, w) with stride 1 and padding p (one image, one group):
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
// a 3x3 or 5x5 kernel, padding at most K - 1. The kernels see one group at a
// time: g.channels and out_channels are then the group's.
bool direct_training_conv_supported(const ConvGeometry& g);

// d_weight (O, C, KH, KW) += the weight gradient of `count` images, each
// (C, H, W) and image_stride floats after the last, whose output gradients
// are (O, OH, OW), dy_stride floats apart. (The strides let a grouped conv
// pass one group's channels of each image.) Single-threaded: callers give
// each thread its own images and d_weight.
void conv2d_direct_backward_weights(const float* images, int64_t image_stride, const float* dy,
                                    int64_t dy_stride, int64_t count, const ConvGeometry& g, int out_channels,
                                    float* d_weight);

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
