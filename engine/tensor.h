// tensor.h — the only array type: float32, row-major (NCHW for images),
// contiguous, 64-byte aligned.
//
// A Tensor is a handle: copying it shares the storage (like a shared_ptr), so
// layers can keep their input for backward at no cost. clone() makes a deep
// copy. batch_slice() and reshaped() are views that share storage too.
//
// Requires: shapes with rank 1..5. Ensures: data() is 64-byte aligned for a
// tensor that owns its storage from the start (views start at a row offset).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/shape.h"

namespace branchy {

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(const Shape& shape);  // zero-filled

  static Tensor zeros(const Shape& shape) { return Tensor(shape); }
  static Tensor uninitialized(const Shape& shape);  // for outputs a kernel overwrites whole
  static Tensor filled(const Shape& shape, float value);
  static Tensor from_vector(const Shape& shape, const std::vector<float>& values);

  const Shape& shape() const { return shape_; }
  int64_t numel() const { return shape_.numel(); }
  int rank() const { return shape_.rank(); }
  int64_t dim(int axis) const { return shape_[axis]; }
  bool defined() const { return storage_ != nullptr; }

  float* data() { return storage_.get() + offset_; }
  const float* data() const { return storage_.get() + offset_; }
  float& operator[](int64_t i) { return data()[i]; }
  float operator[](int64_t i) const { return data()[i]; }
  // Element of a 4-d (N, C, H, W) tensor.
  float& at(int64_t n, int64_t c, int64_t h, int64_t w) {
    return data()[((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w];
  }
  float at(int64_t n, int64_t c, int64_t h, int64_t w) const {
    return data()[((n * shape_[1] + c) * shape_[2] + h) * shape_[3] + w];
  }

  // Rows [begin, end) of the batch, sharing storage.
  Tensor batch_slice(int64_t begin, int64_t end) const;
  // Same data seen with another shape of equal numel, sharing storage.
  Tensor reshaped(const Shape& shape) const;
  Tensor clone() const;

  void fill(float value);
  void zero() { fill(0.0f); }
  std::vector<float> to_vector() const;

  // Whether two tensors are views of the same storage (tests use it).
  bool shares_storage_with(const Tensor& other) const { return storage_ == other.storage_; }

 private:
  Shape shape_;
  std::shared_ptr<float> storage_;
  int64_t offset_ = 0;  // in floats, for batch slices
};

// While a TensorBudget lives, the tensors this thread creates may hold at
// most `floats` floats in all; the allocation that would pass the budget
// throws Error "`what` needs more than N values" instead. A network that a
// file describes is built under one sized by the tensors in that file, so
// settings a file chose cannot allocate gigabytes before they are checked.
// Budgets nest: the innermost one counts.
class TensorBudget {
 public:
  TensorBudget(int64_t floats, std::string what);
  ~TensorBudget();
  TensorBudget(const TensorBudget&) = delete;
  TensorBudget& operator=(const TensorBudget&) = delete;

  // Called for every allocation of `floats` floats on this thread.
  static void charge(int64_t floats);

 private:
  int64_t floats_left_;
  int64_t floats_total_;
  std::string what_;
  TensorBudget* outer_;
};

// Copies rows `rows` of the batch into a new contiguous tensor (rows.size(), ...).
Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& rows);
// Writes row i of `source` into row rows[i] of `destination`.
void scatter_rows(const Tensor& source, const std::vector<int64_t>& rows, Tensor& destination);
// Joins tensors of equal sample shape along the batch.
Tensor concat_batch(const std::vector<Tensor>& parts);

// Largest |a - b| over all elements; shapes must match.
float max_abs_difference(const Tensor& a, const Tensor& b);

}  // namespace branchy
