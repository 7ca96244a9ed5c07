#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "engine/error.h"
#include "engine/loss.h"
#include "engine/tensor.h"

using namespace branchy;
using Catch::Matchers::Contains;

namespace {

// Plain textbook formulas, in double, that the stable versions must agree with
// on moderate logits.
std::vector<double> naive_softmax_row(const Tensor& logits, int64_t row) {
  const int64_t classes = logits.dim(1);
  std::vector<double> p(classes);
  double total = 0.0;
  for (int64_t k = 0; k < classes; ++k) total += p[k] = std::exp(static_cast<double>(logits[row * classes + k]));
  for (double& value : p) value /= total;
  return p;
}

Tensor sample_logits() {
  // (4, 5), moderate values with no ties.
  return Tensor::from_vector(Shape{4, 5}, {0.3f, -1.2f, 2.0f, 0.7f, -0.4f,   //
                                           1.5f, 0.2f, -0.9f, 0.1f, 0.8f,    //
                                           -2.0f, -0.5f, 0.4f, 3.1f, 1.0f,   //
                                           0.05f, 0.6f, -0.3f, -1.7f, 2.2f});
}

}  // namespace

TEST_CASE("cross-entropy of a hand-computed example, and its gradient", "[optim][loss]") {
  // Row 0: -log(e^3 / (e^1 + e^2 + e^3)) = log(1 + e^-1 + e^-2) = 0.407605964;
  // row 1 (uniform over 3): log 3 = 1.098612289; mean 0.753109127.
  const Tensor logits = Tensor::from_vector(Shape{2, 3}, {1, 2, 3, 1, 1, 1});
  Tensor dlogits;
  const float loss = softmax_cross_entropy(logits, {2, 0}, &dlogits);
  REQUIRE(loss == Approx(0.753109127).epsilon(1e-6));
  REQUIRE(dlogits.shape() == Shape{2, 3});
  // (softmax - onehot) / N
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  const std::vector<double> expected = {std::exp(1.0) / z / 2, std::exp(2.0) / z / 2, (std::exp(3.0) / z - 1) / 2,
                                        (1.0 / 3 - 1) / 2,     1.0 / 3 / 2,           1.0 / 3 / 2};
  for (int i = 0; i < 6; ++i) REQUIRE(dlogits[i] == Approx(expected[i]).margin(1e-7));

  const std::vector<float> per_sample = softmax_cross_entropy_per_sample(logits, {2, 0});
  REQUIRE(per_sample.size() == 2);
  REQUIRE(per_sample[0] == Approx(0.407605964).epsilon(1e-6));
  REQUIRE(per_sample[1] == Approx(1.098612289).epsilon(1e-6));
}

TEST_CASE("cross-entropy gradient matches central finite differences", "[optim][loss]") {
  const Tensor logits = sample_logits();
  const std::vector<int> labels = {2, 0, 3, 1};
  Tensor dlogits;
  softmax_cross_entropy(logits, labels, &dlogits);
  const double step = 1e-2;
  for (int64_t i = 0; i < logits.numel(); ++i) {
    Tensor plus = logits.clone(), minus = logits.clone();
    plus[i] += static_cast<float>(step);
    minus[i] -= static_cast<float>(step);
    const double numeric =
        (softmax_cross_entropy(plus, labels, nullptr) - softmax_cross_entropy(minus, labels, nullptr)) / (2 * step);
    INFO("logit " << i);
    REQUIRE(dlogits[i] == Approx(numeric).margin(2e-4));
  }
}

TEST_CASE("cross-entropy and entropy stay finite and right for logits of +-1e4", "[optim][loss]") {
  // Row 0 is certain of class 0, labelled 1: loss = 1e4 - (-1e4) = 2e4.
  // Row 1: logits -1e4 + (0, 0, 1), labelled 2: loss = log(1 + 2/e) = 0.551444714.
  const Tensor logits = Tensor::from_vector(Shape{2, 3}, {1e4f, -1e4f, 0.0f, -1e4f, -1e4f, -1e4f + 1.0f});
  Tensor dlogits;
  const float loss = softmax_cross_entropy(logits, {1, 2}, &dlogits);
  REQUIRE(std::isfinite(loss));
  REQUIRE(loss == Approx(10000.275722).epsilon(1e-6));
  for (int i = 0; i < 6; ++i) REQUIRE(std::isfinite(dlogits[i]));
  REQUIRE(dlogits[0] == Approx(0.5f).margin(1e-7));
  REQUIRE(dlogits[1] == Approx(-0.5f).margin(1e-7));
  REQUIRE(dlogits[2] == Approx(0.0f).margin(1e-7));

  const Tensor probabilities = softmax(logits);
  REQUIRE(probabilities[0] == 1.0f);
  REQUIRE(probabilities[5] == Approx(std::exp(1.0) / (2 + std::exp(1.0))).epsilon(1e-6));

  const std::vector<float> entropy = softmax_entropy(logits);
  REQUIRE(std::isfinite(entropy[0]));
  REQUIRE(entropy[0] == Approx(0.0f).margin(1e-6));
  const double p = std::exp(1.0) / (2 + std::exp(1.0)), q = 1 / (2 + std::exp(1.0));
  REQUIRE(entropy[1] == Approx(-(p * std::log(p) + 2 * q * std::log(q))).epsilon(1e-5));
}

TEST_CASE("softmax rows are probabilities and match the textbook formula", "[optim][loss]") {
  const Tensor logits = sample_logits();
  const Tensor probabilities = softmax(logits);
  REQUIRE(probabilities.shape() == logits.shape());
  for (int64_t row = 0; row < 4; ++row) {
    const std::vector<double> expected = naive_softmax_row(logits, row);
    double total = 0.0;
    for (int64_t k = 0; k < 5; ++k) {
      total += probabilities[row * 5 + k];
      REQUIRE(probabilities[row * 5 + k] == Approx(expected[k]).epsilon(1e-6));
    }
    REQUIRE(total == Approx(1.0).epsilon(1e-6));
  }
}

TEST_CASE("softmax entropy: ln K for uniform rows, ~0 for one-hot rows, -sum p log p otherwise", "[optim][loss]") {
  Tensor logits(Shape{3, 10});
  for (int k = 0; k < 10; ++k) logits[k] = 7.0f;              // uniform at an offset
  logits[10 + 4] = 50.0f;                                     // one-hot-ish
  for (int k = 0; k < 10; ++k) logits[20 + k] = 0.3f * k;     // in between
  const std::vector<float> entropy = softmax_entropy(logits);
  REQUIRE(entropy.size() == 3);
  REQUIRE(entropy[0] == Approx(std::log(10.0)).epsilon(1e-6));
  REQUIRE(entropy[1] >= 0.0f);
  REQUIRE(entropy[1] < 1e-6f);
  const std::vector<double> p = naive_softmax_row(logits, 2);
  double expected = 0.0;
  for (double value : p) expected -= value * std::log(value);
  REQUIRE(entropy[2] == Approx(expected).epsilon(1e-6));
  REQUIRE(entropy[2] > 0.1f);
  REQUIRE(entropy[2] < std::log(10.0f));
}

TEST_CASE("weighted cross-entropy scales each row's loss and gradient", "[optim][loss]") {
  const Tensor logits = sample_logits();
  const std::vector<int> labels = {2, 0, 3, 1};
  Tensor plain_gradient, weighted_gradient;
  const float plain = softmax_cross_entropy(logits, labels, &plain_gradient);
  REQUIRE(weighted_softmax_cross_entropy(logits, labels, {1, 1, 1, 1}, &weighted_gradient) == Approx(plain).epsilon(1e-6));
  REQUIRE(max_abs_difference(plain_gradient, weighted_gradient) < 1e-7f);

  const std::vector<float> losses = softmax_cross_entropy_per_sample(logits, labels);
  REQUIRE((losses[0] + losses[1] + losses[2] + losses[3]) / 4 == Approx(plain).epsilon(1e-6));
  const float weighted = weighted_softmax_cross_entropy(logits, labels, {3, 0, 1, 0.5f}, &weighted_gradient);
  REQUIRE(weighted == Approx((3 * losses[0] + losses[2] + 0.5 * losses[3]) / 4).epsilon(1e-6));
  for (int k = 0; k < 5; ++k) {
    REQUIRE(weighted_gradient[k] == Approx(3 * plain_gradient[k]).margin(1e-7));
    REQUIRE(weighted_gradient[5 + k] == 0.0f);
    REQUIRE(weighted_gradient[15 + k] == Approx(0.5 * plain_gradient[15 + k]).margin(1e-7));
  }
  REQUIRE_THROWS_WITH(weighted_softmax_cross_entropy(logits, labels, {1, -1, 1, 1}, nullptr), Contains("row 1"));
  REQUIRE_THROWS_AS(weighted_softmax_cross_entropy(logits, labels, {1, 1}, nullptr), Error);
}

TEST_CASE("a gradient tensor of the right shape is reused, not reallocated", "[optim][loss]") {
  const Tensor logits = sample_logits();
  Tensor dlogits(Shape{4, 5});
  const Tensor same_storage = dlogits;
  softmax_cross_entropy(logits, {0, 1, 2, 3}, &dlogits);
  REQUIRE(dlogits.shares_storage_with(same_storage));
  Tensor wrong_shape(Shape{2, 5});
  softmax_cross_entropy(logits, {0, 1, 2, 3}, &wrong_shape);
  REQUIRE(wrong_shape.shape() == Shape{4, 5});
}

TEST_CASE("bad labels and shapes are reported with the label, row and K", "[optim][loss]") {
  const Tensor logits = Tensor::from_vector(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  REQUIRE_THROWS_WITH(softmax_cross_entropy(logits, {0, 3}, nullptr),
                      Contains("label 3") && Contains("row 1") && Contains("K = 3"));
  REQUIRE_THROWS_WITH(softmax_cross_entropy(logits, {-1, 0}, nullptr), Contains("label -1"));
  REQUIRE_THROWS_WITH(softmax_cross_entropy(logits, {0}, nullptr), Contains("1 labels for 2 rows"));
  REQUIRE_THROWS_WITH(softmax_cross_entropy(Tensor(Shape{2, 3, 1}), {0, 0}, nullptr), Contains("(N, K)"));
  REQUIRE_THROWS_AS(softmax_entropy(Tensor()), Error);
  REQUIRE_THROWS_AS(accuracy(logits, {0, 7}), Error);
}

TEST_CASE("MSE value and gradient as torch MSELoss(reduction='mean')", "[optim][loss]") {
  const Tensor prediction = Tensor::from_vector(Shape{2, 2}, {1, 2, 3, 4});
  const Tensor target = Tensor::from_vector(Shape{2, 2}, {0, 2, 5, 4});
  Tensor gradient;
  // differences (1, 0, -2, 0): mean square 5/4; gradient 2 d / 4.
  REQUIRE(mse_loss(prediction, target, &gradient) == Approx(1.25));
  REQUIRE(gradient.to_vector() == std::vector<float>{0.5f, 0.0f, -1.0f, 0.0f});
  REQUIRE(mse_loss(prediction, prediction, nullptr) == 0.0f);
  REQUIRE_THROWS_WITH(mse_loss(prediction, Tensor(Shape{4}), nullptr), Contains("(2, 2)") && Contains("(4)"));
}

TEST_CASE("argmax takes the first of equal maxima; accuracy counts matches", "[optim][loss]") {
  const Tensor logits = Tensor::from_vector(Shape{3, 3}, {0, 5, 5, -1, -2, -3, 0.5f, 0.2f, 0.9f});
  REQUIRE(argmax_row(logits, 0) == 1);
  REQUIRE(argmax_rows(logits) == std::vector<int>{1, 0, 2});
  REQUIRE(accuracy(logits, {1, 0, 0}) == Approx(2.0 / 3.0));
  REQUIRE(accuracy(logits, {1, 0, 2}) == 1.0);
  REQUIRE_THROWS_AS(argmax_row(logits, 3), Error);
}
