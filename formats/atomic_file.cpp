#include "formats/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "engine/error.h"

namespace branchy {

namespace {

// A writer's temporary file is this followed by its process id.
std::string temporary_path_prefix(const std::string& path) { return path + ".tmp-"; }

}  // namespace

AtomicFileWriter::AtomicFileWriter(const std::string& path)
    : path_(path), temporary_path_(temporary_path_prefix(path) + std::to_string(getpid())) {
  BRANCHY_CHECK(!path.empty(), "cannot write a file with an empty path");
  descriptor_ = ::open(temporary_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (descriptor_ < 0)
    fail(path_, ": cannot create the temporary file ", temporary_path_, ": ", std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) close_and_remove();
}

void AtomicFileWriter::close_and_remove() {
  if (descriptor_ < 0) return;  // never opened, or already cleaned up
  ::close(descriptor_);
  descriptor_ = -1;
  std::remove(temporary_path_.c_str());
}

void AtomicFileWriter::fail_and_clean_up(const std::string& what, int error_number) {
  close_and_remove();
  fail(path_, ": ", what, ": ", std::strerror(error_number));
}

void AtomicFileWriter::write(const void* data, size_t bytes) {
  BRANCHY_CHECK(descriptor_ >= 0 && !committed_, path_, ": write after commit or failure");
  const char* next = static_cast<const char*>(data);
  while (bytes > 0) {  // write() may take less than asked; EINTR just retries
    const ssize_t written = ::write(descriptor_, next, bytes);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) fail_and_clean_up("writing " + temporary_path_ + " failed", written < 0 ? errno : EIO);
    next += written;
    bytes -= static_cast<size_t>(written);
  }
}

void AtomicFileWriter::commit() {
  BRANCHY_CHECK(descriptor_ >= 0 && !committed_, path_, ": commit after commit or failure");
  // The data must be on disk before the rename makes it visible, or a crash
  // could leave <path> pointing at an empty or partial file.
  if (::fsync(descriptor_) != 0) fail_and_clean_up("fsync of " + temporary_path_ + " failed", errno);
  const int descriptor = descriptor_;
  descriptor_ = -1;
  if (::close(descriptor) != 0) {
    const int error_number = errno;
    std::remove(temporary_path_.c_str());
    fail(path_, ": closing ", temporary_path_, " failed: ", std::strerror(error_number));
  }
  if (std::rename(temporary_path_.c_str(), path_.c_str()) != 0) {
    const int error_number = errno;
    std::remove(temporary_path_.c_str());
    fail(path_, ": cannot rename ", temporary_path_, " over it: ", std::strerror(error_number));
  }
  committed_ = true;
  // Make the rename durable. Some file systems cannot fsync a directory;
  // the file itself is already safe, so a failure here is not an error.
  std::string directory = std::filesystem::path(path_).parent_path().string();
  if (directory.empty()) directory = ".";
  const int directory_descriptor = ::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (directory_descriptor >= 0) {
    ::fsync(directory_descriptor);
    ::close(directory_descriptor);
  }
}

void remove_abandoned_temporary_files(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(temporary_path_prefix(path));
  const std::string prefix = target.filename().string();
  const fs::path folder = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
  std::error_code error;
  for (fs::directory_iterator entry(folder, error), end; !error && entry != end; entry.increment(error)) {
    const std::string name = entry->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.size() > 9 || !std::all_of(pid_text.begin(), pid_text.end(), is_digit)) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(pid_text));
    // kill(pid, 0) sends nothing; ESRCH says that no such process runs.
    std::error_code ignored;
    if (pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) fs::remove(entry->path(), ignored);
  }
}

void write_file_atomically(const std::string& path, std::string_view contents) {
  AtomicFileWriter writer(path);
  writer.write(contents);
  writer.commit();
}

}  // namespace branchy
