// After its first call, a loop of same-shaped calls takes no tensor memory
// from the system: every activation, gradient and scratch tensor comes back
// from engine/storage_pool.h. Checked for routed batch-1 inference (both an
// early exit and the whole trunk) and for a training step, at 1 and 2 threads.
#include <catch2/catch.hpp>

#include "engine/loss.h"
#include "engine/storage_pool.h"
#include "engine/threads.h"
#include "nets/early_exit.h"
#include "nets/registry.h"
#include "tests/gradcheck.h"

using namespace branchy;
using branchy::testing::random_tensor;

TEST_CASE("routed batch-1 inference takes no tensor memory from the system after warm-up", "[no-allocation]") {
  for (const char* name : {"b-lenet", "b-resnet"}) {
    auto net = build_network(name, Json::object(), Shape{1, 1, 28, 28}, 10, 1);
    const int branches = net->num_exits() - 1;
    // Threshold 100 leaves at the first branch; 0 runs every stage.
    const std::vector<float> leave_early(branches, 100.0f), run_everything(branches, 0.0f);
    const Tensor image = random_tensor(Shape{1, 1, 28, 28}, 5);
    for (int threads : {1, 2}) {
      ThreadCountScope scope(threads);
      INFO(name << " on " << threads << " threads");
      for (int warm_up = 0; warm_up < 3; ++warm_up) {
        infer_early_exit(*net, image, leave_early);
        infer_early_exit(*net, image, run_everything);
      }
      const StoragePoolCounts before = storage_pool_counts();
      for (int sample = 0; sample < 20; ++sample) {
        REQUIRE(infer_early_exit(*net, image, leave_early).exit[0] == 0);
        REQUIRE(infer_early_exit(*net, image, run_everything).exit[0] == branches);
      }
      const StoragePoolCounts after = storage_pool_counts();
      REQUIRE(after.system_allocations == before.system_allocations);
      REQUIRE(after.reuses > before.reuses + 40);  // the tensors did pass through the pool
    }
  }
}

TEST_CASE("a training step takes no tensor memory from the system after the first", "[no-allocation]") {
  auto net = build_network("b-resnet", Json::object(), Shape{1, 1, 28, 28}, 10, 1);
  const Tensor images = random_tensor(Shape{8, 1, 28, 28}, 6);
  const std::vector<int> labels = {0, 1, 2, 3, 4, 5, 6, 7};
  for (int threads : {1, 2}) {
    ThreadCountScope scope(threads);
    auto step = [&] {
      const std::vector<Tensor> logits = net->forward_exits(images, Mode::train);
      std::vector<Tensor> d_logits(logits.size());
      for (size_t i = 0; i < logits.size(); ++i) softmax_cross_entropy(logits[i], labels, &d_logits[i]);
      net->backward_exits(d_logits);
    };
    step();
    step();
    const StoragePoolCounts before = storage_pool_counts();
    for (int i = 0; i < 3; ++i) step();
    const StoragePoolCounts after = storage_pool_counts();
    INFO("threads " << threads);
    REQUIRE(after.system_allocations == before.system_allocations);
    REQUIRE(after.reuses > before.reuses);
  }
}
