// conv2d.h — 2-d convolution (cross-correlation, as every framework computes it).
//
//   x (N, C_in, H, W) -> y (N, C_out, OH, OW),
//   OH = (H + 2*padding - kernel) / stride + 1 (likewise OW),
//   weight (C_out, C_in/groups, kernel, kernel), bias (C_out), PyTorch's layout.
//
// Fast path: im2col + one single-threaded sgemm per image and group, images
// spread over OpenMP threads; 1×1 stride-1 convolutions skip im2col; a batch
// smaller than the thread count splits each GEMM's columns over threads
// instead. In Mode::train the forward keeps every image's column matrix
// (when the batch's columns fit in kMaxKeptColumnBytes) so backward need not
// unroll the images again; above that it recomputes them per image.
//
// Direct path: stride-1 3x3 and 5x5 convolutions (grouped too, a group at
// a time) with few channels or small maps (direct_path_pays) compute
// forward, the weight gradient and the input gradient with no column matrix
// at all; where a GEMM's M (= C_out) or N (= OH*OW) is short, im2col's copies
// cost more than the multiply-adds. Forward and the input gradient put
// output channels in the vector lanes (engine/conv_channel_vector.h) when
// there are a vector's worth of them, output positions otherwise
// (engine/conv_direct.h); the weight gradient is engine/conv_direct_backward.h.
// conv2d_reference.h holds the plain loops the tests compare with.
//
// Told set_needs_input_grad(false), backward computes only the parameter
// gradients (no W^T * dy GEMM, no col2im) and returns an undefined Tensor.
//
// Requires in_channels and out_channels divisible by groups; forward throws
// Error for an input whose channel count differs or that the kernel does not fit.
#pragma once

#include <vector>

#include "engine/conv_strided_input_gradient.h"
#include "engine/im2col.h"
#include "engine/rng.h"
#include "layers/layer.h"

namespace branchy {

struct Conv2dOptions {
  int stride = 1;
  int padding = 0;
  int groups = 1;
  bool bias = true;
};

class Conv2d : public Layer {
 public:
  // Weights drawn as PyTorch's default (kaiming_uniform with a = sqrt(5)).
  Conv2d(int in_channels, int out_channels, int kernel_size, const Conv2dOptions& options, Rng& rng);

  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  Tensor backward(const Tensor& dy) override;
  // Inference with a per-channel affine folded into the filters, then ReLU:
  //   y = relu?(channel_scale[o] * conv(x)[o] + channel_shift[o])
  // computed as one convolution with filters W[o] * channel_scale[o] and bias
  // b[o] * channel_scale[o] + channel_shift[o] (batch norm folded, as
  // inference engines do), the ReLU applied as each image's output is
  // written. channel_scale and channel_shift both null: conv + bias + ReLU.
  Tensor forward_folded(const Tensor& x, const float* channel_scale, const float* channel_shift, bool relu);
  void collect_params(const std::string& prefix, std::vector<ParamRef>& out) override;
  int64_t macs(const Shape& in) const override;
  std::string describe() const override;

  // Largest column cache a layer keeps between forward and backward.
  static constexpr int64_t kMaxKeptColumnBytes = int64_t{32} << 20;

  int out_channels() const { return out_channels_; }
  // Whether the latest forward took the direct path (tests check they cover it).
  bool used_direct_path() const { return forward_was_direct_; }
  // The last train-mode forward took im2col but backward takes the weight
  // gradient by channel vectors (a first conv: no input gradient).
  bool weights_by_channel_vectors() const { return weights_by_channel_vectors_; }
  const Conv2dOptions& options() const { return options_; }

  Param weight;  // (C_out, C_in/groups, K, K)
  Param bias;    // (C_out), undefined value when options.bias is false

 private:
  ConvGeometry geometry(const Shape& in) const;
  // The filters a forward runs with: the layer's own, or folded ones.
  struct Filters {
    const float* weight;  // (C_out, C_in/groups, K, K)
    const float* bias;    // (C_out) or null
    bool relu;            // max(y, 0) as the output is written
  };
  Filters own_filters() const { return {weight.value.data(), options_.bias ? bias.value.data() : nullptr, false}; }
  Tensor forward_with(const Tensor& x, Mode mode, const Filters& filters);
  ConvGeometry group_geometry(const ConvGeometry& g) const;  // g with one group's input channels
  // A direct conv's kernel: output channels in the vector lanes, or positions.
  bool direct_by_channel_vectors(const ConvGeometry& g) const;
  bool direct_path_pays(const ConvGeometry& g) const;
  // Whether conv_channel_vector.h has the weight gradient for this shape.
  bool channel_vector_weight_gradient_applies(const ConvGeometry& g) const;
  Tensor forward_direct(const Tensor& x, const ConvGeometry& g, Tensor y, const Filters& filters);
  Tensor backward_direct(const Tensor& dy, const ConvGeometry& g);
  bool is_pointwise() const { return kernel_ == 1 && options_.stride == 1 && options_.padding == 0; }
  // Columns (C_in*K*K, OH*OW) of image x_n, written to `buffer` (sized for
  // them) unless the conv is 1×1, whose image already is its column matrix.
  const float* columns_of(const float* image, const ConvGeometry& g, float* buffer) const;
  // Where image n's columns go: its slice of the cache, or this thread's buffer.
  float* column_buffer_for(int64_t n, const ConvGeometry& g, int thread);
  void forward_image(const float* columns, const ConvGeometry& g, float* out, bool parallel_gemm,
                     const Filters& filters) const;
  // d_image nullptr: parameter gradients only.
  void backward_image(const float* columns, const float* d_out, const ConvGeometry& g,
                      std::vector<float>& d_column_buffer, float* d_weight, float* d_image,
                      bool parallel_gemm) const;

  int in_channels_, out_channels_, kernel_;
  Conv2dOptions options_;
  Tensor input_;  // (N, C_in, H, W), kept in train mode for backward
  // (N, C_in*K*K, OH*OW): the train-mode forward's columns, valid when columns_kept_.
  std::vector<float> kept_columns_;
  bool columns_kept_ = false;
  bool forward_was_direct_ = false;  // the train-mode forward took the direct path
  // The train-mode forward took im2col, but backward (weight gradient only)
  // is backward_direct's.
  bool weights_by_channel_vectors_ = false;
  std::vector<float> flipped_weight_;  // (C_in, C_out, K, K), for the direct input gradient
  // The direct kernels' filters (or flipped ones) packed per group for
  // conv_channel_vector.h: packed_filters_[k] points into packed_storage_[k].
  std::vector<std::vector<float>> packed_storage_;
  std::vector<const float*> packed_filters_;
  // A strided conv's input gradient by phases (conv_strided_input_gradient.h), per group.
  std::vector<StridedInputGradient> strided_plans_;
  std::vector<float> folded_weight_, folded_bias_;  // forward_folded's filters
  // Scratch reused across calls (no allocation on the hot path): per thread.
  std::vector<std::vector<float>> column_buffers_, d_column_buffers_, d_weight_buffers_;
};

}  // namespace branchy
