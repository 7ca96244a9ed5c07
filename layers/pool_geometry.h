// pool_geometry.h — where a pooling window sits, shared by MaxPool2d and AvgPool2d.
//
// The output length along one axis follows PyTorch exactly:
//   floor mode: out = floor((in + 2p - k) / s) + 1
//   ceil mode:  out = ceil((in + 2p - k) / s) + 1, then one less if the last
//               window would start at or past in + p (it must start inside the
//               input or the left padding; a window of only right padding is dropped).
// Ceil mode equals Chainer's cover_all, which BranchyNet's B-LeNet uses:
// 30 -> 15, 17 -> 9, 11 -> 6 with k2 s2.
//
// Requires (checked, throws Error naming `layer`): kernel >= 1, stride >= 1,
// 0 <= padding <= kernel / 2 (PyTorch's rule; it guarantees every window
// overlaps the input), and an input (N, C, H, W) the window fits.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "engine/error.h"
#include "engine/shape.h"

namespace branchy {

inline void check_pool_arguments(const std::string& layer, int kernel, int stride, int padding) {
  BRANCHY_CHECK(kernel >= 1 && stride >= 1, layer, ": kernel and stride must be at least 1, got kernel ",
                kernel, " stride ", stride);
  BRANCHY_CHECK(padding >= 0 && padding <= kernel / 2, layer, ": padding must be in [0, kernel / 2] = [0, ",
                kernel / 2, "], got ", padding);
}

// Output length along one axis of length `in`; may be <= 0 when the window does not fit.
inline int64_t pooled_length(int64_t in, int kernel, int stride, int padding, bool ceil_mode) {
  const int64_t span = in + 2 * padding - kernel + (ceil_mode ? stride - 1 : 0);
  // Floor division that rounds towards minus infinity for a negative span.
  const int64_t steps = span >= 0 ? span / stride : -((-span + stride - 1) / stride);
  int64_t out = steps + 1;
  if (ceil_mode && out > 0 && (out - 1) * stride >= in + padding) --out;
  return out;
}

// (N, C, H, W) -> (N, C, OH, OW), or throws Error naming the layer
// (describe_layer() -> std::string, called only then: a layer's name built on
// every forward cost as much as a small pool's work at batch 1) and the shape.
template <class DescribeLayer>
Shape pooled_shape(const DescribeLayer& describe_layer, const Shape& in, int kernel, int stride, int padding,
                   bool ceil_mode) {
  BRANCHY_CHECK(in.rank() == 4, describe_layer(), ": expected input (N, C, H, W), got ", in.str());
  const int64_t out_h = pooled_length(in[2], kernel, stride, padding, ceil_mode);
  const int64_t out_w = pooled_length(in[3], kernel, stride, padding, ceil_mode);
  BRANCHY_CHECK(out_h >= 1 && out_w >= 1, describe_layer(), ": input ", in.str(),
                " is too small for the window (output would be ", out_h, "x", out_w, ")");
  return Shape{in[0], in[1], out_h, out_w};
}

// The rows [begin, end) of window `o` before clipping to the input; clip with
// std::max(begin, 0) and std::min(end, in).
struct WindowSpan {
  int64_t begin, end;
};
inline WindowSpan window_span(int64_t o, int kernel, int stride, int padding) {
  const int64_t begin = o * stride - padding;
  return {begin, begin + kernel};
}

}  // namespace branchy
