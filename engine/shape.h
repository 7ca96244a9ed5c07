// shape.h — the dimensions of a tensor, batch first.
//
// Up to 5 dimensions held inline (no heap allocation on the hot path).
// Images are (N, C, H, W); feature vectors (N, F).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

namespace branchy {

class Shape {
 public:
  static constexpr int max_rank = 5;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);

  int rank() const { return rank_; }
  int64_t operator[](int axis) const { return dims_[axis]; }
  int64_t& operator[](int axis) { return dims_[axis]; }
  int64_t numel() const;

  // The batch is dimension 0; a sample is everything after it.
  int64_t batch() const { return rank_ > 0 ? dims_[0] : 0; }
  int64_t sample_numel() const;
  Shape with_batch(int64_t batch) const;

  bool operator==(const Shape& other) const;
  bool operator!=(const Shape& other) const { return !(*this == other); }

  std::string str() const;  // "(64, 1, 28, 28)"

 private:
  int rank_ = 0;
  int64_t dims_[max_rank] = {};
};

// `value` as an int (layer sizes are ints): a count past INT_MAX, or a
// negative one, is an Error naming `what` rather than a silent truncation.
int checked_int(int64_t value, const char* what);

}  // namespace branchy
