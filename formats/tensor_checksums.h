// tensor_checksums.h — a CRC-32 of every tensor's bytes, kept in a
// safetensors file's metadata, so that damaged data is refused when the file
// is loaded instead of being used.
//
// Why CRC-32 (zlib's crc32_z): zlib is linked already and computes it at
// memory speed; it catches every burst of damage up to 32 bits long (a
// flipped byte, a torn sector's edge) and all but one in 2^32 of any other
// damage; and Python's standard library recomputes it (zlib.crc32), so a file
// can be checked without branchy. One checksum per tensor, so that an error
// names the damaged tensor. It guards against accidents, not against someone
// who edits a file on purpose (they can rewrite the checksum as well).
//
// In the file: the metadata entry "branchy.crc32" holds a JSON object with a
// member per tensor, "<tensor name>": "<CRC-32 as 8 lowercase hex digits>".
// The entry is optional: files written before it existed, and files other
// programs write, load without the check.
//
// encode_tensor_checksums
//   Ensures: the metadata value for `tensors` (members in the given order).
// take_tensor_checksums
//   Removes the entry from `metadata` (it describes the file, not the model)
//   and returns it decoded; no value when the file has none.
//   Fails: Error (without the path; the caller adds it) for an entry that is
//   not such an object, or that lacks a tensor of `tensor_names` or lists
//   one the file does not hold, naming it.
// verify_tensor_checksum
//   Fails: Error "<path>: tensor "<name>": ... the file is damaged" when the
//   tensor's bytes do not give the checksum stored for it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/tensor.h"
#include "formats/checkpoint.h"

namespace branchy {

inline constexpr const char* tensor_checksums_key = "branchy.crc32";

using TensorChecksums = std::map<std::string, uint32_t>;  // tensor name -> CRC-32

// CRC-32 of the tensor's float32 bytes: the value Python's zlib.crc32 gives.
uint32_t tensor_crc32(const Tensor& tensor);

std::string encode_tensor_checksums(const std::vector<NamedTensor>& tensors);

std::optional<TensorChecksums> take_tensor_checksums(std::map<std::string, std::string>& metadata,
                                                     const std::vector<std::string>& tensor_names);

void verify_tensor_checksum(const TensorChecksums& checksums, const std::string& name, const Tensor& tensor,
                            const std::string& path);

}  // namespace branchy
