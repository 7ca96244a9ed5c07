#include "pipeline/model_file.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "nets/registry.h"

namespace branchy {

namespace {

constexpr const char* optimizer_prefix = "optimizer.";

constexpr const char* predictor_prefix = "predictor.";

// Values a network or predictor may allocate beyond the tensors a file holds
// for it: buffers that are not parameters (1M floats, 4 MB).
constexpr int64_t build_slack_values = int64_t{1} << 20;

int64_t value_count(const Checkpoint& checkpoint) {
  int64_t count = 0;
  for (const NamedTensor& t : checkpoint.tensors) count += t.tensor.numel();
  return count;
}

bool is_optimizer_tensor(const std::string& name) { return name.rfind(optimizer_prefix, 0) == 0; }
bool is_predictor_tensor(const std::string& name) { return name.rfind(predictor_prefix, 0) == 0; }

Json floats_to_json(const std::vector<float>& values) {
  Json array = Json::array();
  for (float v : values) array.push_back(static_cast<double>(v));
  return array;
}

std::vector<float> json_to_floats(const Json& array, const std::string& what) {
  BRANCHY_CHECK(array.is_array(), what, " must be a JSON array");
  std::vector<float> values;
  for (const Json& v : array) values.push_back(static_cast<float>(json_double(v)));
  return values;
}

const std::string& metadata_entry(const Checkpoint& checkpoint, const std::string& key, const std::string& path) {
  auto it = checkpoint.metadata.find(key);
  BRANCHY_CHECK(it != checkpoint.metadata.end(), path, ": not a branchy model (no '", key, "' in its metadata)");
  return it->second;
}

Json parse_metadata_json(const Checkpoint& checkpoint, const std::string& key, const std::string& path) {
  return parse_json(metadata_entry(checkpoint, key, path), path + " metadata '" + key + "'");
}

}  // namespace

// Rebuilds the predictors the metadata lists and loads their tensors; a
// predictor tensor that no listed predictor owns is an error naming it.
void load_predictors(const Checkpoint& checkpoint, const std::string& path, const BranchyNet& net, ModelInfo& info) {
  if (!checkpoint.metadata.count("predictors")) {
    for (const NamedTensor& t : checkpoint.tensors)
      BRANCHY_CHECK(!is_predictor_tensor(t.name), path, ": tensor '", t.name,
                    "' belongs to a predictor but the metadata lists none");
    return;
  }
  const Json list = parse_metadata_json(checkpoint, "predictors", path);
  BRANCHY_CHECK(list.is_array(), path, ": metadata 'predictors' must be a JSON array");
  std::vector<std::string> owned;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = path + " predictor " + std::to_string(i);
    Rng rng(1);
    auto predictor = std::make_shared<Predictor>(net, PredictorSettings::from_json(list[i], where), rng);
    const std::string prefix = predictor->param_prefix();
    BRANCHY_CHECK(std::find(owned.begin(), owned.end(), prefix) == owned.end(), where, ": a second ",
                  predictor->name(), " predictor");
    owned.push_back(prefix);
    Checkpoint mine;
    for (const NamedTensor& t : checkpoint.tensors)
      if (t.name.rfind(prefix, 0) == 0) mine.tensors.push_back(t);
    load_params(mine, predictor->named_params(), path);
    info.predictors.push_back(std::move(predictor));
  }
  for (const NamedTensor& t : checkpoint.tensors)
    BRANCHY_CHECK(!is_predictor_tensor(t.name) ||
                      std::any_of(owned.begin(), owned.end(),
                                  [&](const std::string& prefix) { return t.name.rfind(prefix, 0) == 0; }),
                  path, ": tensor '", t.name, "' belongs to no predictor the metadata lists");
}

void ModelInfo::replace_predictor(std::shared_ptr<Predictor> predictor) {
  for (auto& p : predictors)
    if (p->name() == predictor->name()) {
      p = std::move(predictor);
      return;
    }
  predictors.push_back(std::move(predictor));
}

std::vector<Predictor*> ModelInfo::predictor_pointers() const {
  std::vector<Predictor*> pointers;
  for (const auto& p : predictors) pointers.push_back(p.get());
  return pointers;
}

// The metadata sections of a loaded model (after its network is rebuilt).
void read_model_info(const Checkpoint& checkpoint, const std::string& path, const BranchyNet& net, ModelInfo& info);

void save_model(const std::string& path, BranchyNet& net, const ModelInfo& info, Optimizer* optimizer) {
  std::vector<NamedTensor> tensors = params_to_tensors(net.named_params());
  std::map<std::string, std::string> metadata;
  metadata["branchy.format"] = "1";
  metadata["net"] = net.name();
  metadata["config"] = dump_json(net.config());
  if (info.normalizer) {
    Json normalizer = Json::object();
    normalizer["mean"] = floats_to_json(info.normalizer->mean());
    normalizer["std"] = floats_to_json(info.normalizer->stddev());
    metadata["normalizer"] = dump_json(normalizer);
  }
  metadata["thresholds"] = dump_json(floats_to_json(info.thresholds));
  metadata["training"] = dump_json(info.training);
  metadata["dataset"] = dump_json(info.dataset);
  for (const auto& [key, value] : info.extra.items()) metadata[key] = dump_json(value);
  if (!info.predictors.empty()) {
    Json settings = Json::array();
    for (const auto& p : info.predictors) {
      settings.push_back(p->settings().to_json());
      for (const NamedTensor& t : params_to_tensors(p->named_params())) tensors.push_back(t);
    }
    metadata["predictors"] = dump_json(settings);
  }
  if (optimizer) {
    for (auto& [name, tensor] : optimizer->state_tensors()) tensors.push_back({name, *tensor});
    Tensor steps(Shape{1});
    steps[0] = static_cast<float>(optimizer->steps_taken());
    tensors.push_back({"optimizer.steps_taken", steps});
  }
  save_safetensors(path, tensors, metadata);
}

LoadedModel load_model(const std::string& path) {
  LoadedModel loaded;
  loaded.checkpoint = load_safetensors(path);
  const Checkpoint& checkpoint = loaded.checkpoint;
  const std::string& format = metadata_entry(checkpoint, "branchy.format", path);
  BRANCHY_CHECK(format == "1", path, ": branchy model format '", format, "' is not supported (this build reads 1)");
  const std::string& net_name = metadata_entry(checkpoint, "net", path);
  const Json config = parse_metadata_json(checkpoint, "config", path);
  Checkpoint weights;
  int64_t predictor_values = 0;
  for (const NamedTensor& t : checkpoint.tensors) {
    if (is_predictor_tensor(t.name)) predictor_values += t.tensor.numel();
    if (!is_optimizer_tensor(t.name) && !is_predictor_tensor(t.name)) weights.tensors.push_back(t);
  }
  try {
    // The network the settings describe holds what the file holds, so it may
    // not allocate more (plus room for a few non-parameter buffers): settings
    // that ask for a bigger network fail here, before gigabytes are taken.
    TensorBudget budget(value_count(weights) + build_slack_values, "the network its settings describe");
    loaded.net = rebuild_network(net_name, config);
  } catch (const Error& e) {
    fail(path, ": cannot rebuild its network: ", e.what());
  }
  load_params(weights, loaded.net->named_params(), path);
  {
    TensorBudget budget(predictor_values + build_slack_values, path + ": the predictors its metadata lists");
    load_predictors(checkpoint, path, *loaded.net, loaded.info);
  }

  try {
    read_model_info(checkpoint, path, *loaded.net, loaded.info);
  } catch (const Error& e) {
    const std::string message = e.what();
    if (message.rfind(path, 0) == 0) throw;
    fail(path, ": ", message);
  }
  return loaded;
}

void read_model_info(const Checkpoint& checkpoint, const std::string& path, const BranchyNet& net, ModelInfo& info) {
  if (checkpoint.metadata.count("normalizer")) {
    const Json n = parse_metadata_json(checkpoint, "normalizer", path);
    info.normalizer = Normalizer(json_to_floats(json_member(n, "mean"), path + " normalizer mean"),
                                 json_to_floats(json_member(n, "std"), path + " normalizer std"));
    BRANCHY_CHECK(info.normalizer->channels() == net.sample_shape()[1], path, ": normalizer of ",
                  info.normalizer->channels(), " channels for a network taking ", net.sample_shape()[1]);
  }
  if (checkpoint.metadata.count("thresholds"))
    info.thresholds = json_to_floats(parse_metadata_json(checkpoint, "thresholds", path), path + " thresholds");
  BRANCHY_CHECK(info.thresholds.empty() || static_cast<int>(info.thresholds.size()) == net.num_exits() - 1,
                path, ": ", info.thresholds.size(), " thresholds for ", net.num_exits() - 1, " branches");
  for (float t : info.thresholds)  // the same rule as --thresholds on the command line
    BRANCHY_CHECK(std::isfinite(t) && t >= 0, path, ": threshold ", t, " is not a non-negative number");
  if (checkpoint.metadata.count("training")) info.training = parse_metadata_json(checkpoint, "training", path);
  if (checkpoint.metadata.count("dataset")) info.dataset = parse_metadata_json(checkpoint, "dataset", path);
  BRANCHY_CHECK(info.training.is_object() && info.dataset.is_object(), path,
                ": metadata 'training' and 'dataset' must be JSON objects");
  json_int(info.training, "epoch", 0);  // type-checked here, with the path
  json_string(info.dataset, "spec", "");
  for (const auto& entry : checkpoint.metadata) {  // (clang 14 cannot capture a structured binding)
    const std::string& key = entry.first;
    static const char* known[] = {"branchy.format", "net",     "config",     "normalizer",
                                  "thresholds",     "training", "dataset", "predictors"};
    if (std::none_of(std::begin(known), std::end(known), [&](const char* k) { return key == k; }))
      info.extra[key] = parse_json(entry.second, path + " metadata '" + key + "'");
  }
}

void restore_optimizer(const Checkpoint& checkpoint, Optimizer& optimizer, const std::string& path) {
  constexpr const char* steps_name = "optimizer.steps_taken";
  const std::vector<OptimizerStateTensor> state = optimizer.state_tensors();
  // Every optimizer tensor in the file must have a place, or the run would
  // resume with state it silently dropped.
  for (const NamedTensor& t : checkpoint.tensors)
    BRANCHY_CHECK(!is_optimizer_tensor(t.name) || t.name == steps_name ||
                      std::any_of(state.begin(), state.end(), [&](const auto& s) { return s.first == t.name; }),
                  path, ": optimizer state '", t.name, "' belongs to no parameter this optimizer steps");
  for (const auto& [name, tensor] : state) {
    const Tensor* stored = checkpoint.find(name);
    BRANCHY_CHECK(stored, path, ": no optimizer state '", name, "' (was it saved by another optimizer?)");
    BRANCHY_CHECK(stored->shape() == tensor->shape(), path, ": optimizer state '", name, "' has shape ",
                  stored->shape().str(), ", expected ", tensor->shape().str());
    std::memcpy(tensor->data(), stored->data(), sizeof(float) * tensor->numel());
  }
  const Tensor* steps = checkpoint.find(steps_name);
  BRANCHY_CHECK(steps && steps->numel() == 1, path, ": no optimizer step count");
  optimizer.set_steps_taken(static_cast<int64_t>((*steps)[0]));
}

}  // namespace branchy
