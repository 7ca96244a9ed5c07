// gradient_buckets.h — sums parameter gradients over the ranks of a job
// while backward is still running (the bucketed allreduce of PyTorch's
// DistributedDataParallel).
//
// The parameters are grouped, in the order backward finishes them (the
// reverse of the network's parameter order), into buckets of about
// bucket_bytes. When the last top-level layer holding a bucket's parameters
// has finished its backward (BranchyNet::set_after_layer_backward), the
// bucket's gradients are packed into one buffer and its sum over the ranks
// is started; the earlier layers' backward runs while it travels. finish()
// starts the buckets still waiting (an exit whose loss weight is 0 never
// back-propagates its branch), waits for every sum and unpacks them. After
// every layer's backward the started sums are given a chance to move on
// (Communicator::advance_sums), since MPI advances them only inside calls.
// Buckets start strictly in index order on every rank, as MPI requires of
// collectives, whichever layer finishes first.
//
// Requires: each rank's grads are its share of the gradient of the whole
//   batch's loss (the trainer scales each rank's loss gradient by
//   local rows / global rows), so that their sum is that gradient; every
//   Param in `params` belongs to a top-level layer of the net's stages or
//   branches, whose backward runs at most once per step; the net and the
//   Params outlive this object.
// Ensures: after finish() every rank's grads hold the same sum. The
//   destructor removes the backward hooks it installed.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "engine/communicator.h"
#include "engine/param.h"
#include "nets/branchy_net.h"

namespace branchy {

class GradientBuckets {
 public:
  GradientBuckets(BranchyNet& net, const std::vector<ParamRef>& params, Communicator& group,
                  int64_t bucket_bytes = int64_t{1} << 20);
  ~GradientBuckets();
  GradientBuckets(const GradientBuckets&) = delete;
  GradientBuckets& operator=(const GradientBuckets&) = delete;

  // Call before each backward: every bucket waits for its layers again.
  void start_step();
  // Call after backward: the grads hold their sums over the ranks.
  void finish();

  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  // Wall time spent inside the group's calls (starting and waiting for
  // sums) since construction: the communication that compute did not hide.
  double communication_seconds() const { return communication_seconds_; }

 private:
  struct Bucket {
    std::vector<Param*> params;  // in backward order
    std::vector<float> buffer;   // (total numel) the grads packed back to back
    int layers_total = 0;        // how many top-level layers hold its params
    int layers_waiting = 0;      // of those, how many have not finished backward this step
  };

  void layer_finished(const Layer& layer);
  void start_ready_buckets();
  void start_bucket(Bucket& bucket);

  BranchyNet& net_;
  Communicator& group_;
  std::vector<Bucket> buckets_;
  // For each top-level layer holding params: the buckets it counts in (once each).
  std::unordered_map<const Layer*, std::vector<int>> buckets_of_layer_;
  size_t next_to_start_ = 0;
  double communication_seconds_ = 0;
};

}  // namespace branchy
