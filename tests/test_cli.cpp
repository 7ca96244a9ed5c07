// Tests of the command line (bin/cli.cpp) run in-process: exit statuses,
// the one-line usage errors, --help, and the shared number-list parser.
// Only `info` on a tiny model runs a command to the end; every other case
// stops at the parser, before any data is loaded.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bin/cli.h"
#include "cli_run.h"
#include "bin/commands.h"
#include "bin/number_list.h"
#include "engine/threads.h"
#include "pipeline/model_file.h"
#include "small_nets.h"

using namespace branchy;
using branchy::testing::branchy_run;
using branchy::testing::Outcome;
using branchy::testing::require_usage_error;
namespace fs = std::filesystem;

namespace {

// A saved small B-LeNet and a file that is no model, removed afterwards.
class ModelFiles {
 public:
  ModelFiles() {
    static int counter = 0;
    folder_ = fs::temp_directory_path() /
              ("branchy-test-cli-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(folder_);
    save_model(model(), *branchy::testing::small_b_lenet(3), ModelInfo{});
    std::ofstream(not_a_model()) << "not a safetensors file";
  }
  ~ModelFiles() {
    std::error_code ignored;
    fs::remove_all(folder_, ignored);
  }
  std::string model() const { return (folder_ / "model.safetensors").string(); }
  std::string not_a_model() const { return (folder_ / "broken.safetensors").string(); }

 private:
  fs::path folder_;
};

// --threads as it is now, so commands run here leave the suite's setting alone.
std::string current_threads() { return std::to_string(num_threads()); }

}  // namespace

TEST_CASE("cli: an unknown option is a usage error naming it", "[cli]") {
  ModelFiles files;
  require_usage_error(branchy_run({"eval", files.model(), "--bogus"}), "eval", "unknown option --bogus");
  // Named even when the model argument is missing too.
  require_usage_error(branchy_run({"eval", "--bogus"}), "eval", "unknown option --bogus");
  require_usage_error(branchy_run({"train", "--epocs", "3"}), "train", "--epocs");
  require_usage_error(branchy_run({"info", files.model(), "surplus"}), "info", "unexpected argument 'surplus'");
}

TEST_CASE("cli: unknown or missing commands and arguments", "[cli]") {
  ModelFiles files;
  Outcome none = branchy_run({});
  REQUIRE(none.status == 2);
  REQUIRE(none.err.rfind("branchy: ", 0) == 0);

  Outcome unknown = branchy_run({"frobnicate"});
  REQUIRE(unknown.status == 2);
  REQUIRE(unknown.err.find("unknown command 'frobnicate'") != std::string::npos);

  require_usage_error(branchy_run({"eval"}), "eval", "MODEL is required");
  require_usage_error(branchy_run({"info", files.model(), "--threads"}), "info", "--threads");
  require_usage_error(branchy_run({"info", files.model() + ".missing"}), "info", "does not exist");
}

TEST_CASE("cli: --threads is range-checked and the message gives the bound", "[cli]") {
  ModelFiles files;
  const std::string bound = "in [1, " + std::to_string(max_threads()) + "]";
  for (const char* command : {"eval", "calibrate", "infer", "info"}) {
    for (const char* threads : {"100000", "0", "-3", "two", "1.5"})
      require_usage_error(branchy_run({command, files.model(), "--threads", threads}), command, "--threads");
  }
  require_usage_error(branchy_run({"train", "--threads", "100000"}), "train", bound);
  require_usage_error(branchy_run({"info", files.model(), "--threads=100000"}), "info", bound);
}

TEST_CASE("cli: bad values of typed options are usage errors", "[cli]") {
  ModelFiles files;
  require_usage_error(branchy_run({"train", "--lr", "0"}), "train", "--lr");
  require_usage_error(branchy_run({"train", "--lr", "nan"}), "train", "--lr");
  require_usage_error(branchy_run({"train", "--momentum", "1"}), "train", "in [0, 1)");
  require_usage_error(branchy_run({"train", "--epochs", "-1"}), "train", "--epochs");
  require_usage_error(branchy_run({"train", "--optimizer", "adagrad"}), "train", "adagrad");
  require_usage_error(branchy_run({"train", "--net", "no-such-net"}), "train", "no-such-net");
  require_usage_error(branchy_run({"eval", files.model(), "--policy", "full,fastest"}), "eval", "fastest");
  require_usage_error(branchy_run({"eval", files.model(), "--split", "train"}), "eval", "--split");
  require_usage_error(branchy_run({"info", files.model(), "--time", "-1"}), "info", "--time");
}

TEST_CASE("cli: a bad number list is a usage error naming the item", "[cli]") {
  ModelFiles files;
  require_usage_error(branchy_run({"eval", files.model(), "--thresholds", "0.5,abc"}), "eval", "'abc'");
  require_usage_error(branchy_run({"eval", files.model(), "--thresholds", "0.5,-1"}), "eval", "-1 is below 0");
  require_usage_error(branchy_run({"calibrate", files.model(), "--grid", "0.1,,0.2"}), "calibrate", "--grid");
  require_usage_error(branchy_run({"train", "--exit-weights", "1,inf"}), "train", "--exit-weights");
}

TEST_CASE("cli: exclusive options are rejected", "[cli]") {
  ModelFiles files;
  require_usage_error(branchy_run({"infer", files.model(), "--image", files.model(), "--index", "3"}), "infer",
                      "excludes");
  // Neither is as wrong as both.
  require_usage_error(branchy_run({"infer", files.model(), "--threads", current_threads()}), "infer",
                      "--image FILE or --index N");
}

TEST_CASE("cli: predictor and policy choices are checked before any work", "[cli]") {
  ModelFiles files;
  const std::string threads = current_threads();
  require_usage_error(branchy_run({"fit-predictor", files.model(), "--threads", threads}), "fit-predictor", "--kind");
  require_usage_error(branchy_run({"fit-predictor", files.model(), "--kind", "guess", "--threads", threads}),
                      "fit-predictor", "--kind");
  require_usage_error(
      branchy_run({"fit-predictor", files.model(), "--kind", "skip", "--placement", "first", "--threads", threads}),
      "fit-predictor", "each branch point");
  require_usage_error(
      branchy_run({"fit-predictor", files.model(), "--kind", "exit", "--features", "grid4+median", "--threads", threads}),
      "fit-predictor", "unknown part 'median'");
  require_usage_error(branchy_run({"eval", files.model(), "--policy", "full,psychic", "--threads", threads}), "eval",
                      "no policy 'psychic'");
  // A model without calibrated thresholds has nothing to predict: a run-time error naming the file.
  const Outcome uncalibrated =
      branchy_run({"fit-predictor", files.model(), "--kind", "exit", "--placement", "first", "--threads", threads});
  INFO("stderr: " << uncalibrated.err);
  REQUIRE(uncalibrated.status == 1);
  REQUIRE(uncalibrated.err.find("no calibrated thresholds") != std::string::npos);
  REQUIRE(uncalibrated.err.find(files.model()) != std::string::npos);
}

TEST_CASE("cli: --help exits 0 and lists the options", "[cli]") {
  const Outcome top = branchy_run({"--help"});
  REQUIRE(top.status == 0);
  REQUIRE(top.err.empty());
  for (const char* command : {"train", "eval", "infer", "info", "calibrate", "fit-predictor"})
    REQUIRE(top.out.find(command) != std::string::npos);
  REQUIRE(branchy_run({"help"}).status == 0);

  const Outcome eval = branchy_run({"eval", "--help"});
  REQUIRE(eval.status == 0);
  for (const char* option : {"MODEL", "--policy", "--thresholds", "--split", "--data", "--threads", "--json"})
    REQUIRE(eval.out.find(option) != std::string::npos);
  const Outcome train = branchy_run({"train", "--help"});
  REQUIRE(train.status == 0);
  for (const char* option : {"--net", "--epochs", "--lr", "--exit-weights", "--threads", "--resume", "b-lenet"})
    REQUIRE(train.out.find(option) != std::string::npos);
}

TEST_CASE("cli: a run-time failure exits 1, a good run 0", "[cli]") {
  ModelFiles files;
  const Outcome broken = branchy_run({"info", files.not_a_model(), "--threads", current_threads()});
  INFO("stderr: " << broken.err);
  REQUIRE(broken.status == 1);
  REQUIRE(broken.err.rfind("branchy info: error: ", 0) == 0);

  const Outcome info = branchy_run({"info", files.model(), "--threads", current_threads()});
  INFO("stderr: " << info.err);
  REQUIRE(info.status == 0);
  REQUIRE(info.err.empty());
}

TEST_CASE("parse_number_list: the one parser of comma-separated numbers", "[cli]") {
  REQUIRE(parse_number_list<float>("0.5,0.75", 0.0f) == std::vector<float>{0.5f, 0.75f});
  REQUIRE(parse_number_list<float>("1e-4", 0.0f) == std::vector<float>{1e-4f});
  REQUIRE(parse_number_list<float>("", 0.0f).empty());
  REQUIRE(parse_number_list<int>("3,-2,7", -5) == std::vector<int>{3, -2, 7});
  REQUIRE_THROWS_WITH(parse_number_list<float>("0.5,x", 0.0f), "'x' is not a finite number");
  REQUIRE_THROWS_WITH(parse_number_list<float>("0.5,-0.1", 0.0f), "-0.1 is below 0");
  REQUIRE_THROWS_WITH(parse_number_list<float>("1,,2", 0.0f), "empty item in the list");
  REQUIRE_THROWS_WITH(parse_number_list<float>("1,", 0.0f), "empty item in the list");
  REQUIRE_THROWS_WITH(parse_number_list<float>("nan", 0.0f), "'nan' is not a finite number");
  REQUIRE_THROWS_WITH(parse_number_list<float>("1e39", 0.0f), "'1e39' is not a finite number");
  REQUIRE_THROWS_WITH(parse_number_list<int>("2.5", 0), "'2.5' is not an integer");
  REQUIRE_THROWS_WITH(parse_number_list<int>("99999999999", 0), "'99999999999' is not an integer");
  REQUIRE_THROWS_AS(parse_number_list<float>("1;2", 0.0f), UsageError);
}
