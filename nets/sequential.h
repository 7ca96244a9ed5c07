// sequential.h — named layers run one after another.
//
//   forward(x)   y = L_k(...L_2(L_1(x)))
//   backward(dy) runs the layers' backward in reverse order.
//   set_needs_input_grad(false) is passed to the first layer (also to one
//   added later): only its dx leaves the sequence.
// Parameter names are "<layer name>.<param>" (e.g. "conv1.weight"), the names
// an nn.Sequential(OrderedDict(...)) of the same layers has in PyTorch.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "layers/layer.h"

namespace branchy {

// One line of a per-layer report: what the layer is and what it costs.
struct LayerReport {
  std::string name;      // dotted, e.g. "stage1.conv2"
  std::string description;
  Shape output_shape;    // for a batch of one
  int64_t macs = 0;      // for a batch of one
  int64_t parameters = 0;
};

class Sequential : public Layer {
 public:
  Sequential() = default;

  // Appends a layer; returns it for further set-up. Names must be unique.
  template <typename L, typename... Args>
  L& emplace(const std::string& name, Args&&... args) {
    auto layer = std::make_unique<L>(std::forward<Args>(args)...);
    L& reference = *layer;
    add(name, std::move(layer));
    return reference;
  }
  void add(const std::string& name, LayerPtr layer);

  size_t size() const { return layers_.size(); }
  Layer& layer(size_t i) { return *layers_[i].second; }
  const std::string& layer_name(size_t i) const { return layers_[i].first; }

  Shape out_shape(const Shape& in) const override;
  // In Mode::eval, a conv followed by a batch norm and/or a ReLU runs as one
  // fused pass (layers/fused_inference.h).
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  void collect_params(const std::string& prefix, std::vector<ParamRef>& out) override;
  int64_t macs(const Shape& in) const override;
  std::string describe() const override;
  void set_needs_input_grad(bool needed) override;
  void for_each_layer(const LayerVisitor& visit) override;
  // Called with each layer (top level) right after its backward, so a
  // caller can use that layer's parameter gradients at once (gradient
  // buckets sent while backward goes on). Empty: no call.
  void set_after_layer_backward(LayerVisitor hook) { after_layer_backward_ = std::move(hook); }

  // One report line per layer, for an input of one sample shaped `in`.
  void report(const std::string& prefix, const Shape& in, std::vector<LayerReport>& out);

 private:
  std::vector<std::pair<std::string, LayerPtr>> layers_;
  LayerVisitor after_layer_backward_;
  Tensor forward_inference(const Tensor& x);
};

}  // namespace branchy
