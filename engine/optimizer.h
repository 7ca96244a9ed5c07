// optimizer.h — SGD (momentum, dampening, Nesterov, weight decay) and Adam,
// with exactly torch.optim's update rules (PyTorch 1.13).
//
// Requires: the ParamRefs outlive the optimizer; every trainable Param has a
//           grad of the same shape as its value; names and Params are
//           distinct. Params with trainable == false are skipped.
// Ensures:  step() applies one update to every trainable Param from its grad
//           (it does not zero the grads: call zero_grad()) and counts it in
//           steps_taken(). state_tensors() lists the optimizer's state as
//           named tensors ("optimizer.<param name>.momentum", ".exp_avg",
//           ".exp_avg_sq"); writing saved values into them (same shapes) and
//           calling set_steps_taken() resumes training exactly where it left.
//           step() allocates nothing.
// Fails:    throws branchy::Error on bad options (named, with the value and the
//           accepted range), on a trainable Param without a matching grad, on
//           duplicate Params or names, and on state tensors resized by a caller.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/param.h"
#include "engine/tensor.h"

namespace branchy {

// A named piece of optimizer state; the Tensor lives in the optimizer.
using OptimizerStateTensor = std::pair<std::string, Tensor*>;

class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every trainable Param, then steps_taken() + 1.
  void step();
  void zero_grad();

  float learning_rate() const { return learning_rate_; }
  void set_learning_rate(float learning_rate);  // >= 0, finite (schedules call it each epoch)

  // State for checkpoints, in Param order; empty for plain SGD.
  virtual std::vector<OptimizerStateTensor> state_tensors() = 0;
  int64_t steps_taken() const { return steps_taken_; }
  void set_steps_taken(int64_t steps);  // >= 0

  // The Params this optimizer updates (trainable ones only).
  const std::vector<ParamRef>& params() const { return params_; }

 protected:
  Optimizer(std::vector<ParamRef> params, float learning_rate, const char* kind);
  // Updates params_[index] for the step numbered step_number (1 for the first).
  virtual void update_param(size_t index, int64_t step_number) = 0;
  // The name of param `index`'s state tensor `what`: "optimizer.<name>.<what>".
  std::string state_name(size_t index, const char* what) const;
  // A zero tensor shaped like every trainable Param's value, one per Param.
  std::vector<Tensor> zeros_like_params() const;

  std::vector<ParamRef> params_;
  const char* kind_;  // "Sgd" or "Adam", for messages

 private:
  float learning_rate_;
  int64_t steps_taken_ = 0;
};

struct SgdOptions {
  float learning_rate = 0.01f;
  float momentum = 0.0f;
  float dampening = 0.0f;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0 (as PyTorch)
  float weight_decay = 0.0f;
};

// torch.optim.SGD: g = grad + wd p; with momentum, buf = g on the first step,
// else buf = momentum buf + (1 - dampening) g, and g = nesterov ? g + momentum buf : buf;
// then p -= lr g.
class Sgd : public Optimizer {
 public:
  Sgd(std::vector<ParamRef> params, const SgdOptions& options = {});
  std::vector<OptimizerStateTensor> state_tensors() override;
  const SgdOptions& options() const { return options_; }

 private:
  void update_param(size_t index, int64_t step_number) override;
  SgdOptions options_;
  std::vector<Tensor> momentum_buffers_;  // one per Param when momentum != 0, else none
};

struct AdamOptions {
  float learning_rate = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;  // L2 added to the gradient (Adam, not AdamW)
};

// torch.optim.Adam: g = grad + wd p; m = beta1 m + (1 - beta1) g;
// v = beta2 v + (1 - beta2) g^2; p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
class Adam : public Optimizer {
 public:
  Adam(std::vector<ParamRef> params, const AdamOptions& options = {});
  std::vector<OptimizerStateTensor> state_tensors() override;
  const AdamOptions& options() const { return options_; }

 private:
  void update_param(size_t index, int64_t step_number) override;
  AdamOptions options_;
  std::vector<Tensor> exp_avgs_;     // first moments, like each Param
  std::vector<Tensor> exp_avg_sqs_;  // second moments, like each Param
};

// ---- The element-wise update loops (SIMD), with plain twins for the tests. ----

// One SGD step over n elements. momentum_buffer may be nullptr when momentum == 0.
// On the first step buffer_decay = 0 and gradient_weight = 1 (the buffer becomes
// the gradient); afterwards buffer_decay = momentum, gradient_weight = 1 - dampening.
struct SgdUpdate {
  float learning_rate;
  float weight_decay;
  float momentum;
  float buffer_decay;
  float gradient_weight;
  bool nesterov;
};
void sgd_update(float* value, const float* grad, float* momentum_buffer, int64_t n, const SgdUpdate& update);

// One Adam step over n elements, with the step's bias corrections folded in.
struct AdamUpdate {
  float beta1, beta2;
  float one_minus_beta1, one_minus_beta2;
  float weight_decay;
  float eps;
  float step_size;              // lr / (1 - beta1^t)
  float bias_correction2_sqrt;  // sqrt(1 - beta2^t)
};
void adam_update(float* value, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                 const AdamUpdate& update);

namespace reference {
void sgd_update(float* value, const float* grad, float* momentum_buffer, int64_t n, const SgdUpdate& update);
void adam_update(float* value, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                 const AdamUpdate& update);
}  // namespace reference

}  // namespace branchy
