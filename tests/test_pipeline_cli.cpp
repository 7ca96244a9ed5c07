// The thesis's pipeline through the command line, end to end, on the small
// quadrant task: train, calibrate, fit-predictor (with --test-sweep), eval.
// Each command must succeed and leave what the next one and the reader
// need: thresholds, a predictor with its knob's note, sweep files holding
// both splits.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "formats/json.h"
#include "pipeline/model_file.h"
#include "tests/quadrant_task.h"
#include "tests/temp_folder.h"

using namespace branchy;
using namespace branchy::testing;
namespace fs = std::filesystem;

namespace {

void require_success(const Outcome& o, const std::string& what) {
  INFO(what << " stderr: " << o.err);
  REQUIRE(o.status == 0);
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace

TEST_CASE("cli pipeline: train, calibrate, fit-predictor --test-sweep and eval on the quadrant task", "[cli]") {
  const TemporaryFolder folder("pipeline");
  const std::string data = folder.file("data"), run = folder.file("run");
  write_quadrant_mnist(data);
  const std::string model = run + "/model.safetensors";
  require_success(branchy_run({"train", "--net", "b-lenet", "--config", tiny_b_lenet_config, "--data", "mnist:" + data,
                               "--validation", "64", "--epochs", "3", "--batch", "32", "--lr", "0.003", "--seed", "5",
                               "--threads", "1", "--quiet", "--out", run}),
                  "train");
  // The model keeps its validation split, and calibrate (no --validation) uses it:
  // the default 5000 would leave no training samples out of these 320.
  REQUIRE(json_int(load_model(model).info.dataset, "validation") == 64);
  require_success(branchy_run({"calibrate", model, "--threads", "1"}), "calibrate");
  REQUIRE(load_model(model).info.thresholds.size() == 1);

  require_success(branchy_run({"fit-predictor", model, "--kind", "exit", "--placement", "each", "--epochs", "3",
                               "--max-drop", "0.02", "--test-sweep", "--threads", "1"}),
                  "fit-predictor");
  // The predictor is stored with what each routing's knob was chosen for.
  const LoadedModel fitted = load_model(model);
  REQUIRE(fitted.info.predictors.size() == 1);
  const PredictorSettings& settings = fitted.info.predictors[0]->settings();
  for (bool trust : {true, false}) {
    INFO((trust ? "trust" : "fallback"));
    REQUIRE(settings.choice(trust));
    REQUIRE(settings.choice(trust)->max_drop == 0.02);
  }
  // The sweep file holds the knob grid on validation and again on test,
  // with BranchyNet's own row for each.
  for (const char* policy : {"trust", "fallback"}) {
    const std::vector<std::string> rows = lines_of(run + "/fit_exit-pred_each_" + policy + ".csv");
    INFO(policy);
    REQUIRE(!rows.empty());
    REQUIRE(rows[0] == "split,knob,accuracy,mean_macs,agreement,on_frontier,chosen");
    int validation = 0, test = 0, chosen_on_test = 0;
    for (const std::string& row : rows) {
      validation += row.rfind("validation,", 0) == 0;
      test += row.rfind("test,", 0) == 0;
      chosen_on_test += row.rfind("test,", 0) == 0 && row.back() == '1';
    }
    REQUIRE(validation == 14);  // the grid of a classifier's knob
    REQUIRE(test == validation);
    REQUIRE(chosen_on_test == 1);
    REQUIRE(fs::exists(run + "/fit_exit-pred_each_" + policy + ".svg"));
  }

  require_success(branchy_run({"eval", model, "--policy", "all", "--split", "test", "--json", "--latency-samples", "8",
                               "--threads", "1"}),
                  "eval");
  REQUIRE(fs::exists(run + "/eval_test_latency.svg"));
}
