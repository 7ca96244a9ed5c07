// data_parallel.h — what keeps the ranks of a data-parallel job in step,
// besides the gradient sums (pipeline/gradient_buckets.h).
//
// Every rank holds a whole copy of the network and takes its own rows of
// each batch. The copies start equal (copy_from_root), take equal steps
// (equal summed gradients, the same optimizer), and are checked to be equal
// after every epoch (check_ranks_agree). All functions here are collectives:
// every rank of `group` calls them in the same order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/communicator.h"
#include "engine/param.h"
#include "nets/branchy_net.h"

namespace branchy {

// Samples [begin, end) of n that rank `rank` of `ranks` takes: contiguous
// parts in rank order, of sizes that differ by at most one.
struct SampleRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
SampleRange part_of_samples(int64_t n, int rank, int ranks);
// The same split in whole batches: samples of n cut into batches of
// `batch` (the last may be smaller), rank r taking a contiguous run of them,
// so that every batch holds exactly the samples it holds on one process.
SampleRange part_of_batches(int64_t n, int64_t batch, int rank, int ranks);

// Rank 0's values into every rank's tensors (same shapes on every rank).
void copy_from_root(Communicator& group, const std::vector<Tensor*>& tensors);

// Each tensor becomes the mean of its values over the ranks.
void average_over_ranks(Communicator& group, const std::vector<Tensor*>& tensors);

// Every Param value (learned weights and running statistics): the model
// state a rank holds, besides its optimizer's.
std::vector<Tensor*> parameter_values(const std::vector<ParamRef>& params);
// The batch-norm running statistics (Params that are not trainable).
std::vector<Tensor*> buffer_values(const std::vector<ParamRef>& params);

// FNV-1a (64-bit) over the bytes of every Param value, in order, and as
// 16 hex digits.
uint64_t parameter_checksum(const std::vector<ParamRef>& params);
std::string checksum_text(uint64_t checksum);

// Compares every rank's parameter_checksum with rank 0's. Returns it when
// all agree; otherwise throws Error on every rank, naming `when` and how
// many ranks differ (each rank knows whether it is one of them).
uint64_t check_ranks_agree(Communicator& group, const std::vector<ParamRef>& params, const std::string& when);

// Sets (or, with nullptr, clears) the statistics group of every batch norm
// of the net (layers/batchnorm.h: synchronised batch norm).
void set_batch_norm_group(BranchyNet& net, Communicator* group);

}  // namespace branchy
