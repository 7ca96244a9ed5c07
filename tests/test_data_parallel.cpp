// The single-process side of data-parallel training: shards of a batch are
// its rows, whole-batch splits cover the data, gradient buckets and a batch
// norm statistics group of one process change nothing, checksums see every
// value. The multi-rank side runs under mpirun: tests/mpi/run_mpi_tests.sh.
#include <catch2/catch.hpp>

#include <memory>

#include "datasets/batcher.h"
#include "engine/communicator.h"
#include "engine/loss.h"
#include "engine/rng.h"
#include "nets/registry.h"
#include "pipeline/data_parallel.h"
#include "pipeline/exit_outputs.h"
#include "pipeline/gradient_buckets.h"
#include "tests/small_nets.h"

using namespace branchy;
using branchy::testing::random_image_dataset;

namespace {

std::unique_ptr<BranchyNet> small_b_resnet(uint64_t seed) {
  const Json config = {{"depth", 8}, {"base_channels", 4}, {"branch0_width", 4}, {"branch1_width", 4}};
  return build_network("b-resnet", config, Shape{1, 1, 12, 12}, 4, seed);
}

// One joint forward and backward on `images`; every grad is zeroed first.
void forward_backward(BranchyNet& net, const Tensor& images, const std::vector<int>& labels) {
  net.zero_grad();
  std::vector<Tensor> logits = net.forward_exits(images, Mode::train);
  std::vector<Tensor> d_logits(logits.size());
  for (size_t e = 0; e < logits.size(); ++e) softmax_cross_entropy(logits[e], labels, &d_logits[e]);
  net.backward_exits(d_logits);
}

std::vector<std::vector<float>> copy_grads(BranchyNet& net) {
  std::vector<std::vector<float>> grads;
  for (const ParamRef& p : net.named_params())
    if (p.param->trainable) grads.emplace_back(p.param->grad.data(), p.param->grad.data() + p.param->grad.numel());
  return grads;
}

}  // namespace

TEST_CASE("the shards of a batch are its rows, in rank order, and one shard is the whole batch", "[data-parallel]") {
  const Dataset data = random_image_dataset(13, 3);
  for (int ranks : {1, 2, 3, 4}) {
    Batcher whole(data, 5, true, 7);
    std::vector<std::unique_ptr<Batcher>> shards;
    for (int r = 0; r < ranks; ++r) shards.push_back(std::make_unique<Batcher>(data, 5, true, 7, nullptr,
                                                                               Augmentation{}, Shard{r, ranks}));
    for (int epoch = 0; epoch < 2; ++epoch) {
      whole.start_epoch(epoch);
      for (auto& shard : shards) shard->start_epoch(epoch);
      Batch batch, part;
      while (whole.next(batch)) {
        std::vector<int64_t> joined;
        for (auto& shard : shards) {
          REQUIRE(shard->next(part));
          REQUIRE(part.global_size == batch.size());
          REQUIRE(part.images.defined() == (part.size() > 0));
          joined.insert(joined.end(), part.indices.begin(), part.indices.end());
        }
        REQUIRE(joined == batch.indices);
      }
      for (auto& shard : shards) REQUIRE_FALSE(shard->next(part));
    }
  }
  REQUIRE_THROWS_WITH(Batcher(data, 4, true, 1, nullptr, {}, Shard{2, 2}), Catch::Contains("shard 2 of 2"));
}

TEST_CASE("shard 0 of 1 draws the augmentation of an unsharded batcher; other ranks draw their own",
          "[data-parallel]") {
  const Dataset data = random_image_dataset(16, 4);
  const Augmentation augmentation{2, true};
  Batcher plain(data, 8, true, 9, nullptr, augmentation);
  Batcher one_shard(data, 8, true, 9, nullptr, augmentation, Shard{0, 1});
  Batch a, b;
  while (plain.next(a)) {
    REQUIRE(one_shard.next(b));
    REQUIRE(a.indices == b.indices);
    for (int64_t i = 0; i < a.images.numel(); ++i) REQUIRE(a.images[i] == b.images[i]);
  }
  REQUIRE(rank_seed(9, 0) == 9);
  REQUIRE(rank_seed(9, 1) != 9);
  REQUIRE(rank_seed(9, 1) != rank_seed(9, 2));
}

TEST_CASE("whole-batch splits cover the samples in order and cut only between batches", "[data-parallel]") {
  for (int64_t n : {0, 1, 7, 64, 100}) {
    for (int ranks : {1, 2, 3, 5}) {
      int64_t next = 0;
      for (int r = 0; r < ranks; ++r) {
        const SampleRange part = part_of_batches(n, 16, r, ranks);
        REQUIRE(part.begin == next);
        REQUIRE((part.begin % 16 == 0 || part.begin == n));
        next = part.end;
      }
      REQUIRE(next == n);
    }
  }
  REQUIRE(part_of_samples(10, 0, 3).size() + part_of_samples(10, 1, 3).size() + part_of_samples(10, 2, 3).size() ==
          10);
}

TEST_CASE("gradient buckets of one process leave every gradient as backward made it", "[data-parallel]") {
  auto net = small_b_resnet(5);
  const Dataset data = random_image_dataset(6, 5);
  const Tensor images = normalized_images(data, 0, data.size(), nullptr);
  forward_backward(*net, images, data.labels);
  const std::vector<std::vector<float>> expected = copy_grads(*net);

  // Small buckets, so that there are many and layers straddle them.
  std::vector<ParamRef> trainable;
  for (const ParamRef& p : net->named_params())
    if (p.param->trainable) trainable.push_back(p);
  GradientBuckets buckets(*net, trainable, single_process(), 256);
  REQUIRE(buckets.num_buckets() > 5);
  for (int step = 0; step < 2; ++step) {
    buckets.start_step();
    forward_backward(*net, images, data.labels);
    buckets.finish();
    REQUIRE(copy_grads(*net) == expected);
  }
}

TEST_CASE("batch norm with a statistics group of one process is plain batch norm", "[data-parallel]") {
  auto plain = small_b_resnet(6);
  auto grouped = small_b_resnet(6);
  set_batch_norm_group(*grouped, &single_process());
  const Dataset data = random_image_dataset(5, 6);
  const Tensor images = normalized_images(data, 0, data.size(), nullptr);
  forward_backward(*plain, images, data.labels);
  forward_backward(*grouped, images, data.labels);
  REQUIRE(copy_grads(*plain) == copy_grads(*grouped));
  REQUIRE(parameter_checksum(plain->named_params()) == parameter_checksum(grouped->named_params()));
}

TEST_CASE("the parameter checksum sees every value; one process always agrees with itself", "[data-parallel]") {
  auto net = branchy::testing::small_b_lenet(3);
  const std::vector<ParamRef> params = net->named_params();
  const uint64_t before = parameter_checksum(params);
  REQUIRE(check_ranks_agree(single_process(), params, "now") == before);
  params.back().param->value[0] += 1e-6f;
  REQUIRE(parameter_checksum(params) != before);
  REQUIRE(checksum_text(0x1a).size() == 16);
}

TEST_CASE("exit scores of one process are run_all_exits's accuracy and loss", "[data-parallel]") {
  auto net = branchy::testing::small_b_lenet(4);
  const Dataset data = random_image_dataset(70, 8);
  const ExitOutputs outputs = run_all_exits(*net, data, nullptr, 16);
  const ExitScores scores = score_exits(*net, data, nullptr, 16, single_process());
  REQUIRE(scores.samples == 70);
  for (int e = 0; e < net->num_exits(); ++e) {
    REQUIRE(scores.accuracy(e) == outputs.accuracy(e));
    REQUIRE(scores.mean_loss(e) == outputs.mean_loss(e));
  }
}
