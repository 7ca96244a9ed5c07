#include "bin/common.h"

#include <unistd.h>

#include <filesystem>

namespace branchy {

Json dataset_info(const std::string& spec, const DatasetSplits& data, const SplitOptions& split) {
  Json info = Json::object();
  info["spec"] = spec;
  info["validation"] = split.validation_count;
  Json names = Json::array();
  for (const std::string& name : data.test.class_names) names.push_back(name);
  info["class_names"] = names;
  return info;
}

std::string data_spec_for(const DataArgs& args, const ModelInfo& info) {
  return args.spec ? *args.spec : json_string(info.dataset, "spec", "fashion-mnist");
}

SplitOptions split_for(const DataArgs& args, const ModelInfo* info) {
  SplitOptions split = args.split;
  if (args.validation) {
    split.validation_count = *args.validation;
  } else if (info && info->dataset.contains("validation")) {
    split.validation_count = json_int(info->dataset, "validation");
    BRANCHY_CHECK(split.validation_count >= 0, "the model's dataset entry has validation ", split.validation_count);
  }
  return split;
}

void check_data_fits(const BranchyNet& net, const Dataset& data, const std::string& model_path) {
  BRANCHY_CHECK(data.sample_shape() == net.sample_shape(), model_path, ": the model takes inputs ",
                net.sample_shape().str(), " but ", data.name, " has ", data.sample_shape().str());
  BRANCHY_CHECK(data.num_classes == net.classes(), model_path, ": the model has ", net.classes(),
                " classes but ", data.name, " has ", data.num_classes);
}

void check_output_folder(const std::string& folder, const std::string& flag) {
  const std::string shown = folder.empty() ? "." : folder;
  std::error_code error;
  if (!std::filesystem::is_directory(shown, error))
    throw UsageError(flag + " " + shown + ": no such folder");
  if (access(shown.c_str(), W_OK) != 0) throw UsageError(flag + " " + shown + ": the folder is not writable");
}

void check_output_file(const std::string& path, const std::string& flag) {
  check_output_folder(std::filesystem::path(path).parent_path().string(), flag);
}

}  // namespace branchy
