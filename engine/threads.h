// threads.h — how many threads the engine uses, and the rule that keeps
// OpenMP and OpenBLAS from fighting over the cores.
//
// The rule: OpenBLAS always runs single-threaded (one sgemm per calling
// thread); all parallelism is ours, through OpenMP, across images of a batch
// or across GEMM columns. Debian's default OpenBLAS is the pthread build, and
// letting its threads run inside our OpenMP threads oversubscribes the cores.
#pragma once

#include <algorithm>
#include <cstdint>

#include <omp.h>

namespace branchy {

// The thread count is one process-wide setting. Until set_num_threads is
// called it is omp_get_max_threads() at first use: OMP_NUM_THREADS when set,
// otherwise every core (bin/branchy's --threads has the same default). It is
// fixed lazily, on the first call of any function below, not at load time.

// Sets the thread count kernels use; requires 1 <= n <= max_thread_count(),
// else throws Error naming the bound. Also pins OpenBLAS to one thread.
void set_num_threads(int n);
// The thread count kernels use now.
int num_threads();
// The largest count set_num_threads accepts: 4 x the hardware cores.
// (Far more threads than cores only slows the kernels; libgomp fails
// outright on counts in the tens of thousands.)
int max_thread_count();
// Pins OpenBLAS to one thread (the rule above) if not done yet. gemm calls it;
// so does every function above. Cheap after the first call.
void ensure_single_threaded_blas();

// Sets the thread count for the lifetime of the scope and restores the
// previous count on exit; scopes nest. Throws like set_num_threads.
//   { ThreadCountScope two(2); ... }   // 2 threads here, the old count after
class ThreadCountScope {
 public:
  explicit ThreadCountScope(int n);
  ~ThreadCountScope();
  ThreadCountScope(const ThreadCountScope&) = delete;
  ThreadCountScope& operator=(const ThreadCountScope&) = delete;

 private:
  int previous_;
};
// Whether work of `flops` multiply-adds is worth the cost of waking threads.
bool worth_parallel(int64_t flops);

// Runs body(begin, end) over [0, count): split into one contiguous chunk per
// thread when `work` multiply-adds are worth waking threads for, otherwise as
// one call on this thread. Small work must not enter an OpenMP region at all:
// even a region whose if() clause is false costs ~1.5 us in libgomp, as much
// as a whole small layer at batch 1. Nested calls run on the calling thread.
template <typename Body>
void parallel_chunks(int64_t count, int64_t work, const Body& body) {
  if (count <= 1 || !worth_parallel(work) || omp_in_parallel()) {
    body(int64_t{0}, count);
    return;
  }
  const int chunks = static_cast<int>(std::min<int64_t>(num_threads(), count));
#pragma omp parallel for num_threads(chunks) schedule(static)
  for (int chunk = 0; chunk < chunks; ++chunk) body(count * chunk / chunks, count * (chunk + 1) / chunks);
}

// body(i) for every i in [0, count), on several threads when `work` is worth it.
template <typename Body>
void parallel_for(int64_t count, int64_t work, const Body& body) {
  parallel_chunks(count, work, [&body](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) body(i);
  });
}

}  // namespace branchy
