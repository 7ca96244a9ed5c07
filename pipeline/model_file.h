// model_file.h — a trained model on disk: one safetensors file.
//
// Tensors: every Param of the network by its dotted name; for a resumable
// training checkpoint also the optimizer's state ("optimizer.<param>.<what>").
// Metadata (all strings, JSON where structured):
//   branchy.format  "1"
//   net             network name, e.g. "b-lenet"
//   config          the full network settings (JSON object): rebuilds the net
//   normalizer      {"mean": [...], "std": [...]} per input channel
//   thresholds      entropy threshold per branch (JSON array), once calibrated
//   training        {"epoch": completed epochs, "seed": ..., ...}
//   dataset         the dataset spec it was trained on, class_names
//   predictors      a JSON array of predictor settings (predictors/predictor.h);
//                   their tensors are "predictor.<kind>.<placement>.*"
// Loading checks the file is ours, that its data match their checksums
// (formats/tensor_checksums.h), and that every tensor fits the rebuilt
// network: none missing, none extra, by name. A foreign or damaged file is
// one Error naming the path.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "datasets/normalizer.h"
#include "formats/checkpoint.h"
#include "formats/json.h"
#include "engine/optimizer.h"
#include "nets/branchy_net.h"
#include "predictors/predictor.h"

namespace branchy {

struct ModelInfo {
  std::optional<Normalizer> normalizer;
  std::vector<float> thresholds;  // one per branch; empty until calibrated
  Json training = Json::object();
  Json dataset = Json::object();
  Json extra = Json::object();    // other sections by key
  // At most one per kind and placement; replace_predictor keeps it so.
  std::vector<std::shared_ptr<Predictor>> predictors;

  // Adds `predictor`, replacing one of the same kind and placement.
  void replace_predictor(std::shared_ptr<Predictor> predictor);
  std::vector<Predictor*> predictor_pointers() const;
};

struct LoadedModel {
  std::unique_ptr<BranchyNet> net;
  ModelInfo info;
  Checkpoint checkpoint;  // the raw file, for optimizer state
};

// Writes atomically (temporary file, then rename). optimizer may be null.
void save_model(const std::string& path, BranchyNet& net, const ModelInfo& info, Optimizer* optimizer = nullptr);

LoadedModel load_model(const std::string& path);

// Copies optimizer state stored by save_model back into `optimizer`. Fails
// naming the file and the first optimizer tensor missing from it, of another
// shape, or in it but not the optimizer's.
void restore_optimizer(const Checkpoint& checkpoint, Optimizer& optimizer, const std::string& path);

}  // namespace branchy
