// batchnorm.h — batch normalisation over channels, PyTorch's nn.BatchNorm2d
// (and nn.BatchNorm1d for (N, C) or (N, C, L) input, e.g. in predictors).
//
//   x: (N, C, ...) -> y: same shape, per channel c:
//     y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c
//   Train: mean/var are the batch statistics over N and the trailing dims
//          (biased variance, divided by the count M), and the running
//          statistics move towards them: running = (1 - momentum) * running
//          + momentum * batch, with the *unbiased* variance (M / (M - 1)), as
//          PyTorch does. Keeps x and the batch mean and 1/std for backward.
//   Eval:  mean/var are running_mean/running_var; keeps nothing.
//   backward(dy) the closed form for batch statistics: adds dL/dweight and
//          dL/dbias into the grads, returns dx like x.
//   macs   0: the cost model counts conv and linear layers only (docs/ALGORITHM.md);
//          at inference BN is an affine map that could fold into the conv before it.
//
// Params (PyTorch's state_dict names): weight (C) = 1, bias (C) = 0, and the
// buffers running_mean (C) = 0, running_var (C) = 1 (trainable = false).
// PyTorch's num_batches_tracked is not kept (momentum is never None here).
//
// Synchronised batch norm (PyTorch's SyncBatchNorm): with a statistics
// group set, train-mode mean and variance are those of the batches of every
// rank together, and backward's two per-channel sums are taken over them too,
// so N ranks with a batch each compute what one process computes on their
// concatenation. Each rank's weight and bias grads stay its own share (the
// trainer sums grads over ranks). Every rank of the group must then run the
// same train-mode forwards and backwards (each one sums C + 1 or 2C numbers).
//
// Requires channels >= 1, eps > 0, momentum in [0, 1] (constructor throws
// Error). forward throws Error for input of rank other than 2..4, a channel
// count other than C, or (train) a single value per channel; backward throws
// without a train-mode forward or for dy of another shape.
#pragma once

#include <utility>
#include <vector>

#include "engine/communicator.h"
#include "layers/layer.h"

namespace branchy {

class BatchNorm2d : public Layer {
 public:
  explicit BatchNorm2d(int channels, float eps = 1e-5f, float momentum = 0.1f);

  Shape out_shape(const Shape& in) const override;
  Tensor forward(const Tensor& x, Mode mode) override;
  // Mode::eval's transform y[c] = x[c] * scale[c] + shift[c], from the
  // running statistics: pointers to (C) values, valid until the next forward
  // (layers/fused_inference.h folds them into the conv before).
  std::pair<const float*, const float*> inference_affine();
  Tensor backward(const Tensor& dy) override;
  void collect_params(const std::string& prefix, std::vector<ParamRef>& out) override;
  std::string describe() const override;  // "batchnorm 16"

  // The ranks whose batches the train-mode statistics span; nullptr (the
  // default): this batch alone. The group must outlive its use here.
  void set_statistics_group(Communicator* group) { statistics_group_ = group; }

  Param weight;        // (C), gamma
  Param bias;          // (C), beta
  Param running_mean;  // (C), buffer
  Param running_var;   // (C), buffer

 private:
  // Writes batch mean and 1/std into batch_mean_/batch_inv_std_ and moves the running statistics.
  void compute_batch_statistics(const Tensor& x);

  int channels_;
  float eps_, momentum_;
  Tensor x_;                          // (N, C, ...) last train-mode input
  std::vector<float> batch_mean_;     // (C)
  std::vector<float> batch_inv_std_;  // (C), 1 / sqrt(var + eps)
  std::vector<float> scale_, shift_;  // (C), scratch for channel_affine
  Communicator* statistics_group_ = nullptr;
  double count_ = 0;                  // M of the last train-mode forward, over the group
  std::vector<double> channel_sums_;  // (2C + 1) scratch: per-channel sums, summed over the group
};

}  // namespace branchy
