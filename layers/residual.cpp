#include "layers/residual.h"

#include <cassert>
#include <initializer_list>

#include "engine/error.h"
#include "engine/kernels.h"
#include "engine/threads.h"
#include "layers/fused_inference.h"

namespace branchy {

namespace {

// The spatial size after taking every `stride`-th row: ceil(size / stride),
// the same as a 3×3 padding-1 or 1×1 padding-0 conv with that stride gives.
int64_t subsampled(int64_t size, int stride) { return (size - 1) / stride + 1; }

// Checked in the first member initializer, before any sub-layer is built, so
// a bad configuration is reported in the block's words rather than a conv's.
int checked_block_arguments(const char* block, int in_channels, int middle_channels, int out_channels,
                            int stride, int groups, ShortcutKind shortcut) {
  BRANCHY_CHECK(in_channels > 0 && middle_channels > 0 && out_channels > 0 && stride > 0 && groups > 0, block,
                ": channels, stride and groups must be positive, got in ", in_channels, " middle ",
                middle_channels, " out ", out_channels, " stride ", stride, " groups ", groups);
  BRANCHY_CHECK(middle_channels % groups == 0, block, ": ", middle_channels,
                " bottleneck channels are not divisible by groups ", groups);
  BRANCHY_CHECK(shortcut != ShortcutKind::identity_or_zero_pad || out_channels >= in_channels, block,
                ": a zero-pad shortcut cannot shrink ", in_channels, " channels to ", out_channels);
  return in_channels;
}

ResidualShortcut::Path choose_path(int in_channels, int out_channels, int stride, ShortcutKind kind) {
  if (in_channels == out_channels && stride == 1) return ResidualShortcut::Path::identity;
  return kind == ShortcutKind::identity_or_projection ? ResidualShortcut::Path::projection
                                                      : ResidualShortcut::Path::zero_pad;
}

// out = a + b over the threads, in contiguous runs (out may be a).
void add_in_parallel(const float* a, const float* b, float* out, int64_t n) {
  parallel_chunks(n, n, [&](int64_t begin, int64_t end) { add(a + begin, b + begin, out + begin, end - begin); });
}

// a + b into a new tensor (the sub-layers may keep a or b for their backward).
Tensor sum_of(const Tensor& a, const Tensor& b) {
  assert(a.shape() == b.shape());
  Tensor out = Tensor::uninitialized(a.shape());
  add_in_parallel(a.data(), b.data(), out.data(), a.numel());
  return out;
}

const char* shortcut_word(ResidualShortcut::Path path) {
  switch (path) {
    case ResidualShortcut::Path::identity: return "identity";
    case ResidualShortcut::Path::projection: return "proj";
    case ResidualShortcut::Path::zero_pad: return "zero-pad";
  }
  return "?";
}

}  // namespace

// ------------------------------------------------------------ zero-pad shortcut

Tensor zero_pad_shortcut_forward(const Tensor& x, int out_channels, int stride) {
  BRANCHY_CHECK(x.rank() == 4 && stride >= 1 && out_channels >= x.dim(1), "zero-pad shortcut: cannot take ",
                x.shape().str(), " to ", out_channels, " channels with stride ", stride);
  const int64_t batch = x.dim(0), in_channels = x.dim(1), height = x.dim(2), width = x.dim(3);
  const int64_t out_height = subsampled(height, stride), out_width = subsampled(width, stride);
  const int64_t front = (out_channels - in_channels) / 2;  // zero channels before the input's
  Tensor y(Shape{batch, out_channels, out_height, out_width});  // (N, C_out, OH, OW), zero-filled
  parallel_for(batch, y.numel(), [&](int64_t n) {
    for (int64_t c = 0; c < in_channels; ++c)
      for (int64_t oh = 0; oh < out_height; ++oh)
        for (int64_t ow = 0; ow < out_width; ++ow)
          y.at(n, c + front, oh, ow) = x.at(n, c, oh * stride, ow * stride);
  });
  return y;
}

Tensor zero_pad_shortcut_backward(const Tensor& dy, const Shape& in_shape, int stride) {
  BRANCHY_CHECK(in_shape.rank() == 4 && stride >= 1 && dy.rank() == 4 && dy.dim(0) == in_shape[0] &&
                    dy.dim(1) >= in_shape[1] && dy.dim(2) == subsampled(in_shape[2], stride) &&
                    dy.dim(3) == subsampled(in_shape[3], stride),
                "zero-pad shortcut: backward got dy ", dy.shape().str(), " for input ", in_shape.str(),
                " and stride ", stride);
  const int64_t batch = in_shape[0], in_channels = in_shape[1];
  const int64_t out_height = dy.dim(2), out_width = dy.dim(3);
  const int64_t front = (dy.dim(1) - in_channels) / 2;
  Tensor dx(in_shape);  // (N, C_in, H, W), zero off the sampled grid
  parallel_for(batch, dy.numel(), [&](int64_t n) {
    for (int64_t c = 0; c < in_channels; ++c)
      for (int64_t oh = 0; oh < out_height; ++oh)
        for (int64_t ow = 0; ow < out_width; ++ow)
          dx.at(n, c, oh * stride, ow * stride) = dy.at(n, c + front, oh, ow);
  });
  return dx;
}

// ------------------------------------------------------------ ResidualShortcut

ResidualShortcut::ResidualShortcut(int in_channels, int out_channels, int stride, ShortcutKind kind, Rng& rng)
    : in_channels_(checked_block_arguments("shortcut", in_channels, out_channels, out_channels, stride, 1, kind)),
      out_channels_(out_channels),
      stride_(stride),
      path_(choose_path(in_channels, out_channels, stride, kind)) {
  if (path_ == Path::projection) {
    conv = std::make_unique<Conv2d>(in_channels, out_channels, 1, Conv2dOptions{stride, 0, 1, false}, rng);
    bn = std::make_unique<BatchNorm2d>(out_channels);
  }
}

std::string ResidualShortcut::describe() const { return shortcut_word(path_); }

Shape ResidualShortcut::out_shape(const Shape& in) const {
  check_image_input([this] { return "shortcut " + describe(); }, in, in_channels_);
  return Shape{in[0], out_channels_, subsampled(in[2], stride_), subsampled(in[3], stride_)};
}

Tensor ResidualShortcut::forward(const Tensor& x, Mode mode) {
  out_shape(x.shape());  // checks the input
  in_shape_ = x.shape();
  ready_for_backward_ = mode == Mode::train;
  switch (path_) {
    case Path::identity: return x;  // shared: nobody writes into it
    case Path::projection: return bn->forward(conv->forward(x, mode), mode);
    case Path::zero_pad: return zero_pad_shortcut_forward(x, out_channels_, stride_);
  }
  return x;
}

Tensor ResidualShortcut::backward(const Tensor& dy) {
  BRANCHY_CHECK(ready_for_backward_, "shortcut ", describe(), ": backward needs a train-mode forward first");
  BRANCHY_CHECK(dy.shape() == out_shape(in_shape_), "shortcut ", describe(), ": backward got dy ",
                dy.shape().str(), ", expected ", out_shape(in_shape_).str());
  switch (path_) {
    case Path::identity: return dy;
    case Path::projection: return conv->backward(bn->backward(dy));
    case Path::zero_pad: return zero_pad_shortcut_backward(dy, in_shape_, stride_);
  }
  return dy;
}

void ResidualShortcut::collect_params(const std::string& prefix, std::vector<ParamRef>& out) {
  // nn.Sequential(conv, bn) numbers its children 0 and 1.
  if (path_ != Path::projection) return;
  conv->collect_params(join_name(prefix, "0"), out);
  bn->collect_params(join_name(prefix, "1"), out);
}

int64_t ResidualShortcut::macs(const Shape& in) const {
  out_shape(in);  // checks `in`
  if (path_ != Path::projection) return 0;  // copying and zero filling are not multiply-adds
  return conv->macs(in) + bn->macs(conv->out_shape(in));
}

// ------------------------------------------------------------ ResidualBasicBlock

ResidualBasicBlock::ResidualBasicBlock(int in_channels, int out_channels, int stride, ShortcutKind shortcut_kind,
                                       Rng& rng)
    : conv1(checked_block_arguments("basic-block", in_channels, out_channels, out_channels, stride, 1,
                                    shortcut_kind),
            out_channels, 3, Conv2dOptions{stride, 1, 1, false}, rng),
      bn1(out_channels),
      conv2(out_channels, out_channels, 3, Conv2dOptions{1, 1, 1, false}, rng),
      bn2(out_channels),
      shortcut(in_channels, out_channels, stride, shortcut_kind, rng),
      in_channels_(in_channels),
      out_channels_(out_channels),
      stride_(stride) {}

std::string ResidualBasicBlock::describe() const {
  return "basic-block " + std::to_string(in_channels_) + "->" + std::to_string(out_channels_) + " s" +
         std::to_string(stride_) + " " + shortcut.describe();
}

Shape ResidualBasicBlock::out_shape(const Shape& in) const {
  check_image_input([this] { return describe(); }, in, in_channels_);
  return conv2.out_shape(conv1.out_shape(in));
}

int64_t ResidualBasicBlock::macs(const Shape& in) const {
  out_shape(in);                                   // checks `in`
  const Shape middle = conv1.out_shape(in);        // (N, C_out, OH, OW)
  return conv1.macs(in) + bn1.macs(middle) + conv2.macs(middle) + bn2.macs(middle) + shortcut.macs(in);
}

Tensor ResidualBasicBlock::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());                // x: (N, C_in, H, W)
  Tensor main_path;                                      // (N, C_out, OH, OW)
  if (mode == Mode::eval) {  // conv + bn (+ relu) folded into one pass each
    main_path = conv_inference(conv2, &bn2, false, conv_inference(conv1, &bn1, true, x));
  } else {
    Tensor h = relu1.forward(bn1.forward(conv1.forward(x, mode), mode), mode);  // (N, C_out, OH, OW)
    main_path = bn2.forward(conv2.forward(h, mode), mode);
  }
  Tensor skip = shortcut.forward(x, mode);                                   // (N, C_out, OH, OW)
  Tensor y = relu_out.forward(sum_of(main_path, skip), mode);                // (N, C_out, OH, OW)
  out_shape_ = out;
  ready_for_backward_ = mode == Mode::train;
  return y;
}

Tensor ResidualBasicBlock::backward(const Tensor& dy) {
  BRANCHY_CHECK(ready_for_backward_, describe(), ": backward needs a train-mode forward first");
  BRANCHY_CHECK(dy.shape() == out_shape_, describe(), ": backward got dy ", dy.shape().str(), ", expected ",
                out_shape_.str());
  const Tensor d_sum = relu_out.backward(dy);  // (N, C_out, OH, OW), reaches both paths unchanged
  const Tensor d_h = conv2.backward(bn2.backward(d_sum));
  Tensor dx = conv1.backward(bn1.backward(relu1.backward(d_h)));  // (N, C_in, H, W), ours to write
  const Tensor dx_skip = shortcut.backward(d_sum);                 // (N, C_in, H, W)
  add_in_parallel(dx.data(), dx_skip.data(), dx.data(), dx.numel());
  return dx;
}

void ResidualBasicBlock::collect_params(const std::string& prefix, std::vector<ParamRef>& out) {
  conv1.collect_params(join_name(prefix, "conv1"), out);
  bn1.collect_params(join_name(prefix, "bn1"), out);
  conv2.collect_params(join_name(prefix, "conv2"), out);
  bn2.collect_params(join_name(prefix, "bn2"), out);
  shortcut.collect_params(join_name(prefix, "shortcut"), out);
}

// ------------------------------------------------------------ ResidualBottleneck

ResidualBottleneck::ResidualBottleneck(int in_channels, int bottleneck_channels, int out_channels, int stride,
                                       int groups, ShortcutKind shortcut_kind, Rng& rng)
    : conv1(checked_block_arguments("bottleneck", in_channels, bottleneck_channels, out_channels, stride, groups,
                                    shortcut_kind),
            bottleneck_channels, 1, Conv2dOptions{1, 0, 1, false}, rng),
      bn1(bottleneck_channels),
      conv2(bottleneck_channels, bottleneck_channels, 3, Conv2dOptions{stride, 1, groups, false}, rng),
      bn2(bottleneck_channels),
      conv3(bottleneck_channels, out_channels, 1, Conv2dOptions{1, 0, 1, false}, rng),
      bn3(out_channels),
      shortcut(in_channels, out_channels, stride, shortcut_kind, rng),
      in_channels_(in_channels),
      bottleneck_channels_(bottleneck_channels),
      out_channels_(out_channels),
      stride_(stride),
      groups_(groups) {}

std::string ResidualBottleneck::describe() const {
  std::string middle = std::to_string(bottleneck_channels_);
  if (groups_ > 1) middle += " g" + std::to_string(groups_);
  return "bottleneck " + std::to_string(in_channels_) + "->(" + middle + ")->" + std::to_string(out_channels_) +
         " s" + std::to_string(stride_) + " " + shortcut.describe();
}

Shape ResidualBottleneck::out_shape(const Shape& in) const {
  check_image_input([this] { return describe(); }, in, in_channels_);
  return conv3.out_shape(conv2.out_shape(conv1.out_shape(in)));
}

int64_t ResidualBottleneck::macs(const Shape& in) const {
  out_shape(in);                                   // checks `in`
  const Shape reduced = conv1.out_shape(in);       // (N, b, H, W)
  const Shape middle = conv2.out_shape(reduced);   // (N, b, OH, OW)
  const Shape out = conv3.out_shape(middle);       // (N, C_out, OH, OW)
  return conv1.macs(in) + bn1.macs(reduced) + conv2.macs(reduced) + bn2.macs(middle) + conv3.macs(middle) +
         bn3.macs(out) + shortcut.macs(in);
}

Tensor ResidualBottleneck::forward(const Tensor& x, Mode mode) {
  const Shape out = out_shape(x.shape());                                      // x: (N, C_in, H, W)
  Tensor main_path;                                                            // (N, C_out, OH, OW)
  if (mode == Mode::eval) {  // conv + bn (+ relu) folded into one pass each
    const Tensor h1 = conv_inference(conv1, &bn1, true, x);
    main_path = conv_inference(conv3, &bn3, false, conv_inference(conv2, &bn2, true, h1));
  } else {
    Tensor h1 = relu1.forward(bn1.forward(conv1.forward(x, mode), mode), mode);   // (N, b, H, W)
    Tensor h2 = relu2.forward(bn2.forward(conv2.forward(h1, mode), mode), mode);  // (N, b, OH, OW)
    main_path = bn3.forward(conv3.forward(h2, mode), mode);
  }
  Tensor skip = shortcut.forward(x, mode);                                     // (N, C_out, OH, OW)
  Tensor y = relu_out.forward(sum_of(main_path, skip), mode);                  // (N, C_out, OH, OW)
  out_shape_ = out;
  ready_for_backward_ = mode == Mode::train;
  return y;
}

Tensor ResidualBottleneck::backward(const Tensor& dy) {
  BRANCHY_CHECK(ready_for_backward_, describe(), ": backward needs a train-mode forward first");
  BRANCHY_CHECK(dy.shape() == out_shape_, describe(), ": backward got dy ", dy.shape().str(), ", expected ",
                out_shape_.str());
  const Tensor d_sum = relu_out.backward(dy);  // (N, C_out, OH, OW), reaches both paths unchanged
  const Tensor d_h2 = conv3.backward(bn3.backward(d_sum));               // (N, b, OH, OW)
  const Tensor d_h1 = conv2.backward(bn2.backward(relu2.backward(d_h2)));  // (N, b, H, W)
  Tensor dx = conv1.backward(bn1.backward(relu1.backward(d_h1)));        // (N, C_in, H, W), ours to write
  const Tensor dx_skip = shortcut.backward(d_sum);                       // (N, C_in, H, W)
  add_in_parallel(dx.data(), dx_skip.data(), dx.data(), dx.numel());
  return dx;
}

void ResidualBottleneck::collect_params(const std::string& prefix, std::vector<ParamRef>& out) {
  conv1.collect_params(join_name(prefix, "conv1"), out);
  bn1.collect_params(join_name(prefix, "bn1"), out);
  conv2.collect_params(join_name(prefix, "conv2"), out);
  bn2.collect_params(join_name(prefix, "bn2"), out);
  conv3.collect_params(join_name(prefix, "conv3"), out);
  bn3.collect_params(join_name(prefix, "bn3"), out);
  shortcut.collect_params(join_name(prefix, "shortcut"), out);
}

void ResidualShortcut::for_each_layer(const LayerVisitor& visit) {
  visit(*this);
  if (conv) conv->for_each_layer(visit);
  if (bn) bn->for_each_layer(visit);
}

void ResidualBasicBlock::for_each_layer(const LayerVisitor& visit) {
  visit(*this);
  for (Layer* part : std::initializer_list<Layer*>{&conv1, &bn1, &relu1, &conv2, &bn2, &shortcut, &relu_out})
    part->for_each_layer(visit);
}

void ResidualBottleneck::for_each_layer(const LayerVisitor& visit) {
  visit(*this);
  for (Layer* part : std::initializer_list<Layer*>{&conv1, &bn1, &relu1, &conv2, &bn2, &relu2, &conv3, &bn3,
                                                   &shortcut, &relu_out})
    part->for_each_layer(visit);
}

}  // namespace branchy
