// branchy train — trains a network and reports it on the test split.
#include <cmath>
#include <cstdio>

#include "bin/commands.h"
#include "bin/common.h"
#include "datasets/normalizer.h"
#include "pipeline/exit_outputs.h"
#include "nets/registry.h"
#include "pipeline/trainer.h"

namespace branchy {

namespace {

std::string network_list() {
  std::string s;
  for (const NetworkEntry& e : network_catalogue()) s += std::string(s.empty() ? "" : ", ") + e.name;
  return s;
}

std::vector<float> parse_weights(const ArgParser& args) {
  std::vector<float> weights;
  for (const std::string& item : args.get_list("exit-weights")) {
    char* end = nullptr;
    const float w = std::strtof(item.c_str(), &end);
    if (*end != '\0' || !(w >= 0.0f) || !std::isfinite(w))
      throw UsageError("--exit-weights wants finite non-negative numbers, got '" + item + "'");
    weights.push_back(w);
  }
  return weights;
}

}  // namespace

int command_train(int argc, char** argv) {
  ArgParser args("train", "Trains a network on a dataset; writes the run folder (model, log, plot).");
  args.option("net", "NAME", "lenet", "network: " + network_list());
  args.option("config", "K=V,...", "", "network settings, e.g. depth=20,branch0_width=16 (see docs/NETWORKS.md)");
  add_data_options(args, "fashion-mnist");
  args.option("epochs", "N", "10", "joint training epochs");
  args.option("trunk-epochs", "N", "0", "epochs training the trunk alone first");
  args.option("batch", "N", "64", "batch size");
  args.option("optimizer", "NAME", "adam", "adam or sgd");
  args.option("lr", "RATE", "0.001", "learning rate");
  args.option("momentum", "M", "0.9", "sgd momentum");
  args.flag("nesterov", "sgd with Nesterov momentum");
  args.option("weight-decay", "W", "0", "L2 weight decay");
  args.option("schedule", "SPEC", "constant", "lr schedule: constant, step:N:G, multistep:A,B:G, cosine[:MIN]");
  args.option("exit-weights", "W,...", "", "loss weight of each exit (default 1 each)");
  args.option("crop", "PIXELS", "0", "random-crop augmentation padding");
  args.flag("flip", "random horizontal flips");
  args.option("seed", "N", "1", "seed of weights, order and augmentation");
  add_thread_option(args);
  args.option("out", "DIR", "", "run folder (default runs/NET)");
  args.flag("resume", "continue from OUT/last.safetensors");
  args.flag("quiet", "no progress bars");
  if (!args.parse(argc, argv)) return 0;
  apply_thread_option(args);

  TrainOptions options;
  options.epochs = args.get_int("epochs");
  options.trunk_epochs = args.get_int("trunk-epochs");
  options.batch_size = args.get_int("batch");
  options.optimizer = args.get("optimizer");
  if (options.optimizer != "adam" && options.optimizer != "sgd")
    throw UsageError("--optimizer must be adam or sgd, got '" + options.optimizer + "'");
  options.learning_rate = static_cast<float>(args.get_double("lr"));
  options.momentum = static_cast<float>(args.get_double("momentum"));
  options.nesterov = args.given("nesterov");
  options.weight_decay = static_cast<float>(args.get_double("weight-decay"));
  options.lr_schedule = args.get("schedule");
  options.exit_weights = parse_weights(args);
  options.augmentation.crop_padding = args.get_int("crop");
  options.augmentation.horizontal_flip = args.given("flip");
  const int seed = args.get_int("seed");
  if (seed < 0) throw UsageError("--seed must not be negative");
  options.seed = static_cast<uint64_t>(seed);
  options.resume = args.given("resume");
  options.quiet = args.given("quiet");
  if (!(options.momentum >= 0 && options.momentum < 1) || !(options.weight_decay >= 0))
    throw UsageError("--momentum must be in [0, 1) and --weight-decay >= 0");
  if (options.epochs < 0 || options.trunk_epochs < 0 || options.batch_size < 1 || options.learning_rate <= 0 ||
      options.augmentation.crop_padding < 0)
    throw UsageError("--epochs, --trunk-epochs, --crop must be >= 0, --batch >= 1 and --lr > 0");
  const std::string net_name = args.get("net");
  options.out_dir = args.given("out") ? args.get("out") : "runs/" + net_name;

  const std::string spec = args.get("data");
  const DatasetSplits data = load_data_from(args, spec);
  options.dataset_info = dataset_info(spec, data);
  const Json overrides = args.get("config").empty() ? Json::object() : parse_config_overrides(args.get("config"));
  std::unique_ptr<BranchyNet> net =
      build_network(net_name, overrides, data.train.sample_shape(), data.train.num_classes, options.seed);
  Normalizer normalizer = Normalizer::from_dataset(data.train);
  if (options.resume) {  // continue with the statistics the run started with
    const LoadedModel last = load_model(options.out_dir + "/last.safetensors");
    if (last.info.normalizer) normalizer = *last.info.normalizer;
  }

  std::printf("training %s (%lld parameters, %lld MACs per sample at the last exit) on %s: %lld train, %lld "
              "validation, %lld test samples\n",
              net->name().c_str(), static_cast<long long>(net->parameter_count()),
              static_cast<long long>(net->full_macs()), spec.c_str(), static_cast<long long>(data.train.size()),
              static_cast<long long>(data.validation.size()), static_cast<long long>(data.test.size()));
  std::fflush(stdout);
  const TrainResult result = train_network(*net, data, normalizer, options);

  // Final numbers: the best model (by validation) on the test split.
  LoadedModel best = load_model(result.model_path);
  const ExitOutputs test = run_all_exits(*best.net, data.test, &normalizer, 256);
  std::printf("best epoch %d (validation accuracy %.4f); test accuracy per exit:", result.best_epoch,
              result.best_validation_accuracy);
  for (int e = 0; e < test.num_exits(); ++e) std::printf(" %.4f", test.accuracy(e));
  std::printf("\nsaved %s (log: %s/train_log.csv, plot: %s/training.svg)\n", result.model_path.c_str(),
              options.out_dir.c_str(), options.out_dir.c_str());
  return 0;
}

}  // namespace branchy
