#include "layers/dense.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <initializer_list>

#include "engine/error.h"
#include "engine/kernels.h"
#include "engine/threads.h"

namespace branchy {

namespace {

// Checked in the first member initializer, before any sub-layer is built, so
// a bad configuration is reported in the block's words rather than a conv's.
int checked_dense_arguments(const char* block, int in_channels, int growth_rate, int bottleneck_factor,
                            int num_layers) {
  BRANCHY_CHECK(in_channels > 0 && growth_rate > 0 && bottleneck_factor >= 0 && num_layers > 0, block,
                ": expected positive channels, growth and layer count and a bottleneck factor >= 0, got in ",
                in_channels, " growth ", growth_rate, " bottleneck factor ", bottleneck_factor, " layers ",
                num_layers);
  return in_channels;
}

int checked_transition_arguments(int in_channels, int out_channels) {
  BRANCHY_CHECK(in_channels > 0 && out_channels > 0, "transition: expected positive channels, got in ",
                in_channels, " out ", out_channels);
  return in_channels;
}

// The channel count of conv1's output: the bottleneck width, or the growth itself.
int first_conv_channels(int growth_rate, int bottleneck_factor) {
  return bottleneck_factor > 0 ? bottleneck_factor * growth_rate : growth_rate;
}

std::string bottleneck_word(int bottleneck_factor) {
  return bottleneck_factor > 0 ? " bc" + std::to_string(bottleneck_factor) : "";
}

}  // namespace

// ------------------------------------------------------------ channel helpers

Tensor concat_channels(const Tensor& first, const Tensor& second) {
  Shape joined = first.shape();
  bool compatible = first.rank() >= 2 && first.rank() == second.rank();
  for (int axis = 0; compatible && axis < first.rank(); ++axis)
    compatible = axis == 1 || first.dim(axis) == second.dim(axis);
  BRANCHY_CHECK(compatible, "concat_channels: cannot join ", first.shape().str(), " and ", second.shape().str(),
                " along dimension 1");
  joined[1] = first.dim(1) + second.dim(1);
  const int64_t batch = joined[0];
  const int64_t first_sample = first.shape().sample_numel(), second_sample = second.shape().sample_numel();
  Tensor out = Tensor::uninitialized(joined);  // (N, C1 + C2, ...)
  const float* first_data = first.data();
  const float* second_data = second.data();
  float* out_data = out.data();
  // Channels are the outermost axis within a sample, so each sample is two contiguous runs.
  parallel_for(batch, out.numel(), [&](int64_t n) {
    float* row = out_data + n * (first_sample + second_sample);
    std::memcpy(row, first_data + n * first_sample, sizeof(float) * static_cast<size_t>(first_sample));
    std::memcpy(row + first_sample, second_data + n * second_sample,
                sizeof(float) * static_cast<size_t>(second_sample));
  });
  return out;
}

Tensor slice_channels(const Tensor& x, int64_t begin, int64_t end) {
  BRANCHY_CHECK(x.rank() >= 2 && 0 <= begin && begin < end && end <= x.dim(1), "slice_channels: cannot take [",
                begin, ", ", end, ") of the channels of ", x.shape().str());
  const int64_t batch = x.dim(0), plane = x.shape().sample_numel() / x.dim(1);
  const int64_t in_sample = x.shape().sample_numel(), out_sample = (end - begin) * plane;
  Shape sliced = x.shape();
  sliced[1] = end - begin;
  Tensor out = Tensor::uninitialized(sliced);  // (N, end - begin, ...)
  const float* x_data = x.data();
  float* out_data = out.data();
  parallel_for(batch, out.numel(), [&](int64_t n) {
    std::memcpy(out_data + n * out_sample, x_data + n * in_sample + begin * plane,
                sizeof(float) * static_cast<size_t>(out_sample));
  });
  return out;
}

int transition_channels(int in_channels, float compression) {
  BRANCHY_CHECK(in_channels > 0 && compression > 0.0f && compression <= 1.0f,
                "transition_channels: expected in_channels > 0 and compression in (0, 1], got ", in_channels,
                " and ", compression);
  return std::max(1, static_cast<int>(std::floor(compression * static_cast<float>(in_channels))));
}

// ------------------------------------------------------------ DenseLayer

DenseLayer::DenseLayer(int in_channels, int growth_rate, int bottleneck_factor, Rng& rng)
    : norm1(checked_dense_arguments("dense-layer", in_channels, growth_rate, bottleneck_factor, 1)),
      conv1(in_channels, first_conv_channels(growth_rate, bottleneck_factor), bottleneck_factor > 0 ? 1 : 3,
            Conv2dOptions{1, bottleneck_factor > 0 ? 0 : 1, 1, false}, rng),
      in_channels_(in_channels),
      growth_rate_(growth_rate),
      bottleneck_factor_(bottleneck_factor) {
  if (has_bottleneck()) {
    norm2 = std::make_unique<BatchNorm2d>(bottleneck_factor * growth_rate);
    conv2 = std::make_unique<Conv2d>(bottleneck_factor * growth_rate, growth_rate, 3, Conv2dOptions{1, 1, 1, false},
                                     rng);
  }
}

std::string DenseLayer::describe() const {
  return "dense-layer " + std::to_string(in_channels_) + "+" + std::to_string(growth_rate_) +
         bottleneck_word(bottleneck_factor_);
}

Shape DenseLayer::out_shape(const Shape& in) const {
  check_image_input([this] { return describe(); }, in, in_channels_);
  Shape out = in;
  out[1] = in_channels_ + growth_rate_;
  return out;
}

int64_t DenseLayer::macs(const Shape& in) const {
  out_shape(in);  // checks `in`
  int64_t total = norm1.macs(in) + conv1.macs(in);
  if (has_bottleneck()) {
    const Shape middle = conv1.out_shape(in);  // (N, f*k, H, W)
    total += norm2->macs(middle) + conv2->macs(middle);
  }
  return total;
}

Tensor DenseLayer::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());                                      // x: (N, in, H, W)
  Tensor fresh = conv1.forward(relu1.forward(norm1.forward(x, mode), mode), mode);  // (N, f*k or k, H, W)
  if (has_bottleneck()) fresh = conv2->forward(relu2.forward(norm2->forward(fresh, mode), mode), mode);  // (N, k, H, W)
  Tensor y = concat_channels(x, fresh);  // (N, in + k, H, W)
  out_shape_ = out;
  ready_for_backward_ = mode == Mode::train;
  return y;
}

Tensor DenseLayer::backward(const Tensor& dy) {
  BRANCHY_CHECK(ready_for_backward_, describe(), ": backward needs a train-mode forward first");
  BRANCHY_CHECK(dy.shape() == out_shape_, describe(), ": backward got dy ", dy.shape().str(), ", expected ",
                out_shape_.str());
  Tensor d_fresh = slice_channels(dy, in_channels_, in_channels_ + growth_rate_);  // (N, k, H, W)
  if (has_bottleneck()) d_fresh = norm2->backward(relu2.backward(conv2->backward(d_fresh)));  // (N, f*k, H, W)
  Tensor dx = norm1.backward(relu1.backward(conv1.backward(d_fresh)));  // (N, in, H, W), ours to write
  // x also went straight into the first `in` channels of y: add that part of dy.
  const int64_t batch = dx.dim(0), in_sample = dx.shape().sample_numel(), out_sample = dy.shape().sample_numel();
  const float* dy_data = dy.data();
  float* dx_data = dx.data();
  parallel_for(batch, dx.numel(), [&](int64_t n) {
    add(dx_data + n * in_sample, dy_data + n * out_sample, dx_data + n * in_sample, in_sample);
  });
  return dx;
}

void DenseLayer::collect_params(const std::string& prefix, std::vector<ParamRef>& out) {
  norm1.collect_params(join_name(prefix, "norm1"), out);
  conv1.collect_params(join_name(prefix, "conv1"), out);
  if (!has_bottleneck()) return;
  norm2->collect_params(join_name(prefix, "norm2"), out);
  conv2->collect_params(join_name(prefix, "conv2"), out);
}

// ------------------------------------------------------------ DenseBlock

DenseBlock::DenseBlock(int in_channels, int num_layers, int growth_rate, int bottleneck_factor, Rng& rng)
    : in_channels_(checked_dense_arguments("dense-block", in_channels, growth_rate, bottleneck_factor, num_layers)),
      num_layers_(num_layers),
      growth_rate_(growth_rate),
      bottleneck_factor_(bottleneck_factor) {
  for (int i = 0; i < num_layers; ++i)
    layers.push_back(std::make_unique<DenseLayer>(in_channels + i * growth_rate, growth_rate, bottleneck_factor, rng));
}

std::string DenseBlock::describe() const {
  return "dense-block " + std::to_string(in_channels_) + "->" + std::to_string(out_channels()) + " (" +
         std::to_string(num_layers_) + " layers, growth " + std::to_string(growth_rate_) +
         (bottleneck_factor_ > 0 ? "," + bottleneck_word(bottleneck_factor_) : "") + ")";
}

Shape DenseBlock::out_shape(const Shape& in) const {
  check_image_input([this] { return describe(); }, in, in_channels_);
  Shape out = in;
  out[1] = out_channels();
  return out;
}

int64_t DenseBlock::macs(const Shape& in) const {
  Shape shape = in;
  out_shape(in);  // checks `in`
  int64_t total = 0;
  for (const auto& layer : layers) {
    total += layer->macs(shape);
    shape = layer->out_shape(shape);
  }
  return total;
}

Tensor DenseBlock::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());  // x: (N, in, H, W)
  Tensor h = x;
  for (const auto& layer : layers) h = layer->forward(h, mode);  // (N, in + i*k, H, W) after layer i
  out_shape_ = out;
  ready_for_backward_ = mode == Mode::train;
  return h;  // (N, in + L*k, H, W)
}

Tensor DenseBlock::backward(const Tensor& dy) {
  BRANCHY_CHECK(ready_for_backward_, describe(), ": backward needs a train-mode forward first");
  BRANCHY_CHECK(dy.shape() == out_shape_, describe(), ": backward got dy ", dy.shape().str(), ", expected ",
                out_shape_.str());
  Tensor d = dy;
  for (auto layer = layers.rbegin(); layer != layers.rend(); ++layer) d = (*layer)->backward(d);
  return d;  // (N, in, H, W)
}

void DenseBlock::collect_params(const std::string& prefix, std::vector<ParamRef>& out) {
  for (size_t i = 0; i < layers.size(); ++i)
    layers[i]->collect_params(join_name(prefix, "denselayer" + std::to_string(i + 1)), out);
}

// ------------------------------------------------------------ Transition

Transition::Transition(int in_channels, int out_channels, Rng& rng)
    : norm(checked_transition_arguments(in_channels, out_channels)),
      conv(in_channels, out_channels, 1, Conv2dOptions{1, 0, 1, false}, rng),
      pool(2, 2),
      in_channels_(in_channels),
      out_channels_(out_channels) {}

std::string Transition::describe() const {
  return "transition " + std::to_string(in_channels_) + "->" + std::to_string(out_channels_);
}

Shape Transition::out_shape(const Shape& in) const {
  check_image_input([this] { return describe(); }, in, in_channels_);
  return pool.out_shape(conv.out_shape(in));
}

int64_t Transition::macs(const Shape& in) const {
  out_shape(in);  // checks `in`
  return norm.macs(in) + conv.macs(in) + pool.macs(conv.out_shape(in));
}

Tensor Transition::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());                                    // x: (N, in, H, W)
  Tensor h = conv.forward(relu.forward(norm.forward(x, mode), mode), mode);  // (N, out, H, W)
  Tensor y = pool.forward(h, mode);                                          // (N, out, H/2, W/2)
  out_shape_ = out;
  ready_for_backward_ = mode == Mode::train;
  return y;
}

Tensor Transition::backward(const Tensor& dy) {
  BRANCHY_CHECK(ready_for_backward_, describe(), ": backward needs a train-mode forward first");
  BRANCHY_CHECK(dy.shape() == out_shape_, describe(), ": backward got dy ", dy.shape().str(), ", expected ",
                out_shape_.str());
  return norm.backward(relu.backward(conv.backward(pool.backward(dy))));  // (N, in, H, W)
}

void Transition::collect_params(const std::string& prefix, std::vector<ParamRef>& out) {
  norm.collect_params(join_name(prefix, "norm"), out);
  conv.collect_params(join_name(prefix, "conv"), out);
}

void DenseLayer::for_each_layer(const LayerVisitor& visit) {
  visit(*this);
  for (Layer* part : std::initializer_list<Layer*>{&norm1, &relu1, &conv1}) part->for_each_layer(visit);
  if (!has_bottleneck()) return;  // norm2, relu2 and conv2 are used with a bottleneck only
  norm2->for_each_layer(visit);
  relu2.for_each_layer(visit);
  conv2->for_each_layer(visit);
}

void DenseBlock::for_each_layer(const LayerVisitor& visit) {
  visit(*this);
  for (auto& layer : layers) layer->for_each_layer(visit);
}

void Transition::for_each_layer(const LayerVisitor& visit) {
  visit(*this);
  for (Layer* part : std::initializer_list<Layer*>{&norm, &relu, &conv, &pool}) part->for_each_layer(visit);
}

}  // namespace branchy
