// load.h — one entry point that turns a `--data` spec into train,
// validation and test splits.
//
// Specs:
//   fashion-mnist          the idx .gz files of Debian's dataset-fashion-mnist
//                          (/usr/share/datasets/fashion-mnist)
//   fashion-mnist:DIR      the same four files in DIR (Fashion-MNIST class names)
//   mnist:DIR  or  DIR     a folder with the four MNIST idx files, plain or .gz:
//                          train-images-idx3-ubyte, train-labels-idx1-ubyte,
//                          t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte
//   cifar10:DIR            data_batch_1..5.bin, test_batch.bin
//   cifar100:DIR           train.bin, test.bin (fine labels)
//   folder:DIR             DIR/train/CLASS/*, DIR/test/CLASS/* (see image_folder.h)
//
// The validation split is the LAST samples of the training file (for MNIST
// and CIFAR those files are already in random order; image folders are put in
// a fixed random order on loading), so it is the same on every run and every
// machine. The test split is the test file, untouched.
//
// Requires: a spec of a form above naming existing, well-formed files.
// Ensures:  train + validation = the training file (train cut to train_limit
//           if set); all three splits share sample shape and class names.
// Fails:    Error: an unknown spec (listing the accepted forms), a missing file
//           (naming the path; for fashion-mnist saying how to install it), a
//           malformed file (see idx.h, cifar.h, image_folder.h), a validation
//           size that leaves no training samples.
#pragma once

#include <cstdint>
#include <string>

#include "datasets/dataset.h"

namespace branchy {

inline constexpr const char* fashion_mnist_directory = "/usr/share/datasets/fashion-mnist";

struct SplitOptions {
  int64_t validation_count = 5000;   // samples held out from the end of the training file
  double validation_fraction = 0.0;  // in (0, 1): overrides validation_count
  int64_t train_limit = 0;           // > 0: keep only the first train_limit training samples
  int64_t test_limit = 0;            // > 0: keep only the first test_limit test samples
};

DatasetSplits load_dataset(const std::string& spec, const SplitOptions& options = {});

// Holds the validation split out of `full_train` (named "<base_name>/train"
// etc.) and applies the limits. load_dataset's last step, public for tests
// and for datasets built in code.
DatasetSplits split_dataset(const Dataset& full_train, const Dataset& test,
                            const SplitOptions& options, const std::string& base_name);

// The accepted spec forms, one a line, for --help and error messages.
std::string dataset_spec_forms();

}  // namespace branchy
