// temp_folder.h — a fresh folder under the system's temporary directory for a
// test's files, removed with everything in it when the test is done. Tests
// never write into the working directory (build/ may not exist there, and two
// test runs at once must not share files).
#pragma once

#include <atomic>
#include <filesystem>
#include <string>

#include <unistd.h>

namespace branchy::testing {

class TemporaryFolder {
 public:
  // `label` goes into the name, to tell leftovers apart: branchy-<label>-<pid>-<n>.
  explicit TemporaryFolder(const std::string& label) {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("branchy-" + label + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TemporaryFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;

  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace branchy::testing
