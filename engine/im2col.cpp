#include "engine/im2col.h"

#include <algorithm>
#include <cstring>

namespace branchy {

namespace {

// The output columns ow whose input column ow*stride + kw - pad lies inside
// [0, width): [first, last). Computed once per kernel column, not per pixel,
// so the copy loops below carry no bounds test.
struct ValidRange {
  int first, last;
};

ValidRange valid_columns(int kw, const ConvGeometry& g, int out_width) {
  const int offset = kw - g.pad_w;  // input column of ow = 0
  // smallest ow with ow*stride + offset >= 0
  int first = offset >= 0 ? 0 : (-offset + g.stride_w - 1) / g.stride_w;
  // largest ow with ow*stride + offset <= width - 1, plus one
  int last = g.width - 1 - offset < 0 ? 0 : (g.width - 1 - offset) / g.stride_w + 1;
  first = std::min(first, out_width);
  last = std::max(first, std::min(last, out_width));
  return {first, last};
}

}  // namespace

void im2col(const float* image, const ConvGeometry& g, float* columns) {
  const int OH = g.out_height(), OW = g.out_width();
  for (int c = 0; c < g.channels; ++c) {
    const float* plane = image + static_cast<int64_t>(c) * g.height * g.width;
    for (int kh = 0; kh < g.kernel_h; ++kh) {
      for (int kw = 0; kw < g.kernel_w; ++kw) {
        float* row = columns + ((static_cast<int64_t>(c) * g.kernel_h + kh) * g.kernel_w + kw) * OH * OW;
        const ValidRange valid = valid_columns(kw, g, OW);
        const int offset = kw - g.pad_w;
        for (int oh = 0; oh < OH; ++oh) {
          const int ih = oh * g.stride_h + kh - g.pad_h;
          float* out = row + static_cast<int64_t>(oh) * OW;
          if (ih < 0 || ih >= g.height) {
            std::fill(out, out + OW, 0.0f);
            continue;
          }
          const float* in = plane + static_cast<int64_t>(ih) * g.width + offset;
          std::fill(out, out + valid.first, 0.0f);
          if (g.stride_w == 1) {
            for (int ow = valid.first; ow < valid.last; ++ow) out[ow] = in[ow];
          } else {
            for (int ow = valid.first; ow < valid.last; ++ow) out[ow] = in[ow * g.stride_w];
          }
          std::fill(out + valid.last, out + OW, 0.0f);
        }
      }
    }
  }
}

void col2im(const float* columns, const ConvGeometry& g, float* image) {
  const int OH = g.out_height(), OW = g.out_width();
  std::memset(image, 0, sizeof(float) * static_cast<size_t>(g.channels) * g.height * g.width);
  for (int c = 0; c < g.channels; ++c) {
    float* plane = image + static_cast<int64_t>(c) * g.height * g.width;
    for (int kh = 0; kh < g.kernel_h; ++kh) {
      for (int kw = 0; kw < g.kernel_w; ++kw) {
        const float* row = columns + ((static_cast<int64_t>(c) * g.kernel_h + kh) * g.kernel_w + kw) * OH * OW;
        const ValidRange valid = valid_columns(kw, g, OW);
        const int offset = kw - g.pad_w;
        for (int oh = 0; oh < OH; ++oh) {
          const int ih = oh * g.stride_h + kh - g.pad_h;
          if (ih < 0 || ih >= g.height) continue;
          float* out = plane + static_cast<int64_t>(ih) * g.width + offset;
          const float* in = row + static_cast<int64_t>(oh) * OW;
          if (g.stride_w == 1) {
            for (int ow = valid.first; ow < valid.last; ++ow) out[ow] += in[ow];
          } else {
            for (int ow = valid.first; ow < valid.last; ++ow) out[ow * g.stride_w] += in[ow];
          }
        }
      }
    }
  }
}

}  // namespace branchy
