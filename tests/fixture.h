// fixture.h — reads the reference files that tests/reference/make_fixtures.py
// writes with PyTorch (the llm.c way of testing layers: the oracle's inputs,
// outputs and gradients in one small binary file per case).
//
// File format "BFX1" (all integers little-endian):
//
//     4 bytes    magic "BFX1"
//     u32        tensor count
//     per tensor:
//       u32        name length in bytes
//       bytes      name (UTF-8, no terminator)
//       u32        rank (1..5)
//       i64[rank]  dimensions
//       f32[numel] values, row-major, little-endian
//
// Small integers (labels, a layer's `config`) are stored as float32 tensors.
//
// load_fixture(path)  requires: a readable file in the format above, with
//                     distinct names and nothing after the last tensor.
//                     ensures: every tensor, by name, in file order.
//                     fails: Error naming the file and what is wrong (bad
//                     magic, truncated at which tensor, rank out of range,
//                     negative dimension, duplicate name, trailing bytes).
// Fixture::get(name)  the tensor, or Error naming the file and the name.
// Fixture::get_ints   the tensor's values as ints, or Error for a value that
//                     is not a whole number.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace branchy::testing {

class Fixture {
 public:
  Fixture(std::string path, std::vector<std::pair<std::string, Tensor>> tensors)
      : path_(std::move(path)), tensors_(std::move(tensors)) {}

  const std::string& path() const { return path_; }
  bool has(const std::string& name) const;
  const Tensor& get(const std::string& name) const;
  std::vector<int> get_ints(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::string path_;
  std::vector<std::pair<std::string, Tensor>> tensors_;  // in file order
};

Fixture load_fixture(const std::string& path);

// The folder holding the committed fixtures: $BRANCHY_FIXTURES, or
// "tests/fixtures" (relative to the repository root, where `make test` runs).
std::string fixture_directory();

// Paths of the fixtures in fixture_directory() whose file name starts with
// `prefix` and ends in ".bin", sorted, so every case a prefix names is tested.
std::vector<std::string> fixture_paths(const std::string& prefix);

}  // namespace branchy::testing
