// branchy infer — one image (a file, or a sample of a dataset) through a model.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "bin/commands.h"
#include "bin/common.h"
#include "datasets/batcher.h"
#include "datasets/image_file.h"
#include "engine/loss.h"
#include "engine/threads.h"
#include "pipeline/route_trace.h"
#include "predictors/policy.h"
#include "report/table.h"

namespace branchy {

namespace {

// Reads an image file as (1, C, H, W) floats in [0, 1], C as the model wants;
// its declared size is checked against the model's before it is decoded.
Tensor read_image_as_input(const std::string& path, const Shape& want) {
  const ImageFile file = read_image_file(path);
  BRANCHY_CHECK(file.header.height == want[2] && file.header.width == want[3], path, ": image is ",
                file.header.width, "x", file.header.height, " but the model takes ", want[3], "x", want[2]);
  const int channels = static_cast<int>(want[1]);
  const DecodedImage decoded = decode_image(file, channels);
  Tensor image = Tensor::uninitialized(want);
  // Interleaved (H, W, C) bytes become the model's (C, H, W) floats.
  for (int c = 0; c < channels; ++c)
    for (int y = 0; y < decoded.height; ++y)
      for (int x = 0; x < decoded.width; ++x)
        image.at(0, c, y, x) = decoded.pixels[(static_cast<int64_t>(y) * decoded.width + x) * channels + c] / 255.0f;
  return image;
}

// The policy that routes the image: --policy, else branchy when calibrated, else full.
Policy infer_policy(const InferArgs& args, BranchyNet& net, const ModelInfo& info) {
  const std::string name = args.policy.value_or(info.thresholds.empty() ? "full" : "branchy");
  try {
    return policies_by_name({name}, net, info.thresholds, info.predictor_pointers()).front();
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
}

// The route as a reader follows it: what ran, what each decision saw, where it left.
void print_route(const BranchyNet& net, const Json& trace, const std::vector<float>& thresholds) {
  std::printf("policy %s:", json_string(trace, "policy").c_str());
  const int exit = static_cast<int>(json_int(trace, "exit"));
  for (const auto& [point, scores] : trace.at("scores").items()) {
    std::printf(" %s predictor [", point.c_str());
    for (size_t k = 0; k < scores.size(); ++k) std::printf("%s%.3f", k ? " " : "", json_double(scores.at(k)));
    std::printf("];");
  }
  std::printf(" stages 0..%d ran;", exit);
  if (trace.at("entropies").size() == 0) std::printf(" no branch tried;");
  for (const Json& e : trace.at("entropies")) {
    const int b = static_cast<int>(json_int(e, "branch"));
    const double h = e.at("entropy").is_null() ? std::nan("") : json_double(e, "entropy");
    std::printf(" branch %d entropy %.4f %s threshold %.4f%s;", b, h, h < thresholds[b] ? "<" : ">=",
                static_cast<double>(thresholds[b]), b == exit ? " (left here)" : "");
  }
  std::printf(" exit %d of %d, %s MACs (the full trunk: %s)\n", exit, net.num_exits() - 1,
              format_count(json_int(trace, "macs")).c_str(), format_count(net.full_macs()).c_str());
}

void print_prediction(const Tensor& probabilities, int predicted, int true_label,
                      const std::vector<std::string>& class_names) {
  auto class_name = [&](int k) {
    return k >= 0 && k < static_cast<int>(class_names.size()) ? class_names[k] : std::to_string(k);
  };
  std::printf("class %d (%s), probability %.4f", predicted, class_name(predicted).c_str(), probabilities[predicted]);
  if (true_label >= 0) std::printf("; true class %d (%s)", true_label, class_name(true_label).c_str());
  std::printf("\n");
  for (int k = 0; k < probabilities.numel(); ++k)
    std::printf("  %2d %-14s %.4f\n", k, class_name(k).c_str(), probabilities[k]);
}

}  // namespace

int command_infer(const InferArgs& args) {
  if (!args.image_path && !args.index) throw UsageError("give --image FILE or --index N");
  set_num_threads(args.threads);
  const std::string& path = args.model_path;
  LoadedModel model = load_model(path);
  BranchyNet& net = *model.net;

  Tensor image;
  int true_label = -1;
  std::vector<std::string> class_names;
  if (model.info.dataset.contains("class_names"))
    for (const Json& name : model.info.dataset.at("class_names")) class_names.push_back(json_string(name));
  if (args.image_path) {
    image = read_image_as_input(*args.image_path, net.sample_shape());
    if (model.info.normalizer) model.info.normalizer->apply(image);
  } else {
    const DatasetSplits data = load_dataset(data_spec_for(args.data, model.info), split_for(args.data, &model.info));
    check_data_fits(net, data.test, path);
    const int index = *args.index;
    if (index >= data.test.size())
      throw UsageError("--index " + std::to_string(index) + " is outside the test split (0.." +
                       std::to_string(data.test.size() - 1) + ")");
    image = normalized_images(data.test, index, index + 1,
                              model.info.normalizer ? &*model.info.normalizer : nullptr);
    true_label = data.test.labels[index];
  }

  Policy policy = infer_policy(args, net, model.info);
  if (policy.prepare) policy.prepare(image);
  const RouteResult route = policy.run(image, 0, true);
  const Tensor probabilities = softmax(route.logits);  // (1, classes) of the exit taken
  const int predicted = route.prediction[0];
  const Json trace = route_trace_json(policy.name, args.index.value_or(-1), true_label, route, 0, model.info.thresholds);
  if (args.json || args.trace) {
    Json out = trace;
    Json probs = Json::array();
    for (int k = 0; k < net.classes(); ++k) probs.push_back(static_cast<double>(probabilities[k]));
    out["probabilities"] = probs;
    std::printf("%s\n", dump_json(out).c_str());
    return 0;
  }
  print_prediction(probabilities, predicted, true_label, class_names);
  print_route(net, trace, model.info.thresholds);
  return 0;
}

}  // namespace branchy
