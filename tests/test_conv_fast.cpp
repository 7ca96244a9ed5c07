// Conv2d's fast paths against their plain twins: the padded-copy im2col and
// col2im against the per-element reference, and the train-mode column cache
// (and its recompute fallback) against conv2d_reference on random shapes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "engine/conv_channel_vector.h"
#include "engine/conv_strided_input_gradient.h"
#include "engine/im2col.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "engine/transpose.h"
#include "layers/conv2d.h"
#include "layers/conv2d_reference.h"
#include "tests/gradcheck.h"

using namespace branchy;
using branchy::testing::random_tensor;
using branchy::testing::relative_difference;

namespace {

int draw(Rng& rng, int low, int high) { return low + static_cast<int>(rng.below(high - low + 1)); }

// Train-mode forward and backward of `conv` on x, compared with the reference;
// `tolerance` loosens for weight gradients summed over very many pixels in float.
void require_matches_reference(Conv2d& conv, const Tensor& x, uint64_t seed, float tolerance = 1e-5f) {
  const Conv2dOptions& o = conv.options();
  const Tensor no_bias;
  Tensor y = conv.forward(x, Mode::train);
  Tensor y_ref = conv2d_forward_reference(x, conv.weight.value, o.bias ? conv.bias.value : no_bias, o.stride,
                                          o.padding, o.groups);
  INFO(conv.describe() << " on " << x.shape().str() << " threads " << num_threads());
  REQUIRE(y.shape() == y_ref.shape());
  REQUIRE(relative_difference(y, y_ref) < 1e-5f);

  Tensor dy = random_tensor(y.shape(), seed);
  conv.zero_grad();
  Tensor dx = conv.backward(dy);
  Tensor dx_ref, dw_ref, db_ref = o.bias ? Tensor(Shape{conv.out_channels()}) : Tensor();
  conv2d_backward_reference(x, conv.weight.value, dy, o.stride, o.padding, o.groups, dx_ref, dw_ref, db_ref);
  REQUIRE(relative_difference(dx, dx_ref) < 1e-5f);
  REQUIRE(relative_difference(conv.weight.grad, dw_ref) < tolerance);
  if (o.bias) REQUIRE(relative_difference(conv.bias.grad, db_ref) < tolerance);
}

}  // namespace

TEST_CASE("padded-copy im2col and col2im equal their per-element twins", "[conv-fast]") {
  Rng rng(21);
  for (int trial = 0; trial < 40; ++trial) {
    ConvGeometry g{};
    g.channels = draw(rng, 1, 4);
    g.kernel_h = draw(rng, 1, 5);
    g.kernel_w = draw(rng, 1, 5);
    g.stride_h = draw(rng, 1, 3);
    g.stride_w = draw(rng, 1, 3);
    g.pad_h = draw(rng, 0, 3);
    g.pad_w = draw(rng, 0, 3);
    g.height = std::max(1, g.kernel_h - 2 * g.pad_h) + draw(rng, 0, 9);
    g.width = std::max(1, g.kernel_w - 2 * g.pad_w) + draw(rng, 0, 9);
    INFO("C " << g.channels << " H " << g.height << " W " << g.width << " K " << g.kernel_h << "x" << g.kernel_w
              << " stride " << g.stride_h << "," << g.stride_w << " pad " << g.pad_h << "," << g.pad_w);
    const int64_t image_size = static_cast<int64_t>(g.channels) * g.height * g.width;
    const int64_t column_size = g.column_rows() * g.column_cols();
    Tensor image = random_tensor(Shape{image_size}, 100 + trial);
    Tensor columns = random_tensor(Shape{column_size}, 200 + trial);

    Tensor fast = random_tensor(Shape{column_size}, 1), plain = Tensor::uninitialized(Shape{column_size});
    im2col(image.data(), g, fast.data());
    reference::im2col(image.data(), g, plain.data());
    REQUIRE(max_abs_difference(fast, plain) == 0.0f);

    Tensor image_fast = random_tensor(Shape{image_size}, 2), image_plain = Tensor::uninitialized(Shape{image_size});
    col2im(columns.data(), g, image_fast.data());
    reference::col2im(columns.data(), g, image_plain.data());
    REQUIRE(max_abs_difference(image_fast, image_plain) < 1e-6f);
  }
}

TEST_CASE("conv with kept columns equals the reference on random shapes", "[conv-fast]") {
  Rng shapes(33), weights(34);
  for (int threads : {1, 2}) {
    ThreadCountScope scope(threads);
    for (int trial = 0; trial < 24; ++trial) {
      const int groups = draw(shapes, 1, 3);
      const int in = groups * draw(shapes, 1, 3), out = groups * draw(shapes, 1, 4);
      const int kernel = draw(shapes, 1, 5), stride = draw(shapes, 1, 2), padding = draw(shapes, 0, 3);
      const int size = std::max(1, kernel - 2 * padding) + draw(shapes, 0, 10);
      const int batch = trial % 3 == 0 ? 1 : draw(shapes, 2, 6);
      Conv2d conv(in, out, kernel, Conv2dOptions{stride, padding, groups, trial % 2 == 0}, weights);
      require_matches_reference(conv, random_tensor(Shape{batch, in, size, size}, 300 + trial), 400 + trial);
    }
    // B-LeNet's trunk at batch 1 and a full batch.
    Conv2d conv1(1, 5, 5, Conv2dOptions{1, 3, 1, true}, weights), conv2(5, 10, 5, Conv2dOptions{1, 3, 1, true}, weights);
    for (int batch : {1, 16}) {
      require_matches_reference(conv1, random_tensor(Shape{batch, 1, 28, 28}, 7), 8);
      require_matches_reference(conv2, random_tensor(Shape{batch, 5, 15, 15}, 9), 10);
    }
  }
}

TEST_CASE("conv recomputes columns when the batch's columns exceed the cache limit", "[conv-fast]") {
  // 9 rows × 300² columns × 4 bytes × 12 images ≈ 39 MB > kMaxKeptColumnBytes.
  const int batch = 12, size = 300;
  REQUIRE(int64_t{9} * size * size * 4 * batch > Conv2d::kMaxKeptColumnBytes);
  Rng rng(41);
  for (int threads : {1, 2}) {
    ThreadCountScope scope(threads);
    Conv2d conv(1, 1, 3, Conv2dOptions{1, 1, 1, true}, rng);
    // dW sums 1e6 products per element: float rounding alone reaches ~2e-5.
    require_matches_reference(conv, random_tensor(Shape{batch, 1, size, size}, 42), 43, 1e-4f);
  }
}

TEST_CASE("backward uses the columns of the latest train-mode forward", "[conv-fast]") {
  // A larger batch first leaves a larger cache behind; an eval forward in
  // between must not disturb what the next train forward keeps.
  Rng rng(51);
  for (int threads : {1, 2}) {
    ThreadCountScope scope(threads);
    Conv2d conv(3, 4, 3, Conv2dOptions{1, 1, 1, true}, rng);
    conv.forward(random_tensor(Shape{6, 3, 9, 9}, 52), Mode::train);
    conv.forward(random_tensor(Shape{4, 3, 11, 11}, 53), Mode::eval);
    require_matches_reference(conv, random_tensor(Shape{2, 3, 9, 9}, 54), 55);
    // Backward after an eval forward has nothing to differentiate.
    conv.forward(random_tensor(Shape{2, 3, 9, 9}, 56), Mode::eval);
    REQUIRE_THROWS_WITH(conv.backward(random_tensor(Shape{2, 4, 9, 9}, 57)),
                        Catch::Contains("without a train-mode forward"));
  }
}

TEST_CASE("inference convs (direct shifted-row path and im2col path) equal the reference", "[conv-fast]") {
  // Eval mode takes conv2d_direct_stride1 for stride-1 ungrouped convs with
  // few output channels: widths below, at and above one block of 16
  // positions, channel counts that leave 1, 2 and 3 in the last block of 4.
  Rng shapes(61), weights(62);
  for (int threads : {1, 2}) {
    ThreadCountScope scope(threads);
    for (int trial = 0; trial < 40; ++trial) {
      const int in = draw(shapes, 1, 6), out = draw(shapes, 1, 11);
      const int kernel = draw(shapes, 1, 5), padding = draw(shapes, 0, 3);
      const int stride = trial % 5 == 4 ? 2 : 1;  // a few take the im2col path
      const int height = std::max(1, kernel - 2 * padding) + draw(shapes, 0, 20);
      const int width = std::max(1, kernel - 2 * padding) + draw(shapes, 0, 20);
      const int batch = draw(shapes, 1, 3);
      const bool bias = trial % 2 == 0;
      Conv2d conv(in, out, kernel, Conv2dOptions{stride, padding, 1, bias}, weights);
      const Tensor x = random_tensor(Shape{batch, in, height, width}, 500 + trial);
      const Tensor no_bias;
      const Tensor expected =
          conv2d_forward_reference(x, conv.weight.value, bias ? conv.bias.value : no_bias, stride, padding, 1);
      INFO(conv.describe() << " on " << x.shape().str() << " threads " << threads);
      const Tensor y = conv.forward(x, Mode::eval);
      REQUIRE(y.shape() == expected.shape());
      REQUIRE(relative_difference(y, expected) < 1e-5f);
    }
    // Over 1M MACs: at batch 1 on 2 threads the threads share the image's channels.
    Conv2d wide(16, 18, 5, Conv2dOptions{1, 2, 1, true}, weights);  // 5.6M MACs on 28x28
    const Tensor single = random_tensor(Shape{1, 16, 28, 28}, 73);
    REQUIRE(relative_difference(wide.forward(single, Mode::eval),
                                conv2d_forward_reference(single, wide.weight.value, wide.bias.value, 1, 2, 1)) < 1e-5f);
    // B-LeNet's convs as inference runs them, one image and a batch.
    Conv2d conv1(1, 5, 5, Conv2dOptions{1, 3, 1, true}, weights), conv3(10, 20, 5, Conv2dOptions{1, 3, 1, true}, weights);
    for (int batch : {1, 8}) {
      const Tensor a = random_tensor(Shape{batch, 1, 28, 28}, 71), b = random_tensor(Shape{batch, 10, 9, 9}, 72);
      REQUIRE(relative_difference(conv1.forward(a, Mode::eval),
                                  conv2d_forward_reference(a, conv1.weight.value, conv1.bias.value, 1, 3, 1)) < 1e-5f);
      REQUIRE(relative_difference(conv3.forward(b, Mode::eval),
                                  conv2d_forward_reference(b, conv3.weight.value, conv3.bias.value, 1, 3, 1)) < 1e-5f);
    }
  }
}

TEST_CASE("transpose_block equals its element-by-element twin", "[conv-fast]") {
  // Every block shape up to the vector width, inside larger strided arrays:
  // the floats outside the block (and past its masked lanes) stay untouched.
  const int B = transpose_block_size();
  REQUIRE((B == 8 || B == 16));
  const int64_t from_stride = B + 3, to_stride = B + 5;
  Tensor from = random_tensor(Shape{B * from_stride}, 11);
  for (int rows = 0; rows <= B; ++rows)
    for (int cols = 0; cols <= B; ++cols) {
      Tensor to_fast(Shape{B * to_stride}), to_plain(Shape{B * to_stride});
      to_fast.fill(-7.0f);
      to_plain.fill(-7.0f);
      transpose_block(from.data() + 1, from_stride, rows, cols, to_fast.data() + 2, to_stride);
      reference::transpose_block(from.data() + 1, from_stride, rows, cols, to_plain.data() + 2, to_stride);
      INFO(rows << " x " << cols);
      for (int64_t i = 0; i < to_fast.numel(); ++i) REQUIRE(to_fast[i] == to_plain[i]);
      if (rows > 0 && cols > 0) REQUIRE(to_plain[2 + (cols - 1) * to_stride + rows - 1] == from[1 + (rows - 1) * from_stride + cols - 1]);
    }
  REQUIRE_THROWS(transpose_block(from.data(), from_stride, B + 1, 1, from.data(), 1));
}

TEST_CASE("the channel-vector direct conv equals the reference", "[conv-fast]") {
  // engine/conv_channel_vector.h on its own: output channels below, at and
  // past one and two vectors (one of L or 2L lanes partly empty), a half
  // vector's 8 and 11 (AVX-512 puts 8-15 channels in 8-lane vectors), strides 1
  // and 2 (and a taller stride_h), row widths that split into tiles of every
  // size up to the widest, 1..5 kernels with any padding, with and without
  // bias and ReLU, the image's channels shared among 2 threads or not.
  Rng shapes(91);
  const int L = channel_vector_lanes();
  std::vector<float> storage;
  for (int threads : {1, 2}) {
    ThreadCountScope scope(threads);
    for (int trial = 0; trial < 60; ++trial) {
      ConvGeometry g{};
      g.channels = draw(shapes, 1, 9);
      g.kernel_h = draw(shapes, 1, 5);
      g.kernel_w = draw(shapes, 1, 5);
      g.stride_w = draw(shapes, 1, 2);
      g.stride_h = trial % 7 == 6 ? 3 : g.stride_w;
      g.pad_h = draw(shapes, 0, g.kernel_h - 1);
      g.pad_w = draw(shapes, 0, g.kernel_w - 1);
      g.height = std::max(1, g.kernel_h - 2 * g.pad_h) + draw(shapes, 0, 12);
      g.width = std::max(1, g.kernel_w - 2 * g.pad_w) + draw(shapes, 0, 40);
      const int H = min_channel_vector_lanes();  // a half vector's lanes with AVX-512
      const int outs[] = {1, H, H + 3, L - 1, L, L + 1, 2 * L, 2 * L + 3, 3 * L, 5 * L - 2};
      const int out_channels = outs[trial % 10];
      const bool bias = trial % 3 != 0, relu = trial % 4 == 1;
      const Tensor x = random_tensor(Shape{1, g.channels, g.height, g.width}, 1100 + trial);
      const Tensor w = random_tensor(Shape{out_channels, g.channels, g.kernel_h, g.kernel_w}, 1200 + trial);
      const Tensor b = bias ? random_tensor(Shape{out_channels}, 1300 + trial) : Tensor();
      // The reference takes one stride and padding: compare the square cases, and the
      // rest against im2col + a plain matrix product.
      Tensor y(Shape{1, out_channels, g.out_height(), g.out_width()});
      const float* packed = pack_channel_vector_filters(w.data(), out_channels, g, storage);
      conv2d_channel_vector(x.data(), g, packed, bias ? b.data() : nullptr, out_channels, y.data(),
                            /*split_channels=*/true, relu);
      std::vector<float> columns(static_cast<size_t>(g.column_rows() * g.column_cols()));
      reference::im2col(x.data(), g, columns.data());
      Tensor expected(y.shape());
      for (int o = 0; o < out_channels; ++o)
        for (int64_t p = 0; p < g.column_cols(); ++p) {
          double sum = bias ? b[o] : 0.0;
          for (int64_t r = 0; r < g.column_rows(); ++r)
            sum += static_cast<double>(w[o * g.column_rows() + r]) * columns[r * g.column_cols() + p];
          expected[o * g.column_cols() + p] = relu ? std::max(static_cast<float>(sum), 0.0f) : static_cast<float>(sum);
        }
      INFO("trial " << trial << ": " << g.channels << "->" << out_channels << " k" << g.kernel_h << "x"
                    << g.kernel_w << " s" << g.stride_h << "," << g.stride_w << " p" << g.pad_h << "," << g.pad_w
                    << " on " << g.height << "x" << g.width << " threads " << threads);
      REQUIRE(relative_difference(y, expected) < 1e-5f);
    }
  }
  // Maps 3 and 7 wide go in tiles of several whole rows: every height from
  // 1 to 9 (bands of 2-4 rows and a shorter last band), kernels 1, 2, 3 and
  // 5 with their padding (rows over the top and bottom padding skipped per
  // band), strides 1, 2 along the height and along both, 1 and 2 vectors of
  // channels plus a partial one, a half vector and a bit (AVX-512).
  int narrow = 0;
  for (int out_width : {3, 7})
    for (int out_height = 1; out_height <= 9; ++out_height)
      for (int k : {1, 2, 3, 5})
        for (const auto& [stride_h, stride_w] : {std::pair{1, 1}, std::pair{2, 1}, std::pair{2, 2}}) {
          ConvGeometry g{};
          g.channels = 1 + narrow % 5;
          g.kernel_h = g.kernel_w = k;
          g.stride_w = stride_w;
          g.stride_h = stride_h;
          g.pad_h = g.pad_w = k / 2;
          g.width = (out_width - 1) * stride_w - 2 * g.pad_w + k;
          g.height = (out_height - 1) * stride_h - 2 * g.pad_h + k;
          if (g.height < 1 || g.width < 1) continue;
          REQUIRE(g.out_width() == out_width);
          REQUIRE(g.out_height() == out_height);
          const int H = min_channel_vector_lanes();
          const int out_channels = std::vector<int>{L, 2 * L, 3 * L - 5, H + 1}[narrow % 4];
          const Tensor x = random_tensor(Shape{1, g.channels, g.height, g.width}, 1500 + narrow);
          const Tensor w = random_tensor(Shape{out_channels, g.channels, k, k}, 1600 + narrow);
          const Tensor b = random_tensor(Shape{out_channels}, 1700 + narrow);
          Tensor y(Shape{1, out_channels, out_height, out_width});
          conv2d_channel_vector(x.data(), g, pack_channel_vector_filters(w.data(), out_channels, g, storage),
                                b.data(), out_channels, y.data());
          INFO(g.channels << "->" << out_channels << " k" << k << " stride " << stride_h << "," << stride_w << " on "
                          << g.height << "x" << g.width);
          // The reference takes one stride: a strided output keeps every stride-th row and column of stride 1's.
          const Tensor dense = conv2d_forward_reference(x, w, b, 1, k / 2, 1);
          const int64_t dense_h = dense.shape()[2], dense_w = dense.shape()[3];
          for (int o = 0; o < out_channels; ++o)
            for (int oh = 0; oh < out_height; ++oh)
              for (int ow = 0; ow < out_width; ++ow)
                REQUIRE(std::abs(y[(o * out_height + oh) * out_width + ow] -
                                 dense[(o * dense_h + oh * stride_h) * dense_w + ow * stride_w]) < 1e-4f);
          ++narrow;
        }
  REQUIRE(narrow > 180);
  // 'Same' padding at stride 1 leaves out the taps on the padding columns in
  // the tiles at either end of a row (and in tiles spanning it): rows of
  // every width from 1 to 30 (one tile, two, three), 3x3 and 5x5.
  for (int width = 1; width <= 30; ++width)
    for (int k : {3, 5})
      for (int out_channels : {L, 2 * L + 3}) {
        const ConvGeometry g{3, 2, width, k, k, 1, 1, k / 2, k / 2};
        const Tensor x = random_tensor(Shape{1, 3, 2, width}, 2000 + width);
        const Tensor w = random_tensor(Shape{out_channels, 3, k, k}, 2100 + k);
        const Tensor b = random_tensor(Shape{out_channels}, 2200);
        Tensor y(Shape{1, out_channels, 2, width});
        conv2d_channel_vector(x.data(), g, pack_channel_vector_filters(w.data(), out_channels, g, storage), b.data(),
                              out_channels, y.data());
        INFO("width " << width << " k" << k << " outs " << out_channels);
        REQUIRE(relative_difference(y, conv2d_forward_reference(x, w, b, 1, k / 2, 1)) < 1e-5f);
      }
  // Over 2M MACs, so the two threads share the image's rows of channels.
  ConvGeometry big{32, 14, 14, 5, 5, 1, 1, 2, 2};
  const Tensor x = random_tensor(Shape{1, 32, 14, 14}, 1400), w = random_tensor(Shape{64, 32, 5, 5}, 1401);
  const Tensor b = random_tensor(Shape{64}, 1402);
  ThreadCountScope two(2);
  Tensor y(Shape{1, 64, 14, 14});
  conv2d_channel_vector(x.data(), big, pack_channel_vector_filters(w.data(), 64, big, storage), b.data(), 64,
                        y.data(), true);
  REQUIRE(relative_difference(y, conv2d_forward_reference(x, w, b, 1, 2, 1)) < 1e-5f);
}

TEST_CASE("a strided conv's input gradient by phases equals the reference", "[conv-fast]") {
  // Strides 2 and 3 (4 and 9 phases; with a 1-wide kernel or a large
  // stride some phases get no taps and their rows of dx are zero), kernels
  // 1..5 with any padding, maps whose last rows no window reaches, input
  // channels below, at and past a vector. Compared with W^T dy + col2im.
  Rng shapes(93);
  const int L = channel_vector_lanes();
  StridedInputGradient plan;
  for (int trial = 0; trial < 80; ++trial) {
    ConvGeometry g{};
    g.channels = std::vector<int>{1, L - 1, L, L + 3, 2 * L}[trial % 5];
    g.kernel_h = draw(shapes, 1, 5);
    g.kernel_w = trial % 4 == 0 ? draw(shapes, 1, 5) : g.kernel_h;
    g.stride_h = trial % 6 == 5 ? 3 : 2;
    g.stride_w = trial % 9 == 8 ? 3 : 2;
    g.pad_h = draw(shapes, 0, g.kernel_h - 1);
    g.pad_w = draw(shapes, 0, g.kernel_w - 1);
    g.height = std::max(1, g.kernel_h - 2 * g.pad_h) + draw(shapes, 0, 15);
    g.width = std::max(1, g.kernel_w - 2 * g.pad_w) + draw(shapes, 0, 30);
    const int out_channels = draw(shapes, 1, 2 * L + 1);
    const Tensor w = random_tensor(Shape{out_channels, g.channels, g.kernel_h, g.kernel_w}, 1800 + trial);
    const Tensor dy = random_tensor(Shape{out_channels, g.out_height(), g.out_width()}, 1900 + trial);
    Tensor dx(Shape{g.channels, g.height, g.width});
    dx.fill(NAN);  // every element must be written
    plan_strided_input_gradient(w.data(), out_channels, g, plan);
    strided_input_gradient(dy.data(), plan, dx.data());
    // Reference: columns = W^T dy in double, then the per-element col2im.
    std::vector<float> columns(static_cast<size_t>(g.column_rows() * g.column_cols()));
    for (int64_t r = 0; r < g.column_rows(); ++r)
      for (int64_t p = 0; p < g.column_cols(); ++p) {
        double sum = 0.0;
        for (int o = 0; o < out_channels; ++o)
          sum += static_cast<double>(w[o * g.column_rows() + r]) * dy[o * g.column_cols() + p];
        columns[r * g.column_cols() + p] = static_cast<float>(sum);
      }
    Tensor expected(dx.shape());
    reference::col2im(columns.data(), g, expected.data());
    INFO("trial " << trial << ": " << g.channels << "->" << out_channels << " k" << g.kernel_h << "x" << g.kernel_w
                  << " s" << g.stride_h << "," << g.stride_w << " p" << g.pad_h << "," << g.pad_w << " on "
                  << g.height << "x" << g.width);
    REQUIRE(plan.phases.size() == static_cast<size_t>(g.stride_h * g.stride_w));
    REQUIRE(relative_difference(dx, expected) < 1e-5f);
  }
}

TEST_CASE("direct training convs (shifted rows, no columns) equal the reference", "[conv-fast]") {
  // Stride-1 3x3 and 5x5 convs with 4+ input channels per group (and, with a
  // vector's worth of output channels, stride 2 and any input) train on the
  // direct kernels (engine/conv_channel_vector.h, conv_direct_backward.h): every padding 0..K-1, output channel
  // counts that leave 1..3 in the last block of 4, maps narrower and wider
  // than one vector, and batches large enough that the weight gradient
  // stacks images in several runs (a 28x28 map with padding 1 takes 2 per run).
  struct Case {
    int batch, in, out, kernel, padding, height, width;
    bool bias;
    int groups = 1;
    int stride = 1;
  };
  const Case cases[] = {
      {5, 16, 16, 3, 1, 28, 28, false},  // b-resnet's stage-1 conv, 3 runs of stacked images
      {3, 16, 8, 5, 2, 28, 28, true},    // b-resnet's first branch conv
      {2, 5, 10, 5, 3, 15, 15, true},    // b-lenet's conv2 (padding 3 > K/2)
      {4, 10, 20, 5, 4, 9, 9, true},     // padding K-1: the widest full convolution
      {30, 64, 64, 3, 1, 7, 7, false},   // small maps: direct even with 64 channels; 1 run
      {3, 4, 1, 3, 0, 6, 11, true},      {2, 6, 7, 3, 2, 5, 3, false},
      {1, 4, 5, 5, 1, 5, 40, true},      {2, 7, 3, 3, 1, 1, 1, true},
      {3, 32, 32, 3, 1, 14, 14, false, 8},  // b-resnext's grouped 3x3: a group at a time
      {2, 64, 64, 3, 1, 7, 7, true, 4},     {2, 12, 6, 5, 2, 9, 9, true, 3},
      // With a vector's worth of output channels: stride 2 (input gradient by
      // phases with a vector's worth of input channels, else GEMM + col2im),
      // odd maps, grouped ones.
      {3, 16, 32, 3, 1, 28, 28, false, 1, 2},  // b-resnet's stage-2 entry
      {2, 64, 64, 3, 1, 14, 14, false, 4, 2},  // b-resnext's (16 channels per group)
      {2, 32, 32, 3, 1, 28, 28, false, 4, 2},  // b-resnext's at base width 4: 8 per group, a half vector
      {2, 24, 24, 5, 2, 14, 14, true, 2, 2},   // 12 per group: a half vector and part of another
      {2, 12, 11, 3, 1, 15, 15, true},         // 11 outputs at stride 1
      {2, 32, 64, 3, 1, 13, 13, false, 2, 2},  {2, 8, 16, 5, 2, 11, 9, true, 1, 2},
      {2, 5, 40, 3, 0, 10, 12, true, 1, 2},    {3, 4, 32, 5, 2, 12, 12, true},
  };
  Rng weights(81);
  for (int threads : {1, 2}) {
    ThreadCountScope scope(threads);
    int trial = 0;
    for (const Case& c : cases) {
      Conv2d conv(c.in, c.out, c.kernel, Conv2dOptions{c.stride, c.padding, c.groups, c.bias}, weights);
      const Tensor x = random_tensor(Shape{c.batch, c.in, c.height, c.width}, 900 + trial);
      require_matches_reference(conv, x, 950 + trial++);
      INFO(conv.describe() << " on " << x.shape().str());
      REQUIRE(conv.used_direct_path());
      // The same layer without the input gradient (a network's first layer).
      conv.set_needs_input_grad(false);
      conv.forward(x, Mode::train);
      conv.zero_grad();
      REQUIRE_FALSE(conv.backward(random_tensor(conv.out_shape(x.shape()), 3)).defined());
      conv.set_needs_input_grad(true);
    }
    // A 1..3-channel first conv with fewer output channels than the
    // narrowest channel vector goes direct (positions in the lanes); a
    // depthwise conv (1 channel per group) keeps im2col.
    const int narrow = min_channel_vector_lanes() - 1;
    Conv2d stem(1, narrow, 3, Conv2dOptions{1, 1, 1, false}, weights), depthwise(8, 8, 3, Conv2dOptions{1, 1, 8, true}, weights);
    Conv2d lenet_stem(1, 5, 5, Conv2dOptions{1, 3, 1, true}, weights), rgb_stem(3, 6, 3, Conv2dOptions{1, 0, 1, true}, weights);
    require_matches_reference(stem, random_tensor(Shape{2, 1, 10, 10}, 5), 6);
    REQUIRE(stem.used_direct_path());
    require_matches_reference(lenet_stem, random_tensor(Shape{3, 1, 28, 28}, 9), 10);
    REQUIRE(lenet_stem.used_direct_path() == (5 < min_channel_vector_lanes()));  // SSE: 4 lanes
    require_matches_reference(rgb_stem, random_tensor(Shape{2, 3, 11, 17}, 11), 12);
    REQUIRE(rgb_stem.used_direct_path() == (6 < min_channel_vector_lanes()));
    require_matches_reference(depthwise, random_tensor(Shape{2, 8, 10, 10}, 7), 8);
    REQUIRE_FALSE(depthwise.used_direct_path());
    // A network's first conv (1-3 channels, no input gradient) with a
    // vector's worth of outputs: forward by im2col, weight gradient by
    // channel vectors from the input alone (no columns kept).
    const int L = channel_vector_lanes();
    const Tensor no_bias;
    for (const Case& c : {Case{4, 1, 2 * L, 5, 2, 28, 28, true}, Case{3, 3, L + 3, 3, 1, 9, 13, false}}) {
      Conv2d first(c.in, c.out, c.kernel, Conv2dOptions{1, c.padding, 1, c.bias}, weights);
      first.set_needs_input_grad(false);
      const Tensor x = random_tensor(Shape{c.batch, c.in, c.height, c.width}, 40 + c.in);
      const Tensor y = first.forward(x, Mode::train);
      INFO(first.describe());
      REQUIRE_FALSE(first.used_direct_path());
      REQUIRE(relative_difference(y, conv2d_forward_reference(x, first.weight.value,
                                                                c.bias ? first.bias.value : no_bias, 1, c.padding, 1)) <
              1e-5f);
      const Tensor dy = random_tensor(y.shape(), 50 + c.in);
      first.zero_grad();
      REQUIRE_FALSE(first.backward(dy).defined());
      Tensor dx_ref, dw_ref, db_ref = c.bias ? Tensor(Shape{c.out}) : Tensor();
      conv2d_backward_reference(x, first.weight.value, dy, 1, c.padding, 1, dx_ref, dw_ref, db_ref);
      REQUIRE(relative_difference(first.weight.grad, dw_ref) < 1e-5f);
      if (c.bias) REQUIRE(relative_difference(first.bias.grad, db_ref) < 1e-5f);
    }
  }
}
