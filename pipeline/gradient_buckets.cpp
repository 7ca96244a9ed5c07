#include "pipeline/gradient_buckets.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "report/timer.h"

namespace branchy {

GradientBuckets::GradientBuckets(BranchyNet& net, const std::vector<ParamRef>& params, Communicator& group,
                                 int64_t bucket_bytes)
    : net_(net), group_(group) {
  // Backward finishes the parameters in the reverse of their order.
  int64_t bytes_in_last = 0;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {
    Param* param = it->param;
    if (!param->trainable) continue;
    if (buckets_.empty() || bytes_in_last >= bucket_bytes) {
      buckets_.emplace_back();
      bytes_in_last = 0;
    }
    buckets_.back().params.push_back(param);
    bytes_in_last += param->grad.numel() * static_cast<int64_t>(sizeof(float));
  }
  std::unordered_map<const Param*, int> bucket_of_param;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    int64_t floats = 0;
    for (Param* param : buckets_[b].params) {
      bucket_of_param[param] = static_cast<int>(b);
      floats += param->grad.numel();
    }
    buckets_[b].buffer.resize(static_cast<size_t>(floats));
  }
  // Which buckets each top-level layer completes a part of.
  for (Layer* layer : net.top_level_layers()) {
    std::vector<int>& counted = buckets_of_layer_[layer];
    for (Param* param : layer->params()) {
      const auto found = bucket_of_param.find(param);
      if (found == bucket_of_param.end()) continue;
      if (std::find(counted.begin(), counted.end(), found->second) != counted.end()) continue;
      counted.push_back(found->second);
      ++buckets_[found->second].layers_total;
    }
    if (counted.empty()) buckets_of_layer_.erase(layer);
  }
  net_.set_after_layer_backward([this](Layer& layer) { layer_finished(layer); });
  start_step();
}

GradientBuckets::~GradientBuckets() { net_.set_after_layer_backward({}); }

void GradientBuckets::start_step() {
  assert(next_to_start_ == 0 || next_to_start_ == buckets_.size());
  for (Bucket& bucket : buckets_) bucket.layers_waiting = bucket.layers_total;
  next_to_start_ = 0;
}

void GradientBuckets::layer_finished(const Layer& layer) {
  if (next_to_start_ > 0) {  // sums are travelling: let them move on
    const Timer timer;
    group_.advance_sums();
    communication_seconds_ += timer.seconds();
  }
  const auto found = buckets_of_layer_.find(&layer);
  if (found == buckets_of_layer_.end()) return;
  for (int b : found->second) {
    assert(buckets_[b].layers_waiting > 0 && "a layer's backward ran twice in one step");
    --buckets_[b].layers_waiting;
  }
  start_ready_buckets();
}

// In index order only: a bucket that is ready before an earlier one waits for it.
void GradientBuckets::start_ready_buckets() {
  while (next_to_start_ < buckets_.size() && buckets_[next_to_start_].layers_waiting == 0)
    start_bucket(buckets_[next_to_start_++]);
}

void GradientBuckets::start_bucket(Bucket& bucket) {
  float* packed = bucket.buffer.data();
  for (Param* param : bucket.params) {
    std::memcpy(packed, param->grad.data(), sizeof(float) * static_cast<size_t>(param->grad.numel()));
    packed += param->grad.numel();
  }
  const Timer timer;
  group_.start_sum(bucket.buffer.data(), static_cast<int64_t>(bucket.buffer.size()));
  communication_seconds_ += timer.seconds();
}

void GradientBuckets::finish() {
  // Buckets whose layers did not all run backward this step (a branch of
  // loss weight 0) hold zero grads there; they are summed all the same.
  while (next_to_start_ < buckets_.size()) start_bucket(buckets_[next_to_start_++]);
  const Timer timer;
  group_.finish_sums();
  communication_seconds_ += timer.seconds();
  for (Bucket& bucket : buckets_) {
    const float* packed = bucket.buffer.data();
    for (Param* param : bucket.params) {
      std::memcpy(param->grad.data(), packed, sizeof(float) * static_cast<size_t>(param->grad.numel()));
      packed += param->grad.numel();
    }
  }
}

}  // namespace branchy
