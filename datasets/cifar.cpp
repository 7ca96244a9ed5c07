#include "datasets/cifar.h"

#include <fstream>

#include "datasets/file_bytes.h"
#include "engine/error.h"

namespace branchy {

namespace {

constexpr int cifar_side = 32;
constexpr int cifar_channels = 3;
constexpr int64_t cifar_image_bytes = cifar_channels * cifar_side * cifar_side;  // 3072

struct RecordLayout {
  int label_bytes;   // bytes before the pixels
  int label_offset;  // which of them is the label we use
  int num_classes;
};

RecordLayout layout_of(CifarKind kind) {
  if (kind == CifarKind::cifar10) return {1, 0, 10};
  return {2, 1, 100};  // coarse, fine: use the fine label
}

std::string kind_name(CifarKind kind) {
  return kind == CifarKind::cifar10 ? "cifar10" : "cifar100";
}

std::string join_path(const std::string& directory, const std::string& file) {
  return directory.empty() || directory.back() == '/' ? directory + file : directory + "/" + file;
}

}  // namespace

Dataset read_cifar_records(const std::vector<std::string>& paths, CifarKind kind,
                           const std::vector<std::string>& class_names, const std::string& name) {
  const RecordLayout layout = layout_of(kind);
  BRANCHY_CHECK(static_cast<int>(class_names.size()) == layout.num_classes, "dataset ", name, ": ",
                class_names.size(), " class names for ", layout.num_classes, " classes");
  const int64_t record_bytes = layout.label_bytes + cifar_image_bytes;
  Dataset data;
  data.channels = cifar_channels;
  data.height = cifar_side;
  data.width = cifar_side;
  data.num_classes = layout.num_classes;
  data.class_names = class_names;
  data.name = name;
  for (const std::string& path : paths) {
    const std::vector<uint8_t> bytes = read_file_bytes(path);
    const int64_t size = static_cast<int64_t>(bytes.size());
    BRANCHY_CHECK(size > 0 && size % record_bytes == 0, "file ", path, ": size ", size,
                  " bytes is not a multiple of the ", kind_name(kind), " record size ",
                  record_bytes, " (", layout.label_bytes, " label byte",
                  layout.label_bytes > 1 ? "s" : "", " + 3072 pixel bytes)");
    const int64_t records = size / record_bytes;
    data.pixels.reserve(data.pixels.size() + static_cast<size_t>(records * cifar_image_bytes));
    for (int64_t r = 0; r < records; ++r) {
      const uint8_t* record = bytes.data() + r * record_bytes;
      const int label = record[layout.label_offset];
      BRANCHY_CHECK(label < layout.num_classes, "file ", path, ": label ", label, " of record ", r,
                    " out of range [0, ", layout.num_classes, ")");
      data.labels.push_back(label);
      data.pixels.insert(data.pixels.end(), record + layout.label_bytes, record + record_bytes);
    }
  }
  return data;
}

std::vector<std::string> cifar_class_names(const std::string& directory, CifarKind kind) {
  const RecordLayout layout = layout_of(kind);
  const std::string names_path = join_path(
      directory, kind == CifarKind::cifar10 ? "batches.meta.txt" : "fine_label_names.txt");
  if (!is_regular_file(names_path)) {
    if (kind == CifarKind::cifar10)
      return {"airplane", "automobile", "bird",  "cat",  "deer",
              "dog",      "frog",       "horse", "ship", "truck"};
    std::vector<std::string> numbers;
    for (int c = 0; c < layout.num_classes; ++c) numbers.push_back(std::to_string(c));
    return numbers;
  }
  std::ifstream file(names_path);
  BRANCHY_CHECK(file, "cannot open file ", names_path);
  std::vector<std::string> names;
  std::string line;
  while (std::getline(file, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);  // the real files end with blank lines
  }
  BRANCHY_CHECK(static_cast<int>(names.size()) == layout.num_classes, "file ", names_path,
                ": holds ", names.size(), " class names, expected ", layout.num_classes);
  return names;
}

CifarTrainTest read_cifar(const std::string& directory, CifarKind kind) {
  std::vector<std::string> train_files, test_files;
  if (kind == CifarKind::cifar10) {
    for (int b = 1; b <= 5; ++b)
      train_files.push_back(join_path(directory, "data_batch_" + std::to_string(b) + ".bin"));
    test_files.push_back(join_path(directory, "test_batch.bin"));
  } else {
    train_files.push_back(join_path(directory, "train.bin"));
    test_files.push_back(join_path(directory, "test.bin"));
  }
  // Name every missing file at once, before reading hundreds of megabytes.
  std::string missing;
  for (const auto* files : {&train_files, &test_files})
    for (const std::string& path : *files)
      if (!is_regular_file(path)) missing += (missing.empty() ? "" : ", ") + path;
  BRANCHY_CHECK(missing.empty(), kind_name(kind), " folder ", directory, ": missing file(s) ",
                missing);
  const std::vector<std::string> names = cifar_class_names(directory, kind);
  CifarTrainTest splits;
  splits.train = read_cifar_records(train_files, kind, names, kind_name(kind) + "/train");
  splits.test = read_cifar_records(test_files, kind, names, kind_name(kind) + "/test");
  return splits;
}

}  // namespace branchy
