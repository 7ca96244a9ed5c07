// rng.h — a small seeded random generator (xoshiro256**) and the draws the
// engine needs. Ours, not <random>'s distributions, so a seed gives the same
// numbers with any standard library.
#pragma once

#include <cstdint>
#include <vector>

namespace branchy {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0x5eed);

  uint64_t next_u64();
  float uniform();                       // [0, 1)
  float uniform(float low, float high);  // [low, high)
  float normal(float mean = 0.0f, float stddev = 1.0f);
  int64_t below(int64_t n);              // integer in [0, n)
  bool bernoulli(float p);               // true with probability p
  template <typename T>
  void shuffle(std::vector<T>& items) {  // Fisher-Yates
    for (int64_t i = static_cast<int64_t>(items.size()) - 1; i > 0; --i) {
      int64_t j = below(i + 1);
      std::swap(items[i], items[j]);
    }
  }
  // An independent generator for a sub-task (a layer, a data loader).
  Rng split();

 private:
  uint64_t state_[4];
  bool has_spare_normal_ = false;
  float spare_normal_ = 0.0f;
};

// The seed of rank `rank`'s own draws in a job of several processes
// (augmentation, dropout), so that ranks do not repeat each other's noise.
// Rank 0 keeps `seed`: a job of one process draws what it always did.
uint64_t rank_seed(uint64_t seed, int rank);

}  // namespace branchy
