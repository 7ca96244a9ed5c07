// common.h — what several subcommands share: loading their data and opening
// a model.
#pragma once

#include <string>

#include "bin/commands.h"
#include "datasets/dataset.h"
#include "datasets/load.h"
#include "formats/json.h"
#include "pipeline/model_file.h"

namespace branchy {

// The dataset's spec and class names, as stored in a model's metadata.
// What a model file keeps of its data: the spec, the class names and the
// validation split it was trained with.
Json dataset_info(const std::string& spec, const DatasetSplits& data, const SplitOptions& split);

// --data if given, else the dataset the model was trained on, else "fashion-mnist".
std::string data_spec_for(const DataArgs& args, const ModelInfo& info);
// The split to load for a model: --validation when given, else the model's own
// (a model from before it was stored: 5000). `info` null: training, 5000.
SplitOptions split_for(const DataArgs& args, const ModelInfo* info);

// Checks the data fits the model's input and classes; Error naming both otherwise.
void check_data_fits(const BranchyNet& net, const Dataset& data, const std::string& model_path);

// Checks, before any work, that `folder` (what `flag` names) is an existing
// folder a file can be written into; UsageError naming the flag otherwise,
// so that a typo fails at once rather than after a sweep or an evaluation.
void check_output_folder(const std::string& folder, const std::string& flag);

// The same for the folder that will hold the file `path`.
void check_output_file(const std::string& path, const std::string& flag);

}  // namespace branchy
