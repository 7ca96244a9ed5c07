// batcher.h — mini-batches of a Dataset, epoch by epoch, in a seeded order,
// with seeded augmentation, normalised.
//
// Epoch e's order (a shuffle, or 0..N-1 without shuffling) and its
// augmentation draws depend only on (seed, e): the same seed gives the same
// batches, and a run resumed at epoch e sees what an unbroken run would.
// Every sample appears exactly once per epoch; the last batch may be smaller.
//
// Data-parallel training splits each batch over the ranks of a job: with a
// Shard {r, k}, next() gives rank r its rows [B*r/k, B*(r+1)/k) of the
// batch of B that one process would get; the k shards together are that
// batch. The order is the same on every rank (from seed and epoch alone);
// augmentation draws are each rank's own, from rank_seed(seed, r) (rank 0 of
// one shard draws exactly what an unsharded Batcher draws).
//
// Augmentation follows torchvision's RandomCrop(size=(H, W), padding=p) then
// RandomHorizontalFlip(0.5): the image is padded by p zero pixels on every
// side (zero = black, before normalisation), a window of the original size
// is cut at a uniform offset in [0, 2p] x [0, 2p], then mirrored left-right
// with probability 1/2. Normalisation comes last.
//
// Requires: batch_size >= 1; a non-empty dataset; a normalizer (if any) for
//           the dataset's channel count; the dataset outlives the Batcher;
//           0 <= shard.index < shard.count.
// Ensures:  next() fills (B, C, H, W) images, B labels and the B dataset
//           indices of the batch (of this shard: B may be 0 when the batch
//           has fewer rows than ranks, and images is then undefined). It reuses batch.images's storage when the
//           shape matches, so clone() a batch you want to keep past next().
// Fails:    Error for a bad batch size, empty dataset, negative padding or a
//           normalizer with the wrong channel count.
#pragma once

#include <cstdint>
#include <vector>

#include "datasets/dataset.h"
#include "datasets/normalizer.h"
#include "engine/rng.h"
#include "engine/tensor.h"

namespace branchy {

struct Augmentation {
  int crop_padding = 0;          // p of RandomCrop(padding=p); 0 = no crop
  bool horizontal_flip = false;  // mirror with probability 1/2
};

// Where one sample's crop window starts and whether it is mirrored.
struct AugmentDraw {
  int crop_top = 0;   // in [0, 2p]: row of the padded image where the window starts
  int crop_left = 0;  // in [0, 2p]
  bool flip = false;
};

struct Batch {
  Tensor images;                 // (B, C, H, W), normalised
  std::vector<int> labels;       // (B)
  std::vector<int64_t> indices;  // (B) positions in the Dataset
  int64_t global_size = 0;       // rows of the whole batch, over every shard (B on one process)
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

// Which part of each batch this process takes: part `index` of `count`.
struct Shard {
  int index = 0;
  int count = 1;
};

class Batcher {
 public:
  Batcher(const Dataset& data, int batch_size, bool shuffle, uint64_t seed,
          const Normalizer* normalizer = nullptr, Augmentation augmentation = {}, Shard shard = {});

  int64_t batches_per_epoch() const;
  // Rewinds to the start of epoch `epoch` (the constructor starts epoch 0).
  void start_epoch(int64_t epoch);
  // The next batch of the current epoch; false (batch untouched) once it is done.
  bool next(Batch& batch);

 private:
  const Dataset& data_;
  int batch_size_;
  bool shuffle_;
  uint64_t seed_;
  const Normalizer* normalizer_;
  Augmentation augmentation_;
  Shard shard_;
  int64_t epoch_ = 0;
  Rng epoch_rng_;                   // this epoch's order
  Rng augment_rng_;                 // this epoch's augmentation draws, this shard's own
  std::vector<int64_t> order_;      // (N) dataset indices in this epoch's order
  int64_t position_ = 0;            // next place in order_
  std::vector<AugmentDraw> draws_;  // (B) scratch for one batch
};

// Writes sample (C, H, W) bytes as [0, 1] floats into out (C, H, W), cut and
// mirrored as `draw` says from the image padded by `padding` zeros.
void augment_sample(const uint8_t* sample, int channels, int height, int width, int padding,
                    const AugmentDraw& draw, float* out);

// For evaluation: samples [begin, end) (or at `indices`) as a normalised
// batch (n, C, H, W), no augmentation. A null normalizer leaves [0, 1] values.
Tensor normalized_images(const Dataset& data, int64_t begin, int64_t end,
                         const Normalizer* normalizer);
Tensor normalized_images(const Dataset& data, const std::vector<int64_t>& indices,
                         const Normalizer* normalizer);

}  // namespace branchy
