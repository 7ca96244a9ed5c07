// The gradient checker itself: a backward that is off by 1% must fail it,
// and the same layer with its true backward must pass.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "engine/rng.h"
#include "layers/batchnorm.h"
#include "layers/conv2d.h"
#include "layers/lrn.h"
#include "tests/gradcheck.h"

using namespace branchy;
using branchy::testing::check_gradients;
using branchy::testing::GradCheckOptions;
using branchy::testing::GradCheckResult;
using branchy::testing::random_tensor;

namespace {

// A layer whose backward is the wrapped layer's, with the input gradient, or
// one parameter's gradient, multiplied by `factor`: a planted error of
// (factor - 1) in every coordinate of that tensor.
class PlantedError : public Layer {
 public:
  PlantedError(Layer& inner, double factor, std::string scaled_param = "")
      : inner_(inner), factor_(static_cast<float>(factor)), scaled_param_(std::move(scaled_param)) {}

  Shape out_shape(const Shape& in) const override { return inner_.out_shape(in); }
  Tensor forward(const Tensor& x, Mode mode) override { return inner_.forward(x, mode); }
  Tensor backward(const Tensor& dy) override {
    Tensor dx = inner_.backward(dy);
    if (scaled_param_.empty()) {
      for (int64_t i = 0; i < dx.numel(); ++i) dx[i] *= factor_;
      return dx;
    }
    // The checker zeroes the grads before backward, so scaling the whole grad
    // scales exactly this backward's contribution.
    for (ParamRef& ref : inner_.named_params())
      if (ref.name == scaled_param_)
        for (int64_t i = 0; i < ref.param->grad.numel(); ++i) ref.param->grad[i] *= factor_;
    return dx;
  }
  void collect_params(const std::string& prefix, std::vector<ParamRef>& out) override {
    inner_.collect_params(prefix, out);
  }
  std::string describe() const override { return inner_.describe() + " (backward planted)"; }

 private:
  Layer& inner_;
  float factor_;
  std::string scaled_param_;
};

GradCheckResult check_planted(Layer& inner, const Tensor& x, double factor, const std::string& scaled_param = "",
                              const GradCheckOptions& options = {}) {
  PlantedError planted(inner, factor, scaled_param);
  return check_gradients(planted, x, options);
}

}  // namespace

TEST_CASE("the gradient checker passes true gradients and fails gradients off by 1%", "[gradcheck]") {
  Rng rng(3);
  Conv2d conv(3, 4, 3, Conv2dOptions{1, 1, 1, true}, rng);
  const Tensor image = random_tensor(Shape{2, 3, 5, 5}, 1);
  BatchNorm2d norm(3);
  for (int c = 0; c < 3; ++c) {
    norm.weight.value[c] = 0.5f + 0.4f * static_cast<float>(c);
    norm.bias.value[c] = 0.3f - 0.2f * static_cast<float>(c);
  }
  const Tensor batch = random_tensor(Shape{4, 3, 3, 3}, 2);
  LocalResponseNorm lrn(3, 0.6f, 0.75f, 1.0f);
  const Tensor planes = random_tensor(Shape{2, 7, 3, 3}, 3);

  struct Case {
    const char* what;
    Layer* layer;
    const Tensor* x;
    std::string scaled;  // "" scales the input gradient
  };
  const std::vector<Case> cases = {
      {"conv, input gradient", &conv, &image, ""},
      {"conv, weight gradient", &conv, &image, "weight"},
      {"conv, bias gradient", &conv, &image, "bias"},
      {"batch norm (train), input gradient", &norm, &batch, ""},
      {"batch norm (train), weight gradient", &norm, &batch, "weight"},
      {"local response norm, input gradient", &lrn, &planes, ""},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    const GradCheckResult exact = check_planted(*c.layer, *c.x, 1.0, c.scaled);
    INFO("unchanged backward: " << exact.report);
    REQUIRE(exact.passed);
    REQUIRE(exact.kinks_skipped == 0);
    for (double factor : {1.01, 0.99}) {
      const GradCheckResult planted = check_planted(*c.layer, *c.x, factor, c.scaled);
      INFO("backward times " << factor << ": " << planted.report);
      REQUIRE_FALSE(planted.passed);
      REQUIRE(planted.worst_error > 1.5);
    }
  }
}

TEST_CASE("the checker's old tolerances (2% relative) could not see a 1% error", "[gradcheck]") {
  // Why the defaults were tightened: the same planted error passes at the old settings.
  Rng rng(3);
  Conv2d conv(3, 4, 3, Conv2dOptions{1, 1, 1, true}, rng);
  GradCheckOptions old;
  old.relative_tolerance = 2e-2;
  old.absolute_tolerance = 2e-3;
  const GradCheckResult result = check_planted(conv, random_tensor(Shape{2, 3, 5, 5}, 1), 1.01, "", old);
  INFO(result.report);
  REQUIRE(result.passed);
}
