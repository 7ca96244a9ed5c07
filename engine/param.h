// param.h — a learnable tensor and its gradient.
//
// Layers own their Params; optimizers hold pointers to them. Buffers that are
// saved but not learned (batch-norm running statistics) are Params with
// trainable = false: checkpoints keep them, optimizers skip them.
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace branchy {

struct Param {
  Tensor value;
  Tensor grad;  // same shape as value; backward adds into it
  bool trainable = true;

  Param() = default;
  explicit Param(const Shape& shape, bool is_trainable = true)
      : value(shape), grad(is_trainable ? Tensor(shape) : Tensor()), trainable(is_trainable) {}
  void zero_grad() {
    if (grad.defined()) grad.zero();
  }
};

// A Param with its dotted name, e.g. "stage0.conv1.weight" (PyTorch's state_dict names).
struct ParamRef {
  std::string name;
  Param* param;
};

inline std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

}  // namespace branchy
