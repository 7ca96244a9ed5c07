#include "report/timer.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace branchy {

void LatencyStats::reserve(int64_t sample_count) {
  BRANCHY_CHECK(sample_count >= 0, "LatencyStats: cannot reserve ", sample_count, " samples");
  samples_.reserve(static_cast<size_t>(sample_count));
}

void LatencyStats::add(double seconds) {
  BRANCHY_CHECK(std::isfinite(seconds) && seconds >= 0.0,
                "LatencyStats: a duration must be finite and >= 0 seconds, got ", seconds);
  if (!samples_.empty() && seconds < samples_.back()) sorted_ = false;
  samples_.push_back(seconds);
}

void LatencyStats::merge(const LatencyStats& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  sorted_ = false;
}

void LatencyStats::clear() {
  samples_.clear();
  sorted_ = true;
}

double LatencyStats::total() const {
  double sum = 0.0;
  for (double s : samples_) sum += s;
  return sum;
}

double LatencyStats::mean() const {
  require_samples("mean");
  return total() / static_cast<double>(samples_.size());
}

double LatencyStats::min() const {
  require_samples("min");
  return *std::min_element(samples_.begin(), samples_.end());
}

double LatencyStats::max() const {
  require_samples("max");
  return *std::max_element(samples_.begin(), samples_.end());
}

double LatencyStats::percentile(double p) const {
  BRANCHY_CHECK(p >= 0.0 && p <= 100.0, "LatencyStats: percentile must be in [0, 100], got ", p);
  require_samples("percentile");
  sort_if_needed();
  const double n = static_cast<double>(samples_.size());
  // Nearest rank, 1-based. The small slack keeps p = 90 of n = 10 at rank 9
  // even when p / 100 * n lands a hair above 9 in floating point.
  int64_t rank = static_cast<int64_t>(std::ceil(p / 100.0 * n - 1e-9));
  rank = std::clamp<int64_t>(rank, 1, count());
  return samples_[static_cast<size_t>(rank - 1)];
}

void LatencyStats::require_samples(const char* what) const {
  BRANCHY_CHECK(!samples_.empty(), "LatencyStats: ", what, " of no samples");
}

void LatencyStats::sort_if_needed() const {
  if (sorted_) return;
  std::sort(samples_.begin(), samples_.end());
  sorted_ = true;
}

}  // namespace branchy
