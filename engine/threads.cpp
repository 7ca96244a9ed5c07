#include "engine/threads.h"

#include <omp.h>

#include "engine/error.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace branchy {

namespace {

int configure_default() {
  openblas_set_num_threads(1);
  return omp_get_max_threads();
}

int thread_count = configure_default();

}  // namespace

void set_num_threads(int n) {
  BRANCHY_CHECK(n >= 1, "thread count must be at least 1, got ", n);
  openblas_set_num_threads(1);
  omp_set_num_threads(n);
  thread_count = n;
}

int num_threads() { return thread_count; }

// Waking a team costs a few microseconds; below ~50k multiply-adds one thread wins.
bool worth_parallel(int64_t flops) { return thread_count > 1 && flops >= 50000; }

}  // namespace branchy
