// Damage the safetensors layout cannot see. A changed byte in a tensor's data
// is caught by the CRC-32 kept in the metadata (formats/tensor_checksums.h)
// and named; a model file that lacks a tensor or holds an extra one is
// refused by name; files written before checksums existed still load.
#include <catch2/catch.hpp>

#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "engine/error.h"
#include "engine/optimizer.h"
#include "formats/checkpoint.h"
#include "formats/json.h"
#include "formats/tensor_checksums.h"
#include "pipeline/model_file.h"
#include "tests/small_nets.h"
#include "tests/temp_folder.h"

using namespace branchy;
using branchy::testing::TemporaryFolder;
using Catch::Contains;
using Catch::StartsWith;

namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

uint64_t header_length(const std::string& file) {
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(file[i]);
  return length;
}

// Where the data section of a safetensors file's bytes begins.
size_t data_start(const std::string& file) { return 8 + header_length(file); }

// The file with its JSON header changed by `edit` (and padded again).
std::string with_edited_header(const std::string& file, const std::function<void(Json&)>& edit) {
  Json header = parse_json(file.substr(8, header_length(file)), "test header");
  edit(header);
  std::string text = dump_json(header);
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string length(8, '\0');
  for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((text.size() >> (8 * i)) & 0xFF);
  return length + text + file.substr(data_start(file));
}

// The checksum entry of a header, decoded, for tests to change.
Json& checksums_of(Json& header, Json& decoded) {
  decoded = parse_json(header["__metadata__"][tensor_checksums_key].get<std::string>(), "checksums");
  return decoded;
}

// The message of the Error that `load` throws; fails the test when it throws none.
std::string load_error(const std::function<void()>& load) {
  try {
    load();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL("the damaged file loaded");
  return "";
}

}  // namespace

TEST_CASE("a flipped bit anywhere in the tensor data is refused, naming the file and the tensor", "[checkpoint]") {
  const TemporaryFolder folder("integrity");
  const std::string path = folder.file("weights.safetensors");
  const Tensor a = Tensor::from_vector(Shape{3}, {1.0f, -2.0f, 0.5f});
  const Tensor b = Tensor::from_vector(Shape{2, 2}, {0.0f, 1e-3f, 7.0f, -0.0f});
  save_safetensors(path, {{"a", a}, {"b", b}}, {{"note", "kept"}});
  const std::string good = read_bytes(path);
  const size_t start = data_start(good);
  REQUIRE(good.size() == start + 4 * 7);

  for (size_t byte = start; byte < good.size(); ++byte) {
    std::string damaged = good;
    damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << (byte % 8)));
    write_bytes(path, damaged);
    const std::string message = load_error([&] { load_safetensors(path); });
    INFO("byte " << byte << ": " << message);
    CHECK_THAT(message, StartsWith(path + ": tensor \"" + (byte < start + 12 ? "a" : "b") + "\": its data do not "
                                                                                          "match the CRC-32"));
    CHECK_THAT(message, Contains("the file is damaged"));
  }
  write_bytes(path, good);
  const Checkpoint loaded = load_safetensors(path);
  REQUIRE(loaded.metadata == std::map<std::string, std::string>{{"note", "kept"}});  // checksums are not metadata
  REQUIRE(loaded.find("b")->to_vector() == b.to_vector());
}

TEST_CASE("files without checksums, written before they existed, still load", "[checkpoint]") {
  const TemporaryFolder folder("integrity");
  const std::string path = folder.file("old.safetensors");
  const Tensor w = Tensor::from_vector(Shape{2}, {3.0f, 4.0f});
  save_safetensors(path, {{"w", w}}, {{"epoch", "2"}});
  const std::string old_style = with_edited_header(
      read_bytes(path), [](Json& header) { header["__metadata__"].erase(tensor_checksums_key); });
  write_bytes(path, old_style);
  const Checkpoint loaded = load_safetensors(path);
  REQUIRE(loaded.find("w")->to_vector() == std::vector<float>{3.0f, 4.0f});
  REQUIRE(loaded.metadata == std::map<std::string, std::string>{{"epoch", "2"}});
}

TEST_CASE("a checksum entry that does not fit the tensors is refused, naming the tensor", "[checkpoint]") {
  const TemporaryFolder folder("integrity");
  const std::string path = folder.file("model.safetensors");
  save_safetensors(path, {{"a", Tensor::filled(Shape{2}, 1.0f)}, {"b", Tensor::filled(Shape{1}, 2.0f)}});
  const std::string good = read_bytes(path);
  // Writes the file with its checksum entry replaced by edit(entry) and returns the load error.
  const auto error_after = [&](const std::function<void(Json&)>& edit) {
    write_bytes(path, with_edited_header(good, [&](Json& header) {
                  Json decoded;
                  edit(checksums_of(header, decoded));
                  header["__metadata__"][tensor_checksums_key] = dump_json(decoded);
                }));
    return load_error([&] { load_safetensors(path); });
  };
  CHECK_THAT(error_after([](Json& c) { c.erase("a"); }),
             StartsWith(path + ": tensor \"a\" has no checksum in branchy.crc32"));
  CHECK_THAT(error_after([](Json& c) { c["ghost"] = "00000000"; }),
             StartsWith(path + ": branchy.crc32 lists a checksum for tensor \"ghost\", which the file does not hold"));
  CHECK_THAT(error_after([](Json& c) { c["b"] = "12345"; }),
             StartsWith(path + ": branchy.crc32 of tensor \"b\" is \"12345\", expected 8 hex digits"));
  CHECK_THAT(error_after([](Json& c) { c["b"] = 7; }),
             StartsWith(path + ": branchy.crc32 of tensor \"b\" is a number"));
  CHECK_THAT(error_after([](Json& c) { c = Json::array(); }),
             StartsWith(path + ": metadata branchy.crc32 must be a JSON object, got an array"));

  REQUIRE_THROWS_WITH(save_safetensors(path, {}, {{tensor_checksums_key, "{}"}}),
                      StartsWith(path + ": metadata key branchy.crc32 is reserved"));
}

TEST_CASE("a damaged model file is refused with one line naming the file", "[checkpoint]") {
  const TemporaryFolder folder("integrity");
  const std::string path = folder.file("model.safetensors");
  auto net = branchy::testing::small_b_lenet(3);
  save_model(path, *net, ModelInfo{});
  std::string bytes = read_bytes(path);
  const size_t middle = data_start(bytes) + (bytes.size() - data_start(bytes)) / 2;
  bytes[middle] = static_cast<char>(bytes[middle] ^ 0x10);
  write_bytes(path, bytes);
  const std::string message = load_error([&] { load_model(path); });
  INFO(message);
  REQUIRE_THAT(message, StartsWith(path + ": tensor \""));
  REQUIRE_THAT(message, Contains("the file is damaged"));
  REQUIRE(message.find('\n') == std::string::npos);
}

TEST_CASE("a model file missing a tensor, or holding one the network lacks, names it", "[checkpoint]") {
  const TemporaryFolder folder("integrity");
  const std::string path = folder.file("model.safetensors");
  auto net = branchy::testing::small_b_lenet(3);
  Adam adam(net->named_params());
  save_model(path, *net, ModelInfo{}, &adam);
  const Checkpoint saved = load_safetensors(path);
  // Saves `saved`'s tensors, changed by `edit`, with its metadata (and fresh checksums).
  const auto save_edited = [&](const std::function<void(std::vector<NamedTensor>&)>& edit) {
    std::vector<NamedTensor> tensors = saved.tensors;
    edit(tensors);
    save_safetensors(path, tensors, saved.metadata);
  };

  save_edited([](std::vector<NamedTensor>& tensors) {
    std::erase_if(tensors, [](const NamedTensor& t) { return t.name == "stage0.conv1.bias"; });
  });
  REQUIRE_THROWS_WITH(load_model(path), path + ": the checkpoint does not match the network: 1 missing from the "
                                               "file: \"stage0.conv1.bias\"");

  save_edited([](std::vector<NamedTensor>& tensors) {
    tensors.push_back({"stage0.conv9.weight", Tensor::filled(Shape{2}, 0.5f)});
  });
  REQUIRE_THROWS_WITH(load_model(path), path + ": the checkpoint does not match the network: 1 in the file but not "
                                               "in the network: \"stage0.conv9.weight\"");

  save_edited([](std::vector<NamedTensor>& tensors) {
    tensors.push_back({"optimizer.stage0.conv9.weight.exp_avg", Tensor::filled(Shape{2}, 0.5f)});
  });
  LoadedModel loaded = load_model(path);  // a model file's optimizer state is only read to resume
  Adam resumed(loaded.net->named_params());
  REQUIRE_THROWS_WITH(restore_optimizer(loaded.checkpoint, resumed, path),
                      path + ": optimizer state 'optimizer.stage0.conv9.weight.exp_avg' belongs to no parameter this "
                             "optimizer steps");

  save_edited([](std::vector<NamedTensor>& tensors) {
    std::erase_if(tensors, [](const NamedTensor& t) { return t.name == "optimizer.stage0.conv1.bias.exp_avg"; });
  });
  loaded = load_model(path);
  Adam again(loaded.net->named_params());
  REQUIRE_THROWS_WITH(restore_optimizer(loaded.checkpoint, again, path),
                      StartsWith(path + ": no optimizer state 'optimizer.stage0.conv1.bias.exp_avg'"));
}
