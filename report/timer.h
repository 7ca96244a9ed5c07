// timer.h — wall-clock timing for benchmarks and latency reports.
//
// Timer measures elapsed time on std::chrono::steady_clock (monotonic: it
// never jumps when the system clock is set), from construction.
//
// LatencyStats collects one duration per sample (seconds) and summarises them:
// count, mean, min, max and percentiles. Percentiles use the nearest-rank
// definition: the p-th percentile of n sorted samples x[1..n] is x[ceil(p/100*n)]
// (x[1] for p = 0). It is always one of the measured samples, never an
// interpolation, so the median of an even count is the lower middle sample and
// p99 of 100 samples is the 99th smallest.
//
// Requires: durations are finite and >= 0; percentiles need at least one sample.
// Ensures: summaries do not depend on the order samples were added.
// Fails: Error for a negative or non-finite sample, a summary of no samples, or
//   a percentile outside [0, 100].
// Not thread-safe: one LatencyStats per thread, or merge() them afterwards.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

namespace branchy {

class Timer {
 public:
  Timer() : start_(Clock::now()) {}

  void restart() { start_ = Clock::now(); }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  double microseconds() const { return seconds() * 1e6; }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_;
};

class LatencyStats {
 public:
  void reserve(int64_t sample_count);
  void add(double seconds);
  void merge(const LatencyStats& other);
  void clear();

  int64_t count() const { return static_cast<int64_t>(samples_.size()); }
  double total() const;  // seconds
  double mean() const;
  double min() const;
  double max() const;
  double percentile(double p) const;  // nearest-rank, p in [0, 100]
  double median() const { return percentile(50.0); }
  double p90() const { return percentile(90.0); }
  double p99() const { return percentile(99.0); }

 private:
  void require_samples(const char* what) const;
  void sort_if_needed() const;

  // Sorted lazily by the first percentile query; the order of samples is not
  // part of the observable state, so sorting inside const methods is harmless.
  mutable std::vector<double> samples_;  // seconds
  mutable bool sorted_ = true;
};

}  // namespace branchy
