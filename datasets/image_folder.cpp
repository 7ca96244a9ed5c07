#include "datasets/image_folder.h"

#include <stb_image.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>

#include "engine/error.h"
#include "engine/rng.h"

namespace branchy {

namespace fs = std::filesystem;

namespace {

// The training order is shuffled with this fixed seed (see the header).
constexpr uint64_t training_order_seed = 0x1a9ef01d3;

struct ImageFile {
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

std::string stb_reason() {
  const char* reason = stbi_failure_reason();
  return reason ? reason : "unknown reason";
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
std::vector<ImageFile> list_split(const fs::path& split_folder,
                                  const std::vector<std::string>& class_names,
                                  bool every_class_needs_images) {
  std::vector<ImageFile> files;
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

// Reads every header once, so sizes are checked before any pixels are decoded.
void check_geometry(const std::vector<ImageFile>& files, ImageGeometry& geometry) {
  for (const ImageFile& file : files) {
    int width = 0, height = 0, components = 0;
    if (!stbi_info(file.path.c_str(), &width, &height, &components))
      fail("file ", file.path, ": unreadable image (", stb_reason(), ")");
    if (geometry.first_path.empty()) {
      geometry.width = width;
      geometry.height = height;
      geometry.first_path = file.path;
    }
    BRANCHY_CHECK(width == geometry.width && height == geometry.height, "file ", file.path,
                  ": image size ", width, "x", height, " differs from ", geometry.width, "x",
                  geometry.height, " of ", geometry.first_path,
                  "; all images of a dataset must have one size");
    if (components >= 3) geometry.channels = 3;  // grey(+alpha) is 1 or 2 components
    geometry.channels = std::max(geometry.channels, 1);
  }
}

struct StbImageFree {
  void operator()(stbi_uc* pixels) const { stbi_image_free(pixels); }
};

Dataset decode_split(const std::vector<ImageFile>& files, const ImageGeometry& geometry,
                     const std::vector<std::string>& class_names, const std::string& name) {
  Dataset data;
  data.channels = geometry.channels;
  data.height = geometry.height;
  data.width = geometry.width;
  data.num_classes = static_cast<int>(class_names.size());
  data.class_names = class_names;
  data.name = name;
  const int64_t plane = int64_t{geometry.height} * geometry.width;
  data.pixels.resize(files.size() * static_cast<size_t>(plane * geometry.channels));
  for (size_t i = 0; i < files.size(); ++i) {
    int width = 0, height = 0, components = 0;
    std::unique_ptr<stbi_uc, StbImageFree> decoded(
        stbi_load(files[i].path.c_str(), &width, &height, &components, geometry.channels));
    if (!decoded) fail("file ", files[i].path, ": unreadable image (", stb_reason(), ")");
    BRANCHY_CHECK(width == geometry.width && height == geometry.height, "file ", files[i].path,
                  ": image size ", width, "x", height, " differs from its header");
    // stb gives (H, W, C) interleaved; we store (C, H, W) planes.
    uint8_t* sample = data.pixels.data() + i * static_cast<size_t>(plane * geometry.channels);
    for (int c = 0; c < geometry.channels; ++c)
      for (int64_t p = 0; p < plane; ++p)
        sample[c * plane + p] = decoded.get()[p * geometry.channels + c];
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
  std::vector<ImageFile> train_files = list_split(train_folder, class_names, true);
  const std::vector<ImageFile> test_files = list_split(test_folder, class_names, false);

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
