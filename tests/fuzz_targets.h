// fuzz_targets.h — one function per parser, taking arbitrary bytes.
//
// Each writes the bytes where its parser reads them (a scratch file, or the
// words of a command line) and runs the parser as branchy runs it. The only
// outcome allowed besides success is branchy::Error, the one-line message a
// user sees: any other exception escapes and a crash, a leak or an
// allocation past the fuzzer's -rss_limit_mb is the fuzzer's finding.
//
// The libFuzzer programs (tests/fuzz/fuzz_*.cpp, `make fuzz`) call these;
// so does tests/test_fuzz_inputs.cpp, which replays every seed and every
// past finding (tests/fuzz/seeds, tests/fuzz/findings) in the normal suite.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace branchy::fuzz {

void idx_file(const uint8_t* data, size_t size);      // idx images and labels, plain or gzip
void cifar_file(const uint8_t* data, size_t size);    // CIFAR-10 and CIFAR-100 records
void image_file(const uint8_t* data, size_t size);    // image_file.h's checks, then stb_image
void model_file(const uint8_t* data, size_t size);    // safetensors, metadata and network settings
void command_line(const uint8_t* data, size_t size);  // the words of `branchy ...`, one a line

// The target called `name` ("idx", "cifar", "image", "model" or "cli").
using Target = void (*)(const uint8_t*, size_t);
Target target_named(const std::string& name);

}  // namespace branchy::fuzz
