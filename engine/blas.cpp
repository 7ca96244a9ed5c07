#include "engine/blas.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>

#include "engine/threads.h"

namespace branchy {

void gemm(bool transpose_a, bool transpose_b, int M, int N, int K, float alpha, const float* A,
          int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  ensure_single_threaded_blas();
  // One row or one column of C is a matrix-vector product: sgemv reads the
  // matrix where it lies, where sgemm would first pack all of it (a batch-1
  // linear layer spent most of its time copying its weights).
  if (M == 1) {  // C (1, N) = a (K) . op(B) (K, N); a's elements lie lda apart when A is (K, 1)
    cblas_sgemv(CblasRowMajor, transpose_b ? CblasNoTrans : CblasTrans, transpose_b ? N : K, transpose_b ? K : N,
                alpha, B, ldb, A, transpose_a ? lda : 1, beta, C, 1);
    return;
  }
  if (N == 1) {  // C (M, 1) = op(A) (M, K) . b (K); b's elements lie ldb apart when B is (K, 1)
    cblas_sgemv(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans, transpose_a ? K : M, transpose_a ? M : K,
                alpha, A, lda, B, transpose_b ? 1 : ldb, beta, C, ldc);
    return;
  }
  cblas_sgemm(CblasRowMajor, transpose_a ? CblasTrans : CblasNoTrans,
              transpose_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_parallel(bool transpose_a, bool transpose_b, int M, int N, int K, float alpha,
                   const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  const int64_t flops = static_cast<int64_t>(M) * N * K;
  const int threads = num_threads();
  if (!worth_parallel(flops) || omp_in_parallel()) {
    gemm(transpose_a, transpose_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Each thread takes a block of columns of C (or of rows, when M is larger);
  // blocks are multiples of 16 columns so the kernels stay aligned to SIMD width.
  const bool split_rows = M > N;
  const int extent = split_rows ? M : N;
  const int granule = split_rows ? 1 : 16;
  int block = (extent + threads - 1) / threads;
  block = (block + granule - 1) / granule * granule;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int start = 0; start < extent; start += block) {
    const int count = std::min(block, extent - start);
    if (split_rows) {
      const float* A_rows = transpose_a ? A + start : A + static_cast<int64_t>(start) * lda;
      gemm(transpose_a, transpose_b, count, N, K, alpha, A_rows, lda, B, ldb, beta,
           C + static_cast<int64_t>(start) * ldc, ldc);
    } else {
      const float* B_cols = transpose_b ? B + static_cast<int64_t>(start) * ldb : B + start;
      gemm(transpose_a, transpose_b, M, count, K, alpha, A, lda, B_cols, ldb, beta, C + start, ldc);
    }
  }
}

void gemm_reference(bool transpose_a, bool transpose_b, int M, int N, int K, float alpha,
                    const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      double sum = 0.0;
      for (int k = 0; k < K; ++k) {
        const float a = transpose_a ? A[k * lda + i] : A[i * lda + k];
        const float b = transpose_b ? B[j * ldb + k] : B[k * ldb + j];
        sum += static_cast<double>(a) * b;
      }
      float& c = C[i * ldc + j];
      c = static_cast<float>(alpha * sum + (beta == 0.0f ? 0.0 : beta * c));
    }
  }
}

}  // namespace branchy
