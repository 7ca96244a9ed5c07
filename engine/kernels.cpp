#include "engine/kernels.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

// GCC 12 warns inside its own AVX-512 intrinsics (the "__Y = __Y" idiom) when
// they are inlined here: a false positive in system headers, not in our code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <xsimd/xsimd.hpp>

namespace branchy {

namespace {
using Vec = xsimd::batch<float>;
constexpr int64_t lanes = static_cast<int64_t>(Vec::size);
// Whole SIMD vectors covering the first `n` elements.
inline int64_t vector_end(int64_t n) { return n - n % lanes; }
}  // namespace

void relu_forward(const float* x, float* y, int64_t n) {
  const Vec zero(0.0f);
  const int64_t end = vector_end(n);
  for (int64_t i = 0; i < end; i += lanes) xsimd::max(Vec::load_unaligned(x + i), zero).store_unaligned(y + i);
  for (int64_t i = end; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void relu_backward(const float* y, const float* dy, float* dx, int64_t n) {
  const Vec zero(0.0f);
  const int64_t end = vector_end(n);
  for (int64_t i = 0; i < end; i += lanes) {
    xsimd::select(Vec::load_unaligned(y + i) > zero, Vec::load_unaligned(dy + i), zero).store_unaligned(dx + i);
  }
  for (int64_t i = end; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void add(const float* a, const float* b, float* out, int64_t n) {
  const int64_t end = vector_end(n);
  for (int64_t i = 0; i < end; i += lanes) (Vec::load_unaligned(a + i) + Vec::load_unaligned(b + i)).store_unaligned(out + i);
  for (int64_t i = end; i < n; ++i) out[i] = a[i] + b[i];
}

namespace {

// nan_max over n elements in vectors of B, the last one overlapping the one
// before: max is idempotent, so elements done twice come out the same, even
// when out is a or b. False (nothing done) when n is shorter than one vector.
template <class B>
bool nan_max_vectors(const float* a, const float* b, float* out, int64_t n) {
  constexpr int64_t width = static_cast<int64_t>(B::size);
  if (n < width) return false;
  const auto one = [&](int64_t i) {
    const B va = B::load_unaligned(a + i), vb = B::load_unaligned(b + i);
    xsimd::select((va > vb) | xsimd::isnan(va), va, vb).store_unaligned(out + i);
  };
  for (int64_t i = 0; i + width <= n; i += width) one(i);
  if (n % width) one(n - width);
  return true;
}

// window_max_contest in vectors of B over the window starts, the last one
// overlapping the one before (its windows are contested again, alike).
// False (nothing done) when there are fewer starts than one vector.
template <class B>
bool window_max_contest_vectors(const float* top, int64_t frame_width, int k, int64_t starts, float* best,
                                float* tag) {
  constexpr int64_t width = static_cast<int64_t>(B::size);
  if (starts < width) return false;
  const auto one = [&](int64_t w) {
    B lead = B::load_unaligned(top + w), lead_offset(0.0f);
    for (int r = 0; r < k; ++r)
      for (int c = r == 0 ? 1 : 0; c < k; ++c) {
        const B v = B::load_unaligned(top + r * frame_width + c + w);
        const auto wins = (v > lead) | xsimd::isnan(v);
        lead = xsimd::select(wins, v, lead);
        lead_offset = xsimd::select(wins, B(static_cast<float>(r * k + c)), lead_offset);
      }
    lead.store_unaligned(best + w);
    lead_offset.store_unaligned(tag + w);
  };
  for (int64_t w = 0; w + width <= starts; w += width) one(w);
  if (starts % width) one(starts - width);
  return true;
}

// The largest of a vector's lanes (xsimd 8 has no horizontal max).
template <class B>
float lane_max(const B& v) {
  alignas(64) float lane_values[B::size];
  v.store_aligned(lane_values);
  return *std::max_element(lane_values, lane_values + B::size);
}

// band_column_sums in vectors of B held in registers down each band's rows,
// two vectors of columns at a time, each in two sums (even and odd rows): a
// band of a predictor's map is 4-8 rows, and one sum per vector waited on
// the add before it at every row. The maximum rides on the same loads and
// stays in registers across the bands (a maximum stored per band and loaded
// by the next waited on the two overlapping stores before it). The last
// vector overlaps the one before (it stores the same sums again). False
// (nothing done) when a row is shorter than one vector.
template <class B>
bool band_column_sums_vectors(const float* plane, int64_t width, const int64_t* first, const int64_t* end, int bands,
                              float* sums, int64_t sums_stride, float& largest) {
  constexpr int64_t lanes_b = static_cast<int64_t>(B::size);
  if (width < lanes_b) return false;
  B best = B::load_unaligned(plane + first[0] * width);
  for (int64_t x = 0; x < width; x += 2 * lanes_b) {
    const int64_t at0 = std::min(x, width - lanes_b), at1 = std::min(x + lanes_b, width - lanes_b);
    B best0 = best, best1 = best;
    for (int b = 0; b < bands; ++b) {
      const float* rows = plane + first[b] * width;
      const int64_t count = end[b] - first[b];
      B even0 = B::load_unaligned(rows + at0), even1 = B::load_unaligned(rows + at1);
      B odd0(0.0f), odd1(0.0f);
      best0 = xsimd::max(best0, even0);
      best1 = xsimd::max(best1, even1);
      int64_t r = 1;
      for (; r + 1 < count; r += 2) {
        const float* odd_row = rows + r * width;
        const float* even_row = odd_row + width;
        const B o0 = B::load_unaligned(odd_row + at0), o1 = B::load_unaligned(odd_row + at1);
        const B e0 = B::load_unaligned(even_row + at0), e1 = B::load_unaligned(even_row + at1);
        odd0 += o0;
        odd1 += o1;
        even0 += e0;
        even1 += e1;
        best0 = xsimd::max(best0, xsimd::max(o0, e0));
        best1 = xsimd::max(best1, xsimd::max(o1, e1));
      }
      if (r < count) {
        const B o0 = B::load_unaligned(rows + r * width + at0), o1 = B::load_unaligned(rows + r * width + at1);
        odd0 += o0;
        odd1 += o1;
        best0 = xsimd::max(best0, o0);
        best1 = xsimd::max(best1, o1);
      }
      (even0 + odd0).store_unaligned(sums + b * sums_stride + at0);
      (even1 + odd1).store_unaligned(sums + b * sums_stride + at1);
    }
    best = xsimd::max(best0, best1);
  }
  largest = lane_max(best);
  return true;
}

}  // namespace

float band_column_sums(const float* plane, int64_t width, const int64_t* first, const int64_t* end, int bands,
                       float* sums, int64_t sums_stride) {
  // Rows of feature maps are 6 to 32 wide: mostly tail for one AVX-512
  // vector, so narrower vectors take what the widest cannot.
  float largest = plane[first[0] * width];
  if (band_column_sums_vectors<Vec>(plane, width, first, end, bands, sums, sums_stride, largest)) return largest;
  using Eight = xsimd::make_sized_batch_t<float, 8>;
  using Four = xsimd::make_sized_batch_t<float, 4>;
  if constexpr (!std::is_void_v<Eight> && lanes > 8)
    if (band_column_sums_vectors<Eight>(plane, width, first, end, bands, sums, sums_stride, largest)) return largest;
  if constexpr (!std::is_void_v<Four> && lanes > 4)
    if (band_column_sums_vectors<Four>(plane, width, first, end, bands, sums, sums_stride, largest)) return largest;
  for (int b = 0; b < bands; ++b)
    for (int64_t x = 0; x < width; ++x) {
      float total = 0.0f;
      for (int64_t r = first[b]; r < end[b]; ++r) {
        total += plane[r * width + x];
        largest = std::max(largest, plane[r * width + x]);
      }
      sums[b * sums_stride + x] = total;
    }
  return largest;
}

void nan_max(const float* a, const float* b, float* out, int64_t n) {
  // Selects, not branches: the scalar form compiles to jumps that mispredict,
  // and pooling's rows (6 to 30 wide) are mostly tail for one AVX-512 vector,
  // so narrower vectors take what the widest cannot.
  if (nan_max_vectors<Vec>(a, b, out, n)) return;
  using Eight = xsimd::make_sized_batch_t<float, 8>;
  using Four = xsimd::make_sized_batch_t<float, 4>;
  if constexpr (!std::is_void_v<Eight> && lanes > 8)
    if (nan_max_vectors<Eight>(a, b, out, n)) return;
  if constexpr (!std::is_void_v<Four> && lanes > 4)
    if (nan_max_vectors<Four>(a, b, out, n)) return;
  for (int64_t i = 0; i < n; ++i) out[i] = (a[i] > b[i] || a[i] != a[i]) ? a[i] : b[i];
}

void window_max_contest(const float* top, int64_t frame_width, int k, int64_t starts, float* best, float* tag) {
  // As nan_max: pooling's rows are mostly tail for one AVX-512 vector.
  if (window_max_contest_vectors<Vec>(top, frame_width, k, starts, best, tag)) return;
  using Eight = xsimd::make_sized_batch_t<float, 8>;
  using Four = xsimd::make_sized_batch_t<float, 4>;
  if constexpr (!std::is_void_v<Eight> && lanes > 8)
    if (window_max_contest_vectors<Eight>(top, frame_width, k, starts, best, tag)) return;
  if constexpr (!std::is_void_v<Four> && lanes > 4)
    if (window_max_contest_vectors<Four>(top, frame_width, k, starts, best, tag)) return;
  reference::window_max_contest(top, frame_width, k, starts, best, tag);
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
  const Vec a(alpha);
  const int64_t end = vector_end(n);
  for (int64_t i = 0; i < end; i += lanes) xsimd::fma(a, Vec::load_unaligned(x + i), Vec::load_unaligned(y + i)).store_unaligned(y + i);
  for (int64_t i = end; i < n; ++i) y[i] += alpha * x[i];
}

void scale(float* x, float alpha, int64_t n) {
  const Vec a(alpha);
  const int64_t end = vector_end(n);
  for (int64_t i = 0; i < end; i += lanes) (Vec::load_unaligned(x + i) * a).store_unaligned(x + i);
  for (int64_t i = end; i < n; ++i) x[i] *= alpha;
}

double sum(const float* x, int64_t n) {
  // Float lanes over blocks of 1024, then double across blocks: fast and
  // accurate enough for means over millions of elements.
  double total = 0.0;
  for (int64_t block = 0; block < n; block += 1024) {
    const int64_t block_n = n - block < 1024 ? n - block : 1024;
    const int64_t end = vector_end(block_n);
    Vec acc(0.0f);
    for (int64_t i = 0; i < end; i += lanes) acc += Vec::load_unaligned(x + block + i);
    double partial = static_cast<double>(xsimd::hadd(acc));
    for (int64_t i = end; i < block_n; ++i) partial += x[block + i];
    total += partial;
  }
  return total;
}

// Sums in float lanes over blocks of 1024 elements, in double across blocks
// (as `sum`): vector speed, and no float drift over millions of elements.
constexpr int64_t kSumBlock = 1024;

double sum_squared_deviation(const float* x, float center, int64_t n) {
  const Vec mid(center);
  double total = 0.0;
  for (int64_t block = 0; block < n; block += kSumBlock) {
    const int64_t block_n = std::min(n - block, kSumBlock);
    const float* xb = x + block;
    const int64_t end = vector_end(block_n);
    Vec acc(0.0f);
    for (int64_t i = 0; i < end; i += lanes) {
      const Vec d = Vec::load_unaligned(xb + i) - mid;
      acc = xsimd::fma(d, d, acc);
    }
    double partial = static_cast<double>(xsimd::hadd(acc));
    for (int64_t i = end; i < block_n; ++i) partial += static_cast<double>(xb[i] - center) * (xb[i] - center);
    total += partial;
  }
  return total;
}

void sum_and_centered_dot(const float* dy, const float* x, float center, int64_t n, double& sum_dy,
                          double& sum_dy_dev) {
  const Vec mid(center);
  for (int64_t block = 0; block < n; block += kSumBlock) {
    const int64_t block_n = std::min(n - block, kSumBlock);
    const float* dyb = dy + block;
    const float* xb = x + block;
    const int64_t end = vector_end(block_n);
    Vec acc_dy(0.0f), acc_dot(0.0f);
    for (int64_t i = 0; i < end; i += lanes) {
      const Vec g = Vec::load_unaligned(dyb + i);
      acc_dy += g;
      acc_dot = xsimd::fma(g, Vec::load_unaligned(xb + i) - mid, acc_dot);
    }
    double partial_dy = static_cast<double>(xsimd::hadd(acc_dy));
    double partial_dot = static_cast<double>(xsimd::hadd(acc_dot));
    for (int64_t i = end; i < block_n; ++i) {
      partial_dy += dyb[i];
      partial_dot += static_cast<double>(dyb[i]) * (xb[i] - center);
    }
    sum_dy += partial_dy;
    sum_dy_dev += partial_dot;
  }
}

void affine_pair(const float* u, const float* v, float a, float b, float c, float* out, int64_t n) {
  const Vec va(a), vb(b), vc(c);
  const int64_t end = vector_end(n);
  for (int64_t i = 0; i < end; i += lanes)
    xsimd::fma(va, Vec::load_unaligned(u + i), xsimd::fma(vb, Vec::load_unaligned(v + i), vc)).store_unaligned(out + i);
  for (int64_t i = end; i < n; ++i) out[i] = a * u[i] + (b * v[i] + c);
}

float max_value(const float* x, int64_t n) {
  const int64_t end = vector_end(n);
  float best = x[0];
  if (end > 0) {
    // Four running maxima: one would wait on the max before it at every step
    // (a predictor's 900-float planes: 60 -> 20 ns).
    Vec acc = Vec::load_unaligned(x), acc1 = acc, acc2 = acc, acc3 = acc;
    int64_t i = lanes;
    for (; i + 3 * lanes < end; i += 4 * lanes) {
      acc = xsimd::max(acc, Vec::load_unaligned(x + i));
      acc1 = xsimd::max(acc1, Vec::load_unaligned(x + i + lanes));
      acc2 = xsimd::max(acc2, Vec::load_unaligned(x + i + 2 * lanes));
      acc3 = xsimd::max(acc3, Vec::load_unaligned(x + i + 3 * lanes));
    }
    for (; i < end; i += lanes) acc = xsimd::max(acc, Vec::load_unaligned(x + i));
    best = lane_max(xsimd::max(xsimd::max(acc, acc1), xsimd::max(acc2, acc3)));
  }
  for (int64_t i = end; i < n; ++i) best = std::max(best, x[i]);
  return best;
}

float dot(const float* a, const float* b, int64_t n) {
  const int64_t end = vector_end(n);
  Vec acc(0.0f);
  for (int64_t i = 0; i < end; i += lanes) acc = xsimd::fma(Vec::load_unaligned(a + i), Vec::load_unaligned(b + i), acc);
  float total = xsimd::hadd(acc);
  for (int64_t i = end; i < n; ++i) total += a[i] * b[i];
  return total;
}

void matvec(const float* W, int64_t rows, int64_t cols, const float* x, float* y) {
  // Four rows at a time: each x vector is loaded once for four independent
  // chains of FMAs, and their four horizontal sums overlap.
  const int64_t end = vector_end(cols);
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    const float* w0 = W + r * cols;
    const float *w1 = w0 + cols, *w2 = w1 + cols, *w3 = w2 + cols;
    Vec acc0(0.0f), acc1(0.0f), acc2(0.0f), acc3(0.0f);
    for (int64_t i = 0; i < end; i += lanes) {
      const Vec xi = Vec::load_unaligned(x + i);
      acc0 = xsimd::fma(Vec::load_unaligned(w0 + i), xi, acc0);
      acc1 = xsimd::fma(Vec::load_unaligned(w1 + i), xi, acc1);
      acc2 = xsimd::fma(Vec::load_unaligned(w2 + i), xi, acc2);
      acc3 = xsimd::fma(Vec::load_unaligned(w3 + i), xi, acc3);
    }
    float tail0 = 0.0f, tail1 = 0.0f, tail2 = 0.0f, tail3 = 0.0f;
    for (int64_t i = end; i < cols; ++i) {
      tail0 += w0[i] * x[i];
      tail1 += w1[i] * x[i];
      tail2 += w2[i] * x[i];
      tail3 += w3[i] * x[i];
    }
    y[r] = xsimd::hadd(acc0) + tail0;
    y[r + 1] = xsimd::hadd(acc1) + tail1;
    y[r + 2] = xsimd::hadd(acc2) + tail2;
    y[r + 3] = xsimd::hadd(acc3) + tail3;
  }
  for (; r < rows; ++r) y[r] = dot(W + r * cols, x, cols);
}

namespace {

// Up to eight segments, each as one 8-lane vector B with the lanes past its
// width set to zero, summed across by one transposing horizontal add (haddp)
// and scaled in the same vector: eight scaled sums leave in one store (a
// later vector load of eight scalar stores waits on all of them). (Eight
// lanes: xsimd 8.1's 16-lane AVX-512 haddp returns rows 2-5 and 10-13 out
// of order; its 8-lane one is right, and tested here.)
template <class B>
void eight_scaled_segment_sums(const float* const* segments, const int64_t* widths, const float* scales, int64_t n,
                               float* out) {
  alignas(32) static constexpr float lane_index[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  const B lane = B::load_aligned(lane_index), zero(0.0f);
  B rows[8];
  for (int64_t j = 0; j < 8; ++j)
    rows[j] = j < n ? xsimd::select(lane < B(static_cast<float>(widths[j])), B::load_unaligned(segments[j]), zero)
                    : zero;
  if (n == 8) {
    (xsimd::haddp(rows) * B::load_unaligned(scales)).store_unaligned(out);
    return;
  }
  alignas(32) float sums[8];
  xsimd::haddp(rows).store_aligned(sums);
  for (int64_t j = 0; j < n; ++j) out[j] = sums[j] * scales[j];
}

}  // namespace

void scaled_segment_sums(const float* const* segments, const int64_t* widths, const float* scales, int64_t count,
                         float* out) {
  // Segments are short (a grid cell: 8 columns of a 30-wide map): eight at a
  // time in vectors; a loop of scalar adds per segment cost more than the
  // whole predictor head.
  using Eight = xsimd::make_sized_batch_t<float, 8>;
  for (int64_t k = 0; k < count; k += 8) {
    const int64_t n = std::min<int64_t>(8, count - k);
    bool fits = true;
    for (int64_t j = 0; j < n; ++j) fits = fits && widths[k + j] <= 8;
    if constexpr (!std::is_void_v<Eight>) {
      if (fits) {
        eight_scaled_segment_sums<Eight>(segments + k, widths + k, scales + k, n, out + k);
        continue;
      }
    }
    for (int64_t j = 0; j < n; ++j) {
      float total = 0.0f;
      for (int64_t i = 0; i < widths[k + j]; ++i) total += segments[k + j][i];
      out[k + j] = scales[k + j] * total;
    }
  }
}

void channel_affine(const float* x, const float* scale_c, const float* shift_c, float* y,
                    int64_t channels, int64_t plane) {
  const int64_t end = vector_end(plane);
  for (int64_t c = 0; c < channels; ++c) {
    const float* xc = x + c * plane;
    float* yc = y + c * plane;
    const Vec s(scale_c[c]), b(shift_c[c]);
    for (int64_t i = 0; i < end; i += lanes) xsimd::fma(Vec::load_unaligned(xc + i), s, b).store_unaligned(yc + i);
    for (int64_t i = end; i < plane; ++i) yc[i] = xc[i] * scale_c[c] + shift_c[c];
  }
}

namespace reference {

void relu_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
void relu_backward(const float* y, const float* dy, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}
void add(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}
void window_max_contest(const float* top, int64_t frame_width, int k, int64_t starts, float* best, float* tag) {
  for (int64_t w = 0; w < starts; ++w) {
    best[w] = top[w];
    tag[w] = 0.0f;
    for (int r = 0; r < k; ++r)
      for (int c = 0; c < k; ++c) {
        const float v = top[r * frame_width + c + w];
        if (v > best[w] || v != v) {
          best[w] = v;
          tag[w] = static_cast<float>(r * k + c);
        }
      }
  }
}
float band_column_sums(const float* plane, int64_t width, const int64_t* first, const int64_t* end, int bands,
                       float* sums, int64_t sums_stride) {
  float largest = plane[first[0] * width];
  for (int b = 0; b < bands; ++b)
    for (int64_t x = 0; x < width; ++x) {
      sums[b * sums_stride + x] = 0.0f;
      for (int64_t r = first[b]; r < end[b]; ++r) {
        sums[b * sums_stride + x] += plane[r * width + x];
        largest = std::max(largest, plane[r * width + x]);
      }
    }
  return largest;
}
void nan_max(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::isnan(a[i]) || std::isnan(b[i]) ? NAN : std::max(a[i], b[i]);
}
void axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}
void scale(float* x, float alpha, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] *= alpha;
}
double sum(const float* x, int64_t n) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += x[i];
  return total;
}
float max_value(const float* x, int64_t n) {
  float best = x[0];
  for (int64_t i = 1; i < n; ++i) best = std::max(best, x[i]);
  return best;
}
double sum_squared_deviation(const float* x, float center, int64_t n) {
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += (static_cast<double>(x[i]) - center) * (static_cast<double>(x[i]) - center);
  return total;
}
void sum_and_centered_dot(const float* dy, const float* x, float center, int64_t n, double& sum_dy,
                          double& sum_dy_dev) {
  for (int64_t i = 0; i < n; ++i) {
    sum_dy += dy[i];
    sum_dy_dev += static_cast<double>(dy[i]) * (static_cast<double>(x[i]) - center);
  }
}
void affine_pair(const float* u, const float* v, float a, float b, float c, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a * u[i] + b * v[i] + c;
}
float dot(const float* a, const float* b, int64_t n) {
  float total = 0.0f;
  for (int64_t i = 0; i < n; ++i) total += a[i] * b[i];
  return total;
}
void matvec(const float* W, int64_t rows, int64_t cols, const float* x, float* y) {
  for (int64_t r = 0; r < rows; ++r) y[r] = dot(W + r * cols, x, cols);
}
void scaled_segment_sums(const float* const* segments, const int64_t* widths, const float* scales, int64_t count,
                         float* out) {
  for (int64_t k = 0; k < count; ++k) {
    float total = 0.0f;
    for (int64_t i = 0; i < widths[k]; ++i) total += segments[k][i];
    out[k] = scales[k] * total;
  }
}
void channel_affine(const float* x, const float* scale_c, const float* shift_c, float* y,
                    int64_t channels, int64_t plane) {
  for (int64_t c = 0; c < channels; ++c)
    for (int64_t i = 0; i < plane; ++i) y[c * plane + i] = x[c * plane + i] * scale_c[c] + shift_c[c];
}

}  // namespace reference

}  // namespace branchy
