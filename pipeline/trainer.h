// trainer.h — the training loop for any BranchyNet (a plain net has one exit).
//
// Each epoch: shuffle (seeded by seed and epoch, so a resumed run sees the
// same order), forward every exit, loss = sum_e weight_e * CE_e, backward,
// optimizer step; then evaluate every exit on the validation split, append a
// row to <out>/train_log.csv, save <out>/model.safetensors when the
// validation accuracy of the last exit is the best so far and
// <out>/last.safetensors (weights + optimizer state, to resume), redraw
// <out>/training.svg and print one line. Checkpoints are written atomically
// (temporary file, fsync, rename, fsync of the folder): a run killed at any
// moment keeps the previous checkpoint whole, and resuming from it ends with
// the same weights, bit for bit, as a run never stopped (same seed and
// thread count; tests/test_kill_resume.cpp kills real runs to check it).
//
// Optionally the trunk is trained alone first (trunk_epochs), as BranchyNet
// did, and the joint phase starts from it. The trunk phase runs the trunk
// alone (BranchyNet::forward_final): branches are neither run nor changed,
// their batch-norm running statistics included.
//
// With frozen_trunk the branches alone train (those of non-zero exit weight)
// on a trunk that never changes: the stages run in inference mode, so their
// batch-norm statistics stay put, and nothing is back-propagated into them;
// the best epoch is the one of the best mean validation accuracy over the
// trained branches. Started from a trained model (branchy train --init),
// this tries a branch of another width on the same trunk (issue 10's
// headroom map), without the trunk's hour of training.
//
// A NaN or an infinity stops training with an Error naming the epoch and
// batch and where it came from: for the loss, the first layer whose output
// holds one (and the first parameter, if a weight does); for a gradient, the
// first parameter backward gave one, found before the optimizer step so the
// weights stay finite. Checkpoints already written stay as they were.
//
// Data-parallel (options.group of several ranks, docs/DISTRIBUTED.md): each
// rank trains on its rows of every batch (batch_size is the global batch),
// starting from rank 0's weights; the loss gradient is scaled by the rank's
// share of the rows, so the gradients summed over the ranks
// (pipeline/gradient_buckets.h) are those of the whole batch, and every rank
// takes the same optimizer step. Batch norm uses each rank's own rows unless
// sync_batch_norm; its running statistics are then averaged over the ranks
// after each epoch. After each epoch the ranks' parameters are checked to
// be identical; validation splits the samples over the ranks and sums the
// counts. Rank 0 alone writes files and prints. With one rank everything is
// as without a group.
#pragma once

#include <string>
#include <vector>

#include "datasets/batcher.h"
#include "datasets/dataset.h"
#include "datasets/normalizer.h"
#include "engine/communicator.h"
#include "formats/json.h"
#include "nets/branchy_net.h"

namespace branchy {

struct TrainOptions {
  int epochs = 10;        // joint epochs (after trunk_epochs)
  int trunk_epochs = 0;   // epochs training only the last exit first
  int batch_size = 64;
  std::string optimizer = "adam";  // "adam" or "sgd"
  float learning_rate = 1e-3f;
  float momentum = 0.9f;           // sgd
  bool nesterov = false;           // sgd
  float weight_decay = 0.0f;
  std::string lr_schedule = "constant";  // see engine/lr_schedule.h
  std::vector<float> exit_weights;       // one per exit; empty = 1.0 each
  Augmentation augmentation;
  uint64_t seed = 1;
  std::string out_dir;   // run folder; created if missing
  bool resume = false;   // continue from <out_dir>/last.safetensors
  bool quiet = false;    // no progress bars (tests)
  bool frozen_trunk = false;      // train the branches alone (see above)
  std::string init_from;          // the model the weights started from, when not fresh (recorded only)
  bool sync_batch_norm = false;   // batch-norm statistics over every rank's rows of the batch
  Communicator* group = nullptr;  // the ranks sharing each batch; nullptr: this process alone
  Json dataset_info = Json::object();  // spec and class names, stored in checkpoints

  Json to_json() const;
};

struct EpochRecord {
  int epoch = 0;  // 1-based
  std::string phase;  // "trunk" or "joint"
  float learning_rate = 0;
  double train_loss = 0;
  std::vector<double> train_accuracy;       // per exit; NaN for branches in the trunk phase (not run)
  std::vector<double> validation_loss;      // per exit
  std::vector<double> validation_accuracy;  // per exit
  double seconds = 0;
  double images_per_second = 0;    // over all ranks
  double allreduce_seconds = 0;    // rank 0's time in gradient sums not hidden by backward; 0 on one process
  double train_seconds = 0;        // the training pass alone (no validation, no saving)
  uint64_t parameter_checksum = 0; // the same on every rank (checked); 0 on one process
};

struct TrainResult {
  std::vector<EpochRecord> epochs;
  int best_epoch = 0;
  double best_validation_accuracy = 0;  // of the last exit
  std::string model_path, last_path;
};

TrainResult train_network(BranchyNet& net, const DatasetSplits& data, const Normalizer& normalizer,
                          const TrainOptions& options);

}  // namespace branchy
