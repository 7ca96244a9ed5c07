#include "datasets/load.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

#include "datasets/cifar.h"
#include "datasets/file_bytes.h"
#include "datasets/idx.h"
#include "datasets/image_folder.h"
#include "engine/error.h"

namespace branchy {

namespace {

const std::vector<std::string> fashion_mnist_class_names = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

const std::vector<std::string> mnist_class_names = {"0", "1", "2", "3", "4",
                                                    "5", "6", "7", "8", "9"};

std::string join_path(const std::string& directory, const std::string& file) {
  return directory.empty() || directory.back() == '/' ? directory + file : directory + "/" + file;
}

// The four idx files of an MNIST-format folder: "DIR/base" if it exists, else
// "DIR/base.gz". Every missing one is named in one Error.
std::vector<std::string> find_idx_files(const std::string& directory,
                                        const std::string& install_hint) {
  std::vector<std::string> found, missing;
  for (const char* base : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"}) {
    const std::string plain = join_path(directory, base);
    if (is_regular_file(plain)) {
      found.push_back(plain);
    } else if (is_regular_file(plain + ".gz")) {
      found.push_back(plain + ".gz");
    } else {
      missing.push_back(plain + "[.gz]");
    }
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string& path : missing) list += (list.empty() ? "" : ", ") + path;
    fail("missing file(s) ", list, install_hint);
  }
  return found;
}

DatasetSplits load_mnist_format(const std::string& directory,
                                const std::vector<std::string>& class_names,
                                const std::string& name, const std::string& install_hint,
                                const SplitOptions& options) {
  const std::vector<std::string> files = find_idx_files(directory, install_hint);
  const Dataset train = read_idx_dataset(files[0], files[1], class_names, name + "/train");
  const Dataset test = read_idx_dataset(files[2], files[3], class_names, name + "/test");
  return split_dataset(train, test, options, name);
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.rfind(prefix, 0) == 0;
}

bool is_directory(const std::string& path) {
  std::error_code error;
  return std::filesystem::is_directory(path, error);
}

}  // namespace

std::string dataset_spec_forms() {
  return "  fashion-mnist        Debian's dataset-fashion-mnist files in "
         "/usr/share/datasets/fashion-mnist\n"
         "  fashion-mnist:DIR    the four Fashion-MNIST idx files in DIR\n"
         "  mnist:DIR or DIR     the four MNIST idx files (plain or .gz) in DIR\n"
         "  cifar10:DIR          CIFAR-10 binary: data_batch_1..5.bin, test_batch.bin\n"
         "  cifar100:DIR         CIFAR-100 binary: train.bin, test.bin\n"
         "  folder:DIR           images in DIR/train/CLASS/ and DIR/test/CLASS/\n";
}

DatasetSplits split_dataset(const Dataset& full_train, const Dataset& test,
                            const SplitOptions& options, const std::string& base_name) {
  const int64_t total = full_train.size();
  int64_t validation = options.validation_count;
  if (options.validation_fraction != 0.0) {
    BRANCHY_CHECK(options.validation_fraction > 0.0 && options.validation_fraction < 1.0,
                  "dataset ", base_name, ": validation fraction ", options.validation_fraction,
                  " is not in (0, 1)");
    validation = std::llround(options.validation_fraction * static_cast<double>(total));
  }
  BRANCHY_CHECK(validation >= 0 && validation < total, "dataset ", base_name,
                ": a validation split of ", validation,
                " samples leaves no training samples out of ", total,
                "; choose a smaller validation size");
  BRANCHY_CHECK(options.train_limit >= 0 && options.test_limit >= 0, "dataset ", base_name,
                ": negative sample limit");
  const int64_t train_end = total - validation;
  const int64_t train_kept =
      options.train_limit > 0 ? std::min(options.train_limit, train_end) : train_end;
  const int64_t test_kept =
      options.test_limit > 0 ? std::min(options.test_limit, test.size()) : test.size();
  DatasetSplits splits;
  splits.train = full_train.slice(0, train_kept, base_name + "/train");
  splits.validation = full_train.slice(train_end, total, base_name + "/validation");
  splits.test = test.slice(0, test_kept, base_name + "/test");
  return splits;
}

DatasetSplits load_dataset(const std::string& spec, const SplitOptions& options) {
  const std::string install_hint =
      "; Fashion-MNIST comes from Debian's dataset-fashion-mnist package: run `make deps` "
      "(or apt-get install dataset-fashion-mnist)";
  if (spec == "fashion-mnist")
    return load_mnist_format(fashion_mnist_directory, fashion_mnist_class_names, "fashion-mnist",
                             install_hint, options);
  if (starts_with(spec, "fashion-mnist:"))
    return load_mnist_format(spec.substr(14), fashion_mnist_class_names, "fashion-mnist", "",
                             options);
  if (starts_with(spec, "mnist:"))
    return load_mnist_format(spec.substr(6), mnist_class_names, "mnist", "", options);
  for (CifarKind kind : {CifarKind::cifar10, CifarKind::cifar100}) {
    const std::string prefix = kind == CifarKind::cifar10 ? "cifar10:" : "cifar100:";
    if (starts_with(spec, prefix)) {
      CifarTrainTest files = read_cifar(spec.substr(prefix.size()), kind);
      return split_dataset(files.train, files.test, options, prefix.substr(0, prefix.size() - 1));
    }
  }
  if (starts_with(spec, "folder:")) {
    ImageFolderTrainTest files = read_image_folder(spec.substr(7));
    return split_dataset(files.train, files.test, options, spec);
  }
  if (!spec.empty() && is_directory(spec))
    return load_mnist_format(spec, mnist_class_names, "mnist", "", options);
  fail("unknown dataset '", spec, "' (not one of the forms below, and not a folder); accepted:\n",
       dataset_spec_forms());
}

}  // namespace branchy
