// blas.h — matrix multiply, row-major: C (M, N) = alpha * op(A) (M, K) * op(B) (K, N) + beta * C.
//
// gemm() is one single-threaded cblas_sgemm, safe to call from inside an
// OpenMP region. gemm_parallel() splits the work over the engine's threads
// (along N, or M when M is the larger) for callers outside any parallel region.
// gemm_reference() is the plain triple loop the fast ones are tested against.
#pragma once

namespace branchy {

void gemm(bool transpose_a, bool transpose_b, int M, int N, int K, float alpha, const float* A,
          int lda, const float* B, int ldb, float beta, float* C, int ldc);

void gemm_parallel(bool transpose_a, bool transpose_b, int M, int N, int K, float alpha,
                   const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc);

void gemm_reference(bool transpose_a, bool transpose_b, int M, int N, int K, float alpha,
                    const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace branchy
