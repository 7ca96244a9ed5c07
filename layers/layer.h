// layer.h — the contract every layer and block keeps.
//
//   forward(x, mode)  x: (N, ...) -> y: (N, ...out_shape). In Mode::train the
//                     layer keeps what backward needs (usually x or y, shared,
//                     not copied). In Mode::eval it keeps nothing.
//   backward(dy)      dy: like the last train-mode y -> dx: like that x.
//                     Adds the parameter gradients into Param::grad (callers
//                     zero them between steps), so gradients of a layer used
//                     twice accumulate.
//   out_shape(in)     the output shape, or throws Error naming the layer and
//                     the shape it cannot take.
//   macs(in)          multiply-accumulates of one forward pass over `in`
//                     (batch included): the cost model for reports and routing.
//   collect_params    appends this layer's Params with dotted names.
//   for_each_layer(visit)  calls visit(*this) and then, for a block, visits
//                     every layer inside it, depth first: how a trainer reaches
//                     the batch norms nested in residual and dense blocks.
//   set_needs_input_grad(false)  tells the layer nobody reads its dx (it sits
//                     first in the network: Caffe's propagate_down). backward
//                     then may skip computing dx and return an undefined
//                     Tensor; parameter gradients are the same either way.
//                     Default true. Conv2d honours it; Sequential passes it
//                     to its first layer; other layers still compute dx.
//
// Layers are not thread-safe: one forward/backward at a time per layer object.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/param.h"
#include "engine/tensor.h"

namespace branchy {

enum class Mode { train, eval };

class Layer;
using LayerVisitor = std::function<void(Layer&)>;

class Layer {
 public:
  virtual ~Layer() = default;

  virtual Shape out_shape(const Shape& in) const = 0;
  virtual Tensor forward(const Tensor& x, Mode mode) = 0;
  virtual Tensor backward(const Tensor& dy) = 0;
  virtual void collect_params(const std::string& /*prefix*/, std::vector<ParamRef>& /*out*/) {}
  virtual int64_t macs(const Shape& /*in*/) const { return 0; }
  virtual std::string describe() const = 0;  // e.g. "conv 1->5 k5 s1 p3"
  virtual void for_each_layer(const LayerVisitor& visit) { visit(*this); }
  virtual void set_needs_input_grad(bool needed) { needs_input_grad_ = needed; }
  bool needs_input_grad() const { return needs_input_grad_; }

  std::vector<ParamRef> named_params(const std::string& prefix = "") {
    std::vector<ParamRef> out;
    collect_params(prefix, out);
    return out;
  }
  std::vector<Param*> params() {
    std::vector<Param*> out;
    for (ParamRef& ref : named_params()) out.push_back(ref.param);
    return out;
  }
  void zero_grad() {
    for (Param* p : params()) p->zero_grad();
  }

 protected:
  bool needs_input_grad_ = true;
};

using LayerPtr = std::unique_ptr<Layer>;

// Throws Error unless `in` is an image batch (N, channels, H, W); the message
// names the layer by describe_layer() -> std::string, called only then (a
// name built on every forward cost as much as a small layer's work at batch 1).
template <class DescribeLayer>
void check_image_input(const DescribeLayer& describe_layer, const Shape& in, int channels) {
  BRANCHY_CHECK(in.rank() == 4 && in[1] == channels && in[2] >= 1 && in[3] >= 1, describe_layer(),
                ": expected input (N, ", channels, ", H, W), got ", in.str());
}

}  // namespace branchy
