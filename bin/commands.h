// commands.h — branchy's subcommands and the values their command lines give.
//
// bin/cli.cpp declares every option once (name, type, range, help) and
// fills one of these structs; the command then only computes. Each command
// returns the process exit status, throws UsageError for a value that turns
// out wrong once the model or data is known (exit 2) and Error for a failure
// at run time (exit 1).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "datasets/load.h"
#include "engine/error.h"
#include "pipeline/policy_eval.h"
#include "pipeline/trainer.h"

namespace branchy {

class UsageError : public Error {
 public:
  using Error::Error;
};

// --data, --validation, --limit, --test-limit
struct DataArgs {
  std::optional<std::string> spec;  // unset: the model's own dataset
  SplitOptions split;               // its validation_count: see `validation`
  // --validation N; unset: the split the model was trained with (train: 5000),
  // so that calibration and predictors never see the model's training samples.
  std::optional<int64_t> validation;
};

struct TrainArgs {
  std::string net = "lenet";
  std::string config;  // K=V,... network settings
  DataArgs data{"fashion-mnist", {}, std::nullopt};
  TrainOptions options;  // out_dir empty: runs/NET
  int threads = 1;
};

struct EvalArgs {
  std::string model_path;
  std::vector<std::string> policies = {"full", "branchy"};  // names predictors/policy.h knows, or "all"
  std::optional<std::string> trace_path;  // per-sample audit trail (.csv, else JSON lines)
  std::optional<std::string> plot_prefix; // unset: beside the model, eval_<split>
  std::optional<std::vector<float>> thresholds;  // unset: the model's calibrated ones
  std::string split = "test";
  DataArgs data;
  EvalOptions options;  // throughput_batch, latency_samples, repeats
  bool json = false;
  int threads = 1;
};

struct CalibrateArgs {
  std::string model_path;
  std::optional<std::vector<float>> grid;  // unset: default_threshold_grid()
  double max_drop = 0.005;                 // accuracy the chosen setting may lose
  int latency_samples = 500;
  std::optional<std::string> out_dir;      // unset: the model's folder
  DataArgs data;
  bool dry_run = false;
  int threads = 1;
};

struct InferArgs {
  std::string model_path;
  std::optional<std::string> policy;      // unset: branchy when calibrated, else full
  bool trace = false;                     // print the route as one JSON line
  std::optional<std::string> image_path;  // exactly one of image_path and index
  std::optional<int> index;
  DataArgs data;
  bool json = false;
  int threads = 1;
};

struct InfoArgs {
  std::string model_path;
  int time_calls = 0;  // forward calls per layer timed at batch 1 (0: none)
  int threads = 1;
};

struct FitPredictorArgs {
  std::string model_path;
  std::string kind;                      // entropy | exit | skip
  std::string placement = "each";        // input | first | each
  std::optional<std::string> features;   // unset: grid7 on the input, grid4+max at branch points
  int hidden = 32;
  bool cost_weighted = false;
  double max_drop = 0.005;
  std::string labels = "train";          // train | validation
  int epochs = 20;
  float learning_rate = 2e-3f;
  uint64_t seed = 1;
  std::optional<std::string> out_dir;    // unset: the model's folder
  bool test_sweep = false;               // also sweep the knob on the test split
  DataArgs data;
  bool dry_run = false;
  int threads = 1;
};

int command_train(const TrainArgs& args);
int command_fit_predictor(const FitPredictorArgs& args);
int command_eval(const EvalArgs& args);
int command_calibrate(const CalibrateArgs& args);
int command_infer(const InferArgs& args);
int command_info(const InfoArgs& args);

}  // namespace branchy
