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
//           its compressed data is corrupt, or it holds more than allowed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace branchy {

// More than any dataset file branchy reads holds (4 GiB).
constexpr uint64_t max_data_file_bytes = uint64_t{4} << 30;

// The uncompressed bytes, at most max_bytes of them: a file that holds (or
// inflates to) more is an Error naming the bound and `why` it is the bound,
// raised before more than max_bytes + 1 bytes are ever held.
std::vector<uint8_t> read_file_bytes(const std::string& path, uint64_t max_bytes = max_data_file_bytes,
                                     const std::string& why = "the most branchy reads");
// The first `count` uncompressed bytes, or all of them when there are fewer
// (a header, read before deciding how much of the rest to allow).
std::vector<uint8_t> read_file_head(const std::string& path, size_t count);

// Whether `path` names an existing regular file (for "which of these names is
// here" decisions before reading).
bool is_regular_file(const std::string& path);

}  // namespace branchy
