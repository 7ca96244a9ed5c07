#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/lr_schedule.h"
#include "engine/optimizer.h"
#include "engine/param.h"
#include "engine/rng.h"

using namespace branchy;
using Catch::Matchers::Contains;

namespace {

using Rows = std::vector<std::vector<float>>;

const std::vector<float> initial_value = {0.5f, -1.0f, 2.0f, -0.25f, 3.0f};
const Rows fed_gradients = {{0.1f, -0.2f, 0.3f, -0.4f, 0.5f},
                            {-0.3f, 0.1f, 0.2f, 0.05f, -1.0f},
                            {0.25f, 0.25f, -0.5f, 0.0f, 2.0f}};

// Runs three steps with the fixed gradients and returns the value after each.
Rows three_steps(const std::function<std::unique_ptr<Optimizer>(std::vector<ParamRef>)>& make) {
  Param param(Shape{5});
  param.value = Tensor::from_vector(Shape{5}, initial_value);
  std::unique_ptr<Optimizer> optimizer = make({{"w", &param}});
  Rows values;
  for (const std::vector<float>& gradient : fed_gradients) {
    param.grad = Tensor::from_vector(Shape{5}, gradient);
    optimizer->step();
    values.push_back(param.value.to_vector());
  }
  return values;
}

void require_rows_near(const Rows& actual, const Rows& expected, double tolerance) {
  REQUIRE(actual.size() == expected.size());
  for (size_t step = 0; step < actual.size(); ++step) {
    for (size_t i = 0; i < actual[step].size(); ++i) {
      INFO("after step " << step + 1 << ", element " << i);
      REQUIRE(actual[step][i] == Approx(expected[step][i]).margin(tolerance));
    }
  }
}

std::vector<float> random_values(int64_t n, uint64_t seed, float low, float high) {
  Rng rng(seed);
  std::vector<float> values(n);
  for (float& value : values) value = rng.uniform(low, high);
  return values;
}

}  // namespace

// The expected rows below were printed by tests/reference/optimizer_reference.py
// (torch.optim, PyTorch 1.13), from the same initial value and gradients.

TEST_CASE("SGD matches torch.optim.SGD over three steps", "[optim]") {
  SECTION("plain") {
    require_rows_near(three_steps([](auto params) { return std::make_unique<Sgd>(params, SgdOptions{.learning_rate = 0.1f}); }),
                      {{0.49000001f, -0.980000019f, 1.97000003f, -0.209999993f, 2.95000005f},
                       {0.520000041f, -0.99000001f, 1.95000005f, -0.214999989f, 3.04999995f},
                       {0.495000035f, -1.01499999f, 2.0f, -0.214999989f, 2.8499999f}},
                      1e-6);
  }
  SECTION("momentum 0.9, dampening 0.1") {
    require_rows_near(three_steps([](auto params) {
                        return std::make_unique<Sgd>(params, SgdOptions{.learning_rate = 0.1f, .momentum = 0.9f, .dampening = 0.1f});
                      }),
                      {{0.49000001f, -0.980000019f, 1.97000003f, -0.209999993f, 2.95000005f},
                       {0.508000016f, -0.971000016f, 1.92500007f, -0.178499997f, 2.99500012f},
                       {0.501700044f, -0.985400021f, 1.9295001f, -0.150150001f, 2.85550022f}},
                      1e-6);
  }
  SECTION("Nesterov momentum 0.9") {
    require_rows_near(three_steps([](auto params) {
                        return std::make_unique<Sgd>(params, SgdOptions{.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true});
                      }),
                      {{0.481000006f, -0.962000012f, 1.94299996f, -0.173999995f, 2.90499997f},
                       {0.529900014f, -0.9648f, 1.88069999f, -0.151099995f, 3.05449986f},
                       {0.499410003f, -1.00582004f, 1.93762994f, -0.125990003f, 2.71904993f}},
                      1e-6);
  }
  SECTION("momentum 0.9 with weight decay 0.01") {
    require_rows_near(three_steps([](auto params) {
                        return std::make_unique<Sgd>(params,
                                                     SgdOptions{.learning_rate = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f});
                      }),
                      {{0.489499986f, -0.978999972f, 1.96800005f, -0.209749997f, 2.94700003f},
                       {0.509560466f, -0.969120979f, 1.91723204f, -0.178315252f, 2.99635291f},
                       {0.502105355f, -0.984260738f, 1.91962361f, -0.14984566f, 2.83777428f}},
                      1e-6);
  }
}

TEST_CASE("Adam matches torch.optim.Adam over three steps", "[optim]") {
  SECTION("defaults, lr 0.01") {
    require_rows_near(three_steps([](auto params) { return std::make_unique<Adam>(params, AdamOptions{.learning_rate = 0.01f}); }),
                      {{0.49000001f, -0.99000001f, 1.99000001f, -0.239999995f, 2.99000001f},
                       {0.49494192f, -0.987336636f, 1.98029649f, -0.234274656f, 2.99366093f},
                       {0.493974924f, -0.99072814f, 1.98109472f, -0.229848951f, 2.98946428f}},
                      1e-6);
  }
  SECTION("lr 0.1, betas (0.8, 0.99), eps 1e-6, weight decay 0.05") {
    require_rows_near(
        three_steps([](auto params) {
          return std::make_unique<Adam>(
              params, AdamOptions{.learning_rate = 0.1f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 1e-6f, .weight_decay = 0.05f});
        }),
        {{0.400000811f, -0.900000393f, 1.90000021f, -0.150000229f, 2.9000001f},
         {0.446043849f, -0.855393946f, 1.80271018f, -0.0953951627f, 2.92448974f},
         {0.423873752f, -0.875074804f, 1.79366064f, -0.0550090857f, 2.86913776f}},
        2e-6);
  }
}

TEST_CASE("SIMD update loops agree with their plain twins", "[optim]") {
  const int64_t n = 1037;  // whole vectors and a ragged tail
  const std::vector<float> start = random_values(n, 1, -2.0f, 2.0f);
  const std::vector<float> grad = random_values(n, 2, -1.0f, 1.0f);
  const std::vector<float> state = random_values(n, 3, 0.0f, 0.5f);

  for (bool nesterov : {false, true}) {
    for (bool with_buffer : {false, true}) {
      const SgdUpdate update{0.05f, 0.01f, 0.9f, 0.9f, 0.8f, nesterov};
      std::vector<float> fast = start, plain = start, fast_buffer = state, plain_buffer = state;
      sgd_update(fast.data(), grad.data(), with_buffer ? fast_buffer.data() : nullptr, n, update);
      reference::sgd_update(plain.data(), grad.data(), with_buffer ? plain_buffer.data() : nullptr, n, update);
      for (int64_t i = 0; i < n; ++i) {
        INFO("nesterov " << nesterov << ", buffer " << with_buffer << ", element " << i);
        REQUIRE(fast[i] == Approx(plain[i]).epsilon(1e-6).margin(1e-7));
        REQUIRE(fast_buffer[i] == Approx(plain_buffer[i]).epsilon(1e-6).margin(1e-7));
      }
      REQUIRE(fast != start);
    }
  }

  const AdamUpdate update{0.9f, 0.999f, 0.1f, 0.001f, 0.02f, 1e-8f, 0.01f / 0.271f, 0.0545f};
  std::vector<float> fast = start, plain = start, fast_m = state, plain_m = state, fast_v = state, plain_v = state;
  adam_update(fast.data(), grad.data(), fast_m.data(), fast_v.data(), n, update);
  reference::adam_update(plain.data(), grad.data(), plain_m.data(), plain_v.data(), n, update);
  for (int64_t i = 0; i < n; ++i) {
    INFO("adam element " << i);
    REQUIRE(fast[i] == Approx(plain[i]).epsilon(1e-6).margin(1e-7));
    REQUIRE(fast_m[i] == Approx(plain_m[i]).epsilon(1e-6).margin(1e-7));
    REQUIRE(fast_v[i] == Approx(plain_v[i]).epsilon(1e-6).margin(1e-7));
  }
  REQUIRE(fast != start);
}

TEST_CASE("a param larger than one chunk is updated whole, as the plain loop does", "[optim]") {
  const int64_t n = 40000;  // several chunks of 16384, so the threaded split is used
  Param param(Shape{n});
  param.value = Tensor::from_vector(Shape{n}, random_values(n, 4, -1.0f, 1.0f));
  param.grad = Tensor::from_vector(Shape{n}, random_values(n, 5, -1.0f, 1.0f));
  std::vector<float> expected = param.value.to_vector(), m(n, 0.0f), v(n, 0.0f);
  Adam adam({{"big", &param}}, AdamOptions{.learning_rate = 0.01f});
  adam.step();
  const AdamUpdate first{0.9f, 0.999f, static_cast<float>(1.0 - 0.9f), static_cast<float>(1.0 - 0.999f), 0.0f, 1e-8f,
                         static_cast<float>(0.01f / (1.0 - 0.9f)), static_cast<float>(std::sqrt(1.0 - 0.999f))};
  reference::adam_update(expected.data(), param.grad.data(), m.data(), v.data(), n, first);
  const std::vector<float> actual = param.value.to_vector();
  for (int64_t i = 0; i < n; i += 1) {
    if (std::fabs(actual[i] - expected[i]) > 1e-6f) FAIL("element " << i << ": " << actual[i] << " vs " << expected[i]);
  }
  REQUIRE(actual.back() != Approx(random_values(n, 4, -1.0f, 1.0f).back()));
}

TEST_CASE("SGD with momentum and Adam minimise a quadratic", "[optim]") {
  // f(w) = 1/2 sum_i a_i (w_i - c_i)^2, gradient a_i (w_i - c_i).
  const std::vector<float> curvature = {1.0f, 3.0f, 0.5f, 2.0f};
  const std::vector<float> minimum = {1.0f, -2.0f, 0.5f, 3.0f};
  auto minimise = [&](Optimizer& optimizer, Param& param, int steps) {
    for (int s = 0; s < steps; ++s) {
      optimizer.zero_grad();
      for (int i = 0; i < 4; ++i) param.grad[i] += curvature[i] * (param.value[i] - minimum[i]);
      optimizer.step();
    }
    double worst = 0.0;
    for (int i = 0; i < 4; ++i) worst = std::max(worst, std::fabs(static_cast<double>(param.value[i]) - minimum[i]));
    return worst;
  };
  Param sgd_param(Shape{4}), adam_param(Shape{4});
  Sgd sgd({{"w", &sgd_param}}, SgdOptions{.learning_rate = 0.1f, .momentum = 0.9f});
  Adam adam({{"w", &adam_param}}, AdamOptions{.learning_rate = 0.05f});
  REQUIRE(minimise(sgd, sgd_param, 300) < 1e-4);
  REQUIRE(minimise(adam, adam_param, 1000) < 1e-2);
  REQUIRE(sgd.steps_taken() == 300);
  REQUIRE(adam.steps_taken() == 1000);
}

TEST_CASE("frozen params are skipped; zero_grad and the learning rate act on the rest", "[optim]") {
  Param weight(Shape{2}), running_mean(Shape{2}, /*is_trainable=*/false);
  weight.value = Tensor::from_vector(Shape{2}, {1.0f, 2.0f});
  running_mean.value = Tensor::from_vector(Shape{2}, {5.0f, 6.0f});
  Adam adam({{"weight", &weight}, {"running_mean", &running_mean}});
  REQUIRE(adam.params().size() == 1);
  REQUIRE(adam.params()[0].name == "weight");
  const std::vector<OptimizerStateTensor> state = adam.state_tensors();
  REQUIRE(state.size() == 2);
  REQUIRE(state[0].first == "optimizer.weight.exp_avg");
  REQUIRE(state[1].first == "optimizer.weight.exp_avg_sq");
  weight.grad.fill(1.0f);
  adam.step();
  REQUIRE(running_mean.value.to_vector() == std::vector<float>{5.0f, 6.0f});
  REQUIRE(weight.value[0] == Approx(1.0f - 1e-3f));  // Adam's first step moves by lr
  adam.zero_grad();
  REQUIRE(weight.grad.to_vector() == std::vector<float>{0.0f, 0.0f});

  Param p(Shape{1});
  Sgd sgd({{"p", &p}}, SgdOptions{.learning_rate = 0.5f});
  REQUIRE(sgd.state_tensors().empty());
  p.grad[0] = 1.0f;
  sgd.set_learning_rate(0.25f);
  REQUIRE(sgd.learning_rate() == 0.25f);
  sgd.step();
  REQUIRE(p.value[0] == -0.25f);
}

TEST_CASE("bad optimizer options and params are reported by name", "[optim]") {
  Param a(Shape{3}), b(Shape{3});
  REQUIRE_THROWS_WITH(Sgd({{"a", &a}}, SgdOptions{.momentum = 0.0f, .nesterov = true}), Contains("nesterov"));
  REQUIRE_THROWS_WITH(Sgd({{"a", &a}}, SgdOptions{.learning_rate = -1.0f}), Contains("learning rate = -1"));
  REQUIRE_THROWS_WITH(Adam({{"a", &a}}, AdamOptions{.beta1 = 1.0f}), Contains("beta1") && Contains("[0, 1)"));
  REQUIRE_THROWS_WITH(Adam({{"a", &a}}, AdamOptions{.eps = -1e-8f}), Contains("eps"));
  REQUIRE_THROWS_WITH(Sgd({{"a", &a}, {"a", &b}}), Contains("two params are named \"a\""));
  REQUIRE_THROWS_WITH(Sgd({{"a", &a}, {"again", &a}}), Contains("listed twice"));
  b.grad = Tensor(Shape{2});
  REQUIRE_THROWS_WITH(Adam({{"stage0.conv.weight", &b}}), Contains("stage0.conv.weight") && Contains("(2)"));
  Sgd sgd({{"a", &a}});
  REQUIRE_THROWS_AS(sgd.set_learning_rate(NAN), Error);
  REQUIRE_THROWS_AS(sgd.set_steps_taken(-1), Error);
}

TEST_CASE("optimizer state copied into a fresh optimizer resumes exactly", "[optim]") {
  auto fill_grads = [](Param& w, Param& b, int step) {
    for (int64_t i = 0; i < w.grad.numel(); ++i) w.grad[i] = std::sin(0.7f * step + i);
    for (int64_t i = 0; i < b.grad.numel(); ++i) b.grad[i] = std::cos(1.3f * step - i);
  };
  auto check_resume = [&](const std::function<std::unique_ptr<Optimizer>(std::vector<ParamRef>)>& make) {
    Param w(Shape{3, 7}), b(Shape{3});
    w.value = Tensor::from_vector(Shape{3, 7}, random_values(21, 9, -1.0f, 1.0f));
    std::unique_ptr<Optimizer> original = make({{"w", &w}, {"b", &b}});
    for (int step = 0; step < 3; ++step) {
      fill_grads(w, b, step);
      original->step();
    }
    // A fresh optimizer over copies of the params, its state loaded by name.
    Param w2(Shape{3, 7}), b2(Shape{3}), w3(Shape{3, 7}), b3(Shape{3});
    // w3/b3: the same, under an optimizer that is not restored.
    w2.value = w.value.clone();
    w3.value = w.value.clone();
    b2.value = b.value.clone();
    b3.value = b.value.clone();
    std::unique_ptr<Optimizer> resumed = make({{"w", &w2}, {"b", &b2}});
    std::unique_ptr<Optimizer> not_restored = make({{"w", &w3}, {"b", &b3}});
    const std::vector<OptimizerStateTensor> saved = original->state_tensors();
    std::vector<OptimizerStateTensor> target = resumed->state_tensors();
    REQUIRE(saved.size() == target.size());
    for (size_t i = 0; i < saved.size(); ++i) {
      REQUIRE(target[i].first == saved[i].first);
      REQUIRE(target[i].second->shape() == saved[i].second->shape());
      std::memcpy(target[i].second->data(), saved[i].second->data(), sizeof(float) * saved[i].second->numel());
    }
    resumed->set_steps_taken(original->steps_taken());

    fill_grads(w, b, 3);
    fill_grads(w2, b2, 3);
    fill_grads(w3, b3, 3);
    original->step();
    resumed->step();
    not_restored->step();
    REQUIRE(w2.value.to_vector() == w.value.to_vector());
    REQUIRE(b2.value.to_vector() == b.value.to_vector());
    REQUIRE(w3.value.to_vector() != w.value.to_vector());  // the state is what made them equal
    REQUIRE(resumed->steps_taken() == 4);
  };
  SECTION("SGD with Nesterov momentum") {
    check_resume([](auto params) {
      return std::make_unique<Sgd>(params, SgdOptions{.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true});
    });
  }
  SECTION("Adam with weight decay") {
    check_resume([](auto params) { return std::make_unique<Adam>(params, AdamOptions{.weight_decay = 0.01f}); });
  }
}

// Schedule values: tests/reference/optimizer_reference.py printed PyTorch's rates
// (StepLR, MultiStepLR, CosineAnnealingLR; base 0.1, epochs 0..8).

TEST_CASE("learning-rate schedules give PyTorch's rates at each epoch", "[optim][lr]") {
  auto require_rates = [](const LrSchedule& schedule, const std::vector<float>& expected) {
    for (int epoch = 0; epoch < static_cast<int>(expected.size()); ++epoch) {
      INFO(schedule.describe() << ", epoch " << epoch);
      REQUIRE(schedule.learning_rate(epoch) == Approx(expected[epoch]).epsilon(1e-6).margin(1e-9));
    }
  };
  require_rates(ConstantLr(0.1f), {0.1f, 0.1f, 0.1f});
  require_rates(StepLr(0.1f, 3, 0.5f), {0.1f, 0.1f, 0.1f, 0.05f, 0.05f, 0.05f, 0.025f, 0.025f, 0.025f});
  require_rates(MultiStepLr(0.1f, {2, 5}, 0.1f), {0.1f, 0.1f, 0.01f, 0.01f, 0.01f, 0.001f, 0.001f, 0.001f, 0.001f});
  require_rates(CosineLr(0.1f, 8),
                {0.1f, 0.0961939766f, 0.0853553391f, 0.0691341716f, 0.05f, 0.0308658284f, 0.0146446609f,
                 0.00380602337f, 0.0f});
  require_rates(CosineLr(0.1f, 8, 0.01f),
                {0.1f, 0.096574579f, 0.0868198052f, 0.0722207545f, 0.055f, 0.0377792455f, 0.0231801948f,
                 0.013425421f, 0.01f});
  REQUIRE(CosineLr(0.1f, 8, 0.01f).learning_rate(20) == 0.01f);  // stays at the minimum past the end
  REQUIRE(StepLr(0.1f, 30, 0.1f).learning_rate(60) == Approx(0.001f));
  REQUIRE_THROWS_AS(StepLr(0.1f, 3, 0.5f).learning_rate(-1), Error);
}

TEST_CASE("schedule specs parse, and bad ones quote the spec and the accepted forms", "[optim][lr]") {
  REQUIRE(make_lr_schedule("constant", 0.5f, 10)->learning_rate(7) == 0.5f);
  REQUIRE(make_lr_schedule("step:30:0.1", 0.1f, 100)->learning_rate(30) == Approx(0.01f));
  const auto multistep = make_lr_schedule("multistep:100,150:0.1", 0.1f, 200);
  REQUIRE(multistep->learning_rate(99) == Approx(0.1f));
  REQUIRE(multistep->learning_rate(150) == Approx(0.001f));
  REQUIRE(make_lr_schedule("cosine", 0.1f, 8)->learning_rate(4) == Approx(0.05f));
  REQUIRE(make_lr_schedule("cosine:1e-5", 0.1f, 8)->learning_rate(8) == Approx(1e-5f));

  for (const std::string spec : {"", "linear", "constant:1", "step:30", "step:0:0.1", "step:x:0.1", "step:30:0.1x",
                                 "multistep:150,100:0.1", "multistep::0.1", "multistep:10,:0.1", "cosine:-1",
                                 "cosine:1:2", "step:30:-0.5"}) {
    INFO("spec \"" << spec << "\"");
    REQUIRE_THROWS_WITH(make_lr_schedule(spec, 0.1f, 10),
                        Contains("\"" + spec + "\"") && Contains("accepted forms") && Contains("multistep:100,150:0.1"));
  }
  REQUIRE_THROWS_WITH(make_lr_schedule("step:0:0.1", 0.1f, 10), Contains("step size 0"));
}
