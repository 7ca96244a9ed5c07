#include "engine/im2col.h"

#include <cstring>

namespace branchy {

void im2col(const float* image, const ConvGeometry& g, float* columns) {
  const int OH = g.out_height(), OW = g.out_width();
  for (int c = 0; c < g.channels; ++c) {
    const float* plane = image + static_cast<int64_t>(c) * g.height * g.width;
    for (int kh = 0; kh < g.kernel_h; ++kh) {
      for (int kw = 0; kw < g.kernel_w; ++kw) {
        float* row = columns + ((static_cast<int64_t>(c) * g.kernel_h + kh) * g.kernel_w + kw) * OH * OW;
        for (int oh = 0; oh < OH; ++oh) {
          const int ih = oh * g.stride_h + kh - g.pad_h;
          float* out = row + static_cast<int64_t>(oh) * OW;
          if (ih < 0 || ih >= g.height) {
            std::memset(out, 0, sizeof(float) * OW);
            continue;
          }
          const float* in = plane + static_cast<int64_t>(ih) * g.width;
          if (g.stride_w == 1) {
            // Contiguous run: zeros left of the image, a copy, zeros right of it.
            const int first = kw - g.pad_w;  // input column of ow = 0
            int ow = 0;
            for (; ow < OW && first + ow < 0; ++ow) out[ow] = 0.0f;
            int last = OW;
            while (last > ow && first + last - 1 >= g.width) --last;
            if (last > ow) std::memcpy(out + ow, in + first + ow, sizeof(float) * (last - ow));
            for (int k = last; k < OW; ++k) out[k] = 0.0f;
          } else {
            for (int ow = 0; ow < OW; ++ow) {
              const int iw = ow * g.stride_w + kw - g.pad_w;
              out[ow] = (iw >= 0 && iw < g.width) ? in[iw] : 0.0f;
            }
          }
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
        for (int oh = 0; oh < OH; ++oh) {
          const int ih = oh * g.stride_h + kh - g.pad_h;
          if (ih < 0 || ih >= g.height) continue;
          float* out = plane + static_cast<int64_t>(ih) * g.width;
          const float* in = row + static_cast<int64_t>(oh) * OW;
          for (int ow = 0; ow < OW; ++ow) {
            const int iw = ow * g.stride_w + kw - g.pad_w;
            if (iw >= 0 && iw < g.width) out[iw] += in[ow];
          }
        }
      }
    }
  }
}

}  // namespace branchy
