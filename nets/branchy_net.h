// branchy_net.h — a trunk cut into stages, with a side branch after every
// stage but the last (BranchyNet, Teerapittayanon et al. 2016).
//
//   x -> S0 -> h0 -> S1 -> h1 -> ... -> S_K -> logits of exit K (the trunk's head)
//               \-> B0 -> logits of exit 0
//                          \-> B1 -> logits of exit 1 ...
//
// Exit i < K is branch i, read from h_i; exit K is the last stage's output.
// A plain network (LeNet) is a BranchyNet with one stage and no branch.
//
// Parameter names: "stage<i>.<layer>.<param>", "branch<i>.<layer>.<param>".
// The network's name and config (a JSON object) rebuild it exactly (see
// nets/registry.h), so a checkpoint needs nothing else.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "formats/json.h"
#include "nets/sequential.h"

namespace branchy {

class BranchyNet {
 public:
  // sample_shape: one input, batch 1, e.g. (1, 1, 28, 28).
  BranchyNet(std::string name, Shape sample_shape, int classes);
  // The full settings that rebuild this network (nets/registry.h sets them).
  void set_config(Json config) { config_ = std::move(config); }

  Sequential& add_stage();
  // The branch read from the output of the stage added last.
  Sequential& add_branch();
  // Checks the wiring: one branch per stage but the last; every exit gives
  // (1, classes). Throws Error naming the network and the segment otherwise.
  // Also caches each segment's MACs, which inference reads on every batch:
  // call it again after changing a stage or branch.
  void validate();

  const std::string& name() const { return name_; }
  const Json& config() const { return config_; }
  const Shape& sample_shape() const { return sample_shape_; }
  int classes() const { return classes_; }
  int num_stages() const { return static_cast<int>(stages_.size()); }
  int num_exits() const { return num_stages(); }  // branches + the last exit
  Sequential& stage(int i) { return *stages_[i]; }
  Sequential& branch(int i) { return *branches_[i]; }

  // Logits (N, classes) of every exit. Mode::train keeps what backward needs.
  std::vector<Tensor> forward_exits(const Tensor& x, Mode mode);
  // Gradients of the loss w.r.t. each exit's logits; an undefined tensor
  // means that exit does not contribute (its branch is not back-propagated).
  // Adds parameter gradients only: the input's gradient is never computed
  // (stage 0 is told set_needs_input_grad(false) when it is added).
  void backward_exits(const std::vector<Tensor>& d_logits);
  // The trunk alone: logits of the last exit.
  Tensor forward_final(const Tensor& x, Mode mode);
  // Branches trained on a frozen trunk (a branch of a new width tried on a
  // trained trunk): the stages run in Mode::eval, so their batch-norm
  // statistics stay put and nothing is kept for their backward, and only as
  // far as the last branch i with trained[i]; those branches run in
  // Mode::train. Logits of the other exits are undefined.
  std::vector<Tensor> forward_branches_on_frozen_trunk(const Tensor& x, const std::vector<bool>& trained);
  // Back-propagates the branches alone, stopping at their inputs (no stage
  // is touched); d_logits as for backward_exits, the last one ignored.
  void backward_branches(const std::vector<Tensor>& d_logits);

  std::vector<ParamRef> named_params();
  void zero_grad();
  int64_t parameter_count();

  // Costs for one sample, in multiply-accumulates.
  int64_t stage_macs(int i) const;
  int64_t branch_macs(int i) const;
  int64_t full_macs() const;  // the trunk alone
  // Shape of h_i (the input of stage i+1 and branch i) for one sample.
  Shape stage_output_shape(int i) const;
  Shape stage_input_shape(int i) const;

  std::vector<LayerReport> report();
  // Every top-level layer of every stage and branch (e.g. to reseed dropout).
  std::vector<Layer*> top_level_layers();
  // Every layer of every stage and branch, those inside blocks included.
  void for_each_layer(const LayerVisitor& visit);
  // hook(layer) right after each top-level layer's backward (Sequential::
  // set_after_layer_backward); an empty hook removes it.
  void set_after_layer_backward(const LayerVisitor& hook);

 private:
  std::string name_;
  Json config_;
  Shape sample_shape_;
  int classes_;
  std::vector<std::unique_ptr<Sequential>> stages_;
  std::vector<std::unique_ptr<Sequential>> branches_;
  std::vector<int64_t> stage_macs_cache_, branch_macs_cache_;  // per sample, filled by validate()
};

}  // namespace branchy
