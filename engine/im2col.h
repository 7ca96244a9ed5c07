// im2col.h — unrolls convolution windows into columns so a convolution becomes
// one GEMM (Caffe's scheme), and col2im, its adjoint, for the input gradient.
//
// For one image x (C, H, W), kernel (KH, KW), stride, padding, the column
// matrix is (C * KH * KW, OH * OW): row (c, kh, kw), column (oh, ow) holds
// x[c][oh*stride + kh - pad][ow*stride + kw - pad], or 0 in the padding.
//
// Requires: image and columns hold the sizes above and do not overlap.
// Ensures:  im2col fills every element of columns; col2im overwrites every
//           element of image. Neither throws.
// Both work on a zero-padded copy of the image (kept per thread, grown once,
// so the hot path does not allocate after its first call): with the padding
// written into memory, every window row is a plain copy with no bounds test.
// The reference twins in namespace `reference` test each window element.
#pragma once

#include <cstdint>

namespace branchy {

struct ConvGeometry {
  int channels, height, width;  // of the input image
  int kernel_h, kernel_w;
  int stride_h, stride_w;
  int pad_h, pad_w;
  int out_height() const { return (height + 2 * pad_h - kernel_h) / stride_h + 1; }
  int out_width() const { return (width + 2 * pad_w - kernel_w) / stride_w + 1; }
  int64_t column_rows() const { return static_cast<int64_t>(channels) * kernel_h * kernel_w; }
  int64_t column_cols() const { return static_cast<int64_t>(out_height()) * out_width(); }
};

// image (C, H, W) -> columns (C*KH*KW, OH*OW)
void im2col(const float* image, const ConvGeometry& g, float* columns);
// columns (C*KH*KW, OH*OW) -> image (C, H, W), adding overlapping windows; image is overwritten.
void col2im(const float* columns, const ConvGeometry& g, float* image);

// The image (C, H, W) copied into the middle of a zeroed (C, H + 2*pad_h,
// W + 2*pad_w) buffer followed by `slack` more zeros. The buffer belongs to
// the calling thread and is reused by its next call (im2col, col2im included).
const float* zero_padded_image(const float* image, const ConvGeometry& g, int slack);

namespace reference {
// The same two functions, one bounds test per element.
void im2col(const float* image, const ConvGeometry& g, float* columns);
void col2im(const float* columns, const ConvGeometry& g, float* image);
}  // namespace reference

}  // namespace branchy
