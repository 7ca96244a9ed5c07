// Conv2d and Linear: the fast paths against the plain loops, gradients
// against finite differences, MACs against B-LeNet's published counts.
#include <catch2/catch.hpp>

#include <cmath>
#include <tuple>

#include "engine/blas.h"
#include "engine/error.h"
#include "engine/im2col.h"
#include "engine/kernels.h"
#include "engine/threads.h"
#include "layers/conv2d.h"
#include "layers/conv2d_reference.h"
#include "layers/linear.h"
#include "tests/gradcheck.h"

using namespace branchy;
using branchy::testing::check_gradients;
using branchy::testing::random_tensor;
using branchy::testing::relative_difference;

namespace {

struct ConvCase {
  int batch, in, out, size, kernel, stride, padding, groups;
  bool bias;
};

}  // namespace

TEST_CASE("gemm and gemm_parallel equal the triple loop for every transpose", "[conv]") {
  Rng rng(3);
  // A matrix, and one row or one column of C (the matrix-vector path).
  for (auto [M, N, K] : {std::tuple{37, 53, 29}, std::tuple{1, 53, 29}, std::tuple{37, 1, 29}, std::tuple{1, 1, 29}})
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int threads : {1, 2}) {
        ThreadCountScope scope(threads);
        Tensor A = random_tensor(Shape{M * K}, 1), B = random_tensor(Shape{K * N}, 2);
        Tensor C_fast = random_tensor(Shape{M * N}, 3), C_ref = C_fast.clone(), C_par = C_fast.clone();
        const int lda = ta ? M : K, ldb = tb ? K : N;
        gemm(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 2.0f, C_fast.data(), N);
        gemm_parallel(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 2.0f, C_par.data(), N);
        gemm_reference(ta, tb, M, N, K, 0.5f, A.data(), lda, B.data(), ldb, 2.0f, C_ref.data(), N);
        INFO("M " << M << " N " << N << " transpose a " << ta << " b " << tb << " threads " << threads);
        REQUIRE(max_abs_difference(C_fast, C_ref) < 1e-4f);
        REQUIRE(max_abs_difference(C_par, C_ref) < 1e-4f);
      }
}

TEST_CASE("col2im is the adjoint of im2col", "[conv]") {
  // <im2col(x), c> == <x, col2im(c)> for all x, c: the property backward relies on.
  const ConvGeometry g{3, 7, 6, 3, 2, 2, 1, 1, 1};
  Tensor x = random_tensor(Shape{3 * 7 * 6}, 11);
  Tensor c = random_tensor(Shape{g.column_rows() * g.column_cols()}, 12);
  Tensor cols = Tensor::uninitialized(c.shape()), image = Tensor::uninitialized(x.shape());
  im2col(x.data(), g, cols.data());
  col2im(c.data(), g, image.data());
  double left = 0, right = 0;
  for (int64_t i = 0; i < c.numel(); ++i) left += static_cast<double>(cols[i]) * c[i];
  for (int64_t i = 0; i < x.numel(); ++i) right += static_cast<double>(x[i]) * image[i];
  REQUIRE(left == Approx(right).epsilon(1e-5));
}

TEST_CASE("element-wise kernels equal their plain twins", "[conv]") {
  const int64_t n = 1037;  // not a multiple of any SIMD width
  Tensor a = random_tensor(Shape{n}, 1), b = random_tensor(Shape{n}, 2);
  Tensor fast = Tensor::uninitialized(a.shape()), plain = Tensor::uninitialized(a.shape());
  relu_forward(a.data(), fast.data(), n);
  reference::relu_forward(a.data(), plain.data(), n);
  REQUIRE(max_abs_difference(fast, plain) == 0.0f);
  relu_backward(a.data(), b.data(), fast.data(), n);
  reference::relu_backward(a.data(), b.data(), plain.data(), n);
  REQUIRE(max_abs_difference(fast, plain) == 0.0f);
  add(a.data(), b.data(), fast.data(), n);
  reference::add(a.data(), b.data(), plain.data(), n);
  REQUIRE(max_abs_difference(fast, plain) == 0.0f);
  {
    // Max pooling's pairwise max: a NaN on either side wins, in the vectors and the tail.
    Tensor a_nan = a.clone(), b_nan = b.clone();
    for (int64_t i : {int64_t{3}, int64_t{40}, n - 2}) a_nan[i] = NAN;
    for (int64_t i : {int64_t{5}, int64_t{40}, n - 1}) b_nan[i] = NAN;
    nan_max(a_nan.data(), b_nan.data(), fast.data(), n);
    reference::nan_max(a_nan.data(), b_nan.data(), plain.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      INFO("element " << i);
      REQUIRE(std::isnan(fast[i]) == std::isnan(plain[i]));
      if (!std::isnan(plain[i])) REQUIRE(fast[i] == plain[i]);
    }
    REQUIRE(std::isnan(fast[3]));
    REQUIRE(std::isnan(fast[5]));
    REQUIRE(std::isnan(fast[n - 1]));
    REQUIRE(fast[0] == std::max(a[0], b[0]));
    // Bands of rows added column by column, and the maximum of their rows:
    // rows of every width from 1 to 40 (vectors in twos, one, overlapping,
    // none), bands of 1, 2, 3 and 8 rows, sharing a row or not.
    for (int64_t width = 1; width <= 40; ++width) {
      const int64_t first[4] = {0, 1, 2, 4}, end[4] = {1, 3, 5, 12};  // 1 to 8 rows
      const int64_t stride = width + 3;
      Tensor sums_fast(Shape{4 * stride}), sums_plain(Shape{4 * stride});
      const float max_fast = band_column_sums(a.data() + 1, width, first, end, 4, sums_fast.data(), stride);
      const float max_plain = reference::band_column_sums(a.data() + 1, width, first, end, 4, sums_plain.data(), stride);
      INFO("width " << width);
      REQUIRE(max_abs_difference(sums_fast, sums_plain) < 1e-5f);
      float by_hand = a[1];
      for (int64_t i = 0; i < 12 * width; ++i) by_hand = std::max(by_hand, a[1 + i]);
      REQUIRE(max_plain == by_hand);
      REQUIRE(max_fast == by_hand);
      float band_3_column_0 = 0.0f;
      for (int64_t r = 4; r < 12; ++r) band_3_column_0 += a[1 + r * width];
      REQUIRE(sums_plain[3 * stride] == Approx(band_3_column_0).margin(1e-6));
    }
  // A head's layer: rows in fours and the rest, columns in vectors and a tail.
  for (auto [rows, cols] : {std::pair{int64_t{32}, int64_t{85}}, std::pair{int64_t{7}, int64_t{33}},
                            std::pair{int64_t{2}, int64_t{5}}, std::pair{int64_t{9}, int64_t{16}},
                            std::pair{int64_t{40}, int64_t{20}}}) {
    const Tensor W = random_tensor(Shape{rows, cols}, 17), x = random_tensor(Shape{cols}, 18);
    float y_fast[40], y_plain[40];
    matvec(W.data(), rows, cols, x.data(), y_fast);
    reference::matvec(W.data(), rows, cols, x.data(), y_plain);
    for (int64_t r = 0; r < rows; ++r) {
      double magnitude = 0;
      for (int64_t i = 0; i < cols; ++i) magnitude += std::fabs(W[r * cols + i] * x[i]);
      INFO(rows << " x " << cols << ", row " << r);
      REQUIRE(y_fast[r] == Approx(y_plain[r]).margin(1e-6 * magnitude + 1e-7));
    }
  }
  // Grid cells: 1..20 segments (eights and the rest) of widths 1..12 (one
  // 8-lane vector or a loop), overlapping, read 8 floats past each start.
  for (int64_t count = 1; count <= 20; ++count)
    for (int64_t longest : {int64_t{8}, int64_t{12}}) {
      const float* segments[20];
      int64_t widths[20];
      for (int64_t k = 0; k < count; ++k) {
        segments[k] = a.data() + 3 * k + count % 4;
        widths[k] = 1 + (k * 5 + count) % longest;
      }
      float scales[20], sums_fast[20], sums_plain[20];
      for (int64_t k = 0; k < count; ++k) scales[k] = 1.0f / static_cast<float>(k + 1);
      scaled_segment_sums(segments, widths, scales, count, sums_fast);
      reference::scaled_segment_sums(segments, widths, scales, count, sums_plain);
      for (int64_t k = 0; k < count; ++k) {
        INFO(count << " segments, segment " << k << " of width " << widths[k]);
        float by_hand = 0.0f;
        for (int64_t i = 0; i < widths[k]; ++i) by_hand += segments[k][i];
        REQUIRE(sums_plain[k] == Approx(by_hand * scales[k]).margin(1e-6));
        REQUIRE(sums_fast[k] == Approx(sums_plain[k]).margin(1e-5));
      }
    }
  // Max pooling's contest with positions: ties (values from a small set),
    // NaN and -inf, windows 1..4, rows of 1..40 window starts.
    Tensor frame(Shape{4 * 48});
    for (int64_t i = 0; i < frame.numel(); ++i)
      frame[i] = i % 17 == 4 ? NAN : i % 13 == 6 ? -INFINITY : std::round(a[i] * 2.0f);
    for (int k = 1; k <= 4; ++k)
      for (int64_t starts = 1; starts <= 40; ++starts) {
        Tensor best_fast(Shape{starts}), at_fast(Shape{starts}), best_plain(Shape{starts}), at_plain(Shape{starts});
        window_max_contest(frame.data() + 2, 48, k, starts, best_fast.data(), at_fast.data());
        reference::window_max_contest(frame.data() + 2, 48, k, starts, best_plain.data(), at_plain.data());
        for (int64_t w = 0; w < starts; ++w) {
          INFO("window " << k << ", " << starts << " starts, start " << w);
          REQUIRE((std::isnan(best_fast[w]) ? std::isnan(best_plain[w]) : best_fast[w] == best_plain[w]));
          REQUIRE(at_fast[w] == at_plain[w]);
        }
      }
    // Rows shorter than one vector, and tails of every length, out aliasing a.
    for (int64_t length = 1; length <= 40; ++length) {
      Tensor out_fast = a_nan.clone(), out_plain = a_nan.clone();
      nan_max(out_fast.data(), b_nan.data(), out_fast.data(), length);
      reference::nan_max(out_plain.data(), b_nan.data(), out_plain.data(), length);
      for (int64_t i = 0; i < n; ++i) {
        INFO("length " << length << ", element " << i);
        REQUIRE((std::isnan(out_fast[i]) ? std::isnan(out_plain[i]) : out_fast[i] == out_plain[i]));
      }
    }
  }
  Tensor y_fast = b.clone(), y_plain = b.clone();
  axpy(0.3f, a.data(), y_fast.data(), n);
  reference::axpy(0.3f, a.data(), y_plain.data(), n);
  REQUIRE(max_abs_difference(y_fast, y_plain) < 1e-6f);
  scale(y_fast.data(), -1.5f, n);
  reference::scale(y_plain.data(), -1.5f, n);
  REQUIRE(max_abs_difference(y_fast, y_plain) < 1e-6f);
  // The sum cancels (|sum| ~ 2, sum of |x| ~ 500): compare against the scale
  // of the terms, since SIMD widths (SSE2 vs AVX-512) order the additions differently.
  REQUIRE(sum(a.data(), n) == Approx(reference::sum(a.data(), n)).margin(1e-4));
  for (int64_t length : {int64_t{1}, int64_t{7}, int64_t{16}, int64_t{33}, n})  // tails, one vector, several
    REQUIRE(max_value(a.data() + 3, length - (length == n ? 3 : 0)) ==
            reference::max_value(a.data() + 3, length - (length == n ? 3 : 0)));
  // A predictor head's dot products: tails, one vector, several (float
  // sums in another order: compared against the scale of the terms).
  for (int64_t length : {int64_t{1}, int64_t{7}, int64_t{16}, int64_t{33}, int64_t{85}, n}) {
    double magnitude = 0;
    for (int64_t i = 0; i < length; ++i) magnitude += std::fabs(a[i] * b[i]);
    INFO("dot of length " << length);
    REQUIRE(dot(a.data(), b.data(), length) ==
            Approx(reference::dot(a.data(), b.data(), length)).margin(1e-6 * magnitude + 1e-7));
  }
  // Batch norm's statistics and input gradient.
  for (int64_t length : {int64_t{1}, int64_t{17}, int64_t{1000}, n}) {
    REQUIRE(sum_squared_deviation(a.data(), 0.25f, length) ==
            Approx(reference::sum_squared_deviation(a.data(), 0.25f, length)).epsilon(1e-5));
    double fast_dy = 1.0, fast_dot = -1.0, plain_dy = 1.0, plain_dot = -1.0;  // both add to what is there
    sum_and_centered_dot(b.data(), a.data(), -0.5f, length, fast_dy, fast_dot);
    reference::sum_and_centered_dot(b.data(), a.data(), -0.5f, length, plain_dy, plain_dot);
    REQUIRE(fast_dy == Approx(plain_dy).margin(1e-4));
    REQUIRE(fast_dot == Approx(plain_dot).margin(1e-4));
  }
  Tensor pair_fast = Tensor::uninitialized(Shape{n}), pair_plain = Tensor::uninitialized(Shape{n});
  affine_pair(a.data(), b.data(), 0.7f, -1.3f, 0.2f, pair_fast.data(), n);
  reference::affine_pair(a.data(), b.data(), 0.7f, -1.3f, 0.2f, pair_plain.data(), n);
  REQUIRE(max_abs_difference(pair_fast, pair_plain) < 1e-5f);
  const float scales[3] = {0.5f, -2.0f, 1.0f}, shifts[3] = {1.0f, 0.0f, -3.0f};
  Tensor ch_fast = Tensor::uninitialized(Shape{3 * 345}), ch_plain = Tensor::uninitialized(Shape{3 * 345});
  channel_affine(a.data(), scales, shifts, ch_fast.data(), 3, 345);
  reference::channel_affine(a.data(), scales, shifts, ch_plain.data(), 3, 345);
  REQUIRE(max_abs_difference(ch_fast, ch_plain) < 1e-6f);
}

TEST_CASE("fast conv equals the direct convolution on many shapes", "[conv]") {
  const ConvCase cases[] = {
      {2, 1, 5, 28, 5, 1, 3, 1, true},   // B-LeNet's first conv
      {3, 4, 8, 9, 3, 1, 1, 1, true},    {1, 4, 8, 9, 3, 1, 1, 2, false},
      {4, 8, 8, 10, 3, 2, 1, 4, true},   {2, 6, 6, 7, 3, 1, 1, 6, true},  // depthwise
      {3, 8, 16, 6, 1, 1, 0, 1, false},  // 1×1: no im2col
      {2, 8, 4, 6, 1, 2, 0, 2, true},    // 1×1 with stride: im2col
      {1, 3, 5, 13, 5, 2, 3, 1, true},   {5, 2, 3, 4, 4, 3, 2, 1, true},
  };
  Rng rng(5);
  for (int threads : {1, 2}) {
    ThreadCountScope scope(threads);
    for (const ConvCase& c : cases) {
      Conv2d conv(c.in, c.out, c.kernel, Conv2dOptions{c.stride, c.padding, c.groups, c.bias}, rng);
      Tensor x = random_tensor(Shape{c.batch, c.in, c.size, c.size}, 17);
      Tensor y = conv.forward(x, Mode::train);
      Tensor y_ref = conv2d_forward_reference(x, conv.weight.value, c.bias ? conv.bias.value : Tensor(),
                                              c.stride, c.padding, c.groups);
      INFO(conv.describe() << " on " << x.shape().str() << " threads " << threads);
      REQUIRE(y.shape() == y_ref.shape());
      REQUIRE(relative_difference(y, y_ref) < 1e-5f);

      Tensor dy = random_tensor(y.shape(), 19);
      conv.zero_grad();
      Tensor dx = conv.backward(dy);
      Tensor dx_ref, dw_ref, db_ref = c.bias ? Tensor(Shape{c.out}) : Tensor();
      conv2d_backward_reference(x, conv.weight.value, dy, c.stride, c.padding, c.groups, dx_ref, dw_ref, db_ref);
      REQUIRE(relative_difference(dx, dx_ref) < 1e-5f);
      REQUIRE(relative_difference(conv.weight.grad, dw_ref) < 1e-5f);
      if (c.bias) REQUIRE(relative_difference(conv.bias.grad, db_ref) < 1e-5f);
    }
  }
}

TEST_CASE("a conv told its input gradient is not needed skips dx and keeps the parameter gradients", "[conv]") {
  const ConvCase cases[] = {
      {8, 1, 5, 28, 5, 1, 3, 1, true},  // B-LeNet's first conv, images over threads
      {1, 4, 8, 9, 3, 1, 1, 2, false},  // grouped, one image: GEMMs split over threads
      {3, 8, 16, 6, 1, 1, 0, 1, true},  // 1×1: the column gradient would be dx itself
      {4, 1, 16, 12, 3, 1, 1, 1, true},  // a stem with a vector's worth of outputs
  };
  for (int threads : {1, 2}) {
    ThreadCountScope scope(threads);
    for (const ConvCase& c : cases) {
      Rng first(9), second(9);  // the same weights in both
      Conv2d with_dx(c.in, c.out, c.kernel, Conv2dOptions{c.stride, c.padding, c.groups, c.bias}, first);
      Conv2d without_dx(c.in, c.out, c.kernel, Conv2dOptions{c.stride, c.padding, c.groups, c.bias}, second);
      without_dx.set_needs_input_grad(false);
      REQUIRE(with_dx.needs_input_grad());
      const Tensor x = random_tensor(Shape{c.batch, c.in, c.size, c.size}, 21);
      const Tensor dy = random_tensor(with_dx.out_shape(x.shape()), 22);
      with_dx.forward(x, Mode::train);
      without_dx.forward(x, Mode::train);
      with_dx.zero_grad();
      without_dx.zero_grad();
      INFO(with_dx.describe() << " threads " << threads);
      REQUIRE(with_dx.backward(dy).shape() == x.shape());
      REQUIRE_FALSE(without_dx.backward(dy).defined());
      // A first conv with a vector's worth of outputs (B-LeNet's 5 outputs
      // are one with SSE's 4 lanes, in the sanitizer build) takes its weight
      // gradient by channel vectors when nobody reads dx: the same sums in
      // another order. Otherwise the two are the same computation.
      REQUIRE_FALSE(with_dx.weights_by_channel_vectors());
      const bool other_order = without_dx.weights_by_channel_vectors();
      if (c.in == 1 && c.kernel == 3) REQUIRE(other_order);
      if (other_order)
        REQUIRE(relative_difference(with_dx.weight.grad, without_dx.weight.grad) < 1e-5f);
      else
        REQUIRE(max_abs_difference(with_dx.weight.grad, without_dx.weight.grad) == 0.0f);
      if (c.bias) REQUIRE(max_abs_difference(with_dx.bias.grad, without_dx.bias.grad) == 0.0f);
    }
  }
}

TEST_CASE("conv and linear gradients match finite differences", "[conv]") {
  Rng rng(8);
  SECTION("conv 3x3 padding 1") {
    Conv2d conv(3, 4, 3, Conv2dOptions{1, 1, 1, true}, rng);
    auto r = check_gradients(conv, random_tensor(Shape{2, 3, 5, 5}, 1));
    INFO(r.report);
    REQUIRE(r.passed);
    REQUIRE(r.coordinates_checked > 100);
  }
  SECTION("conv stride 2, groups 2, no bias") {
    Conv2d conv(4, 6, 3, Conv2dOptions{2, 1, 2, false}, rng);
    auto r = check_gradients(conv, random_tensor(Shape{2, 4, 7, 7}, 2));
    INFO(r.report);
    REQUIRE(r.passed);
  }
  SECTION("conv 1x1") {
    Conv2d conv(5, 3, 1, Conv2dOptions{}, rng);
    auto r = check_gradients(conv, random_tensor(Shape{3, 5, 4, 4}, 3));
    INFO(r.report);
    REQUIRE(r.passed);
  }
  SECTION("linear on a flattened image") {
    Linear linear(2 * 3 * 3, 7, rng);
    auto r = check_gradients(linear, random_tensor(Shape{4, 2, 3, 3}, 4));
    INFO(r.report);
    REQUIRE(r.passed);
    REQUIRE(linear.backward(random_tensor(Shape{4, 7}, 5)).shape() == (Shape{4, 2, 3, 3}));
  }
}

TEST_CASE("linear equals its definition", "[conv]") {
  Rng rng(9);
  Linear linear(3, 2, rng);
  linear.weight.value = Tensor::from_vector(Shape{2, 3}, {1, 2, 3, -1, 0, 1});
  linear.bias.value = Tensor::from_vector(Shape{2}, {0.5f, -0.5f});
  Tensor y = linear.forward(Tensor::from_vector(Shape{1, 3}, {1, 1, 2}), Mode::eval);
  REQUIRE(y.to_vector() == std::vector<float>{9.5f, 0.5f});
}

TEST_CASE("MACs match B-LeNet's published counts", "[conv]") {
  Rng rng(1);
  Conv2d stage0(1, 5, 5, Conv2dOptions{1, 3, 1, true}, rng);
  REQUIRE(stage0.out_shape(Shape{1, 1, 28, 28}) == (Shape{1, 5, 30, 30}));
  REQUIRE(stage0.macs(Shape{1, 1, 28, 28}) == 112500);
  REQUIRE(stage0.macs(Shape{4, 1, 28, 28}) == 4 * 112500);
  Linear fc(720, 84, rng);
  REQUIRE(fc.macs(Shape{1, 720}) == 60480);
  Conv2d grouped(8, 8, 3, Conv2dOptions{1, 1, 4, true}, rng);
  REQUIRE(grouped.macs(Shape{1, 8, 10, 10}) == 8 * 100 * 2 * 9);
}

TEST_CASE("conv and linear reject bad shapes and settings with clear errors", "[conv]") {
  Rng rng(1);
  Conv2d conv(3, 4, 3, Conv2dOptions{}, rng);
  REQUIRE_THROWS_WITH(conv.forward(Tensor(Shape{1, 2, 8, 8}), Mode::eval),
                      Catch::Contains("conv 3->4") && Catch::Contains("(1, 2, 8, 8)"));
  REQUIRE_THROWS_AS(conv.forward(Tensor(Shape{1, 3, 2, 2}), Mode::eval), Error);
  REQUIRE_THROWS_AS(conv.backward(Tensor(Shape{1, 4, 6, 6})), Error);
  REQUIRE_THROWS_WITH(Conv2d(3, 4, 3, Conv2dOptions{1, 0, 2, true}, rng), Catch::Contains("groups"));
  Linear linear(10, 2, rng);
  REQUIRE_THROWS_WITH(linear.forward(Tensor(Shape{2, 9}), Mode::eval), Catch::Contains("10 features"));
}
