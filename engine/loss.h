// loss.h — the losses and read-outs a classifier needs: softmax, cross-entropy,
// softmax entropy (BranchyNet's exit criterion), mean squared error, argmax.
//
// Requires: logits are rank 2, (N, K) with N >= 1 and K >= 1; labels has N
//           entries, each in [0, K); MSE's prediction and target have the same
//           shape.
// Ensures:  every softmax is computed from logits minus the row maximum and
//           every sum is accumulated in double, so logits like +-1e4 give
//           finite, correct losses and gradients. A gradient argument that is
//           not nullptr is (re)shaped like the input only when its shape
//           differs, then overwritten: pass the same Tensor every step and no
//           allocation happens.
// Fails:    throws branchy::Error naming the function, the shape or the
//           offending label (with its row and K).
#pragma once

#include <vector>

#include "engine/tensor.h"

namespace branchy {

// Row-wise softmax: (N, K) -> (N, K), each row sums to 1.
Tensor softmax(const Tensor& logits);
// The same, over the logits' own storage (no tensor taken: a router's per-sample call).
void softmax_in_place(Tensor& logits /* (N, K) -> probabilities */);

// Mean over the batch of -log softmax(logits)[i, labels[i]].
// dlogits (N, K) = (softmax - onehot(labels)) / N, as torch's
// CrossEntropyLoss(reduction='mean') gives.
float softmax_cross_entropy(const Tensor& logits /* (N, K) */, const std::vector<int>& labels /* N */,
                            Tensor* dlogits /* (N, K) or nullptr */);

// The loss of each row alone: -log softmax(logits)[i, labels[i]], size N.
std::vector<float> softmax_cross_entropy_per_sample(const Tensor& logits /* (N, K) */,
                                                    const std::vector<int>& labels /* N */);

// Cost-sensitive mean: sum_i weight[i] * loss_i / N, so all-ones weights give
// softmax_cross_entropy exactly. dlogits row i = weight[i] * (softmax - onehot) / N.
// Requires weights >= 0 and finite, one per row.
float weighted_softmax_cross_entropy(const Tensor& logits /* (N, K) */, const std::vector<int>& labels /* N */,
                                     const std::vector<float>& sample_weights /* N */,
                                     Tensor* dlogits /* (N, K) or nullptr */);

// Natural-log entropy of each row's softmax, size N, in [0, ln K]:
// H = logsumexp(z) - sum_k p_k z_k, computed from the logits directly.
std::vector<float> softmax_entropy(const Tensor& logits /* (N, K) */);

// Mean over all elements of (prediction - target)^2, as torch's
// MSELoss(reduction='mean'); dprediction = 2 (prediction - target) / numel.
float mse_loss(const Tensor& prediction, const Tensor& target, Tensor* dprediction /* like prediction or nullptr */);

// Index of the largest entry of row `row` of a (N, K) tensor; ties go to the
// lowest index (as torch.argmax).
int argmax_row(const Tensor& logits /* (N, K) */, int64_t row);
std::vector<int> argmax_rows(const Tensor& logits /* (N, K) */);

// Share of rows whose argmax equals the label, in [0, 1].
double accuracy(const Tensor& logits /* (N, K) */, const std::vector<int>& labels /* N */);

}  // namespace branchy
