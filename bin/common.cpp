#include "bin/common.h"

#include <thread>

#include "engine/threads.h"

namespace branchy {

void add_data_options(ArgParser& args, const std::string& default_spec) {
  args.option("data", "SPEC", default_spec,
              "dataset: fashion-mnist, DIR or mnist:DIR (idx files), cifar10:DIR, cifar100:DIR, folder:DIR");
  args.option("validation", "N", "5000", "training samples held out (the last N) for validation");
  args.option("limit", "N", "0", "use only the first N training samples (0: all)");
  args.option("test-limit", "N", "0", "use only the first N test samples (0: all)");
}

DatasetSplits load_data_from(const ArgParser& args, const std::string& spec) {
  SplitOptions split;
  split.validation_count = args.get_int("validation");
  split.train_limit = args.get_int("limit");
  split.test_limit = args.get_int("test-limit");
  if (split.validation_count < 0 || split.train_limit < 0 || split.test_limit < 0)
    throw UsageError("--validation, --limit and --test-limit must not be negative");
  return load_dataset(spec, split);
}

Json dataset_info(const std::string& spec, const DatasetSplits& data) {
  Json info = Json::object();
  info["spec"] = spec;
  info["class_names"] = data.test.class_names;
  return info;
}

void add_thread_option(ArgParser& args) {
  args.option("threads", "N", std::to_string(std::max(1u, std::thread::hardware_concurrency())),
              "threads to compute with");
}

void apply_thread_option(const ArgParser& args) {
  const int threads = args.get_int("threads");
  if (threads < 1) throw UsageError("--threads must be at least 1");
  set_num_threads(threads);
}

std::string model_dataset_spec(const ModelInfo& info) {
  return json_string(info.dataset, "spec", "fashion-mnist");
}

void check_data_fits(const BranchyNet& net, const Dataset& data, const std::string& model_path) {
  BRANCHY_CHECK(data.sample_shape() == net.sample_shape(), model_path, ": the model takes inputs ",
                net.sample_shape().str(), " but ", data.name, " has ", data.sample_shape().str());
  BRANCHY_CHECK(data.num_classes == net.classes(), model_path, ": the model has ", net.classes(),
                " classes but ", data.name, " has ", data.num_classes);
}

}  // namespace branchy
