// common.h — what several subcommands share: the data flags, threads, and
// opening a model.
#pragma once

#include <string>

#include "bin/args.h"
#include "datasets/dataset.h"
#include "datasets/load.h"
#include "formats/json.h"
#include "pipeline/model_file.h"

namespace branchy {

// --data, --validation, --limit, --test-limit
void add_data_options(ArgParser& args, const std::string& default_spec);
DatasetSplits load_data_from(const ArgParser& args, const std::string& spec);
// The dataset's spec and class names, as stored in a model's metadata.
Json dataset_info(const std::string& spec, const DatasetSplits& data);

// --threads N (default: every core); applies it.
void add_thread_option(ArgParser& args);
void apply_thread_option(const ArgParser& args);

// The dataset spec a model was trained on, or "fashion-mnist".
std::string model_dataset_spec(const ModelInfo& info);

// Checks the data fits the model's input and classes; Error naming both otherwise.
void check_data_fits(const BranchyNet& net, const Dataset& data, const std::string& model_path);

}  // namespace branchy
