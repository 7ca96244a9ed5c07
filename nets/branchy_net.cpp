#include "nets/branchy_net.h"

#include "engine/error.h"
#include "engine/kernels.h"
#include "engine/threads.h"

namespace branchy {

BranchyNet::BranchyNet(std::string name, Shape sample_shape, int classes)
    : name_(std::move(name)), sample_shape_(sample_shape), classes_(classes) {}

Sequential& BranchyNet::add_stage() {
  BRANCHY_CHECK(stages_.size() == branches_.size(), name_, ": stage ", stages_.size() - 1,
                " needs its branch before another stage");
  stages_.push_back(std::make_unique<Sequential>());
  // Nothing upstream of the input reads its gradient: stage 0's first layer skips it.
  if (stages_.size() == 1) stages_.back()->set_needs_input_grad(false);
  return *stages_.back();
}

Sequential& BranchyNet::add_branch() {
  BRANCHY_CHECK(branches_.size() + 1 == stages_.size(), name_, ": a branch must follow a stage");
  branches_.push_back(std::make_unique<Sequential>());
  return *branches_.back();
}

void BranchyNet::validate() {
  BRANCHY_CHECK(!stages_.empty() && branches_.size() + 1 == stages_.size(), name_, ": ", stages_.size(),
                " stages need ", stages_.size() - 1, " branches, got ", branches_.size());
  const Shape logits{1, classes_};
  Shape h = sample_shape_;
  for (int i = 0; i < num_stages(); ++i) {
    h = stages_[i]->out_shape(h);
    if (i < num_stages() - 1) {
      const Shape branch_out = branches_[i]->out_shape(h);
      BRANCHY_CHECK(branch_out == logits, name_, ": branch ", i, " gives ", branch_out.str(), ", expected ",
                    logits.str());
    }
  }
  BRANCHY_CHECK(h == logits, name_, ": the last stage gives ", h.str(), ", expected ", logits.str());
  stage_macs_cache_.clear();
  branch_macs_cache_.clear();
  for (int i = 0; i < num_stages(); ++i) {
    stage_macs_cache_.push_back(stages_[i]->macs(stage_input_shape(i)));
    if (i < num_stages() - 1) branch_macs_cache_.push_back(branches_[i]->macs(stage_output_shape(i)));
  }
}

std::vector<Tensor> BranchyNet::forward_exits(const Tensor& x, Mode mode) {
  std::vector<Tensor> logits(num_exits());
  Tensor h = x;
  for (int i = 0; i < num_stages(); ++i) {
    h = stages_[i]->forward(h, mode);
    if (i < num_stages() - 1) logits[i] = branches_[i]->forward(h, mode);
  }
  logits.back() = h;
  return logits;
}

void BranchyNet::backward_exits(const std::vector<Tensor>& d_logits) {
  BRANCHY_CHECK(static_cast<int>(d_logits.size()) == num_exits(), name_, ": backward got ", d_logits.size(),
                " exit gradients for ", num_exits(), " exits");
  // dL/dh_i is the sum over the two consumers of h_i: stage i+1 and branch i.
  Tensor d_h = d_logits.back().defined() ? stages_.back()->backward(d_logits.back()) : Tensor();
  for (int i = num_stages() - 2; i >= 0; --i) {
    if (d_logits[i].defined()) {
      Tensor d_from_branch = branches_[i]->backward(d_logits[i]);
      if (d_h.defined())
        parallel_chunks(d_h.numel(), d_h.numel(), [&](int64_t begin, int64_t end) {
          add(d_h.data() + begin, d_from_branch.data() + begin, d_h.data() + begin, end - begin);
        });
      else
        d_h = d_from_branch;
    }
    if (d_h.defined()) d_h = stages_[i]->backward(d_h);
  }
}

std::vector<Tensor> BranchyNet::forward_branches_on_frozen_trunk(const Tensor& x, const std::vector<bool>& trained) {
  BRANCHY_CHECK(static_cast<int>(trained.size()) == num_exits() - 1, name_, ": ", trained.size(),
                " branch flags for ", num_exits() - 1, " branches");
  int last_trained = -1;
  for (int i = 0; i < num_exits() - 1; ++i)
    if (trained[i]) last_trained = i;
  std::vector<Tensor> logits(num_exits());
  Tensor h = x;  // h_i, (N, C_i, H_i, W_i)
  for (int i = 0; i <= last_trained; ++i) {
    h = stages_[i]->forward(h, Mode::eval);
    if (trained[i]) logits[i] = branches_[i]->forward(h, Mode::train);
  }
  return logits;
}

void BranchyNet::backward_branches(const std::vector<Tensor>& d_logits) {
  BRANCHY_CHECK(static_cast<int>(d_logits.size()) == num_exits(), name_, ": backward got ", d_logits.size(),
                " exit gradients for ", num_exits(), " exits");
  for (int i = num_exits() - 2; i >= 0; --i)  // the order backward_exits meets them (gradient buckets rely on it)
    if (d_logits[i].defined()) branches_[i]->backward(d_logits[i]);
}

Tensor BranchyNet::forward_final(const Tensor& x, Mode mode) {
  Tensor h = x;
  for (auto& stage : stages_) h = stage->forward(h, mode);
  return h;
}

std::vector<ParamRef> BranchyNet::named_params() {
  std::vector<ParamRef> out;
  for (int i = 0; i < num_stages(); ++i) {
    stages_[i]->collect_params("stage" + std::to_string(i), out);
    if (i < static_cast<int>(branches_.size())) branches_[i]->collect_params("branch" + std::to_string(i), out);
  }
  return out;
}

void BranchyNet::zero_grad() {
  for (ParamRef& ref : named_params()) ref.param->zero_grad();
}

int64_t BranchyNet::parameter_count() {
  int64_t total = 0;
  for (ParamRef& ref : named_params())
    if (ref.param->trainable) total += ref.param->value.numel();
  return total;
}

Shape BranchyNet::stage_input_shape(int i) const {
  Shape h = sample_shape_;
  for (int s = 0; s < i; ++s) h = stages_[s]->out_shape(h);
  return h;
}

Shape BranchyNet::stage_output_shape(int i) const { return stages_[i]->out_shape(stage_input_shape(i)); }

int64_t BranchyNet::stage_macs(int i) const {
  if (i < static_cast<int>(stage_macs_cache_.size())) return stage_macs_cache_[i];
  return stages_[i]->macs(stage_input_shape(i));
}

int64_t BranchyNet::branch_macs(int i) const {
  if (i < static_cast<int>(branch_macs_cache_.size())) return branch_macs_cache_[i];
  return branches_[i]->macs(stage_output_shape(i));
}

std::vector<Layer*> BranchyNet::top_level_layers() {
  std::vector<Layer*> layers;
  for (int i = 0; i < num_stages(); ++i) {
    for (size_t j = 0; j < stages_[i]->size(); ++j) layers.push_back(&stages_[i]->layer(j));
    if (i < static_cast<int>(branches_.size()))
      for (size_t j = 0; j < branches_[i]->size(); ++j) layers.push_back(&branches_[i]->layer(j));
  }
  return layers;
}

void BranchyNet::for_each_layer(const LayerVisitor& visit) {
  for (auto& stage : stages_) stage->for_each_layer(visit);
  for (auto& branch : branches_) branch->for_each_layer(visit);
}

void BranchyNet::set_after_layer_backward(const LayerVisitor& hook) {
  for (auto& stage : stages_) stage->set_after_layer_backward(hook);
  for (auto& branch : branches_) branch->set_after_layer_backward(hook);
}

int64_t BranchyNet::full_macs() const {
  int64_t total = 0;
  for (int i = 0; i < num_stages(); ++i) total += stage_macs(i);
  return total;
}

std::vector<LayerReport> BranchyNet::report() {
  std::vector<LayerReport> lines;
  Shape h = sample_shape_;
  for (int i = 0; i < num_stages(); ++i) {
    stages_[i]->report("stage" + std::to_string(i), h, lines);
    h = stages_[i]->out_shape(h);
    if (i < static_cast<int>(branches_.size())) branches_[i]->report("branch" + std::to_string(i), h, lines);
  }
  return lines;
}

}  // namespace branchy
