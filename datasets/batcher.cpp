#include "datasets/batcher.h"

#include <algorithm>
#include <numeric>

#include "engine/error.h"
#include "engine/threads.h"

namespace branchy {

namespace {

// Mixes the epoch into the seed so (seed, epoch) pairs give unrelated streams.
uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
  Rng mixer(seed);
  return mixer.next_u64() ^
         (static_cast<uint64_t>(epoch) * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull);
}

}  // namespace

void augment_sample(const uint8_t* sample, int channels, int height, int width, int padding,
                    const AugmentDraw& draw, float* out) {
  // Output (y, x) shows padded (y + top, x + left) = original (y + top - p, x + left - p);
  // with a flip, output (y, x) shows what the unflipped window has at (y, W-1-x).
  const int row_shift = draw.crop_top - padding;
  const int column_shift = draw.crop_left - padding;
  for (int c = 0; c < channels; ++c) {
    const uint8_t* plane = sample + int64_t{c} * height * width;
    float* out_plane = out + int64_t{c} * height * width;
    for (int y = 0; y < height; ++y) {
      const int source_y = y + row_shift;
      float* out_row = out_plane + int64_t{y} * width;
      if (source_y < 0 || source_y >= height) {
        std::fill(out_row, out_row + width, 0.0f);
        continue;
      }
      const uint8_t* source_row = plane + int64_t{source_y} * width;
      for (int x = 0; x < width; ++x) {
        const int window_x = draw.flip ? width - 1 - x : x;
        const int source_x = window_x + column_shift;
        out_row[x] = (source_x < 0 || source_x >= width) ? 0.0f : unit_float(source_row[source_x]);
      }
    }
  }
}

Batcher::Batcher(const Dataset& data, int batch_size, bool shuffle, uint64_t seed,
                 const Normalizer* normalizer, Augmentation augmentation, Shard shard)
    : data_(data),
      batch_size_(batch_size),
      shuffle_(shuffle),
      seed_(seed),
      normalizer_(normalizer),
      augmentation_(augmentation),
      shard_(shard),
      epoch_rng_(seed),
      augment_rng_(seed) {
  BRANCHY_CHECK(batch_size >= 1, "batcher for ", data.name, ": batch size ", batch_size,
                " must be at least 1");
  BRANCHY_CHECK(data.size() > 0, "batcher: dataset ", data.name, " is empty");
  BRANCHY_CHECK(augmentation.crop_padding >= 0, "batcher for ", data.name, ": crop padding ",
                augmentation.crop_padding, " must not be negative");
  BRANCHY_CHECK(!normalizer || normalizer->channels() == data.channels, "batcher for ", data.name,
                ": normalizer has ", normalizer ? normalizer->channels() : 0,
                " channels, the images have ", data.channels);
  BRANCHY_CHECK(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count, "batcher for ", data.name,
                ": shard ", shard.index, " of ", shard.count, " does not exist");
  start_epoch(0);
}

int64_t Batcher::batches_per_epoch() const {
  return (data_.size() + batch_size_ - 1) / batch_size_;
}

void Batcher::start_epoch(int64_t epoch) {
  epoch_ = epoch;
  position_ = 0;
  epoch_rng_ = Rng(epoch_seed(seed_, epoch));
  order_.resize(static_cast<size_t>(data_.size()));
  std::iota(order_.begin(), order_.end(), int64_t{0});
  if (shuffle_) epoch_rng_.shuffle(order_);
  // Shard 0 goes on with the order's generator, as an unsharded Batcher does.
  augment_rng_ = shard_.index == 0 ? epoch_rng_ : Rng(epoch_seed(rank_seed(seed_, shard_.index), epoch));
}

bool Batcher::next(Batch& batch) {
  const int64_t global_count = std::min<int64_t>(batch_size_, data_.size() - position_);
  if (global_count <= 0) return false;
  // This shard's rows of the batch: [first, last).
  const int64_t first = position_ + global_count * shard_.index / shard_.count;
  const int64_t last = position_ + global_count * (shard_.index + 1) / shard_.count;
  const int64_t count = last - first;
  position_ += global_count;
  batch.global_size = global_count;
  batch.indices.assign(order_.begin() + first, order_.begin() + last);
  batch.labels.resize(static_cast<size_t>(count));
  if (count == 0) {
    batch.images = Tensor();
    return true;
  }
  for (int64_t i = 0; i < count; ++i) batch.labels[i] = data_.labels[batch.indices[i]];
  const Shape shape = data_.sample_shape().with_batch(count);  // (B, C, H, W)
  if (!batch.images.defined() || batch.images.shape() != shape)
    batch.images = Tensor::uninitialized(shape);

  // Draws are taken in batch order, one thread, so they do not depend on threading.
  const int padding = augmentation_.crop_padding;
  draws_.resize(static_cast<size_t>(count));
  for (AugmentDraw& draw : draws_) {
    if (padding > 0) {
      draw.crop_top = static_cast<int>(augment_rng_.below(2 * padding + 1));
      draw.crop_left = static_cast<int>(augment_rng_.below(2 * padding + 1));
    } else {
      draw.crop_top = draw.crop_left = 0;
    }
    draw.flip = augmentation_.horizontal_flip && augment_rng_.bernoulli(0.5f);
  }
  const int64_t sample_floats = data_.sample_bytes();
  float* images = batch.images.data();
  parallel_for(count, count * sample_floats, [&](int64_t i) {
    augment_sample(data_.sample(batch.indices[i]), data_.channels, data_.height, data_.width,
                   padding, draws_[i], images + i * sample_floats);
  });
  if (normalizer_) normalizer_->apply(batch.images);
  return true;
}

Tensor normalized_images(const Dataset& data, int64_t begin, int64_t end,
                         const Normalizer* normalizer) {
  Tensor images = data.images(begin, end);  // (n, C, H, W)
  if (normalizer) normalizer->apply(images);
  return images;
}

Tensor normalized_images(const Dataset& data, const std::vector<int64_t>& indices,
                         const Normalizer* normalizer) {
  Tensor images = data.images(indices);  // (n, C, H, W)
  if (normalizer) normalizer->apply(images);
  return images;
}

}  // namespace branchy
