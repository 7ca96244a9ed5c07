#include "datasets/dataset.h"

#include "engine/error.h"

namespace branchy {

void bytes_to_unit_floats(const uint8_t* bytes, int64_t count, float* out) {
  for (int64_t i = 0; i < count; ++i) out[i] = unit_float(bytes[i]);
}

Tensor Dataset::images(int64_t begin, int64_t end) const {
  BRANCHY_CHECK(0 <= begin && begin <= end && end <= size(), "dataset ", name, ": samples [", begin,
                ", ", end, ") out of range for ", size(), " samples");
  Tensor out = Tensor::uninitialized(sample_shape().with_batch(end - begin));  // (n, C, H, W)
  bytes_to_unit_floats(sample(begin), (end - begin) * sample_bytes(), out.data());
  return out;
}

Tensor Dataset::images(const std::vector<int64_t>& indices) const {
  const int64_t count = static_cast<int64_t>(indices.size());
  Tensor out = Tensor::uninitialized(sample_shape().with_batch(count));  // (n, C, H, W)
  for (int64_t i = 0; i < count; ++i) {
    BRANCHY_CHECK(0 <= indices[i] && indices[i] < size(), "dataset ", name, ": sample ", indices[i],
                  " out of range for ", size(), " samples");
    bytes_to_unit_floats(sample(indices[i]), sample_bytes(), out.data() + i * sample_bytes());
  }
  return out;
}

Dataset Dataset::slice(int64_t begin, int64_t end, const std::string& new_name) const {
  BRANCHY_CHECK(0 <= begin && begin <= end && end <= size(), "dataset ", name, ": slice [", begin,
                ", ", end, ") out of range for ", size(), " samples");
  Dataset part;
  part.channels = channels;
  part.height = height;
  part.width = width;
  part.num_classes = num_classes;
  part.class_names = class_names;
  part.name = new_name;
  part.pixels.assign(sample(begin), sample(end));
  part.labels.assign(labels.begin() + begin, labels.begin() + end);
  return part;
}

void Dataset::check() const {
  BRANCHY_CHECK(channels >= 1 && height >= 1 && width >= 1, "dataset ", name, ": sample shape ",
                channels, "x", height, "x", width, " has an empty dimension");
  BRANCHY_CHECK(static_cast<int64_t>(pixels.size()) == size() * sample_bytes(), "dataset ", name,
                ": ", pixels.size(), " pixel bytes for ", size(), " samples of ", sample_bytes(),
                " bytes");
  BRANCHY_CHECK(static_cast<int>(class_names.size()) == num_classes, "dataset ", name, ": ",
                class_names.size(), " class names for ", num_classes, " classes");
  for (int64_t i = 0; i < size(); ++i)
    BRANCHY_CHECK(0 <= labels[i] && labels[i] < num_classes, "dataset ", name, ": label ",
                  labels[i], " of sample ", i, " out of range [0, ", num_classes, ")");
}

}  // namespace branchy
