#include "formats/tensor_checksums.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <set>

#include "engine/error.h"
#include "formats/json.h"

namespace branchy {

namespace {

std::string quoted(const std::string& name) { return "\"" + name + "\""; }

std::string eight_hex_digits(uint32_t value) {
  char text[9];
  std::snprintf(text, sizeof text, "%08x", value);
  return text;
}

// "1a2b3c4d" -> 0x1a2b3c4d; anything but exactly 8 hex digits is an Error.
uint32_t parse_eight_hex_digits(const std::string& text, const std::string& tensor_name) {
  BRANCHY_CHECK(text.size() == 8 && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isxdigit(c) != 0; }),
                tensor_checksums_key, " of tensor ", quoted(tensor_name), " is \"", text,
                "\", expected 8 hex digits");
  return static_cast<uint32_t>(std::stoul(text, nullptr, 16));
}

}  // namespace

uint32_t tensor_crc32(const Tensor& tensor) {
  const auto* bytes = reinterpret_cast<const Bytef*>(tensor.data());
  const size_t count = static_cast<size_t>(tensor.numel()) * sizeof(float);
  return static_cast<uint32_t>(crc32_z(crc32_z(0L, Z_NULL, 0), bytes, count));
}

std::string encode_tensor_checksums(const std::vector<NamedTensor>& tensors) {
  Json checksums = Json::object();
  for (const NamedTensor& named : tensors) checksums[named.name] = eight_hex_digits(tensor_crc32(named.tensor));
  return dump_json(checksums);
}

std::optional<TensorChecksums> take_tensor_checksums(std::map<std::string, std::string>& metadata,
                                                     const std::vector<std::string>& tensor_names) {
  const auto entry = metadata.find(tensor_checksums_key);
  if (entry == metadata.end()) return std::nullopt;  // an older file, or another program's
  const Json stored = parse_json(entry->second, std::string("metadata ") + tensor_checksums_key);
  metadata.erase(entry);
  BRANCHY_CHECK(stored.is_object(), "metadata ", tensor_checksums_key, " must be a JSON object, got ",
                json_type_name(stored));

  TensorChecksums checksums;
  for (const auto& [name, text] : stored.items()) {
    BRANCHY_CHECK(text.is_string(), tensor_checksums_key, " of tensor ", quoted(name), " is ", json_type_name(text),
                  ", expected a string of 8 hex digits");
    checksums[name] = parse_eight_hex_digits(text.get<std::string>(), name);
  }
  // The list and the tensors must agree, so no tensor escapes the check.
  const std::set<std::string> held(tensor_names.begin(), tensor_names.end());
  for (const std::string& name : tensor_names)
    BRANCHY_CHECK(checksums.count(name), "tensor ", quoted(name), " has no checksum in ", tensor_checksums_key,
                  " (the file lists checksums for other tensors)");
  for (const auto& [name, ignored] : checksums)
    BRANCHY_CHECK(held.count(name), tensor_checksums_key, " lists a checksum for tensor ", quoted(name),
                  ", which the file does not hold");
  return checksums;
}

void verify_tensor_checksum(const TensorChecksums& checksums, const std::string& name, const Tensor& tensor,
                            const std::string& path) {
  const uint32_t stored = checksums.at(name);
  const uint32_t computed = tensor_crc32(tensor);
  BRANCHY_CHECK(computed == stored, path, ": tensor ", quoted(name), ": its data do not match the CRC-32 stored for it (",
                eight_hex_digits(stored), " stored, ", eight_hex_digits(computed),
                " computed); the file is damaged");
}

}  // namespace branchy
