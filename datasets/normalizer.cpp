#include "datasets/normalizer.h"

#include <array>
#include <cmath>
#include <sstream>

#include "engine/error.h"
#include "engine/kernels.h"

namespace branchy {

Normalizer::Normalizer(std::vector<float> mean, std::vector<float> stddev)
    : mean_(std::move(mean)), stddev_(std::move(stddev)) {
  BRANCHY_CHECK(!mean_.empty() && mean_.size() == stddev_.size(), "normalizer: ", mean_.size(),
                " means and ", stddev_.size(),
                " standard deviations (need one of each per channel)");
  for (size_t c = 0; c < mean_.size(); ++c) {
    BRANCHY_CHECK(stddev_[c] > 0.0f && std::isfinite(stddev_[c]) && std::isfinite(mean_[c]),
                  "normalizer: channel ", c, " has mean ", mean_[c], " and std ", stddev_[c],
                  " (std must be positive and finite)");
    scale_.push_back(1.0f / stddev_[c]);
    shift_.push_back(-mean_[c] / stddev_[c]);
  }
}

Normalizer Normalizer::from_dataset(const Dataset& data) {
  BRANCHY_CHECK(data.size() > 0 && data.channels > 0, "normalizer: dataset ", data.name,
                " is empty");
  // A histogram of byte values per channel makes the sums exact and the loop cheap.
  std::vector<std::array<uint64_t, 256>> histogram(static_cast<size_t>(data.channels));
  for (auto& h : histogram) h.fill(0);
  const int64_t plane = int64_t{data.height} * data.width;
  for (int64_t i = 0; i < data.size(); ++i) {
    const uint8_t* sample = data.sample(i);
    for (int c = 0; c < data.channels; ++c)
      for (int64_t p = 0; p < plane; ++p) ++histogram[c][sample[c * plane + p]];
  }
  std::vector<float> mean, stddev;
  for (const auto& h : histogram) {
    double count = 0, sum = 0, sum_squares = 0;
    for (int value = 0; value < 256; ++value) {
      const double x = value / 255.0;
      count += static_cast<double>(h[value]);
      sum += static_cast<double>(h[value]) * x;
      sum_squares += static_cast<double>(h[value]) * x * x;
    }
    const double m = sum / count;
    const double variance = std::max(0.0, sum_squares / count - m * m);
    const double s = std::sqrt(variance);
    mean.push_back(static_cast<float>(m));
    stddev.push_back(s > 1e-6 ? static_cast<float>(s) : 1.0f);
  }
  return Normalizer(std::move(mean), std::move(stddev));
}

void Normalizer::apply(Tensor& batch) const {
  BRANCHY_CHECK(batch.rank() == 4 && batch.dim(1) == channels(), "normalizer for ", channels(),
                " channels given a batch of shape ", batch.shape().str(), " (expected (N, ",
                channels(), ", H, W))");
  const int64_t plane = batch.dim(2) * batch.dim(3);
  const int64_t sample_floats = channels() * plane;
  for (int64_t n = 0; n < batch.dim(0); ++n) {
    float* sample = batch.data() + n * sample_floats;
    channel_affine(sample, scale_.data(), shift_.data(), sample, channels(), plane);
  }
}

std::string Normalizer::describe() const {
  std::ostringstream text;
  text << "mean [";
  for (size_t c = 0; c < mean_.size(); ++c) text << (c ? ", " : "") << mean_[c];
  text << "] std [";
  for (size_t c = 0; c < stddev_.size(); ++c) text << (c ? ", " : "") << stddev_[c];
  text << "]";
  return text.str();
}

}  // namespace branchy
