// threads.h — how many threads the engine uses, and the rule that keeps
// OpenMP and OpenBLAS from fighting over the cores.
//
// The rule: OpenBLAS always runs single-threaded (one sgemm per calling
// thread); all parallelism is ours, through OpenMP, across images of a batch
// or across GEMM columns. Debian's default OpenBLAS is the pthread build, and
// letting its threads run inside our OpenMP threads oversubscribes the cores.
#pragma once

#include <cstdint>

namespace branchy {

// Sets the number of OpenMP threads (n >= 1) and pins OpenBLAS to one thread.
void set_num_threads(int n);
int num_threads();
// Whether work of `flops` multiply-adds is worth the cost of waking threads.
bool worth_parallel(int64_t flops);

}  // namespace branchy
