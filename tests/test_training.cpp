// The training loop end to end: a tiny branchy net learns a small synthetic
// task well above chance, a resumed run equals an uninterrupted one, and the
// trunk phase leaves the branches alone, as a frozen trunk is left alone by
// the branches phase. Runs that meet a NaN, a full disk or
// an unwritable folder: test_training_faults.cpp; runs killed and resumed:
// test_kill_resume.cpp.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "formats/checkpoint.h"
#include "engine/error.h"
#include "engine/rng.h"
#include "pipeline/calibration.h"
#include "pipeline/exit_outputs.h"
#include "pipeline/model_file.h"
#include "nets/registry.h"
#include "pipeline/trainer.h"
#include "pipeline/warm_start.h"
#include "tests/quadrant_task.h"
#include "tests/temp_folder.h"

using namespace branchy;
using namespace branchy::testing;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const Tensor& param_value(BranchyNet& net, const std::string& name) {
  for (const ParamRef& p : net.named_params())
    if (p.name == name) return p.param->value;
  FAIL("no parameter " << name);
  throw;
}

}  // namespace

TEST_CASE("a tiny b-lenet learns a small task well above chance at every exit", "[training]") {
  const TemporaryFolder runs("training");  // run folders, removed afterwards
  const DatasetSplits data = quadrant_splits();
  const Normalizer normalizer = Normalizer::from_dataset(data.train);
  auto net = tiny_b_lenet();
  const TrainResult result = train_network(*net, data, normalizer, quick_options(runs.file("learn"), 6));
  REQUIRE(result.epochs.size() == 6);
  REQUIRE(result.epochs.back().train_loss < result.epochs.front().train_loss);
  LoadedModel best = load_model(result.model_path);
  const ExitOutputs test = run_all_exits(*best.net, data.test, &normalizer, 32);
  INFO("test accuracy exit0 " << test.accuracy(0) << " exit1 " << test.accuracy(1));
  REQUIRE(test.accuracy(0) > 0.8);  // chance is 0.25
  REQUIRE(test.accuracy(1) > 0.8);
  // The log has a header and one row per epoch.
  const std::string log = read_file(runs.file("learn/train_log.csv"));
  REQUIRE(std::count(log.begin(), log.end(), '\n') == 7);
  REQUIRE(log.rfind("epoch,phase,learning_rate,train_loss", 0) == 0);

  // Calibration on the validation split: the chosen setting keeps accuracy within the allowed drop.
  const ExitOutputs validation = run_all_exits(*best.net, data.validation, &normalizer, 32);
  const auto frontier = accuracy_cost_frontier(sweep_thresholds(*best.net, validation, default_threshold_grid()));
  REQUIRE(!frontier.empty());
  for (size_t i = 1; i < frontier.size(); ++i) {
    REQUIRE(frontier[i].mean_macs > frontier[i - 1].mean_macs);
    REQUIRE(frontier[i].accuracy > frontier[i - 1].accuracy);
  }
  const ThresholdSetting chosen = choose_thresholds(frontier, validation.accuracy(1), 0.02);
  REQUIRE(chosen.accuracy >= validation.accuracy(1) - 0.02);
}

TEST_CASE("a resumed run ends exactly where an uninterrupted run ends", "[training]") {
  const TemporaryFolder runs("training");  // run folders, removed afterwards
  const DatasetSplits data = quadrant_splits();
  const Normalizer normalizer = Normalizer::from_dataset(data.train);

  auto straight = tiny_b_lenet();
  train_network(*straight, data, normalizer, quick_options(runs.file("straight"), 3));

  auto interrupted = tiny_b_lenet();
  TrainOptions first = quick_options(runs.file("resumed"), 2);
  train_network(*interrupted, data, normalizer, first);
  auto resumed = tiny_b_lenet();  // a fresh process would start from fresh weights
  TrainOptions rest = quick_options(runs.file("resumed"), 3);
  rest.resume = true;
  const TrainResult result = train_network(*resumed, data, normalizer, rest);
  REQUIRE(result.epochs.size() == 1);
  REQUIRE(result.epochs[0].epoch == 3);

  const auto a = straight->named_params(), b = resumed->named_params();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].name);
    REQUIRE(max_abs_difference(a[i].param->value, b[i].param->value) == 0.0f);
  }
}

TEST_CASE("resuming without a checkpoint, or another network's, is a clear error", "[training]") {
  const TemporaryFolder runs("training");  // run folders, removed afterwards
  const DatasetSplits data = quadrant_splits();
  const Normalizer normalizer = Normalizer::from_dataset(data.train);
  auto net = tiny_b_lenet();
  TrainOptions o = quick_options(runs.file("nothing_here"), 1);
  o.resume = true;
  REQUIRE_THROWS_WITH(train_network(*net, data, normalizer, o), Catch::Contains("last.safetensors"));

  train_network(*net, data, normalizer, quick_options(runs.file("other"), 1));
  auto other = build_network("lenet", parse_config_overrides("conv1=4,conv2=6,conv3=6,fc=16"), Shape{1, 1, 12, 12}, 4, 1);
  TrainOptions r = quick_options(runs.file("other"), 2);
  r.resume = true;
  REQUIRE_THROWS_WITH(train_network(*other, data, normalizer, r), Catch::Contains("not the requested lenet"));
}

TEST_CASE("the output folder is created with its parents; a file in its way is an error", "[training]") {
  const DatasetSplits data = quadrant_splits();
  const Normalizer normalizer = Normalizer::from_dataset(data.train);
  auto net = tiny_b_lenet();
  const TemporaryFolder folder("folders");
  const std::string root = folder.path();
  const TrainResult result = train_network(*net, data, normalizer, quick_options(root + "/a/b", 1));
  REQUIRE(std::filesystem::is_regular_file(result.model_path));
  std::ofstream(root + "/file") << "in the way";
  REQUIRE_THROWS_WITH(train_network(*net, data, normalizer, quick_options(root + "/file", 1)),
                      root + "/file: exists and is not a folder");
  REQUIRE_THROWS_WITH(train_network(*net, data, normalizer, quick_options(root + "/file/sub", 1)),
                      Catch::StartsWith(root + "/file/sub: cannot create folder: "));
}

TEST_CASE("the trunk phase runs the trunk alone: branch weights and batch-norm statistics stay as they were",
          "[training]") {
  const DatasetSplits data = quadrant_splits();
  const Normalizer normalizer = Normalizer::from_dataset(data.train);
  // b-resnet's branches hold batch norm, whose running statistics any train-mode forward would move.
  auto net = build_network("b-resnet", parse_config_overrides("depth=8,base_channels=4,branch0_width=4,branch1_width=4"),
                           Shape{1, 1, 12, 12}, 4, 11);
  std::vector<std::pair<std::string, Tensor>> before;
  for (const ParamRef& p : net->named_params()) before.push_back({p.name, p.param->value.clone()});
  const TemporaryFolder folder("trunk-only");
  TrainOptions o = quick_options(folder.path(), 0);
  o.trunk_epochs = 1;
  const TrainResult result = train_network(*net, data, normalizer, o);
  REQUIRE(result.epochs.size() == 1);
  REQUIRE(result.epochs[0].phase == "trunk");
  REQUIRE(std::isnan(result.epochs[0].train_accuracy[0]));  // branch 0 was not run
  REQUIRE(std::isfinite(result.epochs[0].train_accuracy.back()));

  const auto after = net->named_params();
  REQUIRE(after.size() == before.size());
  bool branch_statistics_seen = false, stage_changed = false;
  for (size_t i = 0; i < after.size(); ++i) {
    INFO(after[i].name);
    const float change = max_abs_difference(after[i].param->value, before[i].second);
    if (after[i].name.rfind("branch", 0) == 0) {
      REQUIRE(change == 0.0f);
      branch_statistics_seen |= after[i].name.find("running_mean") != std::string::npos;
    } else {
      stage_changed |= change > 0.0f;
    }
  }
  REQUIRE(branch_statistics_seen);
  REQUIRE(stage_changed);
}

TEST_CASE("a frozen trunk trains the chosen branch alone: stages, their statistics and the other branch stay put",
          "[training]") {
  const DatasetSplits data = quadrant_splits();
  const Normalizer normalizer = Normalizer::from_dataset(data.train);
  const Json config = parse_config_overrides("depth=8,base_channels=4,branch0_width=4,branch1_width=4");
  auto trained = build_network("b-resnet", config, Shape{1, 1, 12, 12}, 4, 11);
  const TemporaryFolder folder("frozen-trunk");
  train_network(*trained, data, normalizer, quick_options(folder.file("trunk"), 1));
  const std::string trunk_path = folder.file("trunk/model.safetensors");

  // A first branch of another width on the trained trunk: the stages and
  // branch 1 are copied, branch 0 (another shape) starts fresh.
  auto net = build_network("b-resnet", parse_config_overrides("depth=8,base_channels=4,branch0_width=6,branch1_width=4"),
                           Shape{1, 1, 12, 12}, 4, 12);
  const LoadedModel trunk = load_model(trunk_path);
  const WarmStart start = warm_start(*net, trunk, trunk_path, [](const std::string&) { return false; });
  for (const std::string& name : start.fresh) REQUIRE(name.rfind("branch0.", 0) == 0);
  REQUIRE(!start.fresh.empty());
  for (const std::string& name : start.copied) {
    INFO(name);
    REQUIRE(max_abs_difference(param_value(*net, name), *trunk.checkpoint.find(name)) == 0.0f);
  }

  std::vector<std::pair<std::string, Tensor>> before;
  for (const ParamRef& p : net->named_params()) before.push_back({p.name, p.param->value.clone()});
  TrainOptions o = quick_options(folder.file("branch"), 2);
  o.frozen_trunk = true;
  o.exit_weights = {1.0f, 0.0f, 0.0f};
  const TrainResult result = train_network(*net, data, normalizer, o);
  REQUIRE(result.epochs.size() == 2);
  REQUIRE(result.epochs[0].phase == "branches");
  REQUIRE(std::isfinite(result.epochs[0].train_accuracy[0]));
  REQUIRE(std::isnan(result.epochs[0].train_accuracy[1]));  // neither branch 1 nor the trunk's head ran
  REQUIRE(std::isnan(result.epochs[0].train_accuracy[2]));
  // The trunk's validation accuracy cannot move; the best epoch follows branch 0's.
  REQUIRE(result.epochs[0].validation_accuracy[2] == result.epochs[1].validation_accuracy[2]);
  REQUIRE(result.best_validation_accuracy == std::max(result.epochs[0].validation_accuracy[0],
                                                      result.epochs[1].validation_accuracy[0]));

  const auto after = net->named_params();
  bool stage_statistics_seen = false, branch0_changed = false;
  for (size_t i = 0; i < after.size(); ++i) {
    INFO(after[i].name);
    const float change = max_abs_difference(after[i].param->value, before[i].second);
    if (after[i].name.rfind("branch0.", 0) == 0) {
      branch0_changed |= change > 0.0f;
    } else {
      REQUIRE(change == 0.0f);
      stage_statistics_seen |= after[i].name.find("running_var") != std::string::npos;
    }
  }
  REQUIRE(stage_statistics_seen);
  REQUIRE(branch0_changed);
}

TEST_CASE("a frozen trunk with nothing to train is a clear error", "[training]") {
  const DatasetSplits data = quadrant_splits();
  const Normalizer normalizer = Normalizer::from_dataset(data.train);
  auto net = tiny_b_lenet();
  const TemporaryFolder folder("frozen-nothing");
  TrainOptions o = quick_options(folder.path(), 1);
  o.frozen_trunk = true;
  o.exit_weights = {0.0f, 1.0f};
  REQUIRE_THROWS_WITH(train_network(*net, data, normalizer, o),
                      "a frozen trunk trains the branches, but every branch's exit weight is 0");
  o.exit_weights = {};
  o.trunk_epochs = 1;
  REQUIRE_THROWS_WITH(train_network(*net, data, normalizer, o),
                      "a frozen trunk trains the branches alone: no trunk epochs (got 1)");
}
