// batcher.h — mini-batches of a Dataset, epoch by epoch, in a seeded order,
// with seeded augmentation, normalised.
//
// Epoch e's order (a shuffle, or 0..N-1 without shuffling) and its
// augmentation draws depend only on (seed, e): the same seed gives the same
// batches, and a run resumed at epoch e sees what an unbroken run would.
// Every sample appears exactly once per epoch; the last batch may be smaller.
//
// Augmentation follows torchvision's RandomCrop(size=(H, W), padding=p) then
// RandomHorizontalFlip(0.5): the image is padded by p zero pixels on every
// side (zero = black, before normalisation), a window of the original size
// is cut at a uniform offset in [0, 2p] x [0, 2p], then mirrored left-right
// with probability 1/2. Normalisation comes last.
//
// Requires: batch_size >= 1; a non-empty dataset; a normalizer (if any) for
//           the dataset's channel count; the dataset outlives the Batcher.
// Ensures:  next() fills (B, C, H, W) images, B labels and the B dataset
//           indices of the batch. It reuses batch.images's storage when the
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
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
};

class Batcher {
 public:
  Batcher(const Dataset& data, int batch_size, bool shuffle, uint64_t seed,
          const Normalizer* normalizer = nullptr, Augmentation augmentation = {});

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
  int64_t epoch_ = 0;
  Rng epoch_rng_;                   // order and augmentation draws of this epoch
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
