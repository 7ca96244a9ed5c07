// file_bytes.h — the whole content of a data file, plain or gzip-compressed.
//
// Whether a file is gzip is told by its first two bytes (1f 8b), never by
// its name, so "train-images-idx3-ubyte" may be compressed and a ".gz" may
// be plain.
//
// Requires: a readable regular file.
// Ensures:  the uncompressed bytes, all of them.
// Fails:    Error naming the path and the problem: the file is missing or
//           unreadable, the gzip stream ends early ("truncated gzip stream"),
//           or its compressed data is corrupt.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace branchy {

std::vector<uint8_t> read_file_bytes(const std::string& path);

// Whether `path` names an existing regular file (for "which of these names is
// here" decisions before reading).
bool is_regular_file(const std::string& path);

}  // namespace branchy
