#include "tests/fixture.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "engine/error.h"

namespace branchy::testing {

static_assert(std::endian::native == std::endian::little,
              "fixtures are little-endian and read with memcpy");

namespace {

// Walks the bytes of one file; every read says what it was reading so a
// truncated file names the tensor and the field where it ended.
class ByteReader {
 public:
  ByteReader(const std::string& path, const std::vector<char>& bytes) : path_(path), bytes_(bytes) {}

  size_t remaining() const { return bytes_.size() - position_; }
  size_t position() const { return position_; }

  void read(void* destination, size_t count, const std::string& what) {
    BRANCHY_CHECK(count <= remaining(), "fixture ", path_, ": truncated at byte ", position_, " reading ",
                  what, " (needs ", count, " bytes, ", remaining(), " left)");
    std::memcpy(destination, bytes_.data() + position_, count);
    position_ += count;
  }
  template <typename T>
  T read_value(const std::string& what) {
    T value;
    read(&value, sizeof(T), what);
    return value;
  }

 private:
  const std::string& path_;
  const std::vector<char>& bytes_;
  size_t position_ = 0;
};

std::vector<char> read_whole_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  BRANCHY_CHECK(file.good(), "fixture ", path, ": cannot open the file");
  std::vector<char> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  BRANCHY_CHECK(!file.bad(), "fixture ", path, ": read error");
  return bytes;
}

Shape shape_of_rank(int rank) {
  switch (rank) {
    case 1: return Shape{1};
    case 2: return Shape{1, 1};
    case 3: return Shape{1, 1, 1};
    case 4: return Shape{1, 1, 1, 1};
    default: return Shape{1, 1, 1, 1, 1};
  }
}

constexpr uint32_t max_name_length = 256;
constexpr uint32_t max_tensor_count = 4096;

}  // namespace

Fixture load_fixture(const std::string& path) {
  const std::vector<char> bytes = read_whole_file(path);
  ByteReader reader(path, bytes);

  char magic[4];
  reader.read(magic, 4, "the magic");
  BRANCHY_CHECK(std::memcmp(magic, "BFX1", 4) == 0, "fixture ", path,
                ": bad magic (expected \"BFX1\" at byte 0)");
  const uint32_t count = reader.read_value<uint32_t>("the tensor count");
  BRANCHY_CHECK(count <= max_tensor_count, "fixture ", path, ": tensor count ", count,
                " is more than ", max_tensor_count);

  std::vector<std::pair<std::string, Tensor>> tensors;
  for (uint32_t index = 0; index < count; ++index) {
    const std::string where = "tensor " + std::to_string(index);
    const uint32_t name_length = reader.read_value<uint32_t>("the name length of " + where);
    BRANCHY_CHECK(name_length >= 1 && name_length <= max_name_length, "fixture ", path, ": ", where,
                  " has a name length of ", name_length, " (expected 1..", max_name_length, ")");
    std::string name(name_length, '\0');
    reader.read(name.data(), name_length, "the name of " + where);
    const std::string named = where + " '" + name + "'";
    for (const auto& [existing, tensor] : tensors)
      BRANCHY_CHECK(existing != name, "fixture ", path, ": duplicate ", named);

    const uint32_t rank = reader.read_value<uint32_t>("the rank of " + named);
    BRANCHY_CHECK(rank >= 1 && rank <= static_cast<uint32_t>(Shape::max_rank), "fixture ", path, ": ",
                  named, " has rank ", rank, " (expected 1..", Shape::max_rank, ")");
    Shape shape = shape_of_rank(static_cast<int>(rank));
    // Checked against the bytes left before multiplying, so numel cannot overflow.
    uint64_t numel = 1;
    for (uint32_t axis = 0; axis < rank; ++axis) {
      const int64_t dim = reader.read_value<int64_t>("the dimensions of " + named);
      BRANCHY_CHECK(dim >= 0, "fixture ", path, ": ", named, " has negative dimension ", dim,
                    " on axis ", axis);
      BRANCHY_CHECK(dim == 0 || numel <= reader.remaining() / sizeof(float) / static_cast<uint64_t>(dim),
                    "fixture ", path, ": truncated: ", named, " needs more values than the ",
                    reader.remaining(), " bytes left");
      numel *= static_cast<uint64_t>(dim);
      shape[static_cast<int>(axis)] = dim;
    }
    Tensor tensor = Tensor::uninitialized(shape);
    reader.read(tensor.data(), numel * sizeof(float), "the values of " + named);
    tensors.emplace_back(name, tensor);
  }
  BRANCHY_CHECK(reader.remaining() == 0, "fixture ", path, ": ", reader.remaining(),
                " unexpected bytes after the last tensor (at byte ", reader.position(), ")");
  return Fixture(path, std::move(tensors));
}

bool Fixture::has(const std::string& name) const {
  return std::any_of(tensors_.begin(), tensors_.end(), [&](const auto& entry) { return entry.first == name; });
}

const Tensor& Fixture::get(const std::string& name) const {
  for (const auto& [entry_name, tensor] : tensors_)
    if (entry_name == name) return tensor;
  fail("fixture ", path_, ": no tensor named '", name, "'");
}

std::vector<int> Fixture::get_ints(const std::string& name) const {
  const Tensor& tensor = get(name);
  std::vector<int> values;
  values.reserve(static_cast<size_t>(tensor.numel()));
  for (int64_t i = 0; i < tensor.numel(); ++i) {
    const float value = tensor[i];
    BRANCHY_CHECK(std::isfinite(value) && value == std::round(value) && std::fabs(value) < 1e9f, "fixture ",
                  path_, ": '", name, "'[", i, "] = ", value, " is not a whole number");
    values.push_back(static_cast<int>(value));
  }
  return values;
}

std::vector<std::string> Fixture::names() const {
  std::vector<std::string> out;
  for (const auto& entry : tensors_) out.push_back(entry.first);
  return out;
}

std::string fixture_directory() {
  const char* from_environment = std::getenv("BRANCHY_FIXTURES");
  return from_environment && *from_environment ? from_environment : "tests/fixtures";
}

std::vector<std::string> fixture_paths(const std::string& prefix) {
  namespace fs = std::filesystem;
  const std::string directory = fixture_directory();
  std::error_code error;
  BRANCHY_CHECK(fs::is_directory(directory, error), "fixture folder ", directory,
                " not found (run the tests from the repository root or set BRANCHY_FIXTURES)");
  std::vector<std::string> paths;
  for (const fs::directory_entry& entry : fs::directory_iterator(directory)) {
    const std::string file_name = entry.path().filename().string();
    if (entry.is_regular_file() && file_name.starts_with(prefix) && file_name.ends_with(".bin"))
      paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

}  // namespace branchy::testing
