// checkpoint.h — named tensors in safetensors files.
//
// The format (huggingface safetensors), byte for byte:
//   8 bytes   N, the header length, unsigned 64-bit little-endian
//   N bytes   a UTF-8 JSON object: for each tensor
//               "name": {"dtype":"F32","shape":[d0,...],"data_offsets":[begin,end]}
//             with offsets relative to the data section, plus optionally
//               "__metadata__": {"key": "string value", ...}
//             padded with spaces (0x20) so that 8 + N is a multiple of 8
//   the rest  the data section: each tensor's float32 values, little-endian,
//             row-major, tensors back to back with no gaps or overlaps
// Python's safetensors.torch.load_file() reads such files; without that
// package, tests/reference/read_safetensors.py (stdlib + numpy) does.
//
// save_safetensors
//   Requires: distinct, non-empty names (not "__metadata__"); defined tensors;
//   no metadata key "branchy.crc32" (it is written by this function).
//   Ensures: the file is replaced atomically (see atomic_file.h): a crash or
//   error leaves any previous file at `path` intact. Tensors are written in the
//   given order, __metadata__ first (left out when there are neither tensors
//   nor metadata); the metadata gains each tensor's CRC-32 (tensor_checksums.h).
// load_safetensors
//   Ensures: every tensor in the file, in header order, with a fresh copy of
//   its data, checked against its CRC-32 when the file holds checksums (files
//   written before they existed have none and load unchecked). The metadata
//   as it was given to save_safetensors, without the checksums.
//   Fails: Error "<path>: <problem>" for a file that breaks the format in any
//   way (too short, bad header length, bad JSON, another dtype, bad shape,
//   offsets that disagree with the shape or overlap, leave gaps or run past
//   the data, trailing bytes, non-string metadata, duplicate names), and for
//   damaged data: a tensor whose bytes do not give its stored CRC-32, by name.
// load_params
//   Requires: every checkpoint tensor has a Param of the same name and shape,
//   and every Param has a tensor. Ensures: each Param's value holds the saved
//   values (grads untouched). Fails: Error naming the file and the first few
//   missing, unexpected and mismatched names, or the first tensor holding
//   a NaN or an infinity (by name); no Param is changed then.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "engine/param.h"
#include "engine/tensor.h"

namespace branchy {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

struct Checkpoint {
  std::vector<NamedTensor> tensors;  // in the file's header order
  std::map<std::string, std::string> metadata;

  // The tensor called `name`, or nullptr.
  const Tensor* find(const std::string& name) const;
};

void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
Checkpoint load_safetensors(const std::string& path);

void load_params(const Checkpoint& checkpoint, const std::vector<ParamRef>& params,
                 const std::string& path_for_errors);
// The params' values under their names; the tensors share storage with the params.
std::vector<NamedTensor> params_to_tensors(const std::vector<ParamRef>& params);

// The bytes of a safetensors file without writing it (tests compare them).
std::string safetensors_bytes(const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace branchy
