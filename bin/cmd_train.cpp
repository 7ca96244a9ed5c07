// branchy train — trains a network and reports it on the test split.
// Under mpirun every rank runs this; rank 0 alone prints (docs/DISTRIBUTED.md).
#include <algorithm>
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
#include "pipeline/warm_start.h"

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

// --init: the weights of a trained model (its trunk, at least), and the
// input statistics it was trained with so its trunk sees the same inputs.
// On a frozen trunk the branches it trains start fresh, and every stage
// must be copied.
void start_from_model(BranchyNet& net, const TrainOptions& options, Normalizer& normalizer, bool root) {
  const LoadedModel from = load_model(options.init_from);
  const int exits = net.num_exits();
  if (!options.exit_weights.empty() && static_cast<int>(options.exit_weights.size()) != exits)
    throw UsageError(net.name() + " has " + std::to_string(exits) + " exits but --exit-weights gave " +
                     std::to_string(options.exit_weights.size()));
  const auto trained_branch = [&](const std::string& name) {
    if (!options.frozen_trunk || name.rfind("branch", 0) != 0) return false;
    const int branch = std::stoi(name.substr(6));  // "branch<i>.<layer>..."
    return options.exit_weights.empty() || options.exit_weights[branch] != 0.0f;
  };
  const WarmStart start = warm_start(net, from, options.init_from, trained_branch);
  if (from.info.normalizer) normalizer = *from.info.normalizer;
  if (options.frozen_trunk)
    for (const std::string& name : start.fresh)
      if (name.rfind("stage", 0) == 0)
        fail(options.init_from, ": ", name, " is missing or of another shape, but --frozen-trunk needs the whole "
             "trunk trained (use the same network settings but the branches')");
  if (!root) return;
  std::printf("started from %s: %zu parameters copied, %zu fresh", options.init_from.c_str(), start.copied.size(),
              start.fresh.size());
  for (size_t i = 0; i < std::min<size_t>(start.fresh.size(), 4); ++i)
    std::printf("%s%s", i ? ", " : " (", start.fresh[i].c_str());
  std::printf("%s\n", start.fresh.empty() ? "" : start.fresh.size() > 4 ? ", ...)" : ")");
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
  const SplitOptions split = split_for(args.data, nullptr);
  const DatasetSplits data = load_dataset(spec, split);
  options.dataset_info = dataset_info(spec, data, split);
  const Json overrides = args.config.empty() ? Json::object() : parse_config_overrides(args.config);
  std::unique_ptr<BranchyNet> net =
      build_network(net_name, overrides, data.train.sample_shape(), data.train.num_classes, options.seed);
  Normalizer normalizer = Normalizer::from_dataset(data.train);
  if (options.resume) {  // continue with the statistics the run started with
    const LoadedModel last = load_model(options.out_dir + "/last.safetensors");
    if (last.info.normalizer) normalizer = *last.info.normalizer;
  } else if (!options.init_from.empty()) {
    start_from_model(*net, options, normalizer, root);
  }
  if (options.frozen_trunk && options.init_from.empty() && !options.resume)
    throw UsageError("--frozen-trunk trains branches on a trained trunk: name the model with --init MODEL");

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
