// branchy infer — one image (a file, or a sample of a dataset) through a model.
#include <stb_image.h>

#include <algorithm>
#include <cstdio>

#include "bin/commands.h"
#include "bin/common.h"
#include "datasets/batcher.h"
#include "engine/loss.h"

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

}  // namespace

int command_infer(int argc, char** argv) {
  ArgParser args("infer", "Classifies one image file, or one sample of a dataset, and prints class probabilities.");
  args.positional("MODEL", "a .safetensors model");
  args.option("image", "FILE", "", "a PNG/JPEG/BMP/PGM file of the model's size");
  args.option("index", "N", "", "a sample of the dataset's test split instead of --image");
  add_data_options(args, "");
  args.flag("json", "print class, probabilities and every exit's logits as one JSON object");
  if (!args.parse(argc, argv)) return 0;
  if (args.given("image") == args.given("index")) throw UsageError("give exactly one of --image and --index");
  const std::string path = args.get("MODEL");
  LoadedModel model = load_model(path);
  BranchyNet& net = *model.net;

  Tensor image;
  int true_label = -1;
  std::vector<std::string> class_names;
  if (model.info.dataset.contains("class_names")) {
    const Json& names = model.info.dataset["class_names"];
    BRANCHY_CHECK(names.is_array(), path, ": dataset class_names must be an array, got ", json_type_name(names));
    for (const Json& name : names) class_names.push_back(json_string(name));
  }
  if (args.given("image")) {
    image = read_image_file(args.get("image"), net.sample_shape());
    if (model.info.normalizer) model.info.normalizer->apply(image);
  } else {
    const std::string spec = args.given("data") ? args.get("data") : model_dataset_spec(model.info);
    const DatasetSplits data = load_data_from(args, spec);
    check_data_fits(net, data.test, path);
    const int index = args.get_int("index");
    if (index < 0 || index >= data.test.size())
      throw UsageError("--index " + std::to_string(index) + " is outside the test split (0.." +
                       std::to_string(data.test.size() - 1) + ")");
    image = normalized_images(data.test, index, index + 1,
                              model.info.normalizer ? &*model.info.normalizer : nullptr);
    true_label = data.test.labels[index];
  }

  const std::vector<Tensor> logits = net.forward_exits(image, Mode::eval);
  const Tensor probabilities = softmax(logits.back());
  const int predicted = argmax_row(logits.back(), 0);
  if (args.given("json")) {
    Json out = Json::object();
    out["class"] = predicted;
    if (true_label >= 0) out["label"] = true_label;
    Json probs = Json::array(), exits = Json::array();
    for (int k = 0; k < net.classes(); ++k) probs.push_back(static_cast<double>(probabilities[k]));
    for (const Tensor& l : logits) {
      Json row = Json::array();
      for (int k = 0; k < net.classes(); ++k) row.push_back(static_cast<double>(l[k]));
      exits.push_back(row);
    }
    out["probabilities"] = probs;
    out["logits"] = exits;
    std::printf("%s\n", dump_json(out).c_str());
    return 0;
  }
  auto class_name = [&](int k) {
    return k >= 0 && k < static_cast<int>(class_names.size()) ? class_names[k] : std::to_string(k);
  };
  std::printf("class %d (%s), probability %.4f", predicted, class_name(predicted).c_str(), probabilities[predicted]);
  if (true_label >= 0) std::printf("; true class %d (%s)", true_label, class_name(true_label).c_str());
  std::printf("\n");
  for (int k = 0; k < net.classes(); ++k) std::printf("  %2d %-14s %.4f\n", k, class_name(k).c_str(), probabilities[k]);
  const std::vector<float> entropies = [&] {
    std::vector<float> all;
    for (const Tensor& l : logits) all.push_back(softmax_entropy(l)[0]);
    return all;
  }();
  std::printf("exit entropies:");
  for (size_t e = 0; e < entropies.size(); ++e) std::printf(" exit%zu %.4f", e, entropies[e]);
  std::printf("\n");
  return 0;
}

}  // namespace branchy
