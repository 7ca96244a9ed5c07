// conv_channel_vector.h — direct convolution with output channels across the
// vector lanes: every multiply-add takes the weights of L filters for one tap
// as a vector and one input value broadcast to all lanes.
//
//   y[o][oh][ow] = b[o] + sum over c, kh, kw of
//                  w[o][c][kh][kw] * x_padded[c][oh*stride_h + kh][ow*stride_w + kw]
//
// A tile holds V vectors of output channels (V*L channels) x T output
// positions of one row in registers: for each tap (c, kh, kw) it loads V
// weight vectors and broadcasts T input values, for V*T multiply-adds. On
// maps 3 or 7 wide a tile takes 2-4 whole rows (a row alone is too few
// positions per weight load), and kernel rows that fall on the top or bottom
// padding for all of a tile's rows are skipped (oneDNN skips the padding
// too: on a 7x7 map a 3x3 kernel's padding taps are 18% of the nominal work).
// Finished tiles go back to the NCHW planes through transpose.h.
//
// Why (against conv_direct.h, which puts output positions in the lanes):
// positions in the lanes waste the lanes that fall on padding columns (a 7x7
// map padded for a 3x3 kernel is 9 wide, so 2 of every 9 lanes compute
// nothing), need one broadcast weight per multiply-add, and need stride 1. Channels in the lanes waste
// nothing when the output channels are a multiple of L, take any stride, and
// read each weight vector once per T multiply-adds. It is oneDNN's scheme for
// its direct convolutions, here on plain NCHW tensors: inputs are broadcast
// from the (zero-padded) image planes and each finished tile is transposed
// back into the output planes, so the layer contract stays NCHW.
//
// Requires: groups 1 (callers pass one group at a time); image (C, H, W),
// filters packed by pack_channel_vector_filters, bias (O) or null,
// out (O, OH, OW), no overlap. Works on a zero-padded per-thread copy of the
// image (im2col.h). conv2d_reference.h's loops are its reference; tests
// compare them.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/im2col.h"

namespace branchy {

// Output channels per vector on this build's instruction set (16 with
// AVX-512, 8 with AVX2).
int channel_vector_lanes();

// The lanes the kernels below use for `out_channels` (per group): with
// AVX-512, fewer than 16 channels go in half (8-lane, 256-bit) vectors, so
// 8-15 channels fill whole vectors; otherwise channel_vector_lanes(). The
// packed filters, the forward and the weight gradient all choose by it.
int channel_vector_lanes(int out_channels);

// The fewest output channels that fill a vector: 8 with AVX-512 and AVX2.
int min_channel_vector_lanes();

// The filters packed as (ceil(O / L), C, KH, KW, L) from weight (O, C, KH,
// KW), L = channel_vector_lanes(O): lane l of block b holds filter b*L + l,
// zeros past O. Returns the
// packed filters, aligned to a vector, inside `storage` (resized).
const float* pack_channel_vector_filters(const float* weight, int out_channels, const ConvGeometry& g,
                                        std::vector<float>& storage);

// split_channels: spread blocks of output channels over the threads (for a
// batch too small to give every thread an image), when the work pays for it.
// relu: write max(y, 0) (conv + bias + ReLU fused at inference).
void conv2d_channel_vector(const float* image, const ConvGeometry& g, const float* packed, const float* bias,
                           int out_channels, float* out, bool split_channels = false, bool relu = false);

// The same on an image the caller padded: rows of padded_width floats,
// planes of `plane` floats, `padded` at the conv's own padded origin (row
// -pad_h, column -pad_w of the image), zeros wherever the window's taps reach
// outside the image (kernel rows wholly outside are not read). Computes the
// outputs in rows [row0, row0 + rows) x columns [col0, col0 + cols) of the
// conv (any range; past its own outputs they read padding) into out (O,
// rows, cols). The input gradient of strided convs uses it (one window per
// phase, conv_strided_input_gradient.h).
struct ConvWindow {
  int row0, rows, col0, cols;
};
void conv2d_channel_vector_window(const float* padded, int64_t plane, int padded_width, const ConvGeometry& g,
                                  const ConvWindow& window, const float* packed, const float* bias, int out_channels,
                                  float* out, bool split_channels = false, bool relu = false);

// The weight gradient by the same scheme: a vector of L output channels'
// sums for each tap (c, kh, kw), over every output position of every image:
//
//   dW[o][c][kh][kw] += sum over images, oh, ow of
//                       dy[o][oh][ow] * x_padded[c][oh*stride_h + kh][ow*stride_w + kw]
//
// Each position loads V vectors of dy (the output gradient transposed to
// (positions, channels) per image) and broadcasts R*KW input values for
// V*R*KW multiply-adds into sums that stay in registers across all the
// images, so each is reduced once (no horizontal sums, no padding columns).
// d_weight (O, C, KH, KW) += the weight gradient of `count` images, each
// (C, H, W) and image_stride floats after the last, whose output gradients
// are (O, OH, OW), dy_stride floats apart. Kernels 3x3 and 5x5 (the direct
// training path's, conv_direct_backward.h); any stride along the width.
// Single-threaded: callers give each thread its own images and d_weight.
void conv2d_channel_vector_weight_gradient(const float* images, int64_t image_stride, const float* dy,
                                           int64_t dy_stride, int64_t count, const ConvGeometry& g,
                                           int out_channels, float* d_weight);

}  // namespace branchy
