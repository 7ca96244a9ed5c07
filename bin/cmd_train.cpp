// branchy train — trains a network and reports it on the test split.
// Under mpirun every rank runs this; rank 0 alone prints (docs/DISTRIBUTED.md).
#include <cstdio>

#include "bin/commands.h"
#include "bin/common.h"
#include "datasets/normalizer.h"
#include "engine/communicator.h"
#include "engine/rng.h"
#include "engine/threads.h"
#include "pipeline/exit_outputs.h"
#include "nets/registry.h"
#include "pipeline/trainer.h"

namespace branchy {

namespace {

void print_data_parallel_line(const TrainOptions& options, Communicator& group) {
  const int ranks = group.size();
  std::printf("data-parallel over %d ranks: batch %d = %d to %d rows per rank, batch norm %s; augmentation and "
              "dropout seeds per rank:",
              ranks, options.batch_size, options.batch_size / ranks, (options.batch_size + ranks - 1) / ranks,
              options.sync_batch_norm ? "synchronised" : "per rank");
  for (int r = 0; r < ranks; ++r) std::printf(" %llu", static_cast<unsigned long long>(rank_seed(options.seed, r)));
  std::printf("\n");
}

}  // namespace

int command_train(const TrainArgs& args) {
  set_num_threads(args.threads);
  Communicator& group = world();
  const bool root = group.is_root();
  TrainOptions options = args.options;
  options.group = &group;
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

  if (root) {
    std::printf("training %s (%lld parameters, %lld MACs per sample at the last exit) on %s: %lld train, %lld "
                "validation, %lld test samples\n",
                net->name().c_str(), static_cast<long long>(net->parameter_count()),
                static_cast<long long>(net->full_macs()), spec.c_str(), static_cast<long long>(data.train.size()),
                static_cast<long long>(data.validation.size()), static_cast<long long>(data.test.size()));
    if (group.size() > 1) print_data_parallel_line(options, group);
    std::fflush(stdout);
  }
  const TrainResult result = train_network(*net, data, normalizer, options);

  // Final numbers: the best model (by validation) on the test split, the
  // samples split over the ranks (which read the file rank 0 wrote).
  group.barrier();
  LoadedModel best = load_model(result.model_path);
  const ExitScores test = score_exits(*best.net, data.test, &normalizer, 256, group);
  if (!root) return 0;
  std::printf("best epoch %d (validation accuracy %.4f); test accuracy per exit:", result.best_epoch,
              result.best_validation_accuracy);
  for (int e = 0; e < best.net->num_exits(); ++e) std::printf(" %.4f", test.accuracy(e));
  std::printf("\nsaved %s (log: %s/train_log.csv, plot: %s/training.svg)\n", result.model_path.c_str(),
              options.out_dir.c_str(), options.out_dir.c_str());
  return 0;
}

}  // namespace branchy
