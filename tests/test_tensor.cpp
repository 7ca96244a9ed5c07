#include <catch2/catch.hpp>

#include <cstdint>

#include "engine/error.h"
#include "engine/tensor.h"

using namespace branchy;

TEST_CASE("tensor storage is zeroed, contiguous and 64-byte aligned", "[tensor]") {
  Tensor t(Shape{3, 2, 5, 7});
  REQUIRE(t.numel() == 210);
  REQUIRE(reinterpret_cast<uintptr_t>(t.data()) % 64 == 0);
  for (int64_t i = 0; i < t.numel(); ++i) REQUIRE(t[i] == 0.0f);
  t.at(2, 1, 4, 6) = 5.0f;
  REQUIRE(t[t.numel() - 1] == 5.0f);
  REQUIRE(t.shape().str() == "(3, 2, 5, 7)");
}

TEST_CASE("batch slices and reshapes are views; clone is a copy", "[tensor]") {
  Tensor t = Tensor::from_vector(Shape{4, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  Tensor middle = t.batch_slice(1, 3);
  REQUIRE(middle.shape() == Shape{2, 3});
  REQUIRE(middle[0] == 3.0f);
  middle[0] = -1.0f;
  REQUIRE(t[3] == -1.0f);
  REQUIRE(middle.shares_storage_with(t));
  Tensor copy = t.clone();
  copy[0] = 42.0f;
  REQUIRE(t[0] == 0.0f);
  REQUIRE(t.reshaped(Shape{2, 6})[6] == 6.0f);
  REQUIRE_THROWS_AS(t.reshaped(Shape{5, 2}), Error);
  REQUIRE_THROWS_AS(t.batch_slice(2, 5), Error);
}

TEST_CASE("gather and scatter of batch rows are inverse", "[tensor]") {
  Tensor t = Tensor::from_vector(Shape{4, 2}, {0, 1, 10, 11, 20, 21, 30, 31});
  Tensor picked = gather_rows(t, {3, 1});
  REQUIRE(picked.shape() == Shape{2, 2});
  REQUIRE(picked.to_vector() == std::vector<float>{30, 31, 10, 11});
  Tensor back(Shape{4, 2});
  scatter_rows(picked, {3, 1}, back);
  REQUIRE(back.to_vector() == std::vector<float>{0, 0, 10, 11, 0, 0, 30, 31});
  REQUIRE(concat_batch({picked, t.batch_slice(0, 1)}).to_vector() ==
          std::vector<float>{30, 31, 10, 11, 0, 1});
  REQUIRE_THROWS_AS(gather_rows(t, {4}), Error);
}
