// The whole-network oracle's C++ half: writes, for each of the five networks
// (small settings), the model file, a batch, every exit's logits and the
// gradients of one joint training step, for tests/reference/
// check_networks_pytorch.py to recompute in PyTorch and compare.
//
// Hidden from the ordinary run (tag [.pytorch]); `make test-pytorch` runs it as
//   BRANCHY_ORACLE_DIR=<temporary folder> run_tests "[.pytorch]"
// Per case <label> it writes two safetensors files to that folder:
//   <label>.model.safetensors  save_model's file (weights before the step,
//                              metadata net + config): what PyTorch loads
//   <label>.dump.safetensors   x (N, C, H, W); labels (N) as floats;
//                              exit_weights (exits); eval.<e> (N, classes):
//                              exit e's logits in eval mode; train.<e>: the
//                              same in train mode (batch statistics);
//                              loss (1); grad.<param> for every trainable
//                              param; after.<buffer> for every BN running
//                              statistic after the step; mask.<segment>.<layer>
//                              for every dropout layer: the mask it drew
//                              (0 or 1/(1-p)), which PyTorch cannot redraw.
// The joint step is the trainer's (pipeline/trainer.cpp): loss =
// sum_e w_e * CE_e with CE_e the batch mean, d logits_e = w_e * dCE_e, an exit
// with w_e = 0 not back-propagated at all; the trainer's default is w_e = 1.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "engine/loss.h"
#include "engine/rng.h"
#include "formats/checkpoint.h"
#include "layers/dropout.h"
#include "nets/registry.h"
#include "pipeline/model_file.h"
#include "tests/gradcheck.h"

using namespace branchy;
using branchy::testing::random_tensor;

namespace {

struct OracleCase {
  std::string label;
  std::string net;
  std::string settings;  // as `--config`
  Shape sample;          // (1, C, H, W)
  int classes;
  int batch;
  std::vector<float> exit_weights;  // empty: the trainer's default, 1 each
};

// Small enough to run in seconds, large enough that every kind of block and
// shortcut appears, with odd sizes where pooling rounds.
std::vector<OracleCase> oracle_cases() {
  return {
      {"b-lenet", "b-lenet", "", Shape{1, 1, 28, 28}, 10, 6, {}},
      {"b-alexnet", "b-alexnet",
       "conv1=8,conv2=12,conv3=16,conv4=16,conv5=12,fc1=32,fc2=24,branch0_conv=8,branch1_conv=8",
       Shape{1, 3, 20, 20}, 10, 6, {}},
      {"b-resnet", "b-resnet", "depth=14,base_channels=4,branch0_width=4,branch1_width=6", Shape{1, 3, 18, 18}, 10, 6,
       {}},
      {"b-resnext", "b-resnext",
       "depth=11,cardinality=2,base_width=2,stem_channels=8,stage1_channels=8,stage2_channels=16,"
       "stage3_channels=32,branch0_width=8,branch1_width=12",
       Shape{1, 3, 18, 18}, 10, 6, {}},
      {"b-densenet", "b-densenet", "depth=16,growth=4,branch0_width=8,branch1_width=8", Shape{1, 3, 18, 18}, 10, 6,
       {}},
      // Beyond the trainer's default: unequal weights and an exit left out (weight 0).
      {"b-resnext-weighted", "b-resnext",
       "depth=11,cardinality=2,base_width=2,stem_channels=8,stage1_channels=8,stage2_channels=16,"
       "stage3_channels=32,branch0_width=8,branch1_width=12",
       Shape{1, 3, 18, 18}, 10, 6, {0.5f, 0.0f, 2.0f}},
      {"b-densenet-plain", "b-densenet", "depth=10,growth=6,bottleneck=0,compression=1,branch0_width=8,branch1_width=8",
       Shape{1, 3, 17, 17}, 7, 5, {}},
  };
}

// Each dropout layer with the shape of its input, for a batch of `batch`.
std::vector<std::pair<std::string, Shape>> dropout_inputs(BranchyNet& net, int batch) {
  std::vector<std::pair<std::string, Shape>> found;
  for (int i = 0; i < net.num_stages(); ++i) {
    Shape shape = net.stage_input_shape(i);
    shape[0] = batch;
    Sequential& stage = net.stage(i);
    for (size_t j = 0; j < stage.size(); ++j) {
      if (dynamic_cast<Dropout*>(&stage.layer(j)))
        found.push_back({"stage" + std::to_string(i) + "." + stage.layer_name(j), shape});
      shape = stage.layer(j).out_shape(shape);
    }
  }
  return found;
}

Dropout& dropout_named(BranchyNet& net, const std::string& name) {
  for (int i = 0; i < net.num_stages(); ++i) {
    Sequential& stage = net.stage(i);
    for (size_t j = 0; j < stage.size(); ++j)
      if ("stage" + std::to_string(i) + "." + stage.layer_name(j) == name)
        return dynamic_cast<Dropout&>(stage.layer(j));
  }
  FAIL("no dropout layer " << name);
  throw 0;
}

// Batch norms start as the identity (weight 1, bias 0, mean 0, var 1), which
// would leave eval mode and the affine part untested: give every one
// weights, biases and running statistics of its own.
void vary_batch_norms(BranchyNet& net, uint64_t seed) {
  Rng rng(seed);
  std::map<std::string, Param*> by_name;
  for (const ParamRef& ref : net.named_params()) by_name[ref.name] = ref.param;
  const std::string suffix = ".running_mean";
  for (const auto& entry : by_name) {
    const std::string& name = entry.first;
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string bn = name.substr(0, name.size() - suffix.size());
    const std::vector<std::pair<std::string, std::pair<float, float>>> ranges = {
        {".weight", {0.5f, 1.5f}}, {".bias", {-0.3f, 0.3f}}, {".running_mean", {-0.2f, 0.2f}},
        {".running_var", {0.5f, 2.0f}}};
    for (const auto& [part, range] : ranges) {
      Tensor& value = by_name.at(bn + part)->value;
      for (int64_t i = 0; i < value.numel(); ++i) value[i] = rng.uniform(range.first, range.second);
    }
  }
}

void write_case(const OracleCase& c, const std::string& folder) {
  auto net = build_network(c.net, parse_config_overrides(c.settings), c.sample, c.classes, 11);
  vary_batch_norms(*net, 29);
  save_model(folder + "/" + c.label + ".model.safetensors", *net, ModelInfo{});

  Shape batch_shape = c.sample;
  batch_shape[0] = c.batch;
  const Tensor x = random_tensor(batch_shape, 17);
  Rng rng(23);
  std::vector<int> labels(c.batch);
  for (int& label : labels) label = static_cast<int>(rng.next_u64() % static_cast<uint64_t>(c.classes));
  const int exits = net->num_exits();
  const std::vector<float> weights = c.exit_weights.empty() ? std::vector<float>(exits, 1.0f) : c.exit_weights;
  REQUIRE(static_cast<int>(weights.size()) == exits);

  std::vector<NamedTensor> dump = {{"x", x}};
  Tensor label_values = Tensor::uninitialized(Shape{c.batch});
  for (int n = 0; n < c.batch; ++n) label_values[n] = static_cast<float>(labels[n]);
  dump.push_back({"labels", label_values});
  dump.push_back({"exit_weights", Tensor::from_vector(Shape{exits}, weights)});

  // Eval first: a train-mode forward moves the running statistics.
  const std::vector<Tensor> eval_logits = net->forward_exits(x, Mode::eval);
  for (int e = 0; e < exits; ++e) dump.push_back({"eval." + std::to_string(e), eval_logits[e].clone()});

  // One joint training step, as the trainer takes it.
  net->zero_grad();
  const std::vector<Tensor> logits = net->forward_exits(x, Mode::train);
  std::vector<Tensor> d_logits(exits);
  double loss = 0.0;
  for (int e = 0; e < exits; ++e) {
    dump.push_back({"train." + std::to_string(e), logits[e].clone()});
    if (weights[e] == 0.0f) continue;
    Tensor grad;
    loss += weights[e] * softmax_cross_entropy(logits[e], labels, &grad);
    for (int64_t i = 0; i < grad.numel(); ++i) grad[i] *= weights[e];
    d_logits[e] = grad;
  }
  net->backward_exits(d_logits);
  dump.push_back({"loss", Tensor::filled(Shape{1}, static_cast<float>(loss))});
  for (const ParamRef& ref : net->named_params())
    dump.push_back({(ref.param->trainable ? "grad." : "after.") + ref.name,
                    ref.param->trainable ? ref.param->grad : ref.param->value});
  // A dropout's backward of ones is its mask (dx = dy * mask).
  for (const auto& [name, shape] : dropout_inputs(*net, c.batch))
    dump.push_back({"mask." + name, dropout_named(*net, name).backward(Tensor::filled(shape, 1.0f))});
  save_safetensors(folder + "/" + c.label + ".dump.safetensors", dump, {{"net", c.net}, {"label", c.label}});
}

}  // namespace

TEST_CASE("write every network's logits and joint-step gradients for the PyTorch oracle", "[.pytorch]") {
  const char* folder = std::getenv("BRANCHY_ORACLE_DIR");
  INFO("set BRANCHY_ORACLE_DIR to the folder to write into (make test-pytorch does)");
  REQUIRE(folder != nullptr);
  REQUIRE(*folder != '\0');
  for (const OracleCase& c : oracle_cases()) {
    INFO("case " << c.label);
    write_case(c, folder);
  }
}
