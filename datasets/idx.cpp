#include "datasets/idx.h"

#include <cstdio>

#include "datasets/file_bytes.h"
#include "engine/error.h"

namespace branchy {

namespace {

uint32_t read_big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string hex32(uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", value);
  return text;
}

std::string describe_magic(uint32_t magic) {
  if (magic == idx_images_magic) return "idx3 image file";
  if (magic == idx_labels_magic) return "idx1 label file";
  return "idx file of unsigned bytes";
}

// The idx payload of `path` after its header has been checked: magic equal to
// `expected_magic`, and exactly as many data bytes as the dimensions say.
struct IdxPayload {
  std::vector<uint8_t> bytes;  // the whole file; data starts at data_offset
  std::vector<int64_t> dims;
  size_t data_offset = 0;
};

// What the header at the start of `path` declares the whole file to hold, in
// bytes, when it has the expected magic and dimensions that fit in 64 bits;
// else max_data_file_bytes (the checks after reading then say what is wrong).
uint64_t declared_file_bytes(const std::string& path, uint32_t expected_magic) {
  const size_t rank = expected_magic & 0xff, header = 4 + 4 * rank;
  const std::vector<uint8_t> head = read_file_head(path, header);
  if (head.size() < header || read_big_endian_u32(head.data()) != expected_magic) return max_data_file_bytes;
  unsigned __int128 total = 1;
  for (size_t d = 0; d < rank; ++d) total *= read_big_endian_u32(head.data() + 4 + 4 * d);
  total += header;
  return total > max_data_file_bytes ? max_data_file_bytes : static_cast<uint64_t>(total);
}

IdxPayload read_idx_payload(const std::string& path, uint32_t expected_magic) {
  IdxPayload idx;
  // A gzip file that inflates past what its header declares stops there.
  idx.bytes = read_file_bytes(path, declared_file_bytes(path, expected_magic),
                             "the dimensions in its idx header declare that many");
  const std::vector<uint8_t>& bytes = idx.bytes;
  BRANCHY_CHECK(bytes.size() >= 4, "file ", path, ": wrong magic: only ", bytes.size(),
                " bytes, too short for the 4-byte idx magic ", hex32(expected_magic));
  const uint32_t magic = read_big_endian_u32(bytes.data());
  if (magic != expected_magic) {
    const bool idx_like = (magic >> 8) == 0x08;
    fail("file ", path, ": wrong magic ", hex32(magic), ", expected ", hex32(expected_magic), " (",
         describe_magic(expected_magic), ")",
         idx_like ? "; this looks like an " + describe_magic(magic) : std::string());
  }
  const size_t rank = expected_magic & 0xff;
  idx.data_offset = 4 + 4 * rank;
  BRANCHY_CHECK(bytes.size() >= idx.data_offset, "file ", path, ": header truncated: ", rank,
                " dimensions need ", idx.data_offset, " header bytes, the file has ", bytes.size());
  const uint64_t data_bytes = bytes.size() - idx.data_offset;
  // The product of up to three uint32 sizes can overflow 64 bits; 128 cannot.
  unsigned __int128 expected_bytes = 1;
  std::string dims_text;
  for (size_t d = 0; d < rank; ++d) {
    const uint32_t size = read_big_endian_u32(bytes.data() + 4 + 4 * d);
    idx.dims.push_back(size);
    dims_text += (d ? "x" : "") + std::to_string(size);
    expected_bytes *= size;
  }
  BRANCHY_CHECK(expected_bytes == data_bytes, "file ", path, ": dimensions ", dims_text,
                " do not match the file size: they need ",
                (expected_bytes >> 64) != 0 ? std::string("more than 2^64")
                                            : std::to_string(static_cast<uint64_t>(expected_bytes)),
                " data bytes after the ", idx.data_offset, "-byte header, the file holds ",
                data_bytes);
  return idx;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  IdxPayload idx = read_idx_payload(path, idx_images_magic);
  IdxImages images;
  images.count = idx.dims[0];
  BRANCHY_CHECK(idx.dims[1] > 0 && idx.dims[2] > 0, "file ", path, ": dimensions ", idx.dims[0],
                "x", idx.dims[1], "x", idx.dims[2], " have an empty image size");
  BRANCHY_CHECK(idx.dims[1] <= 65536 && idx.dims[2] <= 65536, "file ", path, ": dimensions ",
                idx.dims[1], "x", idx.dims[2], " are too large for an image");
  images.height = static_cast<int>(idx.dims[1]);
  images.width = static_cast<int>(idx.dims[2]);
  // Drop the header in place rather than copying tens of megabytes.
  idx.bytes.erase(idx.bytes.begin(),
                  idx.bytes.begin() + static_cast<std::ptrdiff_t>(idx.data_offset));
  images.pixels = std::move(idx.bytes);
  return images;
}

std::vector<int> read_idx_labels(const std::string& path, int num_classes) {
  IdxPayload idx = read_idx_payload(path, idx_labels_magic);
  std::vector<int> labels(static_cast<size_t>(idx.dims[0]));
  for (size_t i = 0; i < labels.size(); ++i) {
    labels[i] = idx.bytes[idx.data_offset + i];
    BRANCHY_CHECK(labels[i] < num_classes, "file ", path, ": label ", labels[i], " of sample ", i,
                  " out of range [0, ", num_classes, ")");
  }
  return labels;
}

Dataset read_idx_dataset(const std::string& images_path, const std::string& labels_path,
                         const std::vector<std::string>& class_names, const std::string& name) {
  const int num_classes = static_cast<int>(class_names.size());
  IdxImages images = read_idx_images(images_path);
  std::vector<int> labels = read_idx_labels(labels_path, num_classes);
  BRANCHY_CHECK(images.count == static_cast<int64_t>(labels.size()),
                "image and label counts differ: ", images_path, " holds ", images.count,
                " images but ", labels_path, " holds ", labels.size(), " labels");
  Dataset data;
  data.pixels = std::move(images.pixels);
  data.labels = std::move(labels);
  data.channels = 1;
  data.height = images.height;
  data.width = images.width;
  data.num_classes = num_classes;
  data.class_names = class_names;
  data.name = name;
  return data;
}

}  // namespace branchy
