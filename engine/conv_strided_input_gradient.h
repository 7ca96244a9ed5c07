// conv_strided_input_gradient.h — the input gradient of a strided
// convolution as stride-1 convolutions of the output gradient, one per
// phase, by the channel-vector kernel (conv_channel_vector.h).
//
//   dx[c][ih][iw] = sum over o, kh, kw with ih = oh*s_h + kh - p_h, iw = ow*s_w + kw - p_w
//                   of w[o][c][kh][kw] * dy[o][oh][ow]
//
// Only the taps kh with kh = (ih + p_h) mod s_h (mod s_h) reach a given row
// ih: rows of one phase ph = (ih + p_h) mod s_h see the taps ph, ph + s_h,
// ph + 2 s_h, ... and nothing else. With i' = (ih + p_h - ph) / s_h,
//
//   dx[c][ih] = sum over j of w[.][c][ph + j s_h] * dy[.][i' - j]
//
// which is a stride-1 correlation of dy with those taps in reverse order
// (padding Kp - 1 on each side, Kp taps): a small convolution with C
// outputs and O inputs, the same for columns. So a stride-2 conv's input
// gradient is four stride-1 convs of dy with 2x2, 2x1, 1x2 and 1x1 parts of
// a 3x3 kernel (3x3 ... 2x2 of a 5x5), each writing every second row and
// column of dx. No column matrix and no col2im (GEMM + col2im is the
// reference, and the path for fewer input channels than a vector).
#pragma once

#include <vector>

#include "engine/im2col.h"

namespace branchy {

// One group's filters, split and packed per phase (rebuilt when they change).
struct StridedInputGradient {
  struct Phase {
    int row_phase, col_phase;  // ph, pw
    ConvGeometry over_dy;      // the stride-1 conv over dy (O, OH, OW): Kp x Kq taps, padding Kp-1, Kq-1
    bool has_taps;             // false: no tap reaches these rows/columns (dx is zero there)
    const float* packed;       // its filters (C, O, Kp, Kq), packed for conv2d_channel_vector
    std::vector<float> storage;
  };
  ConvGeometry forward;        // the strided conv (per group)
  int out_channels;            // O per group
  std::vector<Phase> phases;   // s_h * s_w of them
};

// Splits weight (O, C, KH, KW) of the strided conv g into the phases'
// filters. Any stride and kernel; C >= 1.
void plan_strided_input_gradient(const float* weight, int out_channels, const ConvGeometry& g,
                                 StridedInputGradient& plan);

// dx (C, H, W), overwritten, from dy (O, OH, OW) of one image. Single-threaded.
void strided_input_gradient(const float* dy, const StridedInputGradient& plan, float* dx);

}  // namespace branchy
