#include "layers/fused_inference.h"

namespace branchy {

Tensor conv_inference(Conv2d& conv, BatchNorm2d* bn, bool relu, const Tensor& x) {
  if (!bn) return conv.forward_folded(x, nullptr, nullptr, relu);
  const auto [scale, shift] = bn->inference_affine();
  return conv.forward_folded(x, scale, shift, relu);
}

}  // namespace branchy
