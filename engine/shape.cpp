#include "engine/shape.h"

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

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

int64_t Shape::sample_numel() const {
  int64_t n = 1;
  for (int i = 1; i < rank_; ++i) n *= dims_[i];
  return n;
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
