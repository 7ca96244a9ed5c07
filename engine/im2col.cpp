#include "engine/im2col.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace branchy {

namespace {

// The image with its padding written out as zeros: (C, PH, PW).
struct PaddedImage {
  const float* data;
  int height, width;  // PH = H + 2*pad_h, PW = W + 2*pad_w
};

// Scratch for the padded copy, one per thread, grown to the largest image seen.
std::vector<float>& padded_scratch(int64_t size) {
  thread_local std::vector<float> scratch;
  if (static_cast<int64_t>(scratch.size()) < size) scratch.resize(size);
  return scratch;
}

int64_t padded_size(const ConvGeometry& g) {
  return static_cast<int64_t>(g.channels) * (g.height + 2 * g.pad_h) * (g.width + 2 * g.pad_w);
}

// Copies image (C, H, W) into the middle of a zeroed (C, PH, PW) buffer.
PaddedImage pad(const float* image, const ConvGeometry& g) {
  if (g.pad_h == 0 && g.pad_w == 0) return {image, g.height, g.width};
  return {zero_padded_image(image, g, 0), g.height + 2 * g.pad_h, g.width + 2 * g.pad_w};
}

}  // namespace

const float* zero_padded_image(const float* image, const ConvGeometry& g, int slack) {
  const int PH = g.height + 2 * g.pad_h, PW = g.width + 2 * g.pad_w;
  float* padded = padded_scratch(padded_size(g) + slack).data();
  std::memset(padded, 0, sizeof(float) * (padded_size(g) + slack));
  for (int c = 0; c < g.channels; ++c)
    for (int h = 0; h < g.height; ++h)
      std::memcpy(padded + (static_cast<int64_t>(c) * PH + h + g.pad_h) * PW + g.pad_w,
                  image + (static_cast<int64_t>(c) * g.height + h) * g.width, sizeof(float) * g.width);
  return padded;
}

void im2col(const float* image, const ConvGeometry& g, float* columns) {
  const int OH = g.out_height(), OW = g.out_width();
  const PaddedImage source = pad(image, g);
  float* __restrict out = columns;  // walks the column matrix row by row, (oh, ow) in order
  for (int c = 0; c < g.channels; ++c) {
    const float* plane = source.data + static_cast<int64_t>(c) * source.height * source.width;
    for (int kh = 0; kh < g.kernel_h; ++kh)
      for (int kw = 0; kw < g.kernel_w; ++kw)
        for (int oh = 0; oh < OH; ++oh) {
          const float* __restrict in = plane + static_cast<int64_t>(oh * g.stride_h + kh) * source.width + kw;
          if (g.stride_w == 1) {
            for (int ow = 0; ow < OW; ++ow) out[ow] = in[ow];
          } else {
            for (int ow = 0; ow < OW; ++ow) out[ow] = in[ow * g.stride_w];
          }
          out += OW;
        }
  }
}

void col2im(const float* columns, const ConvGeometry& g, float* image) {
  const int OH = g.out_height(), OW = g.out_width();
  const bool padded = g.pad_h != 0 || g.pad_w != 0;
  // Accumulate into the padded image (windows reach into the padding), then
  // keep its middle; without padding, accumulate into image directly.
  const int PH = g.height + 2 * g.pad_h, PW = g.width + 2 * g.pad_w;
  float* target = padded ? padded_scratch(padded_size(g)).data() : image;
  std::memset(target, 0, sizeof(float) * padded_size(g));
  const float* __restrict in = columns;
  for (int c = 0; c < g.channels; ++c) {
    float* plane = target + static_cast<int64_t>(c) * PH * PW;
    for (int kh = 0; kh < g.kernel_h; ++kh)
      for (int kw = 0; kw < g.kernel_w; ++kw)
        for (int oh = 0; oh < OH; ++oh) {
          float* __restrict out = plane + static_cast<int64_t>(oh * g.stride_h + kh) * PW + kw;
          if (g.stride_w == 1) {
            for (int ow = 0; ow < OW; ++ow) out[ow] += in[ow];
          } else {
            for (int ow = 0; ow < OW; ++ow) out[ow * g.stride_w] += in[ow];
          }
          in += OW;
        }
  }
  if (!padded) return;
  for (int c = 0; c < g.channels; ++c)
    for (int h = 0; h < g.height; ++h)
      std::memcpy(image + (static_cast<int64_t>(c) * g.height + h) * g.width,
                  target + (static_cast<int64_t>(c) * PH + h + g.pad_h) * PW + g.pad_w, sizeof(float) * g.width);
}

namespace reference {

void im2col(const float* image, const ConvGeometry& g, float* columns) {
  const int OH = g.out_height(), OW = g.out_width();
  int64_t i = 0;
  for (int c = 0; c < g.channels; ++c)
    for (int kh = 0; kh < g.kernel_h; ++kh)
      for (int kw = 0; kw < g.kernel_w; ++kw)
        for (int oh = 0; oh < OH; ++oh)
          for (int ow = 0; ow < OW; ++ow, ++i) {
            const int ih = oh * g.stride_h + kh - g.pad_h, iw = ow * g.stride_w + kw - g.pad_w;
            const bool inside = ih >= 0 && ih < g.height && iw >= 0 && iw < g.width;
            columns[i] = inside ? image[(static_cast<int64_t>(c) * g.height + ih) * g.width + iw] : 0.0f;
          }
}

void col2im(const float* columns, const ConvGeometry& g, float* image) {
  const int OH = g.out_height(), OW = g.out_width();
  std::fill(image, image + static_cast<int64_t>(g.channels) * g.height * g.width, 0.0f);
  int64_t i = 0;
  for (int c = 0; c < g.channels; ++c)
    for (int kh = 0; kh < g.kernel_h; ++kh)
      for (int kw = 0; kw < g.kernel_w; ++kw)
        for (int oh = 0; oh < OH; ++oh)
          for (int ow = 0; ow < OW; ++ow, ++i) {
            const int ih = oh * g.stride_h + kh - g.pad_h, iw = ow * g.stride_w + kw - g.pad_w;
            if (ih >= 0 && ih < g.height && iw >= 0 && iw < g.width)
              image[(static_cast<int64_t>(c) * g.height + ih) * g.width + iw] += columns[i];
          }
}

}  // namespace reference

}  // namespace branchy
