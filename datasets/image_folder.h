// image_folder.h — a dataset of ordinary image files, one folder per class.
//
//   DIR/train/CLASS/*.png|jpg|...   DIR/test/CLASS/*
//
// Classes are the sub-folders of DIR/train, sorted by name (label = index).
// Files are read and checked by datasets/image_file.h (PNG, JPEG, BMP, binary
// PGM/PPM; GIF and TGA files are refused by name); other files and hidden
// entries are skipped. Grey images give 1 channel; if any
// image has colour, all are read as RGB (3 channels; grey ones repeated).
// Alpha is dropped. The training samples are put in a fixed pseudo-random
// order (always the same), so that a validation split taken from the end of
// the training set holds every class, not just the last ones.
//
// Requires: both folders, at least one class with at least one image, every
//           image the same width and height, test classes that exist in train.
// Ensures:  (N, C, H, W) images; labels index class_names.
// Fails:    Error naming the file or folder: missing, no classes or images,
//           an image image_file.h refuses (its reason), a "size" that
//           differs from the first image's, a test class unknown to train.
#pragma once

#include <string>
#include <vector>

#include "datasets/dataset.h"

namespace branchy {

struct ImageFolderTrainTest {
  Dataset train;
  Dataset test;
};

ImageFolderTrainTest read_image_folder(const std::string& directory);

}  // namespace branchy
