// atomic_file.h — write a file so that readers see the old one or the new one,
// never a half-written mix.
//
// The bytes go to "<path>.tmp-<pid>" in the same directory; commit() flushes
// them to disk (fsync), renames the temporary file over <path> (atomic on
// POSIX file systems) and fsyncs the directory so the rename itself survives a
// crash. A crash or an error at any moment before the rename leaves <path> as
// it was.
//
// Requires: the directory of <path> exists and is writable.
// Ensures: after commit() returns, <path> holds exactly the written bytes.
// Fails: every step throws branchy::Error "<path>: <what failed>: <strerror>";
// the temporary file is removed on error and when a writer is destroyed
// without commit().
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace branchy {

class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::string& path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  void write(const void* data, size_t bytes);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  void commit();

 private:
  [[noreturn]] void fail_and_clean_up(const std::string& what, int error_number);
  void close_and_remove();

  std::string path_;
  std::string temporary_path_;
  int descriptor_ = -1;
  bool committed_ = false;
};

// The whole file in one call.
void write_file_atomically(const std::string& path, std::string_view contents);

// Removes what writers of <path> that were killed before commit() left:
// "<path>.tmp-<pid>" files of processes that no longer run. The files of
// running processes, this one's included, are left alone. Errors are
// ignored: this only tidies up.
void remove_abandoned_temporary_files(const std::string& path);

}  // namespace branchy
