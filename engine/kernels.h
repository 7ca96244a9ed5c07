// kernels.h — element-wise work on float arrays, vectorised with xsimd.
//
// Each fast kernel has a plain twin in namespace `reference` that tests
// compare it against. Pointers may alias only where noted (out may be x).
#pragma once

#include <cstdint>

namespace branchy {

// y = max(x, 0); out may be x.
void relu_forward(const float* x, float* y, int64_t n);
// dx = dy where y > 0, else 0.
void relu_backward(const float* y, const float* dy, float* dx, int64_t n);
// out = a + b; out may be a or b.
void add(const float* a, const float* b, float* out, int64_t n);
// out = max(a, b), a NaN on either side winning; out may be a or b, but not
// overlap them otherwise (max pooling).
void nan_max(const float* a, const float* b, float* out, int64_t n);
// Max pooling's contest with positions, for every window start w < starts
// along a row: over the k x k window whose top-left element is top[w] (rows
// frame_width apart), in row-major order, a value takes the lead when it is
// greater than the leader (strict: the first maximum wins) or NaN (a NaN
// beats any number, and a later NaN an earlier one). best[w] = the winner,
// tag[w] = its offset r * k + c in the window. The first element leads at the
// start, so a window with nothing above -inf reports offset 0.
void window_max_contest(const float* top, int64_t frame_width, int k, int64_t starts, float* best, float* tag);
// The bands b < bands of a plane (rows, width), band b its rows
// [first[b], end[b]) (first < end; bands may share rows), each added column
// by column:
//   sums[b * sums_stride + x] = sum over r in [first[b], end[b]) of plane[r * width + x]
// (predictor features' grid cells). Returns the largest element of the rows
// the bands cover (their "max", read on the same pass); a NaN among them may
// or may not be returned.
float band_column_sums(const float* plane, int64_t width, const int64_t* first, const int64_t* end, int bands,
                       float* sums, int64_t sums_stride);
// y += alpha * x
void axpy(float alpha, const float* x, float* y, int64_t n);
// x *= alpha
void scale(float* x, float alpha, int64_t n);
// Sum of x, accumulated in double.
double sum(const float* x, int64_t n);
// Largest element of x (n >= 1); a NaN in x may or may not be returned.
float max_value(const float* x, int64_t n);
// sum_i a[i] * b[i] in float.
float dot(const float* a, const float* b, int64_t n);
// y (rows) = W (rows, cols, row-major) x (cols): a predictor head's layer at
// batch 1, where a BLAS call costs more than the arithmetic.
void matvec(const float* W, int64_t rows, int64_t cols, const float* x, float* y);
// out[k] = scales[k] * (segments[k][0] + ... + segments[k][widths[k] - 1]),
// k < count: the averages of a feature grid's cells, from its bands' column
// sums. Each segment must be readable for 8 floats (what lies past its width
// is read and ignored).
void scaled_segment_sums(const float* const* segments, const int64_t* widths, const float* scales, int64_t count,
                         float* out);
// Sum of (x - center)^2, accumulated in double (batch-norm variance).
double sum_squared_deviation(const float* x, float center, int64_t n);
// sum_dy += sum of dy; sum_dy_dev += sum of dy * (x - center) (batch-norm backward).
void sum_and_centered_dot(const float* dy, const float* x, float center, int64_t n, double& sum_dy,
                          double& sum_dy_dev);
// out = a * u + b * v + c (out may be u or v): batch-norm's input gradient.
void affine_pair(const float* u, const float* v, float a, float b, float c, float* out, int64_t n);
// Per-channel affine over planes: y[c][i] = x[c][i] * scale[c] + shift[c] (y may be x),
// for `channels` planes of `plane` elements (batch-norm apply, bias add).
void channel_affine(const float* x, const float* scale, const float* shift, float* y,
                    int64_t channels, int64_t plane);

namespace reference {
void relu_forward(const float* x, float* y, int64_t n);
void relu_backward(const float* y, const float* dy, float* dx, int64_t n);
void add(const float* a, const float* b, float* out, int64_t n);
void nan_max(const float* a, const float* b, float* out, int64_t n);
void window_max_contest(const float* top, int64_t frame_width, int k, int64_t starts, float* best, float* tag);
float band_column_sums(const float* plane, int64_t width, const int64_t* first, const int64_t* end, int bands,
                       float* sums, int64_t sums_stride);
void axpy(float alpha, const float* x, float* y, int64_t n);
void scale(float* x, float alpha, int64_t n);
double sum(const float* x, int64_t n);
float max_value(const float* x, int64_t n);
float dot(const float* a, const float* b, int64_t n);
void matvec(const float* W, int64_t rows, int64_t cols, const float* x, float* y);
void scaled_segment_sums(const float* const* segments, const int64_t* widths, const float* scales, int64_t count,
                         float* out);
double sum_squared_deviation(const float* x, float center, int64_t n);
void sum_and_centered_dot(const float* dy, const float* x, float center, int64_t n, double& sum_dy,
                          double& sum_dy_dev);
void affine_pair(const float* u, const float* v, float a, float b, float c, float* out, int64_t n);
void channel_affine(const float* x, const float* scale, const float* shift, float* y,
                    int64_t channels, int64_t plane);
}  // namespace reference

}  // namespace branchy
