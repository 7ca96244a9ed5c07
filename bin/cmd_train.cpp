// branchy train — trains a network and reports it on the test split.
#include <cstdio>

#include "bin/commands.h"
#include "bin/common.h"
#include "datasets/normalizer.h"
#include "engine/threads.h"
#include "pipeline/exit_outputs.h"
#include "nets/registry.h"
#include "pipeline/trainer.h"

namespace branchy {

int command_train(const TrainArgs& args) {
  set_num_threads(args.threads);
  TrainOptions options = args.options;
  const std::string& net_name = args.net;
  if (options.out_dir.empty()) options.out_dir = "runs/" + net_name;

  const std::string spec = args.data.spec.value_or("fashion-mnist");
  const DatasetSplits data = load_dataset(spec, args.data.split);
  options.dataset_info = dataset_info(spec, data);
  const Json overrides = args.config.empty() ? Json::object() : parse_config_overrides(args.config);
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
