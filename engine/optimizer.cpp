#include "engine/optimizer.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "engine/error.h"
#include "engine/threads.h"

// GCC 12 warns inside its own AVX-512 intrinsics (the "__Y = __Y" idiom) when
// they are inlined here: a false positive in system headers, not in our code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <xsimd/xsimd.hpp>

namespace branchy {

namespace {

using Vec = xsimd::batch<float>;
constexpr int64_t lanes = static_cast<int64_t>(Vec::size);
inline int64_t vector_end(int64_t n) { return n - n % lanes; }

// Runs body(begin, count) over [0, n) in chunks, on several threads when the
// tensor is big enough to pay for waking them. Chunks are whole SIMD vectors.
template <typename Body>
void for_each_chunk(int64_t n, const Body& body) {
  constexpr int64_t chunk = 16384;
  const int64_t chunks = (n + chunk - 1) / chunk;
  parallel_for(chunks, 4 * n, [&](int64_t c) {
    const int64_t begin = c * chunk;
    body(begin, std::min(chunk, n - begin));
  });
}

void check_options(bool ok, const char* kind, const char* option, float value, const char* expected) {
  BRANCHY_CHECK(ok, kind, ": ", option, " = ", value, " is invalid; expected ", expected);
}

}  // namespace

// ---- Optimizer ----

Optimizer::Optimizer(std::vector<ParamRef> params, float learning_rate, const char* kind) : kind_(kind) {
  set_learning_rate(learning_rate);
  std::set<const Param*> seen_params;
  std::set<std::string> seen_names;
  for (ParamRef& ref : params) {
    BRANCHY_CHECK(ref.param != nullptr, kind_, ": param \"", ref.name, "\" is a null pointer");
    if (!ref.param->trainable) continue;
    BRANCHY_CHECK(ref.param->grad.defined() && ref.param->grad.shape() == ref.param->value.shape(), kind_, ": param \"",
                  ref.name, "\" has value ", ref.param->value.shape().str(), " but grad ",
                  ref.param->grad.defined() ? ref.param->grad.shape().str() : std::string("undefined"),
                  "; a trainable param needs a grad of the same shape");
    BRANCHY_CHECK(seen_params.insert(ref.param).second, kind_, ": param \"", ref.name,
                  "\" is listed twice (it would be updated twice per step)");
    BRANCHY_CHECK(seen_names.insert(ref.name).second, kind_, ": two params are named \"", ref.name,
                  "\"; names must be distinct so their state can be saved");
    params_.push_back(ref);
  }
}

Optimizer::~Optimizer() = default;

void Optimizer::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const Param& param = *params_[i].param;
    BRANCHY_CHECK(param.grad.shape() == param.value.shape(), kind_, ": param \"", params_[i].name, "\" value ",
                  param.value.shape().str(), " and grad ", param.grad.shape().str(), " no longer match");
    update_param(i, steps_taken_ + 1);
  }
  ++steps_taken_;
}

void Optimizer::zero_grad() {
  for (ParamRef& ref : params_) ref.param->zero_grad();
}

void Optimizer::set_learning_rate(float learning_rate) {
  check_options(std::isfinite(learning_rate) && learning_rate >= 0.0f, kind_, "learning rate", learning_rate,
                "a finite value >= 0");
  learning_rate_ = learning_rate;
}

void Optimizer::set_steps_taken(int64_t steps) {
  BRANCHY_CHECK(steps >= 0, kind_, ": steps taken must be >= 0, got ", steps);
  steps_taken_ = steps;
}

std::string Optimizer::state_name(size_t index, const char* what) const {
  return "optimizer." + params_[index].name + "." + what;
}

std::vector<Tensor> Optimizer::zeros_like_params() const {
  std::vector<Tensor> tensors;
  tensors.reserve(params_.size());
  for (const ParamRef& ref : params_) tensors.emplace_back(ref.param->value.shape());
  return tensors;
}

// ---- Sgd ----

Sgd::Sgd(std::vector<ParamRef> params, const SgdOptions& options)
    : Optimizer(std::move(params), options.learning_rate, "Sgd"), options_(options) {
  check_options(std::isfinite(options.momentum) && options.momentum >= 0.0f, kind_, "momentum", options.momentum,
                "a finite value >= 0");
  check_options(std::isfinite(options.dampening), kind_, "dampening", options.dampening, "a finite value");
  check_options(std::isfinite(options.weight_decay) && options.weight_decay >= 0.0f, kind_, "weight decay",
                options.weight_decay, "a finite value >= 0");
  if (options.nesterov) {
    check_options(options.momentum > 0.0f && options.dampening == 0.0f, kind_, "momentum (with Nesterov)",
                  options.momentum, "momentum > 0 and dampening = 0 when nesterov is on");
  }
  if (options.momentum != 0.0f) momentum_buffers_ = zeros_like_params();
}

std::vector<OptimizerStateTensor> Sgd::state_tensors() {
  std::vector<OptimizerStateTensor> state;
  for (size_t i = 0; i < momentum_buffers_.size(); ++i) state.emplace_back(state_name(i, "momentum"), &momentum_buffers_[i]);
  return state;
}

void Sgd::update_param(size_t index, int64_t step_number) {
  Param& param = *params_[index].param;
  float* buffer = nullptr;
  if (!momentum_buffers_.empty()) {
    Tensor& momentum_buffer = momentum_buffers_[index];
    BRANCHY_CHECK(momentum_buffer.shape() == param.value.shape(), kind_, ": state ", state_name(index, "momentum"),
                  " is ", momentum_buffer.shape().str(), " but its param is ", param.value.shape().str());
    buffer = momentum_buffer.data();
  }
  const bool first_step = step_number == 1;  // PyTorch starts the buffer as a copy of the gradient
  const SgdUpdate update{learning_rate(),
                         options_.weight_decay,
                         options_.momentum,
                         first_step ? 0.0f : options_.momentum,
                         first_step ? 1.0f : 1.0f - options_.dampening,
                         options_.nesterov};
  float* value = param.value.data();
  const float* grad = param.grad.data();
  for_each_chunk(param.value.numel(), [&](int64_t begin, int64_t count) {
    sgd_update(value + begin, grad + begin, buffer ? buffer + begin : nullptr, count, update);
  });
}

// ---- Adam ----

Adam::Adam(std::vector<ParamRef> params, const AdamOptions& options)
    : Optimizer(std::move(params), options.learning_rate, "Adam"), options_(options) {
  check_options(options.beta1 >= 0.0f && options.beta1 < 1.0f, kind_, "beta1", options.beta1, "a value in [0, 1)");
  check_options(options.beta2 >= 0.0f && options.beta2 < 1.0f, kind_, "beta2", options.beta2, "a value in [0, 1)");
  check_options(std::isfinite(options.eps) && options.eps >= 0.0f, kind_, "eps", options.eps, "a finite value >= 0");
  check_options(std::isfinite(options.weight_decay) && options.weight_decay >= 0.0f, kind_, "weight decay",
                options.weight_decay, "a finite value >= 0");
  exp_avgs_ = zeros_like_params();
  exp_avg_sqs_ = zeros_like_params();
}

std::vector<OptimizerStateTensor> Adam::state_tensors() {
  std::vector<OptimizerStateTensor> state;
  for (size_t i = 0; i < params_.size(); ++i) {
    state.emplace_back(state_name(i, "exp_avg"), &exp_avgs_[i]);
    state.emplace_back(state_name(i, "exp_avg_sq"), &exp_avg_sqs_[i]);
  }
  return state;
}

void Adam::update_param(size_t index, int64_t step_number) {
  Param& param = *params_[index].param;
  Tensor& exp_avg = exp_avgs_[index];
  Tensor& exp_avg_sq = exp_avg_sqs_[index];
  BRANCHY_CHECK(exp_avg.shape() == param.value.shape() && exp_avg_sq.shape() == param.value.shape(), kind_,
                ": state of \"", params_[index].name, "\" is ", exp_avg.shape().str(), " and ", exp_avg_sq.shape().str(),
                " but the param is ", param.value.shape().str());
  // Bias corrections in double, as PyTorch computes them in Python floats.
  const double step = static_cast<double>(step_number);
  const double bias_correction1 = 1.0 - std::pow(static_cast<double>(options_.beta1), step);
  const double bias_correction2 = 1.0 - std::pow(static_cast<double>(options_.beta2), step);
  const AdamUpdate update{options_.beta1,
                          options_.beta2,
                          static_cast<float>(1.0 - options_.beta1),
                          static_cast<float>(1.0 - options_.beta2),
                          options_.weight_decay,
                          options_.eps,
                          static_cast<float>(learning_rate() / bias_correction1),
                          static_cast<float>(std::sqrt(bias_correction2))};
  float* value = param.value.data();
  const float* grad = param.grad.data();
  float* m = exp_avg.data();
  float* v = exp_avg_sq.data();
  for_each_chunk(param.value.numel(), [&](int64_t begin, int64_t count) {
    adam_update(value + begin, grad + begin, m + begin, v + begin, count, update);
  });
}

// ---- Update loops. Same operations in the same order as PyTorch's, no fused
// multiply-adds, so the SIMD loop and its plain twin agree to the last bit. ----

void sgd_update(float* value, const float* grad, float* momentum_buffer, int64_t n, const SgdUpdate& u) {
  const Vec learning_rate(u.learning_rate), weight_decay(u.weight_decay), momentum(u.momentum);
  const Vec buffer_decay(u.buffer_decay), gradient_weight(u.gradient_weight);
  const int64_t end = vector_end(n);
  for (int64_t i = 0; i < end; i += lanes) {
    const Vec p = Vec::load_unaligned(value + i);
    Vec d = Vec::load_unaligned(grad + i) + weight_decay * p;
    if (momentum_buffer) {
      const Vec buffer = buffer_decay * Vec::load_unaligned(momentum_buffer + i) + gradient_weight * d;
      buffer.store_unaligned(momentum_buffer + i);
      d = u.nesterov ? d + momentum * buffer : buffer;
    }
    (p - learning_rate * d).store_unaligned(value + i);
  }
  reference::sgd_update(value + end, grad + end, momentum_buffer ? momentum_buffer + end : nullptr, n - end, u);
}

void adam_update(float* value, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, const AdamUpdate& u) {
  const Vec beta1(u.beta1), beta2(u.beta2), one_minus_beta1(u.one_minus_beta1), one_minus_beta2(u.one_minus_beta2);
  const Vec weight_decay(u.weight_decay), eps(u.eps), step_size(u.step_size), bias_correction2_sqrt(u.bias_correction2_sqrt);
  const int64_t end = vector_end(n);
  for (int64_t i = 0; i < end; i += lanes) {
    const Vec p = Vec::load_unaligned(value + i);
    const Vec g = Vec::load_unaligned(grad + i) + weight_decay * p;
    const Vec m = Vec::load_unaligned(exp_avg + i) * beta1 + one_minus_beta1 * g;
    const Vec v = Vec::load_unaligned(exp_avg_sq + i) * beta2 + one_minus_beta2 * g * g;
    m.store_unaligned(exp_avg + i);
    v.store_unaligned(exp_avg_sq + i);
    const Vec denominator = xsimd::sqrt(v) / bias_correction2_sqrt + eps;
    (p - step_size * (m / denominator)).store_unaligned(value + i);
  }
  reference::adam_update(value + end, grad + end, exp_avg + end, exp_avg_sq + end, n - end, u);
}

namespace reference {

void sgd_update(float* value, const float* grad, float* momentum_buffer, int64_t n, const SgdUpdate& u) {
  for (int64_t i = 0; i < n; ++i) {
    float d = grad[i] + u.weight_decay * value[i];
    if (momentum_buffer) {
      momentum_buffer[i] = u.buffer_decay * momentum_buffer[i] + u.gradient_weight * d;
      d = u.nesterov ? d + u.momentum * momentum_buffer[i] : momentum_buffer[i];
    }
    value[i] = value[i] - u.learning_rate * d;
  }
}

void adam_update(float* value, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, const AdamUpdate& u) {
  for (int64_t i = 0; i < n; ++i) {
    const float g = grad[i] + u.weight_decay * value[i];
    exp_avg[i] = exp_avg[i] * u.beta1 + u.one_minus_beta1 * g;
    exp_avg_sq[i] = exp_avg_sq[i] * u.beta2 + u.one_minus_beta2 * g * g;
    const float denominator = std::sqrt(exp_avg_sq[i]) / u.bias_correction2_sqrt + u.eps;
    value[i] = value[i] - u.step_size * (exp_avg[i] / denominator);
  }
}

}  // namespace reference

}  // namespace branchy
