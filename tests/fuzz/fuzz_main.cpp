// The libFuzzer entry point of one target of tests/fuzz_targets.h; the
// Makefile builds this file once per target with -DFUZZ_TARGET=name.
#include <cstddef>
#include <cstdint>

#include "fuzz_targets.h"

#define BRANCHY_STRINGIFY(x) #x
#define BRANCHY_NAME(x) BRANCHY_STRINGIFY(x)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const branchy::fuzz::Target target = branchy::fuzz::target_named(BRANCHY_NAME(FUZZ_TARGET));
  target(data, size);
  return 0;
}
