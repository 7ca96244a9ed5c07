#include "datasets/file_bytes.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "engine/error.h"

namespace branchy {

namespace {

constexpr size_t chunk_bytes = size_t{1} << 20;

struct FileCloser {
  void operator()(std::FILE* file) const { std::fclose(file); }
};
struct GzCloser {
  void operator()(gzFile_s* file) const { gzclose(file); }
};

std::unique_ptr<std::FILE, FileCloser> open_or_fail(const std::string& path) {
  BRANCHY_CHECK(!std::filesystem::is_directory(path), "cannot read file ", path,
                ": it is a directory");
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) fail("cannot open file ", path, ": ", std::strerror(errno));
  return std::unique_ptr<std::FILE, FileCloser>(file);
}

bool starts_with_gzip_magic(std::FILE* file) {
  unsigned char magic[2] = {0, 0};
  const size_t got = std::fread(magic, 1, 2, file);
  return got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

[[noreturn]] void fail_too_large(const std::string& path, uint64_t max_bytes, const std::string& why) {
  fail("file ", path, ": holds more than ", max_bytes, " bytes", why.empty() ? "" : " (" + why + ")");
}

std::vector<uint8_t> read_plain(std::FILE* file, const std::string& path, uint64_t max_bytes,
                                const std::string& why) {
  std::vector<uint8_t> bytes;
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  if (!error && size > max_bytes) fail_too_large(path, max_bytes, why);
  // Reads straight into `bytes`, a chunk at a time; a chunk is no larger than
  // the file (plus one byte, to see its end), so small files stay cheap.
  const size_t chunk = error ? chunk_bytes : std::min<size_t>(chunk_bytes, static_cast<size_t>(size) + 1);
  if (!error) bytes.reserve(static_cast<size_t>(size) + 1);
  for (;;) {
    const size_t old_size = bytes.size();
    if (old_size > max_bytes) fail_too_large(path, max_bytes, why);
    bytes.resize(old_size + chunk);
    const size_t got = std::fread(bytes.data() + old_size, 1, chunk, file);
    bytes.resize(old_size + got);
    if (got < chunk) break;
  }
  if (bytes.size() > max_bytes) fail_too_large(path, max_bytes, why);
  if (std::ferror(file)) fail("cannot read file ", path, ": read error");
  return bytes;
}

// Inflates at most max_bytes + 1 bytes: a small file that would inflate to
// gigabytes stops as soon as it passes what the caller can use.
std::vector<uint8_t> read_gzip(const std::string& path, uint64_t max_bytes, const std::string& why) {
  std::unique_ptr<gzFile_s, GzCloser> file(gzopen(path.c_str(), "rb"));
  if (!file) fail("cannot open file ", path, ": ", std::strerror(errno));
  gzbuffer(file.get(), 64 * 1024);
  std::vector<uint8_t> bytes;
  // Chunks grow from 64 KiB to chunk_bytes: small files stay cheap, large
  // ones are read in few calls.
  size_t chunk = 64 * 1024;
  for (;; chunk = std::min(chunk * 2, chunk_bytes)) {
    const size_t old_size = bytes.size();
    if (old_size > max_bytes) fail_too_large(path, max_bytes, why);
    const size_t want = static_cast<size_t>(std::min<uint64_t>(chunk, max_bytes + 1 - old_size));
    bytes.resize(old_size + want);
    const int got = gzread(file.get(), bytes.data() + old_size, static_cast<unsigned>(want));
    bytes.resize(old_size + static_cast<size_t>(got > 0 ? got : 0));
    int error_number = Z_OK;
    const char* message = gzerror(file.get(), &error_number);
    // zlib reports a stream that stops before its end (or before its CRC
    // trailer) as Z_BUF_ERROR, "unexpected end of file".
    if (error_number == Z_BUF_ERROR)
      fail("file ", path, ": truncated gzip stream (", message, ") after ", bytes.size(),
           " uncompressed bytes");
    if (error_number != Z_OK || got < 0) fail("file ", path, ": corrupt gzip data (", message, ")");
    if (got == 0) break;
  }
  return bytes;
}

}  // namespace

bool is_regular_file(const std::string& path) {
  std::error_code error;
  return std::filesystem::is_regular_file(path, error);
}

std::vector<uint8_t> read_file_bytes(const std::string& path, uint64_t max_bytes, const std::string& why) {
  auto file = open_or_fail(path);
  const bool gzip = starts_with_gzip_magic(file.get());
  if (gzip) {
    file.reset();
    return read_gzip(path, max_bytes, why);
  }
  std::rewind(file.get());
  return read_plain(file.get(), path, max_bytes, why);
}

std::vector<uint8_t> read_file_head(const std::string& path, size_t count) {
  auto file = open_or_fail(path);
  const bool gzip = starts_with_gzip_magic(file.get());
  file.reset();
  std::vector<uint8_t> head(count);
  if (gzip) {
    std::unique_ptr<gzFile_s, GzCloser> gz(gzopen(path.c_str(), "rb"));
    if (!gz) fail("cannot open file ", path, ": ", std::strerror(errno));
    const int got = gzread(gz.get(), head.data(), static_cast<unsigned>(count));
    head.resize(static_cast<size_t>(got > 0 ? got : 0));
    return head;
  }
  file = open_or_fail(path);
  head.resize(std::fread(head.data(), 1, count, file.get()));
  return head;
}

}  // namespace branchy
