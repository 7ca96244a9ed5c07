#include "layers/conv2d.h"

#include <omp.h>

#include <algorithm>

#include "engine/blas.h"
#include "engine/conv_channel_vector.h"
#include "engine/conv_direct.h"
#include "engine/conv_direct_backward.h"
#include "engine/error.h"
#include "engine/init.h"
#include "engine/kernels.h"
#include "engine/threads.h"

namespace branchy {

namespace {

using GemmFunction = void (*)(bool, bool, int, int, int, float, const float*, int, const float*, int,
                              float, float*, int);

GemmFunction choose_gemm(bool parallel) { return parallel ? gemm_parallel : gemm; }

void grow(std::vector<float>& buffer, int64_t size) {
  if (static_cast<int64_t>(buffer.size()) < size) buffer.resize(size);
}

// Whether the direct kernels put output channels in the vector lanes
// (engine/conv_channel_vector.h) for a convolution with `outs` output
// channels per group on output rows `width` wide, or output positions
// (conv_direct.h). Each fills a share of its lanes: outs over whole vectors
// of channels (with AVX-512, 8-15 channels take half (8-lane) vectors), the
// row over whole vectors of positions. Channel vectors run 1.2-1.5x faster
// at equal shares (2x on 7x7 maps), so they win unless positions fill 1.3x
// more. Measured in `make bench-onednn`: b-resnext's 8-per-group stride-2
// conv in half vectors 0.26-0.31 -> 0.48-0.66 of oneDNN forward; b-lenet's
// 5->10 3x3 on 15x15 (10 of 16 channel lanes, 15 of 16 positions) 0.48-0.55
// by channel vectors, 0.67-0.70 by positions; its 10->20 5x5 (20 of 32, 11
// of 16) 0.66 by channel vectors, 0.46 by positions.
bool by_channel_vectors(int outs, int64_t width) {
  if (outs < min_channel_vector_lanes()) return false;  // not a vector's worth
  const int64_t channel_lanes = channel_vector_lanes(outs), position_lanes = channel_vector_lanes();
  const int64_t channel_slots = (outs + channel_lanes - 1) / channel_lanes * channel_lanes;
  const int64_t position_slots = (width + position_lanes - 1) / position_lanes * position_lanes;
  // 1.3 * outs / channel_slots >= width / position_slots
  return 13 * outs * position_slots >= 10 * width * channel_slots;
}

// packed[k] = group k's filters packed for conv_channel_vector.h, in storage[k].
void pack_groups(const float* weight, int groups, int group_outs, const ConvGeometry& group,
                 std::vector<std::vector<float>>& storage, std::vector<const float*>& packed) {
  storage.resize(groups);
  packed.resize(groups);
  const int64_t group_weights = group_outs * group.column_rows();
  for (int k = 0; k < groups; ++k)
    packed[k] = pack_channel_vector_filters(weight + k * group_weights, group_outs, group, storage[k]);
}

}  // namespace

Conv2d::Conv2d(int in_channels, int out_channels, int kernel_size, const Conv2dOptions& options, Rng& rng)
    : in_channels_(in_channels), out_channels_(out_channels), kernel_(kernel_size), options_(options) {
  BRANCHY_CHECK(in_channels > 0 && out_channels > 0 && kernel_size > 0 && options.stride > 0 &&
                    options.padding >= 0 && options.groups > 0,
                "conv: bad configuration in ", in_channels, " out ", out_channels, " kernel ",
                kernel_size, " stride ", options.stride, " padding ", options.padding, " groups ",
                options.groups);
  BRANCHY_CHECK(in_channels % options.groups == 0 && out_channels % options.groups == 0, "conv ",
                in_channels, "->", out_channels, ": channels are not divisible by groups ", options.groups);
  weight = Param(Shape{out_channels, in_channels / options.groups, kernel_size, kernel_size});
  if (options.bias) bias = Param(Shape{out_channels});
  init_pytorch_default(weight.value, options.bias ? &bias.value : nullptr, rng);
}

ConvGeometry Conv2d::geometry(const Shape& in) const {
  return ConvGeometry{static_cast<int>(in[1]), static_cast<int>(in[2]), static_cast<int>(in[3]),
                      kernel_, kernel_, options_.stride, options_.stride, options_.padding, options_.padding};
}

Shape Conv2d::out_shape(const Shape& in) const {
  BRANCHY_CHECK(in.rank() == 4 && in[1] == in_channels_, describe(), ": expects input (N, ",
                in_channels_, ", H, W), got ", in.str());
  BRANCHY_CHECK(in[2] + 2 * options_.padding >= kernel_ && in[3] + 2 * options_.padding >= kernel_,
                describe(), ": kernel does not fit input ", in.str());
  const ConvGeometry g = geometry(in);
  return Shape{in[0], out_channels_, g.out_height(), g.out_width()};
}

int64_t Conv2d::macs(const Shape& in) const {
  const Shape out = out_shape(in);
  return out.numel() * (in_channels_ / options_.groups) * kernel_ * kernel_;
}

std::string Conv2d::describe() const {
  std::string s = "conv " + std::to_string(in_channels_) + "->" + std::to_string(out_channels_) + " k" +
                  std::to_string(kernel_) + " s" + std::to_string(options_.stride) + " p" +
                  std::to_string(options_.padding);
  if (options_.groups > 1) s += " g" + std::to_string(options_.groups);
  if (!options_.bias) s += " nobias";
  return s;
}

void Conv2d::collect_params(const std::string& prefix, std::vector<ParamRef>& out) {
  out.push_back({join_name(prefix, "weight"), &weight});
  if (options_.bias) out.push_back({join_name(prefix, "bias"), &bias});
}

const float* Conv2d::columns_of(const float* image, const ConvGeometry& g, float* buffer) const {
  if (is_pointwise()) return image;  // a 1×1 stride-1 image already is its column matrix
  im2col(image, g, buffer);
  return buffer;
}

float* Conv2d::column_buffer_for(int64_t n, const ConvGeometry& g, int thread) {
  const int64_t size = g.column_rows() * g.column_cols();
  if (columns_kept_) return kept_columns_.data() + n * size;
  return column_buffers_[thread].data();
}

void Conv2d::forward_image(const float* columns, const ConvGeometry& g, float* out, bool parallel_gemm,
                           const Filters& filters) const {
  const int groups = options_.groups;
  const int rows = static_cast<int>(g.column_rows()) / groups;  // (C_in/groups)*K*K
  const int cols = static_cast<int>(g.column_cols());           // OH*OW
  const int outs = out_channels_ / groups;
  const GemmFunction multiply = choose_gemm(parallel_gemm);
  for (int group = 0; group < groups; ++group) {
    // y_group (outs, cols) = W_group (outs, rows) * columns_group (rows, cols)
    multiply(false, false, outs, cols, rows, 1.0f, filters.weight + static_cast<int64_t>(group) * outs * rows,
             rows, columns + static_cast<int64_t>(group) * rows * cols, cols, 0.0f,
             out + static_cast<int64_t>(group) * outs * cols, cols);
  }
  if (filters.bias) {
    for (int o = 0; o < out_channels_; ++o) {
      float* plane = out + static_cast<int64_t>(o) * cols;
      const float b = filters.bias[o];
      for (int i = 0; i < cols; ++i) plane[i] += b;
    }
  }
  if (filters.relu) relu_forward(out, out, static_cast<int64_t>(out_channels_) * cols);
}

ConvGeometry Conv2d::group_geometry(const ConvGeometry& g) const {
  ConvGeometry group = g;
  group.channels = g.channels / options_.groups;
  return group;
}

bool Conv2d::channel_vector_weight_gradient_applies(const ConvGeometry& g) const {
  const ConvGeometry group = group_geometry(g);
  return out_channels_ / options_.groups >= min_channel_vector_lanes() && group.kernel_h == group.kernel_w &&
         (group.kernel_w == 3 || group.kernel_w == 5);
}

bool Conv2d::direct_by_channel_vectors(const ConvGeometry& g) const {
  const ConvGeometry group = group_geometry(g);
  const int outs = out_channels_ / options_.groups;
  // Positions in the lanes (conv_direct.h) serve stride 1 only.
  if (group.stride_h != 1 || group.stride_w != 1) return outs >= min_channel_vector_lanes();
  return by_channel_vectors(outs, group.out_width());
}

bool Conv2d::direct_path_pays(const ConvGeometry& g) const {
  const ConvGeometry group = group_geometry(g);
  const int outs = out_channels_ / options_.groups;
  // With a vector's worth of output channels and 4+ input channels: every
  // 3x3 and 5x5 at stride 1 or 2 (forward and weight gradient in
  // engine/conv_channel_vector.h; the input gradient there too at stride 1,
  // at stride 2 by phases with a vector's worth of input channels
  // (conv_strided_input_gradient.h), else by GEMM + col2im). Measured (`make bench-onednn`, AMD EPYC):
  // b-resnet's stride-2 convs 0.44-0.45 -> 0.75-0.78 of oneDNN forward; but a
  // 1-channel stem 0.52 -> 0.30 (9 or 25 taps per tile do not pay for
  // transposing it), so stems keep im2col.
  if (group.channels >= 4 && direct_by_channel_vectors(g) && group.kernel_h == group.kernel_w && (group.kernel_w == 3 || group.kernel_w == 5) &&
      group.stride_h == group.stride_w && (group.stride_w == 2 || direct_training_conv_supported(group)))
    return true;
  // A network's first conv (1-3 input channels, no groups) with fewer
  // outputs than the narrowest channel vector: conv_direct.h's positions in
  // the lanes. GEMM on its columns has only that many rows: b-lenet's 1->5
  // 5x5 stem 0.65 -> 1.40 of oneDNN forward. With 16 or 32 outputs GEMM
  // stays ahead (1->16 3x3: 0.48 against 0.35 direct, 0.36 by channel vectors).
  if (group.channels < 4 && options_.groups == 1 && outs < min_channel_vector_lanes() &&
      direct_training_conv_supported(group))
    return true;
  // Otherwise (measured per shape, `make bench`, conv rows): im2col + GEMM
  // wins for a 1..3-channel input with more outputs (its column matrix is
  // small) and for layers wider than 64 channels on maps larger than 8x8.
  return direct_training_conv_supported(group) && group.channels >= 4 && (outs <= 64 || g.column_cols() <= 64);
}

Tensor Conv2d::forward_direct(const Tensor& x, const ConvGeometry& g, Tensor y, const Filters& filters) {
  const int64_t N = x.dim(0);
  const int64_t image_in = x.shape().sample_numel(), image_out = y.shape().sample_numel();
  const ConvGeometry group = group_geometry(g);
  const int groups = options_.groups, group_outs = out_channels_ / groups;
  const int64_t group_in = static_cast<int64_t>(group.channels) * g.height * g.width;  // one group's input planes
  const int64_t group_out = group_outs * g.column_cols();                                 // and output planes
  const int64_t group_weights = weight.value.numel() / groups;
  const bool channel_vectors = direct_by_channel_vectors(g);
  if (channel_vectors) pack_groups(filters.weight, groups, group_outs, group, packed_storage_, packed_filters_);
  auto convolve_image = [&](int64_t n, bool split_channels) {
    for (int k = 0; k < groups; ++k) {
      const float* image = x.data() + n * image_in + k * group_in;
      const float* bias_k = filters.bias ? filters.bias + k * group_outs : nullptr;
      float* out = y.data() + n * image_out + k * group_out;
      if (channel_vectors)
        conv2d_channel_vector(image, group, packed_filters_[k], bias_k, group_outs, out, split_channels, filters.relu);
      else
        conv2d_direct_stride1(image, group, filters.weight + k * group_weights, bias_k, group_outs, out,
                              split_channels, filters.relu);
    }
  };
  if (N >= num_threads()) {
    parallel_for(N, macs(x.shape()), [&](int64_t n) { convolve_image(n, false); });
  } else {  // too few images to go round: threads share each image's channels
    for (int64_t n = 0; n < N; ++n) convolve_image(n, true);
  }
  return y;
}

Tensor Conv2d::forward(const Tensor& x, Mode mode) { return forward_with(x, mode, own_filters()); }

Tensor Conv2d::forward_folded(const Tensor& x, const float* channel_scale, const float* channel_shift, bool relu) {
  Filters filters = own_filters();
  filters.relu = relu;
  if (channel_scale) {
    const int64_t filter = weight.value.numel() / out_channels_;  // C_in/groups * K * K
    folded_weight_.resize(static_cast<size_t>(weight.value.numel()));
    folded_bias_.resize(static_cast<size_t>(out_channels_));
    for (int o = 0; o < out_channels_; ++o) {
      const float* w = weight.value.data() + o * filter;
      float* folded = folded_weight_.data() + o * filter;
      for (int64_t i = 0; i < filter; ++i) folded[i] = w[i] * channel_scale[o];  // vectorised
      folded_bias_[o] = (options_.bias ? bias.value[o] * channel_scale[o] : 0.0f) + channel_shift[o];
    }
    filters.weight = folded_weight_.data();
    filters.bias = folded_bias_.data();
  }
  return forward_with(x, Mode::eval, filters);
}

Tensor Conv2d::forward_with(const Tensor& x, Mode mode, const Filters& filters) {
  const Shape out = out_shape(x.shape());
  const ConvGeometry g = geometry(x.shape());
  Tensor y = Tensor::uninitialized(out);  // (N, C_out, OH, OW)
  const int64_t N = x.dim(0);
  const int64_t image_in = x.shape().sample_numel(), image_out = out.sample_numel();
  const bool direct = mode == Mode::train
                          ? direct_path_pays(g)
                          : !is_pointwise() && (direct_conv_pays(g, out_channels_, options_.groups) || direct_path_pays(g));
  forward_was_direct_ = direct;
  if (direct) {
    // No column matrix: backward reads only the input.
    input_ = mode == Mode::train ? x : Tensor();
    columns_kept_ = false;
    weights_by_channel_vectors_ = false;
    return forward_direct(x, g, std::move(y), filters);
  }
  const int64_t column_size = g.column_rows() * g.column_cols();  // one image's (C_in*K*K, OH*OW)
  // A network's first conv (no input gradient) with a vector's worth of
  // outputs: its weight gradient by channel vectors (backward_direct), which
  // reads the input alone. Measured (`make bench-onednn`, AMD EPYC): B-AlexNet's
  // 1->32 5x5 stem 41 -> 80 GFLOP/s against GEMM on the columns.
  weights_by_channel_vectors_ = mode == Mode::train && !needs_input_grad_ && channel_vector_weight_gradient_applies(g);
  // Keeping the columns trades memory for a second im2col in backward.
  columns_kept_ = mode == Mode::train && !is_pointwise() && !weights_by_channel_vectors_ &&
                  N * column_size * static_cast<int64_t>(sizeof(float)) <= kMaxKeptColumnBytes;
  if (columns_kept_) grow(kept_columns_, N * column_size);
  const int threads = num_threads();
  column_buffers_.resize(threads);
  if (!columns_kept_ && !is_pointwise())
    for (auto& buffer : column_buffers_) grow(buffer, column_size);
  // One image per thread when the batch can feed every thread; otherwise
  // images in turn, each GEMM split over the threads.
  const bool images_in_parallel = N >= threads && worth_parallel(macs(x.shape()));
  if (images_in_parallel) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const float* columns = columns_of(x.data() + n * image_in, g, column_buffer_for(n, g, omp_get_thread_num()));
      forward_image(columns, g, y.data() + n * image_out, false, filters);
    }
  } else {
    for (int64_t n = 0; n < N; ++n) {
      const float* columns = columns_of(x.data() + n * image_in, g, column_buffer_for(n, g, 0));
      forward_image(columns, g, y.data() + n * image_out, true, filters);
    }
  }
  input_ = mode == Mode::train ? x : Tensor();
  return y;
}

void Conv2d::backward_image(const float* columns, const float* d_out, const ConvGeometry& g,
                            std::vector<float>& d_column_buffer, float* d_weight, float* d_image,
                            bool parallel_gemm) const {
  const int groups = options_.groups;
  const int rows = static_cast<int>(g.column_rows()) / groups;
  const int cols = static_cast<int>(g.column_cols());
  const int outs = out_channels_ / groups;
  float* d_columns = d_image;  // a 1×1 conv's column gradient is the image gradient
  if (d_image && !is_pointwise()) {
    grow(d_column_buffer, g.column_rows() * g.column_cols());
    d_columns = d_column_buffer.data();
  }
  const GemmFunction multiply = choose_gemm(parallel_gemm);
  for (int group = 0; group < groups; ++group) {
    const float* dy_group = d_out + static_cast<int64_t>(group) * outs * cols;       // (outs, cols)
    const float* w_group = weight.value.data() + static_cast<int64_t>(group) * outs * rows;  // (outs, rows)
    // dW_group (outs, rows) += dy_group (outs, cols) * columns_group^T (cols, rows)
    multiply(false, true, outs, rows, cols, 1.0f, dy_group, cols,
             columns + static_cast<int64_t>(group) * rows * cols, cols, 1.0f,
             d_weight + static_cast<int64_t>(group) * outs * rows, rows);
    if (!d_image) continue;  // nobody reads dx
    // d_columns_group (rows, cols) = W_group^T (rows, outs) * dy_group (outs, cols)
    multiply(true, false, rows, cols, outs, 1.0f, w_group, rows, dy_group, cols, 0.0f,
             d_columns + static_cast<int64_t>(group) * rows * cols, cols);
  }
  if (d_image && !is_pointwise()) col2im(d_columns, g, d_image);
}

Tensor Conv2d::backward(const Tensor& dy) {
  BRANCHY_CHECK(input_.defined(), describe(), ": backward without a train-mode forward");
  const Shape out = out_shape(input_.shape());
  BRANCHY_CHECK(dy.shape() == out, describe(), ": gradient ", dy.shape().str(), " does not match output ",
                out.str());
  const ConvGeometry g = geometry(input_.shape());
  const int64_t N = input_.dim(0);
  const int64_t image_in = input_.shape().sample_numel(), image_out = out.sample_numel();
  const int64_t plane = out[2] * out[3];
  if (options_.bias) {
    for (int64_t n = 0; n < N; ++n)
      for (int o = 0; o < out_channels_; ++o)
        bias.grad[o] += static_cast<float>(sum(dy.data() + n * image_out + o * plane, plane));
  }
  if (forward_was_direct_ || weights_by_channel_vectors_) return backward_direct(dy, g);
  // (N, C_in, H, W), or undefined when nobody reads it: then no dx work at all.
  Tensor dx = needs_input_grad_ ? Tensor::uninitialized(input_.shape()) : Tensor();
  // Image n's slice of dx, or nullptr.
  auto d_image_of = [&](int64_t n) { return needs_input_grad_ ? dx.data() + n * image_in : nullptr; };

  const int threads = num_threads();
  column_buffers_.resize(threads);
  d_column_buffers_.resize(threads);
  if (!columns_kept_ && !is_pointwise())
    for (auto& buffer : column_buffers_) grow(buffer, g.column_rows() * g.column_cols());
  // Image n's columns: kept by forward, or unrolled again into the thread's buffer.
  auto columns_for = [&](int64_t n, int thread) {
    float* buffer = column_buffer_for(n, g, thread);
    if (columns_kept_) return static_cast<const float*>(buffer);
    return columns_of(input_.data() + n * image_in, g, buffer);
  };
  const bool images_in_parallel = N >= threads && worth_parallel(macs(input_.shape()));
  if (images_in_parallel) {
    // Each thread sums its images' weight gradients privately; then one reduction.
    const int64_t weight_size = weight.value.numel();
    d_weight_buffers_.resize(threads);
    for (auto& buffer : d_weight_buffers_) buffer.assign(weight_size, 0.0f);
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const int t = omp_get_thread_num();
      backward_image(columns_for(n, t), dy.data() + n * image_out, g, d_column_buffers_[t],
                     d_weight_buffers_[t].data(), d_image_of(n), false);
    }
    for (const auto& buffer : d_weight_buffers_) add(weight.grad.data(), buffer.data(), weight.grad.data(), weight_size);
  } else {
    for (int64_t n = 0; n < N; ++n)
      backward_image(columns_for(n, 0), dy.data() + n * image_out, g, d_column_buffers_[0],
                     weight.grad.data(), d_image_of(n), true);
  }
  return dx;
}

Tensor Conv2d::backward_direct(const Tensor& dy, const ConvGeometry& g) {
  const int64_t N = input_.dim(0);
  const int64_t image_in = input_.shape().sample_numel(), image_out = dy.shape().sample_numel();
  const ConvGeometry group = group_geometry(g);
  const int groups = options_.groups, group_outs = out_channels_ / groups;
  const int64_t group_in = static_cast<int64_t>(group.channels) * g.height * g.width;
  const int64_t group_out = group_outs * g.column_cols();
  const int64_t group_weights = weight.value.numel() / groups;
  Tensor dx = needs_input_grad_ ? Tensor::uninitialized(input_.shape()) : Tensor();  // (N, C_in, H, W)
  // A direct forward's kernel; after an im2col forward (a first conv), the
  // weight gradient by channel vectors (weights_by_channel_vectors_).
  const bool channel_vectors = forward_was_direct_ ? direct_by_channel_vectors(g) : true;
  // At stride 1, dx is a convolution of dy with the flipped filters: C_in/groups outputs per group.
  const bool by_flipped_filters = g.stride_h == 1 && g.stride_w == 1;
  const ConvGeometry dx_group = input_gradient_geometry(group, group_outs);
  // At stride 1 against positions in the lanes (rows of dx, the input's
  // width); at stride 2 (phases) against GEMM, so a vector's worth suffices.
  const bool dx_by_channel_vectors = by_flipped_filters ? by_channel_vectors(group.channels, group.width)
                                                        : group.channels >= min_channel_vector_lanes();
  // At stride 2, with a vector's worth of input channels: by phases
  // (conv_strided_input_gradient.h); with fewer, GEMM + col2im.
  const bool by_phases = !by_flipped_filters && dx_by_channel_vectors;
  d_column_buffers_.resize(num_threads());
  if (needs_input_grad_ && by_flipped_filters) {
    flipped_weight_.resize(static_cast<size_t>(weight.value.numel()));  // per group (C_in/groups, C_out/groups, K, K)
    for (int k = 0; k < groups; ++k)
      flip_filters_for_input_gradient(weight.value.data() + k * group_weights, group_outs, group,
                                      flipped_weight_.data() + k * group_weights);
    if (dx_by_channel_vectors)
      pack_groups(flipped_weight_.data(), groups, group.channels, dx_group, packed_storage_, packed_filters_);
  }
  if (needs_input_grad_ && by_phases) {
    strided_plans_.resize(groups);
    for (int k = 0; k < groups; ++k)
      plan_strided_input_gradient(weight.value.data() + k * group_weights, group_outs, group, strided_plans_[k]);
  }
  // Each thread takes a run of images: their weight gradients summed
  // privately (then one reduction), their input gradients written in place.
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), N));
  const int64_t weight_size = weight.value.numel();
  d_weight_buffers_.resize(threads);
  for (auto& buffer : d_weight_buffers_) buffer.assign(weight_size, 0.0f);
  const int64_t work = 3 * macs(input_.shape());
  parallel_chunks(N, work, [&](int64_t first, int64_t end) {
    const int64_t t = (first * threads + N - 1) / N;  // which chunk: parallel_chunks starts chunk k at N*k/threads
    for (int k = 0; k < groups; ++k) {
      const float* images = input_.data() + first * image_in + k * group_in;
      const float* dy_k = dy.data() + first * image_out + k * group_out;
      float* d_weight = d_weight_buffers_[t].data() + k * group_weights;
      if (channel_vectors)
        conv2d_channel_vector_weight_gradient(images, image_in, dy_k, image_out, end - first, group, group_outs,
                                              d_weight);
      else
        conv2d_direct_backward_weights(images, image_in, dy_k, image_out, end - first, group, group_outs, d_weight);
    }
    if (!needs_input_grad_) return;
    if (by_phases) {
      for (int64_t n = first; n < end; ++n)
        for (int k = 0; k < groups; ++k)
          strided_input_gradient(dy.data() + n * image_out + k * group_out, strided_plans_[k],
                                 dx.data() + n * image_in + k * group_in);
      return;
    }
    if (!by_flipped_filters) {  // stride 2: dx = col2im(W^T dy), one image at a time
      const int rows = static_cast<int>(group.column_rows()), cols = static_cast<int>(g.column_cols());
      grow(d_column_buffers_[t], g.column_rows() * cols);
      for (int64_t n = first; n < end; ++n) {
        for (int k = 0; k < groups; ++k)
          gemm(true, false, rows, cols, group_outs, 1.0f, weight.value.data() + k * group_weights, rows,
               dy.data() + n * image_out + k * group_out, cols, 0.0f,
               d_column_buffers_[t].data() + static_cast<int64_t>(k) * rows * cols, cols);
        col2im(d_column_buffers_[t].data(), g, dx.data() + n * image_in);
      }
      return;
    }
    for (int64_t n = first; n < end; ++n)
      for (int k = 0; k < groups; ++k) {
        const float* dy_k = dy.data() + n * image_out + k * group_out;
        float* dx_k = dx.data() + n * image_in + k * group_in;
        if (dx_by_channel_vectors)
          conv2d_channel_vector(dy_k, dx_group, packed_filters_[k], nullptr, group.channels, dx_k);
        else
          conv2d_direct_backward_data(dy_k, group, group_outs, flipped_weight_.data() + k * group_weights, dx_k);
      }
  });
  for (const auto& buffer : d_weight_buffers_) add(weight.grad.data(), buffer.data(), weight.grad.data(), weight_size);
  return dx;
}

}  // namespace branchy
