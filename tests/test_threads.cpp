// The thread count as a setting: scopes set it and restore it on exit, nested
// or unwound by an exception, and counts outside [1, 4 x cores] are refused
// with a message naming the bound.
#include <catch2/catch.hpp>

#include <omp.h>

#include <string>

#include "engine/error.h"
#include "engine/threads.h"

using namespace branchy;

TEST_CASE("a thread count scope sets the count and restores it, nested", "[threads]") {
  const int before = num_threads();
  {
    ThreadCountScope one(1);
    REQUIRE(num_threads() == 1);
    REQUIRE_FALSE(worth_parallel(int64_t{1} << 30));  // one thread never wakes a team
    {
      ThreadCountScope two(2);
      REQUIRE(num_threads() == 2);
      REQUIRE(omp_get_max_threads() == 2);
      REQUIRE(worth_parallel(int64_t{1} << 30));
    }
    REQUIRE(num_threads() == 1);
  }
  REQUIRE(num_threads() == before);
}

TEST_CASE("a thread count scope restores the count when an exception unwinds it", "[threads]") {
  const int before = num_threads();
  try {
    ThreadCountScope two(2);
    fail("something inside the scope failed");
  } catch (const Error&) {
  }
  REQUIRE(num_threads() == before);
}

TEST_CASE("thread counts below 1 or above 4 x the cores are refused, naming the bound", "[threads]") {
  const int before = num_threads();
  const int most = max_thread_count();
  REQUIRE(most >= 4);
  const std::string bound = "between 1 and " + std::to_string(most);
  REQUIRE_THROWS_WITH(set_num_threads(0), Catch::Contains(bound) && Catch::Contains("got 0"));
  REQUIRE_THROWS_WITH(set_num_threads(-3), Catch::Contains(bound));
  REQUIRE_THROWS_WITH(set_num_threads(100000), Catch::Contains(bound) && Catch::Contains("got 100000"));
  REQUIRE_THROWS_WITH(ThreadCountScope(most + 1), Catch::Contains(bound));
  REQUIRE(num_threads() == before);  // a refused count changes nothing
  {
    ThreadCountScope largest(most);
    REQUIRE(num_threads() == most);
  }
  REQUIRE(num_threads() == before);
}
