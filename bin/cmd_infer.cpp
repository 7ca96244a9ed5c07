// branchy infer — one image (a file, or a sample of a dataset) through a model.
#include <stb_image.h>

#include <algorithm>
#include <cstdio>

#include "bin/commands.h"
#include "bin/common.h"
#include "datasets/batcher.h"
#include "engine/loss.h"
#include "engine/threads.h"

namespace branchy {

namespace {

// Reads an image file as (1, C, H, W) floats in [0, 1], C as the model wants.
Tensor read_image_file(const std::string& path, const Shape& want) {
  int width = 0, height = 0, channels_in_file = 0;
  const int channels = static_cast<int>(want[1]);
  unsigned char* pixels = stbi_load(path.c_str(), &width, &height, &channels_in_file, channels);
  if (!pixels) fail(path, ": cannot read image (", stbi_failure_reason(), ")");
  std::unique_ptr<unsigned char, void (*)(void*)> owner(pixels, stbi_image_free);
  BRANCHY_CHECK(height == want[2] && width == want[3], path, ": image is ", width, "x", height,
                " but the model takes ", want[3], "x", want[2]);
  Tensor image = Tensor::uninitialized(want);
  // stb gives interleaved HWC bytes; the model wants CHW floats.
  for (int c = 0; c < channels; ++c)
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x)
        image.at(0, c, y, x) = pixels[(static_cast<int64_t>(y) * width + x) * channels + c] / 255.0f;
  return image;
}

// The predicted and the true class by name, every class's probability and
// every exit's entropy, as text.
void print_prediction(const std::vector<Tensor>& logits, const Tensor& probabilities, int predicted, int true_label,
                      const std::vector<std::string>& class_names) {
  auto class_name = [&](int k) {
    return k >= 0 && k < static_cast<int>(class_names.size()) ? class_names[k] : std::to_string(k);
  };
  std::printf("class %d (%s), probability %.4f", predicted, class_name(predicted).c_str(), probabilities[predicted]);
  if (true_label >= 0) std::printf("; true class %d (%s)", true_label, class_name(true_label).c_str());
  std::printf("\n");
  for (int k = 0; k < probabilities.numel(); ++k)
    std::printf("  %2d %-14s %.4f\n", k, class_name(k).c_str(), probabilities[k]);
  std::printf("exit entropies:");
  for (size_t e = 0; e < logits.size(); ++e) std::printf(" exit%zu %.4f", e, softmax_entropy(logits[e])[0]);
  std::printf("\n");
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
    for (const Json& name : model.info.dataset.at("class_names").elements()) class_names.push_back(name.as_string());
  if (args.image_path) {
    image = read_image_file(*args.image_path, net.sample_shape());
    if (model.info.normalizer) model.info.normalizer->apply(image);
  } else {
    const DatasetSplits data = load_dataset(data_spec_for(args.data, model.info), args.data.split);
    check_data_fits(net, data.test, path);
    const int index = *args.index;
    if (index >= data.test.size())
      throw UsageError("--index " + std::to_string(index) + " is outside the test split (0.." +
                       std::to_string(data.test.size() - 1) + ")");
    image = normalized_images(data.test, index, index + 1,
                              model.info.normalizer ? &*model.info.normalizer : nullptr);
    true_label = data.test.labels[index];
  }

  const std::vector<Tensor> logits = net.forward_exits(image, Mode::eval);
  const Tensor probabilities = softmax(logits.back());
  const int predicted = argmax_row(logits.back(), 0);
  if (args.json) {
    Json out = Json::object();
    out.set("class", predicted);
    if (true_label >= 0) out.set("label", true_label);
    Json probs = Json::array(), exits = Json::array();
    for (int k = 0; k < net.classes(); ++k) probs.push_back(static_cast<double>(probabilities[k]));
    for (const Tensor& l : logits) {
      Json row = Json::array();
      for (int k = 0; k < net.classes(); ++k) row.push_back(static_cast<double>(l[k]));
      exits.push_back(row);
    }
    out.set("probabilities", probs);
    out.set("logits", exits);
    std::printf("%s\n", out.dump().c_str());
    return 0;
  }
  print_prediction(logits, probabilities, predicted, true_label, class_names);
  return 0;
}

}  // namespace branchy
