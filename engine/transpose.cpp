#include "engine/transpose.h"

// GCC 12 warns inside its own AVX-512 headers: their _mm512_undefined_ps()
// initialises a variable from itself on purpose (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include "engine/error.h"

namespace branchy {

namespace {

#if defined(__AVX512F__)

constexpr int kSize = 16;

// 16 x 16 in four rounds: pairs of rows interleave by 1 float, then by 2
// (as doubles), then by 4 and 8 (128-bit lanes).
void transpose_in_registers(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  auto as_pd = [](__m512 x) { return _mm512_castps_pd(x); };
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(as_pd(t[i]), as_pd(t[i + 2])));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(as_pd(t[i]), as_pd(t[i + 2])));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(as_pd(t[i + 1]), as_pd(t[i + 3])));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(as_pd(t[i + 1]), as_pd(t[i + 3])));
  }
  for (int half = 0; half < 16; half += 8)
    for (int i = 0; i < 4; ++i) {
      t[half + i] = _mm512_shuffle_f32x4(r[half + i], r[half + i + 4], 0x88);
      t[half + i + 4] = _mm512_shuffle_f32x4(r[half + i], r[half + i + 4], 0xdd);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xdd);
  }
}

void transpose_fast(const float* from, int64_t from_stride, int rows, int cols, float* to, int64_t to_stride) {
  __m512 r[16];
  const __mmask16 col_mask = static_cast<__mmask16>((1u << cols) - 1);
  for (int i = 0; i < 16; ++i)
    r[i] = i < rows ? _mm512_maskz_loadu_ps(col_mask, from + i * from_stride) : _mm512_setzero_ps();
  transpose_in_registers(r);
  const __mmask16 row_mask = static_cast<__mmask16>((1u << rows) - 1);
  for (int c = 0; c < cols; ++c) _mm512_mask_storeu_ps(to + c * to_stride, row_mask, r[c]);
}

#elif defined(__AVX2__)

constexpr int kSize = 8;

// 8 x 8 in three rounds: pairs of rows interleave by 1 float, then by 2,
// then 128-bit halves swap.
void transpose_in_registers(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// Lanes below n set: the mask operand of _mm256_maskload_ps / maskstore_ps.
__m256i lanes_below(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

void transpose_fast(const float* from, int64_t from_stride, int rows, int cols, float* to, int64_t to_stride) {
  __m256 r[8];
  const __m256i col_mask = lanes_below(cols);
  for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_maskload_ps(from + i * from_stride, col_mask) : _mm256_setzero_ps();
  transpose_in_registers(r);
  const __m256i row_mask = lanes_below(rows);
  for (int c = 0; c < cols; ++c) _mm256_maskstore_ps(to + c * to_stride, row_mask, r[c]);
}

#else

constexpr int kSize = 16;

void transpose_fast(const float* from, int64_t from_stride, int rows, int cols, float* to, int64_t to_stride) {
  reference::transpose_block(from, from_stride, rows, cols, to, to_stride);
}

#endif

}  // namespace

int transpose_block_size() { return kSize; }

void transpose_block(const float* from, int64_t from_stride, int rows, int cols, float* to, int64_t to_stride) {
  BRANCHY_CHECK(rows >= 0 && rows <= kSize && cols >= 0 && cols <= kSize, "transpose_block: ", rows, " x ", cols,
                " block, at most ", kSize, " x ", kSize);
  transpose_fast(from, from_stride, rows, cols, to, to_stride);
}

namespace reference {

void transpose_block(const float* from, int64_t from_stride, int rows, int cols, float* to, int64_t to_stride) {
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) to[c * to_stride + r] = from[r * from_stride + c];
}

}  // namespace reference

}  // namespace branchy
