// Training runs that meet trouble stop with one line that says where, and
// leave the checkpoints they saved before as they were: a NaN weight, a
// learning rate that blows the weights up, a NaN gradient, a full disk and a
// run folder that cannot take a new file. First, the search for where a NaN
// or an infinity showed up (nets/non_finite.h) on its own.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

#include "engine/error.h"
#include "layers/layer.h"
#include "nets/non_finite.h"
#include "pipeline/model_file.h"
#include "pipeline/trainer.h"
#include "tests/quadrant_task.h"
#include "tests/temp_folder.h"

using namespace branchy;
using namespace branchy::testing;
using Catch::Contains;
using Catch::Matches;
using Catch::StartsWith;
namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The message of the Error that training throws; fails the test when it throws none.
std::string training_error(BranchyNet& net, const DatasetSplits& data, const TrainOptions& options) {
  try {
    train_network(net, data, Normalizer::from_dataset(data.train), options);
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("training finished; expected it to stop with an error");
  return "";
}

// A run folder after one good epoch, and its two checkpoints' bytes, which
// every failure afterwards must leave as they are.
struct SavedRun {
  std::string folder, model_bytes, last_bytes;

  SavedRun(const TemporaryFolder& runs, const DatasetSplits& data) : folder(runs.file("run")) {
    auto net = tiny_b_lenet();
    train_network(*net, data, Normalizer::from_dataset(data.train), quick_options(folder, 1));
    model_bytes = read_file(folder + "/model.safetensors");
    last_bytes = read_file(folder + "/last.safetensors");
    REQUIRE(!model_bytes.empty());
    REQUIRE(!last_bytes.empty());
  }
  void require_untouched() const {
    REQUIRE(read_file(folder + "/model.safetensors") == model_bytes);
    REQUIRE(read_file(folder + "/last.safetensors") == last_bytes);
    load_model(folder + "/model.safetensors");
    load_model(folder + "/last.safetensors");
  }
};

// Passes values through and returns a NaN gradient: a stand-in for a
// backward pass that overflows while the loss is still finite.
class NanGradient : public Layer {
 public:
  Shape out_shape(const Shape& in) const override { return in; }
  Tensor forward(const Tensor& x, Mode) override { return x; }
  Tensor backward(const Tensor& dy) override {
    return Tensor::filled(dy.shape(), std::numeric_limits<float>::quiet_NaN());
  }
  std::string describe() const override { return "nan-gradient"; }
};

}  // namespace

TEST_CASE("the first NaN or infinity is found in the input, in a branch's layer, or in a gradient", "[training]") {
  auto net = tiny_b_lenet();
  Tensor images = Tensor::filled(Shape{2, 1, 12, 12}, 0.5f);
  REQUIRE(first_non_finite_output(*net, images, Mode::eval, false).empty());
  REQUIRE(first_non_finite_param_value(net->named_params()).empty());

  std::vector<ParamRef> params = net->named_params();
  for (ParamRef& p : params)
    if (p.name == "branch0.conv.weight") p.param->value[5] = std::numeric_limits<float>::infinity();
  REQUIRE(first_non_finite_output(*net, images, Mode::eval, false).rfind("the output of branch0.conv (conv ", 0) == 0);
  REQUIRE(first_non_finite_output(*net, images, Mode::eval, true).empty());  // the trunk alone never runs it
  REQUIRE(first_non_finite_param_value(params) == "branch0.conv.weight holds inf at element 5");

  images[7] = -std::numeric_limits<float>::infinity();
  REQUIRE(first_non_finite_output(*net, images, Mode::eval, false) == "the input");

  for (ParamRef& p : params) p.param->zero_grad();
  params[0].param->grad[1] = std::numeric_limits<float>::quiet_NaN();
  params[2].param->grad[0] = -std::numeric_limits<float>::infinity();
  REQUIRE(first_non_finite_gradient(params) == params[0].name + " holds nan at element 1");
  std::reverse(params.begin(), params.end());
  REQUIRE(first_non_finite_gradient(params) == params[params.size() - 3].name + " holds -inf at element 0");
}

TEST_CASE("a NaN weight stops training, naming the epoch, the batch, the layer and the parameter", "[training]") {
  const TemporaryFolder runs("faults");
  const DatasetSplits data = quadrant_splits();
  const SavedRun saved(runs, data);

  auto net = tiny_b_lenet();
  for (ParamRef& p : net->named_params())
    if (p.name == "stage1.fc2.bias") p.param->value[0] = std::numeric_limits<float>::quiet_NaN();
  const std::string message = training_error(*net, data, quick_options(saved.folder, 2));
  INFO(message);
  REQUIRE_THAT(message, StartsWith("training diverged at epoch 1 batch 1: the loss is nan; the first NaN or "
                                   "infinity is in the output of stage1.fc2 (linear 16->4); parameter "
                                   "stage1.fc2.bias holds nan at element 0; checkpoints already saved in " +
                                   saved.folder + " are kept"));
  saved.require_untouched();
}

TEST_CASE("a learning rate that blows the weights up stops training at the first non-finite loss, naming the layer",
          "[training]") {
  const TemporaryFolder runs("faults");
  const DatasetSplits data = quadrant_splits();
  const SavedRun saved(runs, data);

  auto net = tiny_b_lenet();
  TrainOptions reckless = quick_options(saved.folder, 2);
  reckless.learning_rate = 1e30f;  // Adam moves every weight by about this much on the first step
  const std::string message = training_error(*net, data, reckless);
  INFO(message);
  REQUIRE_THAT(message, Matches("training diverged at epoch 1 batch [0-9]+: the loss is (nan|inf|-inf); the first NaN or "
                                "infinity is in the output of (stage|branch)[0-9]\\.[a-z0-9_]+ \\(.*"));
  saved.require_untouched();
}

TEST_CASE("a NaN gradient stops training before the optimizer step, naming the parameter", "[training]") {
  const TemporaryFolder runs("faults");
  const DatasetSplits data = quadrant_splits();
  const SavedRun saved(runs, data);

  auto net = tiny_b_lenet();
  net->stage(0).emplace<NanGradient>("overflow");  // after stage0.conv1, whose gradients it spoils
  net->validate();
  std::vector<Tensor> before;
  for (const ParamRef& p : net->named_params()) before.push_back(p.param->value.clone());

  const std::string message = training_error(*net, data, quick_options(saved.folder, 2));
  INFO(message);
  // Backward reaches branch 0 before stage 0: its gradients are finite, and
  // the first spoiled one is the last parameter of stage0.conv1.
  REQUIRE_THAT(message, StartsWith("training diverged at epoch 1 batch 1: the gradient of stage0.conv1.bias holds "
                                   "nan at element 0 (the loss was "));
  const auto after = net->named_params();
  for (size_t i = 0; i < after.size(); ++i) {
    INFO(after[i].name);
    REQUIRE(max_abs_difference(after[i].param->value, before[i]) == 0.0f);  // no step was taken
  }
  saved.require_untouched();
}

TEST_CASE("a full disk stops training with one line naming the file; the last checkpoint survives and resumes",
          "[training]") {
  const TemporaryFolder runs("faults");
  const DatasetSplits data = quadrant_splits();
  const SavedRun saved(runs, data);

  // Each checkpoint's temporary file leads to /dev/full, where every write
  // fails with ENOSPC, for root too.
  const std::string suffix = ".tmp-" + std::to_string(::getpid());
  for (const char* name : {"/model.safetensors", "/last.safetensors"})
    fs::create_symlink("/dev/full", saved.folder + name + suffix);
  auto net = tiny_b_lenet();
  TrainOptions more = quick_options(saved.folder, 2);
  more.resume = true;
  const std::string message = training_error(*net, data, more);
  INFO(message);
  REQUIRE_THAT(message, Matches(saved.folder + "/(model|last).safetensors: writing " + saved.folder +
                                "/(model|last).safetensors.tmp-[0-9]+ failed: No space left on device"));
  saved.require_untouched();

  // With room again, the run resumes from the checkpoint that survived; the
  // log row of the epoch that could not be saved is replaced, not repeated.
  for (const char* name : {"/model.safetensors", "/last.safetensors"}) fs::remove(saved.folder + name + suffix);
  auto resumed = tiny_b_lenet();
  const TrainResult result = train_network(*resumed, data, Normalizer::from_dataset(data.train), more);
  REQUIRE(result.epochs.size() == 1);
  REQUIRE(result.epochs[0].epoch == 2);
  const std::string log = read_file(saved.folder + "/train_log.csv");
  REQUIRE(std::count(log.begin(), log.end(), '\n') == 3);  // the header, epoch 1, epoch 2
  REQUIRE(log.find("\n2,") != std::string::npos);
}

TEST_CASE("a run folder that cannot take a new file stops training with one line naming it", "[training]") {
  const TemporaryFolder runs("faults");
  const DatasetSplits data = quadrant_splits();
  const SavedRun saved(runs, data);

  // chmod does not stop root (tests run as root in CI); a folder where each
  // checkpoint's temporary file would go makes open() fail for anyone, on
  // the same path a read-only folder takes.
  const std::string suffix = ".tmp-" + std::to_string(::getpid());
  for (const char* name : {"/model.safetensors", "/last.safetensors"})
    fs::create_directory(saved.folder + name + suffix);
  auto net = tiny_b_lenet();
  TrainOptions more = quick_options(saved.folder, 2);
  more.resume = true;
  const std::string message = training_error(*net, data, more);
  INFO(message);
  REQUIRE_THAT(message, Matches(saved.folder + "/(model|last).safetensors: cannot create the temporary file " +
                                saved.folder + "/(model|last).safetensors.tmp-[0-9]+: Is a directory"));
  saved.require_untouched();
}
