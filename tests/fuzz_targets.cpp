#include "fuzz_targets.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "bin/cli.h"
#include "datasets/cifar.h"
#include "datasets/idx.h"
#include "datasets/image_file.h"
#include "engine/error.h"
#include "engine/threads.h"
#include "pipeline/model_file.h"

namespace branchy::fuzz {

namespace {

// The scratch file the file parsers read: in memory (/dev/shm) when the
// machine has it, one per process so that parallel fuzzers do not collide.
const std::string& scratch_path() {
  static const std::string path = [] {
    const std::filesystem::path folder =
        std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    return (folder / ("branchy-fuzz-" + std::to_string(getpid()))).string();
  }();
  return path;
}

const std::string& write_scratch(const uint8_t* data, size_t size) {
  const std::string& path = scratch_path();
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file || std::fwrite(data, 1, size, file) != size || std::fclose(file) != 0)
    throw std::runtime_error("cannot write the fuzzer's scratch file " + path);
  return path;
}

// Runs `parse`; a branchy::Error is the expected way to refuse bad bytes.
template <typename Parse>
void refused_or_parsed(Parse parse) {
  try {
    parse();
  } catch (const Error&) {
  }
}

}  // namespace

void idx_file(const uint8_t* data, size_t size) {
  const std::string& path = write_scratch(data, size);
  refused_or_parsed([&] { read_idx_images(path); });
  refused_or_parsed([&] { read_idx_labels(path, 10); });
}

std::vector<std::string> numbered_names(int count) {
  std::vector<std::string> names;
  for (int c = 0; c < count; ++c) names.push_back(std::to_string(c));
  return names;
}

void cifar_file(const uint8_t* data, size_t size) {
  static const std::vector<std::string> names10 = numbered_names(10), names100 = numbered_names(100);
  const std::string& path = write_scratch(data, size);
  refused_or_parsed([&] { read_cifar_records({path}, CifarKind::cifar10, names10, "fuzz"); });
  refused_or_parsed([&] { read_cifar_records({path}, CifarKind::cifar100, names100, "fuzz"); });
}

void image_file(const uint8_t* data, size_t size) {
  const std::string& path = write_scratch(data, size);
  refused_or_parsed([&] {
    const ImageFile file = read_image_file(path);
    decode_image(file, 1);
    decode_image(file, 3);
  });
}

void model_file(const uint8_t* data, size_t size) {
  const std::string& path = write_scratch(data, size);
  ThreadCountScope one_thread(1);
  refused_or_parsed([&] { load_model(path); });
}

void command_line(const uint8_t* data, size_t size) {
  // One word a line; a command line has at most 64 words.
  std::vector<std::string> words = {"branchy"};
  std::string word;
  for (size_t i = 0; i < size && words.size() < 64; ++i) {
    if (data[i] == '\n') {
      words.push_back(word);
      word.clear();
    } else {
      word.push_back(static_cast<char>(data[i]));
    }
  }
  if (!word.empty() && words.size() < 64) words.push_back(word);
  std::vector<const char*> argv;
  for (const std::string& w : words) argv.push_back(w.c_str());
  static std::FILE* discard = std::fopen("/dev/null", "w");
  check_command_line(static_cast<int>(argv.size()), argv.data(), discard, discard);
}

Target target_named(const std::string& name) {
  if (name == "idx") return idx_file;
  if (name == "cifar") return cifar_file;
  if (name == "image") return image_file;
  if (name == "model") return model_file;
  if (name == "cli") return command_line;
  return nullptr;
}

}  // namespace branchy::fuzz
