#include "nets/sequential.h"

#include "engine/error.h"
#include "layers/fused_inference.h"
#include "layers/relu.h"

namespace branchy {

void Sequential::add(const std::string& name, LayerPtr layer) {
  for (const auto& [existing, _] : layers_)
    BRANCHY_CHECK(existing != name, "sequential: two layers named '", name, "'");
  if (layers_.empty()) layer->set_needs_input_grad(needs_input_grad_);
  layers_.emplace_back(name, std::move(layer));
}

void Sequential::set_needs_input_grad(bool needed) {
  needs_input_grad_ = needed;
  if (!layers_.empty()) layers_.front().second->set_needs_input_grad(needed);
}

Shape Sequential::out_shape(const Shape& in) const {
  Shape shape = in;
  for (const auto& [name, layer] : layers_) shape = layer->out_shape(shape);
  return shape;
}

Tensor Sequential::forward(const Tensor& x, Mode mode) {
  if (mode == Mode::eval) return forward_inference(x);
  Tensor h = x;
  for (auto& [name, layer] : layers_) h = layer->forward(h, mode);
  return h;
}

Tensor Sequential::forward_inference(const Tensor& x) {
  Tensor h = x;
  size_t i = 0;
  while (i < layers_.size()) {
    // conv [-> batchnorm] [-> relu] runs as one fused pass (layers/fused_inference.h).
    auto* conv = dynamic_cast<Conv2d*>(layers_[i].second.get());
    auto layer_as = [&](size_t at, auto* type) {
      return at < layers_.size() ? dynamic_cast<decltype(type)>(layers_[at].second.get()) : nullptr;
    };
    BatchNorm2d* bn = conv ? layer_as(i + 1, static_cast<BatchNorm2d*>(nullptr)) : nullptr;
    const size_t after_bn = i + 1 + (bn ? 1 : 0);
    const bool relu = conv && layer_as(after_bn, static_cast<ReLU*>(nullptr)) != nullptr;
    if (conv && (bn || relu)) {
      h = conv_inference(*conv, bn, relu, h);
      i = after_bn + (relu ? 1 : 0);
    } else {
      h = layers_[i].second->forward(h, Mode::eval);
      ++i;
    }
  }
  return h;
}

Tensor Sequential::backward(const Tensor& dy) {
  Tensor g = dy;
  for (auto it = layers_.rbegin(); it != layers_.rend(); ++it) {
    g = it->second->backward(g);
    if (after_layer_backward_) after_layer_backward_(*it->second);
  }
  return g;
}

void Sequential::for_each_layer(const LayerVisitor& visit) {
  visit(*this);
  for (auto& [name, layer] : layers_) layer->for_each_layer(visit);
}

void Sequential::collect_params(const std::string& prefix, std::vector<ParamRef>& out) {
  for (auto& [name, layer] : layers_) layer->collect_params(join_name(prefix, name), out);
}

int64_t Sequential::macs(const Shape& in) const {
  int64_t total = 0;
  Shape shape = in;
  for (const auto& [name, layer] : layers_) {
    total += layer->macs(shape);
    shape = layer->out_shape(shape);
  }
  return total;
}

std::string Sequential::describe() const {
  std::string s = "sequential(";
  for (size_t i = 0; i < layers_.size(); ++i) s += (i ? ", " : "") + layers_[i].second->describe();
  return s + ")";
}

void Sequential::report(const std::string& prefix, const Shape& in, std::vector<LayerReport>& out) {
  Shape shape = in;
  for (auto& [name, layer] : layers_) {
    LayerReport line;
    line.name = join_name(prefix, name);
    line.description = layer->describe();
    line.macs = layer->macs(shape);
    shape = layer->out_shape(shape);
    line.output_shape = shape;
    for (ParamRef& ref : layer->named_params())
      if (ref.param->trainable) line.parameters += ref.param->value.numel();
    out.push_back(line);
  }
}

}  // namespace branchy
