#include "datasets/image_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>

#include "datasets/file_bytes.h"
#include "datasets/image_file.h"
#include "engine/error.h"
#include "engine/rng.h"

namespace branchy {

namespace fs = std::filesystem;

namespace {

// The training order is shuffled with this fixed seed (see the header).
constexpr uint64_t training_order_seed = 0x1a9ef01d3;

struct LabelledFile {
  std::string path;
  int label = 0;
};

bool is_hidden(const fs::path& path) { return path.filename().string().starts_with("."); }

bool has_image_extension(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* known :
       {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga", ".pgm", ".ppm", ".pnm"})
    if (extension == known) return true;
  return false;
}

fs::path existing_folder(const fs::path& path) {
  std::error_code error;
  BRANCHY_CHECK(fs::is_directory(path, error), "image folder ", path.string(),
                ": missing (expected DIR/train/CLASS/* and DIR/test/CLASS/*)");
  return path;
}

std::vector<std::string> sorted_subfolders(const fs::path& folder) {
  std::vector<std::string> names;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder))
    if (entry.is_directory() && !is_hidden(entry.path()))
      names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The image files of one split, class by class, each class's files sorted by name.
std::vector<LabelledFile> list_split(const fs::path& split_folder,
                                  const std::vector<std::string>& class_names,
                                  bool every_class_needs_images) {
  std::vector<LabelledFile> files;
  for (const std::string& folder_name : sorted_subfolders(split_folder)) {
    const auto found = std::find(class_names.begin(), class_names.end(), folder_name);
    BRANCHY_CHECK(found != class_names.end(), "image folder ",
                  (split_folder / folder_name).string(), ": class '", folder_name,
                  "' is not one of the training classes");
    const int label = static_cast<int>(found - class_names.begin());
    std::vector<std::string> paths;
    for (const fs::directory_entry& entry : fs::directory_iterator(split_folder / folder_name))
      if (entry.is_regular_file() && !is_hidden(entry.path()) && has_image_extension(entry.path()))
        paths.push_back(entry.path().string());
    BRANCHY_CHECK(!every_class_needs_images || !paths.empty(), "image folder ",
                  (split_folder / folder_name).string(), ": class '", folder_name,
                  "' has no images");
    std::sort(paths.begin(), paths.end());
    for (std::string& path : paths) files.push_back({std::move(path), label});
  }
  BRANCHY_CHECK(!files.empty(), "image folder ", split_folder.string(), ": no images");
  return files;
}

struct ImageGeometry {
  int width = 0;
  int height = 0;
  int channels = 0;  // 1 or 3, what the dataset stores
  std::string first_path;
};

// Reads every file's header once, so sizes are checked before any pixels are
// decoded or any memory is reserved for them.
void check_geometry(const std::vector<LabelledFile>& files, ImageGeometry& geometry) {
  for (const LabelledFile& file : files) {
    const ImageHeader header = read_image_file(file.path).header;
    if (geometry.first_path.empty()) {
      geometry.width = header.width;
      geometry.height = header.height;
      geometry.first_path = file.path;
    }
    BRANCHY_CHECK(header.width == geometry.width && header.height == geometry.height, "file ", file.path,
                  ": image size ", header.width, "x", header.height, " differs from ", geometry.width, "x",
                  geometry.height, " of ", geometry.first_path, "; all images of a dataset must have one size");
    if (header.channels >= 3) geometry.channels = 3;  // grey(+alpha) is 1 or 2 channels
    geometry.channels = std::max(geometry.channels, 1);
  }
}

Dataset decode_split(const std::vector<LabelledFile>& files, const ImageGeometry& geometry,
                     const std::vector<std::string>& class_names, const std::string& name) {
  Dataset data;
  data.channels = geometry.channels;
  data.height = geometry.height;
  data.width = geometry.width;
  data.num_classes = static_cast<int>(class_names.size());
  data.class_names = class_names;
  data.name = name;
  const int64_t plane = int64_t{geometry.height} * geometry.width;
  const uint64_t total_bytes = files.size() * static_cast<uint64_t>(plane * geometry.channels);
  BRANCHY_CHECK(total_bytes <= max_data_file_bytes, "image folder ", name, ": ", files.size(), " images of ",
                geometry.width, "x", geometry.height, "x", geometry.channels, " would take ", total_bytes,
                " bytes, more than the ", max_data_file_bytes, " branchy holds in memory");
  data.pixels.resize(total_bytes);
  for (size_t i = 0; i < files.size(); ++i) {
    const ImageFile file = read_image_file(files[i].path);
    BRANCHY_CHECK(file.header.width == geometry.width && file.header.height == geometry.height, "file ",
                  files[i].path, ": image size changed while the dataset was read");
    const DecodedImage decoded = decode_image(file, geometry.channels);
    // stb gives (H, W, C) interleaved; we store (C, H, W) planes.
    uint8_t* sample = data.pixels.data() + i * static_cast<size_t>(plane * geometry.channels);
    for (int c = 0; c < geometry.channels; ++c)
      for (int64_t p = 0; p < plane; ++p) sample[c * plane + p] = decoded.pixels[p * geometry.channels + c];
    data.labels.push_back(files[i].label);
  }
  return data;
}

}  // namespace

ImageFolderTrainTest read_image_folder(const std::string& directory) {
  const fs::path root = existing_folder(directory);
  const fs::path train_folder = existing_folder(root / "train");
  const fs::path test_folder = existing_folder(root / "test");
  const std::vector<std::string> class_names = sorted_subfolders(train_folder);
  BRANCHY_CHECK(!class_names.empty(), "image folder ", train_folder.string(),
                ": no class sub-folders");
  std::vector<LabelledFile> train_files = list_split(train_folder, class_names, true);
  const std::vector<LabelledFile> test_files = list_split(test_folder, class_names, false);

  ImageGeometry geometry;
  check_geometry(train_files, geometry);
  check_geometry(test_files, geometry);
  Rng order(training_order_seed);
  order.shuffle(train_files);

  const std::string name = "folder:" + directory;
  ImageFolderTrainTest splits;
  splits.train = decode_split(train_files, geometry, class_names, name + "/train");
  splits.test = decode_split(test_files, geometry, class_names, name + "/test");
  return splits;
}

}  // namespace branchy
