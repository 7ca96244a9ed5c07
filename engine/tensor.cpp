#include "engine/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include <malloc.h>

#include "engine/error.h"
#include "engine/storage_pool.h"

namespace branchy {

namespace {

// Activations of a batch are often a few MB, and glibc would map each with
// mmap and unmap it on free: every training step would then pay page faults
// to zero fresh pages. Keeping large blocks in the heap lets them be reused.
const bool heap_configured = [] {
  mallopt(M_MMAP_THRESHOLD, 512 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  return true;
}();

thread_local TensorBudget* innermost_budget = nullptr;

std::shared_ptr<float> allocate_floats(int64_t count) {
  (void)heap_configured;
  TensorBudget::charge(count);
  return acquire_storage(count);
}

}  // namespace

TensorBudget::TensorBudget(int64_t floats, std::string what)
    : floats_left_(floats), floats_total_(floats), what_(std::move(what)), outer_(innermost_budget) {
  innermost_budget = this;
}

TensorBudget::~TensorBudget() { innermost_budget = outer_; }

void TensorBudget::charge(int64_t floats) {
  TensorBudget* budget = innermost_budget;
  if (!budget) return;
  BRANCHY_CHECK(floats <= budget->floats_left_, budget->what_, " needs more than ", budget->floats_total_,
                " values");
  budget->floats_left_ -= floats;
}

Tensor::Tensor(const Shape& shape) : shape_(shape), storage_(allocate_floats(shape.numel())) {
  std::memset(storage_.get(), 0, sizeof(float) * static_cast<size_t>(shape.numel()));
}

Tensor Tensor::uninitialized(const Shape& shape) {
  Tensor t;
  t.shape_ = shape;
  t.storage_ = allocate_floats(shape.numel());
  return t;
}

Tensor Tensor::filled(const Shape& shape, float value) {
  Tensor t = uninitialized(shape);
  t.fill(value);
  return t;
}

Tensor Tensor::from_vector(const Shape& shape, const std::vector<float>& values) {
  BRANCHY_CHECK(static_cast<int64_t>(values.size()) == shape.numel(), "tensor of shape ",
                shape.str(), " needs ", shape.numel(), " values, got ", values.size());
  Tensor t = uninitialized(shape);
  std::copy(values.begin(), values.end(), t.data());
  return t;
}

Tensor Tensor::batch_slice(int64_t begin, int64_t end) const {
  BRANCHY_CHECK(rank() >= 1 && 0 <= begin && begin <= end && end <= shape_[0],
                "batch slice [", begin, ", ", end, ") out of range for shape ", shape_.str());
  Tensor view = *this;
  view.shape_[0] = end - begin;
  view.offset_ = offset_ + begin * shape_.sample_numel();
  return view;
}

Tensor Tensor::reshaped(const Shape& shape) const {
  BRANCHY_CHECK(shape.numel() == numel(), "cannot reshape ", shape_.str(), " to ", shape.str());
  Tensor view = *this;
  view.shape_ = shape;
  return view;
}

Tensor Tensor::clone() const {
  Tensor copy = uninitialized(shape_);
  std::memcpy(copy.data(), data(), sizeof(float) * static_cast<size_t>(numel()));
  return copy;
}

void Tensor::fill(float value) { std::fill(data(), data() + numel(), value); }

std::vector<float> Tensor::to_vector() const { return std::vector<float>(data(), data() + numel()); }

Tensor gather_rows(const Tensor& x, const std::vector<int64_t>& rows) {
  const int64_t row_size = x.shape().sample_numel();
  Tensor out = Tensor::uninitialized(x.shape().with_batch(static_cast<int64_t>(rows.size())));
  for (size_t i = 0; i < rows.size(); ++i) {
    BRANCHY_CHECK(rows[i] >= 0 && rows[i] < x.dim(0), "gather row ", rows[i],
                  " out of range for batch ", x.dim(0));
    std::memcpy(out.data() + i * row_size, x.data() + rows[i] * row_size, sizeof(float) * row_size);
  }
  return out;
}

void scatter_rows(const Tensor& source, const std::vector<int64_t>& rows, Tensor& destination) {
  const int64_t row_size = source.shape().sample_numel();
  BRANCHY_CHECK(source.dim(0) == static_cast<int64_t>(rows.size()) &&
                    destination.shape().sample_numel() == row_size,
                "scatter of ", source.shape().str(), " into ", destination.shape().str(),
                " with ", rows.size(), " rows");
  for (size_t i = 0; i < rows.size(); ++i) {
    BRANCHY_CHECK(rows[i] >= 0 && rows[i] < destination.dim(0), "scatter row ", rows[i],
                  " out of range for batch ", destination.dim(0));
    std::memcpy(destination.data() + rows[i] * row_size, source.data() + i * row_size,
                sizeof(float) * row_size);
  }
}

Tensor concat_batch(const std::vector<Tensor>& parts) {
  BRANCHY_CHECK(!parts.empty(), "concat_batch of no tensors");
  int64_t total = 0;
  for (const Tensor& p : parts) {
    BRANCHY_CHECK(p.shape().with_batch(1) == parts[0].shape().with_batch(1),
                  "concat_batch of ", p.shape().str(), " and ", parts[0].shape().str());
    total += p.dim(0);
  }
  Tensor out = Tensor::uninitialized(parts[0].shape().with_batch(total));
  float* write = out.data();
  for (const Tensor& p : parts) {
    std::memcpy(write, p.data(), sizeof(float) * static_cast<size_t>(p.numel()));
    write += p.numel();
  }
  return out;
}

float max_abs_difference(const Tensor& a, const Tensor& b) {
  BRANCHY_CHECK(a.shape() == b.shape(), "comparing tensors of shapes ", a.shape().str(), " and ",
                b.shape().str());
  float worst = 0.0f;
  for (int64_t i = 0; i < a.numel(); ++i) {
    float d = std::fabs(a[i] - b[i]);
    if (std::isnan(d)) return d;
    worst = std::max(worst, d);
  }
  return worst;
}

}  // namespace branchy
