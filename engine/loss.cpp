#include "engine/loss.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/error.h"

namespace branchy {

namespace {

// Rows and classes of a (N, K) logits tensor, or an Error naming `who`.
void check_logits(const Tensor& logits, const char* who) {
  BRANCHY_CHECK(logits.defined() && logits.rank() == 2, who, ": logits must be (N, K), got ",
                logits.defined() ? logits.shape().str() : std::string("an empty tensor"));
  BRANCHY_CHECK(logits.dim(0) >= 1 && logits.dim(1) >= 1, who, ": logits must have N >= 1 rows and K >= 1 classes, got ",
                logits.shape().str());
}

void check_labels(const Tensor& logits, const std::vector<int>& labels, const char* who) {
  const int64_t rows = logits.dim(0), classes = logits.dim(1);
  BRANCHY_CHECK(static_cast<int64_t>(labels.size()) == rows, who, ": ", labels.size(), " labels for ", rows,
                " rows of logits ", logits.shape().str());
  for (int64_t i = 0; i < rows; ++i) {
    BRANCHY_CHECK(labels[i] >= 0 && labels[i] < classes, who, ": label ", labels[i], " at row ", i,
                  " is outside [0, K) for K = ", classes, " classes");
  }
}

// Gives `gradient` the shape `shape`, reusing its storage when it already has it.
void prepare_gradient(Tensor* gradient, const Shape& shape) {
  if (!gradient->defined() || gradient->shape() != shape) *gradient = Tensor::uninitialized(shape);
}

// The row's maximum and log(sum_k exp(z_k - max)): logsumexp(z) = max + log_sum.
struct RowNormaliser {
  float max;
  double log_sum;
};

RowNormaliser normalise_row(const float* z, int64_t classes) {
  const float max = *std::max_element(z, z + classes);
  double sum = 0.0;
  for (int64_t k = 0; k < classes; ++k) sum += std::exp(static_cast<double>(z[k]) - max);
  return {max, std::log(sum)};  // sum >= 1 (the max term), so the log is finite
}

// The cross-entropy core shared by the mean, weighted and per-sample forms.
// Returns sum_i weight_i * loss_i; fills per_sample (size N) and dlogits row i
// = weight_i * gradient_scale * (softmax - onehot) where they are not null.
double cross_entropy_rows(const Tensor& logits, const std::vector<int>& labels, const float* weights,
                          double gradient_scale, float* per_sample, Tensor* dlogits) {
  const int64_t rows = logits.dim(0), classes = logits.dim(1);
  const float* z_all = logits.data();  // (N, K)
  float* dz_all = dlogits ? dlogits->data() : nullptr;
  double total = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* z = z_all + i * classes;
    const RowNormaliser norm = normalise_row(z, classes);
    // -log p_y = logsumexp(z) - z_y, with the max cancelled out for stability.
    const double loss = norm.log_sum - (static_cast<double>(z[labels[i]]) - norm.max);
    const double weight = weights ? weights[i] : 1.0;
    total += weight * loss;
    if (per_sample) per_sample[i] = static_cast<float>(loss);
    if (dz_all) {
      float* dz = dz_all + i * classes;
      const double row_scale = weight * gradient_scale;
      for (int64_t k = 0; k < classes; ++k) {
        const double probability = std::exp(static_cast<double>(z[k]) - norm.max - norm.log_sum);
        dz[k] = static_cast<float>(row_scale * (probability - (k == labels[i] ? 1.0 : 0.0)));
      }
    }
  }
  return total;
}

// logits (rows, classes) -> probabilities (rows, classes); p may be z.
void softmax_rows(const float* z, float* p, int64_t rows, int64_t classes) {
  for (int64_t i = 0; i < rows; ++i, z += classes, p += classes) {
    const RowNormaliser norm = normalise_row(z, classes);
    for (int64_t k = 0; k < classes; ++k) p[k] = static_cast<float>(std::exp(static_cast<double>(z[k]) - norm.max - norm.log_sum));
  }
}

}  // namespace

Tensor softmax(const Tensor& logits) {
  check_logits(logits, "softmax");
  Tensor probabilities = Tensor::uninitialized(logits.shape());  // (N, K)
  softmax_rows(logits.data(), probabilities.data(), logits.dim(0), logits.dim(1));
  return probabilities;
}

void softmax_in_place(Tensor& logits) {
  check_logits(logits, "softmax_in_place");
  softmax_rows(logits.data(), logits.data(), logits.dim(0), logits.dim(1));
}

float softmax_cross_entropy(const Tensor& logits, const std::vector<int>& labels, Tensor* dlogits) {
  check_logits(logits, "softmax_cross_entropy");
  check_labels(logits, labels, "softmax_cross_entropy");
  if (dlogits) prepare_gradient(dlogits, logits.shape());
  const double rows = static_cast<double>(logits.dim(0));
  return static_cast<float>(cross_entropy_rows(logits, labels, nullptr, 1.0 / rows, nullptr, dlogits) / rows);
}

std::vector<float> softmax_cross_entropy_per_sample(const Tensor& logits, const std::vector<int>& labels) {
  check_logits(logits, "softmax_cross_entropy_per_sample");
  check_labels(logits, labels, "softmax_cross_entropy_per_sample");
  std::vector<float> losses(logits.dim(0));
  cross_entropy_rows(logits, labels, nullptr, 0.0, losses.data(), nullptr);
  return losses;
}

float weighted_softmax_cross_entropy(const Tensor& logits, const std::vector<int>& labels,
                                     const std::vector<float>& sample_weights, Tensor* dlogits) {
  const char* who = "weighted_softmax_cross_entropy";
  check_logits(logits, who);
  check_labels(logits, labels, who);
  BRANCHY_CHECK(sample_weights.size() == labels.size(), who, ": ", sample_weights.size(), " weights for ",
                labels.size(), " rows");
  for (size_t i = 0; i < sample_weights.size(); ++i) {
    BRANCHY_CHECK(std::isfinite(sample_weights[i]) && sample_weights[i] >= 0.0f, who, ": weight ", sample_weights[i],
                  " at row ", i, " must be finite and >= 0");
  }
  if (dlogits) prepare_gradient(dlogits, logits.shape());
  const double rows = static_cast<double>(logits.dim(0));
  return static_cast<float>(cross_entropy_rows(logits, labels, sample_weights.data(), 1.0 / rows, nullptr, dlogits) /
                            rows);
}

std::vector<float> softmax_entropy(const Tensor& logits) {
  check_logits(logits, "softmax_entropy");
  const int64_t rows = logits.dim(0), classes = logits.dim(1);
  std::vector<float> entropies(rows);
  for (int64_t i = 0; i < rows; ++i) {
    const float* z = logits.data() + i * classes;
    const RowNormaliser norm = normalise_row(z, classes);
    // H = -sum p log p = logsumexp(z) - sum p z; with shifted logits s = z - max
    // it is log_sum - sum p s, and p = exp(s - log_sum) never overflows.
    double expected_shifted = 0.0;
    for (int64_t k = 0; k < classes; ++k) {
      const double shifted = static_cast<double>(z[k]) - norm.max;
      expected_shifted += std::exp(shifted - norm.log_sum) * shifted;
    }
    // Rounding can leave a confident row a hair below zero. A NaN (from NaN
    // logits) stays NaN, so that it never passes an exit threshold.
    const double entropy = norm.log_sum - expected_shifted;
    entropies[i] = static_cast<float>(std::isnan(entropy) ? entropy : std::max(0.0, entropy));
  }
  return entropies;
}

float mse_loss(const Tensor& prediction, const Tensor& target, Tensor* dprediction) {
  BRANCHY_CHECK(prediction.defined() && target.defined() && prediction.numel() > 0, "mse_loss: prediction and target must be non-empty");
  BRANCHY_CHECK(prediction.shape() == target.shape(), "mse_loss: prediction ", prediction.shape().str(),
                " and target ", target.shape().str(), " must have the same shape");
  const int64_t n = prediction.numel();
  const float* p = prediction.data();
  const float* t = target.data();
  if (dprediction) prepare_gradient(dprediction, prediction.shape());
  float* dp = dprediction ? dprediction->data() : nullptr;
  const float gradient_scale = static_cast<float>(2.0 / static_cast<double>(n));
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float difference = p[i] - t[i];
    total += static_cast<double>(difference) * difference;
    if (dp) dp[i] = gradient_scale * difference;
  }
  return static_cast<float>(total / static_cast<double>(n));
}

int argmax_row(const Tensor& logits, int64_t row) {
  check_logits(logits, "argmax_row");
  BRANCHY_CHECK(row >= 0 && row < logits.dim(0), "argmax_row: row ", row, " outside [0, ", logits.dim(0), ")");
  const int64_t classes = logits.dim(1);
  const float* z = logits.data() + row * classes;
  return static_cast<int>(std::max_element(z, z + classes) - z);  // first of equal maxima
}

std::vector<int> argmax_rows(const Tensor& logits) {
  check_logits(logits, "argmax_rows");
  std::vector<int> answers(logits.dim(0));
  for (int64_t i = 0; i < logits.dim(0); ++i) answers[i] = argmax_row(logits, i);
  return answers;
}

double accuracy(const Tensor& logits, const std::vector<int>& labels) {
  check_logits(logits, "accuracy");
  check_labels(logits, labels, "accuracy");
  int64_t correct = 0;
  for (int64_t i = 0; i < logits.dim(0); ++i) correct += argmax_row(logits, i) == labels[i];
  return static_cast<double>(correct) / static_cast<double>(logits.dim(0));
}

}  // namespace branchy
