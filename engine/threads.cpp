#include "engine/threads.h"

#include <omp.h>

#include <algorithm>
#include <thread>

#include "engine/error.h"

extern "C" void openblas_set_num_threads(int num_threads);

namespace branchy {

namespace {

int hardware_cores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

// The setting itself. The first call pins OpenBLAS and reads the default
// (thread-safe: a function-local static is initialised once).
int& thread_count() {
  static int count = [] {
    openblas_set_num_threads(1);
    return std::clamp(omp_get_max_threads(), 1, max_thread_count());
  }();
  return count;
}

// No checks: the scope restores counts that were valid when it saved them.
void apply_thread_count(int n) {
  openblas_set_num_threads(1);
  omp_set_num_threads(n);
  thread_count() = n;
}

}  // namespace

int max_thread_count() { return 4 * hardware_cores(); }

void ensure_single_threaded_blas() { (void)thread_count(); }

void set_num_threads(int n) {
  const int most = max_thread_count();
  BRANCHY_CHECK(n >= 1 && n <= most, "thread count must be between 1 and ", most, " (4 x ", hardware_cores(),
                " hardware cores), got ", n);
  apply_thread_count(n);
}

int num_threads() { return thread_count(); }

// Waking a team costs a few microseconds; below ~50k multiply-adds one thread wins.
bool worth_parallel(int64_t flops) { return thread_count() > 1 && flops >= 50000; }

ThreadCountScope::ThreadCountScope(int n) : previous_(num_threads()) { set_num_threads(n); }

ThreadCountScope::~ThreadCountScope() { apply_thread_count(previous_); }

}  // namespace branchy
