#include "engine/shape.h"

#include <limits>

#include "engine/error.h"

namespace branchy {

Shape::Shape(std::initializer_list<int64_t> dims) {
  BRANCHY_CHECK(dims.size() <= static_cast<size_t>(max_rank), "shape of rank ", dims.size(),
                " is more than the supported ", max_rank);
  for (int64_t d : dims) {
    BRANCHY_CHECK(d >= 0, "negative dimension ", d, " in a shape");
    dims_[rank_++] = d;
  }
}

namespace {

// The product of dims [first, rank); a product past 2^63 (dimensions a
// hostile file chose) is an Error, never a wrapped-around size.
int64_t product(const int64_t* dims, int first, int rank) {
  int64_t n = 1;
  for (int i = first; i < rank; ++i)
    if (__builtin_mul_overflow(n, dims[i], &n)) fail("a shape's element count overflows 64 bits");
  return n;
}

}  // namespace

int64_t Shape::numel() const { return product(dims_, 0, rank_); }

int64_t Shape::sample_numel() const { return product(dims_, 1, rank_); }

int checked_int(int64_t value, const char* what) {
  BRANCHY_CHECK(value >= 0 && value <= std::numeric_limits<int>::max(), what, " of ", value,
                " is more than this build handles (", std::numeric_limits<int>::max(), ")");
  return static_cast<int>(value);
}

Shape Shape::with_batch(int64_t batch) const {
  Shape s = *this;
  s.dims_[0] = batch;
  return s;
}

bool Shape::operator==(const Shape& other) const {
  if (rank_ != other.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (dims_[i] != other.dims_[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "(";
  for (int i = 0; i < rank_; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[i]);
  }
  return s + ")";
}

}  // namespace branchy
