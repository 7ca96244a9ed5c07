#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "formats/atomic_file.h"
#include "formats/checkpoint.h"
#include "engine/error.h"

using namespace branchy;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("branchy-test-checkpoint-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(path_)) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  fs::path path_;
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string u64_little_endian(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  return bytes;
}

std::string float_bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float));
}

// A safetensors file from a header text (padded to 8 with spaces when asked) and data bytes.
std::string safetensors_file(std::string header, const std::string& data, bool pad = true) {
  if (pad) header.append((8 - header.size() % 8) % 8, ' ');
  return u64_little_endian(header.size()) + header + data;
}

bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
}

// Loading `path` must fail with a message that starts with the path and contains `expected`.
void require_load_error(const std::string& path, const std::string& expected) {
  try {
    load_safetensors(path);
  } catch (const Error& e) {
    const std::string message = e.what();
    INFO("message: " << message);
    CHECK(message.rfind(path, 0) == 0);
    CHECK(message.find(expected) != std::string::npos);
    return;
  }
  FAIL("loaded a damaged file; expected an error containing: " << expected);
}

}  // namespace

TEST_CASE("safetensors round trip keeps names, order, shapes, bits and metadata", "[checkpoint]") {
  TempDir dir;
  Tensor scalar = Tensor::from_vector(Shape(), {3.5f});  // 0-d
  Tensor bias = Tensor::from_vector(Shape{5}, {1.0f, -0.0f, 1e-42f, std::numeric_limits<float>::infinity(),
                                               std::numeric_limits<float>::quiet_NaN()});
  Tensor weight(Shape{2, 3, 2, 2});
  for (int64_t i = 0; i < weight.numel(); ++i) weight[i] = 0.25f * static_cast<float>(i) - 1.7f;
  Tensor empty(Shape{0, 3});
  const std::vector<NamedTensor> tensors = {
      {"stage0.conv1.weight", weight}, {"scalar", scalar}, {"empty", empty}, {"branch0.fc.bias", bias}};
  const std::map<std::string, std::string> metadata = {
      {"config", R"({"net": "b-lenet", "thresholds": [0.75, 0.5]})"},
      {"note", "line one\nline two\ttabbed \\ backslash \"quoted\""},
      {"unicode", "entropy \xE2\x86\x92 0.75 \xE2\x9C\x93 \xF0\x9F\x98\x80"},
      {"", "empty key"}};

  const std::string path = dir.file("model.safetensors");
  save_safetensors(path, tensors, metadata);
  const std::string bytes = read_bytes(path);
  REQUIRE(bytes == safetensors_bytes(tensors, metadata));
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  REQUIRE((8 + header_length) % 8 == 0);  // the data section starts 8-byte aligned
  REQUIRE(bytes.size() == 8 + header_length + 4 * (24 + 1 + 0 + 5));

  const Checkpoint loaded = load_safetensors(path);
  REQUIRE(loaded.metadata == metadata);
  REQUIRE(loaded.tensors.size() == tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    INFO(tensors[i].name);
    REQUIRE(loaded.tensors[i].name == tensors[i].name);
    REQUIRE(same_bytes(loaded.tensors[i].tensor, tensors[i].tensor));
    REQUIRE_FALSE(loaded.tensors[i].tensor.shares_storage_with(tensors[i].tensor));
  }
  REQUIRE(loaded.find("scalar")->rank() == 0);
  REQUIRE((*loaded.find("scalar"))[0] == 3.5f);
  REQUIRE(loaded.find("nope") == nullptr);
  REQUIRE(dir.listing() == std::vector<std::string>{"model.safetensors"});  // no temporary file left

  // No tensors and no metadata is a valid file too: "{}" plus padding.
  save_safetensors(path, {}, {});
  REQUIRE(read_bytes(path) == u64_little_endian(8) + "{}      ");
  REQUIRE(load_safetensors(path).tensors.empty());
}

TEST_CASE("safetensors bytes are exactly the format's", "[checkpoint]") {
  const Tensor a = Tensor::from_vector(Shape{2}, {1.0f, -2.0f});
  // The CRC-32 of the data bytes is Python's zlib.crc32(struct.pack("<2f", 1.0, -2.0)).
  const std::string expected =
      std::string("\x78\x00\x00\x00\x00\x00\x00\x00", 8) +  // header length 120, little-endian u64
      R"({"__metadata__":{"k":"v","branchy.crc32":"{\"a\":\"c3872656\"}"},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})"  // 118 bytes
      "  " +                                                // padding to 8 + 120 = 128, a multiple of 8
      std::string("\x00\x00\x80\x3F", 4) +                  // 1.0f  = 0x3F800000, little-endian
      std::string("\x00\x00\x00\xC0", 4);                   // -2.0f = 0xC0000000
  REQUIRE(safetensors_bytes({{"a", a}}, {{"k", "v"}}) == expected);

  TempDir dir;
  save_safetensors(dir.file("a.safetensors"), {{"a", a}}, {{"k", "v"}});
  REQUIRE(read_bytes(dir.file("a.safetensors")) == expected);
}

TEST_CASE("safetensors files written the way Python's library writes them load", "[checkpoint]") {
  TempDir dir;
  // Metadata first, compact JSON, tensors sorted by name, padding spaces: as
  // safetensors.torch.save_file writes.
  const std::string first = dir.file("metadata_first.safetensors");
  write_bytes(first, safetensors_file(R"({"__metadata__":{"format":"pt"},)"
                                      R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                                      R"("b":{"dtype":"F32","shape":[3],"data_offsets":[16,28]}})",
                                      float_bytes({1, 2, 3, 4, 5, 6, 7})));
  const Checkpoint one = load_safetensors(first);
  REQUIRE(one.metadata == std::map<std::string, std::string>{{"format", "pt"}});
  REQUIRE(one.tensors.size() == 2);
  REQUIRE(one.find("a")->shape() == Shape{2, 2});
  REQUIRE(one.find("a")->to_vector() == std::vector<float>{1, 2, 3, 4});
  REQUIRE(one.find("b")->to_vector() == std::vector<float>{5, 6, 7});

  // Metadata last, json.dumps-style spaces, header order unlike data order,
  // a 0-d tensor and a zero-size one.
  const std::string last = dir.file("metadata_last.safetensors");
  write_bytes(last, safetensors_file(R"({"z": {"dtype": "F32", "shape": [], "data_offsets": [8, 12]}, )"
                                     R"("e": {"dtype": "F32", "shape": [0, 4], "data_offsets": [0, 0]}, )"
                                     R"("y": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]}, )"
                                     R"("__metadata__": {"epoch": "3", "name": "b-lenet"}})",
                                     float_bytes({-1, -2, 9})));
  const Checkpoint two = load_safetensors(last);
  REQUIRE(two.tensors.size() == 3);
  REQUIRE(two.tensors[0].name == "z");  // header order
  REQUIRE(two.find("z")->rank() == 0);
  REQUIRE(two.find("z")->to_vector() == std::vector<float>{9});
  REQUIRE(two.find("e")->shape() == Shape{0, 4});
  REQUIRE(two.find("y")->to_vector() == std::vector<float>{-1, -2});
  REQUIRE(two.metadata.at("name") == "b-lenet");

  // Unpadded headers are legal too (the padding is a convention).
  const std::string unpadded = dir.file("unpadded.safetensors");
  write_bytes(unpadded, safetensors_file(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                         float_bytes({0.5f}), false));
  REQUIRE(load_safetensors(unpadded).find("w")->to_vector() == std::vector<float>{0.5f});
}

TEST_CASE("damaged safetensors files give errors naming the file and the problem", "[checkpoint]") {
  TempDir dir;
  int number = 0;
  // Writes `bytes` to a new file and requires loading it to fail with `expected`.
  const auto check = [&](const std::string& bytes, const std::string& expected) {
    const std::string path = dir.file("damaged" + std::to_string(number++) + ".safetensors");
    write_bytes(path, bytes);
    INFO("case " << number - 1);
    require_load_error(path, expected);
  };
  const auto tensor = [](const std::string& name, const std::string& shape, const std::string& offsets,
                         const std::string& dtype = "F32") {
    return "\"" + name + R"(":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}";
  };
  const std::string eight = float_bytes({1, 2});
  const std::string twelve = float_bytes({1, 2, 3});

  check("", "too short for a safetensors file");
  check(std::string("\x05\x00\x00", 3), "the file is 3 bytes, too short");
  check(u64_little_endian(1ULL << 40) + "{}", "is more than 100000000 bytes");
  check(u64_little_endian(100) + "{}", "header length 100 runs past the end of the file (10 bytes)");
  check(safetensors_file(R"({"a":)", ""), "header: line 1 column 9: syntax error while parsing value - unexpected end of input");
  check(safetensors_file(R"([1, 2])", ""), "the header is an array, expected a JSON object");
  check(safetensors_file("{" + tensor("a", "[2]", "[0,8]", "F16") + "}", eight), "dtype F16 is not supported");
  check(safetensors_file("{" + tensor("a", "[2]", "[0,8]", "I64") + "}", eight), "tensor \"a\": dtype I64");
  check(safetensors_file("{" + tensor("a", "2", "[0,8]") + "}", eight), "expected an array, got a number");
  check(safetensors_file("{" + tensor("a", "[-2]", "[0,8]") + "}", eight), "negative dimension -2");
  check(safetensors_file("{" + tensor("a", "[1.5]", "[0,8]") + "}", eight), "expected an integer");
  check(safetensors_file("{" + tensor("a", "[1,1,1,1,1,2]", "[0,8]") + "}", eight), "at most 5");
  check(safetensors_file("{" + tensor("a", "[1000000,1000000,1000000]", "[0,8]") + "}", eight),
        "needs more bytes than the data section");
  check(safetensors_file("{" + tensor("a", "[2]", "[0,4]") + "}", twelve),
        "hold 4 bytes but F32 shape (2) needs 8");
  check(safetensors_file("{" + tensor("a", "[2]", "[0,8,16]") + "}", eight), "must be [begin, end]");
  check(safetensors_file("{" + tensor("a", "[0]", "[8,0]") + "}", eight), "not 0 <= begin <= end");
  check(safetensors_file("{" + tensor("a", "[2]", "[0,8]") + "," + tensor("b", "[2]", "[8,16]") + "}", twelve),
        "tensor \"b\": data_offsets [8, 16] run past the end of the data section (12 bytes)");
  check(safetensors_file("{" + tensor("a", "[2]", "[0,8]") + "," + tensor("b", "[2]", "[4,12]") + "}", twelve),
        "tensors \"a\" [0, 8) and \"b\" [4, 12) overlap");
  check(safetensors_file("{" + tensor("a", "[1]", "[0,4]") + "," + tensor("b", "[1]", "[8,12]") + "}", twelve),
        "bytes [4, 8) of the data section belong to no tensor (a gap before \"b\")");
  check(safetensors_file("{" + tensor("a", "[1]", "[4,8]") + "}", eight), "bytes [0, 4) of the data section");
  check(safetensors_file("{" + tensor("a", "[2]", "[0,8]") + "}", twelve),
        "the data section is 12 bytes but the tensors fill 8 (4 trailing bytes)");
  check(safetensors_file("{" + tensor("a", "[2]", "[0,8]") + "," + tensor("a", "[2]", "[0,8]") + "}", eight),
        "duplicate key \"a\"");
  check(safetensors_file(R"({"__metadata__":{"epochs":10}})", ""),
        "__metadata__ value of \"epochs\" is a number; safetensors metadata values must be strings");
  check(safetensors_file(R"({"__metadata__":["x"]})", ""), "__metadata__ must be an object of strings");
  check(safetensors_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", eight),
        "unexpected field \"extra\"");
  check(safetensors_file(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", eight),
        "tensor \"a\": missing key \"dtype\"");
  check(safetensors_file(R"({"a":[2]})", eight), "tensor \"a\": expected an object");
  check(safetensors_file("{\"\xFF\":{}}", ""), "header: line 1 column 3: syntax error while parsing object key - invalid string: ill-formed UTF-8 byte");

  require_load_error(dir.file("does-not-exist.safetensors"), "cannot open: No such file or directory");
  fs::create_directory(dir.file("a-directory"));
  require_load_error(dir.file("a-directory"), "not a regular file");
}

TEST_CASE("a failed save leaves the previous checkpoint byte-identical", "[checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  const Tensor old_weight = Tensor::filled(Shape{2, 2}, 1.0f);
  save_safetensors(path, {{"w", old_weight}}, {{"epoch", "1"}});
  const std::string old_bytes = read_bytes(path);
  const std::vector<NamedTensor> new_tensors = {{"w", Tensor::filled(Shape{64, 64}, 2.0f)}};

  SECTION("the temporary file cannot be created") {
    const std::string blocker = path + ".tmp-" + std::to_string(getpid());
    fs::create_directory(blocker);  // open() of a directory for writing fails
    REQUIRE_THROWS_WITH(save_safetensors(path, new_tensors, {{"epoch", "2"}}),
                        Catch::StartsWith(path + ": cannot create the temporary file") &&
                            Catch::Contains("Is a directory"));
    REQUIRE(fs::is_directory(blocker));  // not ours to remove
    fs::remove(blocker);
  }
  SECTION("a write fails half way (the file size limit is hit)") {
    // RLIMIT_FSIZE makes write() fail with EFBIG past 256 bytes (SIGXFSZ
    // ignored so the process is not killed); both are restored at once.
    struct rlimit saved_limit {};
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved_limit) == 0);
    struct rlimit small_limit = saved_limit;
    small_limit.rlim_cur = 256;
    const auto saved_handler = std::signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small_limit) == 0);
    std::string message;
    try {
      save_safetensors(path, new_tensors, {{"epoch", "2"}});
    } catch (const Error& e) {
      message = e.what();
    }
    setrlimit(RLIMIT_FSIZE, &saved_limit);
    std::signal(SIGXFSZ, saved_handler);
    INFO(message);
    REQUIRE(message.rfind(path + ": writing " + path + ".tmp-", 0) == 0);
    REQUIRE(message.find("File too large") != std::string::npos);
  }
  SECTION("the disk is full") {
    // The temporary file's name leads to /dev/full, where every write fails
    // with ENOSPC, for root too (a full tmpfs would need mount rights).
    const std::string temporary = path + ".tmp-" + std::to_string(getpid());
    fs::create_symlink("/dev/full", temporary);
    REQUIRE_THROWS_WITH(save_safetensors(path, new_tensors, {{"epoch", "2"}}),
                        path + ": writing " + temporary + " failed: No space left on device");
    REQUIRE(fs::exists("/dev/full"));  // the writer removed its link, not the device
  }
  SECTION("the rename fails (a directory is in the way of the target)") {
    const std::string target = dir.file("target-is-a-directory");
    fs::create_directory(target);
    REQUIRE_THROWS_WITH(save_safetensors(target, new_tensors),
                        Catch::StartsWith(target + ": cannot rename " + target + ".tmp-"));
    REQUIRE(fs::is_directory(target));
    fs::remove(target);
  }
  SECTION("the directory does not exist") {
    const std::string missing = dir.file("no-such-dir/model.safetensors");
    REQUIRE_THROWS_WITH(save_safetensors(missing, new_tensors),
                        Catch::StartsWith(missing + ": cannot create") &&
                            Catch::Contains("No such file or directory"));
  }
  SECTION("the tensors are not savable") {
    REQUIRE_THROWS_WITH(save_safetensors(path, {{"w", old_weight}, {"w", old_weight}}),
                        path + ": two tensors named \"w\"");
    REQUIRE_THROWS_WITH(save_safetensors(path, {{"__metadata__", old_weight}}), Catch::StartsWith(path + ": "));
    REQUIRE_THROWS_WITH(save_safetensors(path, {{"", old_weight}}), path + ": a tensor without a name");
    REQUIRE_THROWS_WITH(save_safetensors(path, {{"w", Tensor()}}), Catch::Contains("undefined"));
    REQUIRE_THROWS_WITH(save_safetensors(path, {{"w", old_weight}}, {{"bad", "\xFF"}}),
                        Catch::StartsWith(path + ": cannot write a JSON string that is not valid UTF-8"));
  }
  REQUIRE(read_bytes(path) == old_bytes);
  REQUIRE(dir.listing() == std::vector<std::string>{"model.safetensors"});  // no temporary file left
  REQUIRE(load_safetensors(path).metadata.at("epoch") == "1");
}

TEST_CASE("the temporary files of killed writers are removed, those of running processes kept", "[checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("last.safetensors");
  const pid_t ended = fork();  // a process id that no process has any more
  if (ended == 0) _exit(0);
  REQUIRE(ended > 0);
  REQUIRE(waitpid(ended, nullptr, 0) == ended);
  const auto touch = [&](const std::string& name) { write_bytes(dir.file(name), "x"); };
  touch("last.safetensors");
  touch("last.safetensors.tmp-" + std::to_string(ended));  // abandoned: removed
  touch("last.safetensors.tmp-" + std::to_string(getpid()));  // this process's own
  touch("last.safetensors.tmp-1");  // init's, which runs
  touch("last.safetensors.tmp-12ab");  // not a writer's name
  touch("model.safetensors.tmp-" + std::to_string(ended));  // another file's
  remove_abandoned_temporary_files(path);
  std::vector<std::string> kept = {"last.safetensors", "last.safetensors.tmp-1", "last.safetensors.tmp-12ab",
                                   "last.safetensors.tmp-" + std::to_string(getpid()),
                                   "model.safetensors.tmp-" + std::to_string(ended)};
  std::sort(kept.begin(), kept.end());  // as listing() gives them
  REQUIRE(dir.listing() == kept);
}

TEST_CASE("load_params copies by name and refuses a checkpoint that does not match", "[checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("net.safetensors");
  Param weight(Shape{2, 3}), bias(Shape{3}), running_mean(Shape{3}, false);
  for (int64_t i = 0; i < 6; ++i) weight.value[i] = static_cast<float>(i) + 0.5f;
  bias.value.fill(-1.0f);
  running_mean.value.fill(7.0f);
  const std::vector<ParamRef> saved = {{"fc.weight", &weight}, {"fc.bias", &bias}, {"bn.running_mean", &running_mean}};
  const std::vector<NamedTensor> as_tensors = params_to_tensors(saved);
  REQUIRE(as_tensors.size() == 3);
  REQUIRE(as_tensors[0].name == "fc.weight");
  REQUIRE(as_tensors[0].tensor.shares_storage_with(weight.value));
  save_safetensors(path, as_tensors, {{"net", "tiny"}});
  const Checkpoint checkpoint = load_safetensors(path);

  // Into a fresh network, listed in another order.
  Param weight2(Shape{2, 3}), bias2(Shape{3}), running_mean2(Shape{3}, false);
  weight2.grad.fill(0.25f);
  load_params(checkpoint, {{"bn.running_mean", &running_mean2}, {"fc.bias", &bias2}, {"fc.weight", &weight2}}, path);
  REQUIRE(weight2.value.to_vector() == weight.value.to_vector());
  REQUIRE(bias2.value.to_vector() == std::vector<float>{-1, -1, -1});
  REQUIRE(running_mean2.value.to_vector() == std::vector<float>{7, 7, 7});
  REQUIRE(weight2.grad.to_vector() == std::vector<float>(6, 0.25f));  // grads untouched

  Param fresh_weight(Shape{2, 3}), fresh_bias(Shape{3}), extra(Shape{4}), transposed(Shape{3, 2});
  const auto require_unchanged = [&] {
    REQUIRE(fresh_weight.value.to_vector() == std::vector<float>(6, 0.0f));
    REQUIRE(fresh_bias.value.to_vector() == std::vector<float>(3, 0.0f));
  };
  REQUIRE_THROWS_WITH(
      load_params(checkpoint, {{"fc.weight", &fresh_weight}, {"fc.bias", &fresh_bias}, {"fc2.weight", &extra},
                               {"bn.running_mean", &running_mean2}}, path),
      path + ": the checkpoint does not match the network: 1 missing from the file: \"fc2.weight\"");
  require_unchanged();
  REQUIRE_THROWS_WITH(load_params(checkpoint, {{"fc.weight", &fresh_weight}, {"fc.bias", &fresh_bias}}, path),
                      path + ": the checkpoint does not match the network: "
                             "1 in the file but not in the network: \"bn.running_mean\"");
  require_unchanged();
  REQUIRE_THROWS_WITH(
      load_params(checkpoint, {{"fc.weight", &transposed}, {"fc.bias", &fresh_bias}, {"bn.running_mean", &running_mean2}},
                  path),
      path + ": the checkpoint does not match the network: "
             "1 with another shape: \"fc.weight\" is (2, 3) in the file but (3, 2) in the network");
  REQUIRE_THROWS_WITH(load_params(checkpoint, {{"fc.weight", &fresh_weight}, {"fc.weight", &fresh_weight}}, path),
                      path + ": the network has two parameters named \"fc.weight\"");

  // Many problems at once: all three lists, each cut after five names.
  std::vector<Param> many(7, Param(Shape{1}));
  std::vector<ParamRef> many_refs;
  for (int i = 0; i < 7; ++i) many_refs.push_back({"layer" + std::to_string(i), &many[i]});
  many_refs.push_back({"fc.weight", &transposed});
  REQUIRE_THROWS_WITH(load_params(checkpoint, many_refs, path),
                      path + ": the checkpoint does not match the network: 7 missing from the file: \"layer0\", "
                             "\"layer1\", \"layer2\", \"layer3\", \"layer4\" and 2 more; 2 in the file but not in "
                             "the network: \"fc.bias\", \"bn.running_mean\"; 1 with another shape: \"fc.weight\" is "
                             "(2, 3) in the file but (3, 2) in the network");
}
