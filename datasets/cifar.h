// cifar.h — CIFAR-10 and CIFAR-100 in their binary ("-bin") format.
//
// A record is the label byte(s) then 3072 pixel bytes: the R, G and B planes
// of a 32x32 image, each row-major — already (C, H, W). CIFAR-10 records have
// one label byte (0..9); CIFAR-100 records have two (coarse 0..19, fine
// 0..99), and we use the fine label.
//   CIFAR-10 folder:  data_batch_1.bin .. data_batch_5.bin, test_batch.bin,
//                     optional batches.meta.txt (class names, one a line)
//   CIFAR-100 folder: train.bin, test.bin, optional fine_label_names.txt
// Files may also be gzip-compressed (told by content).
//
// Requires: a folder with those files.
// Ensures:  (N, 3, 32, 32) images with labels in [0, 10) or [0, 100).
// Fails:    Error naming the file: missing, a size that is not a "multiple"
//           of the record size, a label "out of range", a names file with the
//           wrong number of names.
#pragma once

#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace branchy {

enum class CifarKind { cifar10, cifar100 };

// Reads the records of `paths` (in order) into one Dataset.
Dataset read_cifar_records(const std::vector<std::string>& paths, CifarKind kind,
                           const std::vector<std::string>& class_names, const std::string& name);

// The class names of the CIFAR folder `directory`: from its names file when
// present, else the standard CIFAR-10 names or "0".."99" for CIFAR-100.
std::vector<std::string> cifar_class_names(const std::string& directory, CifarKind kind);

struct CifarTrainTest {
  Dataset train;  // the whole training set (50,000 in the real data)
  Dataset test;
};
CifarTrainTest read_cifar(const std::string& directory, CifarKind kind);

}  // namespace branchy
