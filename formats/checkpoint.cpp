#include "formats/checkpoint.h"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>

#include "formats/atomic_file.h"
#include "engine/error.h"
#include "formats/json.h"
#include "formats/tensor_checksums.h"

namespace branchy {

// Tensor data is written and read as the host's float bytes; the format wants
// little-endian, which every machine we build for is.
static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

constexpr uint64_t max_header_bytes = 100'000'000;  // the reference implementation's limit
constexpr const char* metadata_key = "__metadata__";
constexpr uint64_t bytes_per_float = 4;

std::string quoted(const std::string& name) { return "\"" + name + "\""; }

uint64_t tensor_bytes(const Tensor& tensor) { return static_cast<uint64_t>(tensor.numel()) * bytes_per_float; }

// ---- writing ----------------------------------------------------------------

// The 8-byte header length and the header, padded with spaces to a multiple of 8.
std::string encode_header(const std::vector<NamedTensor>& tensors,
                          const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  BRANCHY_CHECK(!metadata.count(tensor_checksums_key), "metadata key ", tensor_checksums_key,
                " is reserved for the tensors' checksums, which are written on their own");
  if (!metadata.empty() || !tensors.empty()) {
    Json& pairs = header[metadata_key] = Json::object();
    for (const auto& [key, value] : metadata) pairs[key] = value;
    if (!tensors.empty()) pairs[tensor_checksums_key] = encode_tensor_checksums(tensors);
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const NamedTensor& named : tensors) {
    BRANCHY_CHECK(!named.name.empty(), "a tensor without a name");
    BRANCHY_CHECK(named.name != metadata_key, "a tensor may not be called ", metadata_key);
    BRANCHY_CHECK(names.insert(named.name).second, "two tensors named ", quoted(named.name));
    BRANCHY_CHECK(named.tensor.defined(), "tensor ", quoted(named.name), " is empty (undefined)");
    Json shape = Json::array();
    for (int axis = 0; axis < named.tensor.rank(); ++axis) shape.push_back(named.tensor.dim(axis));
    const uint64_t end = offset + tensor_bytes(named.tensor);
    header[named.name] = {{"dtype", "F32"}, {"shape", shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string json = dump_json(header);
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((json.size() >> (8 * i)) & 0xFF);
  return bytes + json;
}

// ---- reading ----------------------------------------------------------------

struct TensorEntry {
  std::string name;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte offsets in the data section
};

Shape make_shape(const std::vector<int64_t>& dims) {
  // Shape is built from an initializer list; rank <= 5 was checked.
  const auto d = [&](size_t i) { return dims[i]; };
  switch (dims.size()) {
    case 0: return Shape();
    case 1: return Shape{d(0)};
    case 2: return Shape{d(0), d(1)};
    case 3: return Shape{d(0), d(1), d(2)};
    case 4: return Shape{d(0), d(1), d(2), d(3)};
    default: return Shape{d(0), d(1), d(2), d(3), d(4)};
  }
}

// One tensor's header entry, checked on its own. Messages leave out the path.
TensorEntry read_entry(const std::string& name, const Json& value, uint64_t data_bytes) {
  TensorEntry entry;
  entry.name = name;
  const std::string where = "tensor " + quoted(name) + ": ";
  BRANCHY_CHECK(value.is_object(), where, "expected an object with dtype, shape and data_offsets, got ",
                json_type_name(value));
  for (const auto& [field, ignored] : value.items()) {
    BRANCHY_CHECK(field == "dtype" || field == "shape" || field == "data_offsets", where,
                  "unexpected field ", quoted(field), " (expected dtype, shape and data_offsets)");
  }
  try {
    const std::string dtype = json_string(value, "dtype");
    BRANCHY_CHECK(dtype == "F32", "dtype ", dtype, " is not supported (only F32 is)");

    const Json& dims = json_member(value, "shape");
    BRANCHY_CHECK(dims.is_array(), "key \"shape\": expected an array, got ", json_type_name(dims));
    BRANCHY_CHECK(dims.size() <= static_cast<size_t>(Shape::max_rank), "shape has ", dims.size(),
                  " dimensions; at most ", Shape::max_rank, " are supported");
    std::vector<int64_t> sizes;
    uint64_t numel = 1;
    for (const Json& dim : dims) {
      const int64_t size = json_int(dim);
      BRANCHY_CHECK(size >= 0, "shape has a negative dimension ", size);
      // Guards the product against overflow: no tensor outgrows the data section.
      BRANCHY_CHECK(size == 0 || numel <= data_bytes / bytes_per_float / static_cast<uint64_t>(size),
                    "shape ", dims.dump(), " needs more bytes than the data section's ",
                    data_bytes);
      numel *= static_cast<uint64_t>(size);
      sizes.push_back(size);
    }
    entry.shape = make_shape(sizes);

    const Json& offsets = json_member(value, "data_offsets");
    BRANCHY_CHECK(offsets.is_array() && offsets.size() == 2, "data_offsets must be [begin, end], got ",
                  offsets.is_array() ? std::to_string(offsets.size()) + " numbers" : json_type_name(offsets));
    const int64_t begin = json_int(offsets[0]), end = json_int(offsets[1]);
    BRANCHY_CHECK(0 <= begin && begin <= end, "data_offsets [", begin, ", ", end, "] are not 0 <= begin <= end");
    entry.begin = static_cast<uint64_t>(begin);
    entry.end = static_cast<uint64_t>(end);
    BRANCHY_CHECK(entry.end <= data_bytes, "data_offsets [", begin, ", ", end,
                  "] run past the end of the data section (", data_bytes, " bytes)");
    BRANCHY_CHECK(entry.end - entry.begin == numel * bytes_per_float, "data_offsets [", begin, ", ", end,
                  "] hold ", end - begin, " bytes but F32 shape ", entry.shape.str(), " needs ",
                  numel * bytes_per_float);
  } catch (const Error& e) {
    fail(where, e.what());
  }
  return entry;
}

// The tensors must tile the data section exactly: sorted by offset, each one
// begins where the previous ended, and the last ends at the end of the file.
void check_layout(std::vector<TensorEntry> entries, uint64_t data_bytes) {
  std::sort(entries.begin(), entries.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t filled = 0;  // bytes [0, filled) belong to the tensors seen so far
  for (size_t i = 0; i < entries.size(); ++i) {
    const TensorEntry& entry = entries[i];
    BRANCHY_CHECK(entry.begin >= filled, "tensors ", quoted(entries[i - 1].name), " [",
                  entries[i - 1].begin, ", ", entries[i - 1].end, ") and ", quoted(entry.name), " [",
                  entry.begin, ", ", entry.end, ") overlap in the data section");
    BRANCHY_CHECK(entry.begin == filled, "bytes [", filled, ", ", entry.begin,
                  ") of the data section belong to no tensor (a gap before ", quoted(entry.name), ")");
    filled = entry.end;
  }
  BRANCHY_CHECK(filled == data_bytes, "the data section is ", data_bytes, " bytes but the tensors fill ",
                filled, " (", data_bytes - filled, " trailing bytes)");
}

void read_metadata(const Json& value, std::map<std::string, std::string>& metadata) {
  BRANCHY_CHECK(value.is_object(), metadata_key, " must be an object of strings, got ", json_type_name(value));
  for (const auto& [key, text] : value.items()) {
    BRANCHY_CHECK(text.is_string(), metadata_key, " value of ", quoted(key), " is ", json_type_name(text),
                  "; safetensors metadata values must be strings");
    metadata[key] = text.get<std::string>();
  }
}

using File = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

void read_exactly(std::FILE* file, void* out, uint64_t bytes, const std::string& path, const std::string& what) {
  if (bytes == 0) return;
  if (std::fread(out, 1, bytes, file) != bytes)
    fail(path, ": ", std::ferror(file) ? std::strerror(errno) : "the file ended early", " while reading ", what);
}

}  // namespace

const Tensor* Checkpoint::find(const std::string& name) const {
  for (const NamedTensor& named : tensors)
    if (named.name == name) return &named.tensor;
  return nullptr;
}

std::string safetensors_bytes(const std::vector<NamedTensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::string bytes = encode_header(tensors, metadata);
  for (const NamedTensor& named : tensors)
    bytes.append(reinterpret_cast<const char*>(named.tensor.data()), tensor_bytes(named.tensor));
  return bytes;
}

void save_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::string header;
  try {
    header = encode_header(tensors, metadata);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }
  AtomicFileWriter writer(path);
  writer.write(header);
  for (const NamedTensor& named : tensors) writer.write(named.tensor.data(), tensor_bytes(named.tensor));
  writer.commit();
}

Checkpoint load_safetensors(const std::string& path) {
  File file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) fail(path, ": cannot open: ", std::strerror(errno));
  struct stat status {};
  if (::fstat(::fileno(file.get()), &status) != 0) fail(path, ": cannot stat: ", std::strerror(errno));
  BRANCHY_CHECK(S_ISREG(status.st_mode), path, ": not a regular file");
  const uint64_t file_bytes = static_cast<uint64_t>(status.st_size);
  BRANCHY_CHECK(file_bytes >= 8, path, ": the file is ", file_bytes,
                " bytes, too short for a safetensors file (it starts with an 8-byte header length)");

  unsigned char length_bytes[8];
  read_exactly(file.get(), length_bytes, 8, path, "the header length");
  uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = (header_bytes << 8) | length_bytes[i];
  BRANCHY_CHECK(header_bytes <= max_header_bytes, path, ": header length ", header_bytes, " is more than ",
                max_header_bytes, " bytes; is this a safetensors file?");
  BRANCHY_CHECK(header_bytes <= file_bytes - 8, path, ": header length ", header_bytes,
                " runs past the end of the file (", file_bytes, " bytes)");
  std::string header_text(header_bytes, '\0');
  read_exactly(file.get(), header_text.data(), header_bytes, path, "the header");

  const Json header = parse_json(header_text, path + ": header");
  BRANCHY_CHECK(header.is_object(), path, ": the header is ", json_type_name(header),
                ", expected a JSON object");
  const uint64_t data_start = 8 + header_bytes;
  const uint64_t data_bytes = file_bytes - data_start;

  Checkpoint checkpoint;
  std::vector<TensorEntry> entries;
  std::optional<TensorChecksums> checksums;  // none in files written before they existed
  try {
    for (const auto& [name, value] : header.items()) {  // the parser already refused duplicate names
      if (name == metadata_key) read_metadata(value, checkpoint.metadata);
      else entries.push_back(read_entry(name, value, data_bytes));
    }
    check_layout(entries, data_bytes);
    std::vector<std::string> names;
    for (const TensorEntry& entry : entries) names.push_back(entry.name);
    checksums = take_tensor_checksums(checkpoint.metadata, names);
  } catch (const Error& e) {
    fail(path, ": ", e.what());
  }

  for (const TensorEntry& entry : entries) {
    Tensor tensor = Tensor::uninitialized(entry.shape);
    if (::fseeko(file.get(), static_cast<off_t>(data_start + entry.begin), SEEK_SET) != 0)
      fail(path, ": cannot seek to tensor ", quoted(entry.name), ": ", std::strerror(errno));
    read_exactly(file.get(), tensor.data(), entry.end - entry.begin, path, "tensor " + quoted(entry.name));
    if (checksums) verify_tensor_checksum(*checksums, entry.name, tensor, path);
    checkpoint.tensors.push_back({entry.name, tensor});
  }
  return checkpoint;
}

std::vector<NamedTensor> params_to_tensors(const std::vector<ParamRef>& params) {
  std::vector<NamedTensor> tensors;
  tensors.reserve(params.size());
  for (const ParamRef& ref : params) {
    BRANCHY_CHECK(ref.param != nullptr, "parameter ", quoted(ref.name), " is a null pointer");
    tensors.push_back({ref.name, ref.param->value});
  }
  return tensors;
}

void load_params(const Checkpoint& checkpoint, const std::vector<ParamRef>& params,
                 const std::string& path_for_errors) {
  std::unordered_map<std::string, const Tensor*> stored;
  for (const NamedTensor& named : checkpoint.tensors) stored[named.name] = &named.tensor;

  // Every problem is collected first, so one message shows them all and no
  // Param changes unless all of them can.
  constexpr size_t names_shown = 5;
  std::vector<std::string> missing, unexpected, mismatched;
  std::set<std::string> network_names;
  for (const ParamRef& ref : params) {
    BRANCHY_CHECK(ref.param != nullptr, path_for_errors, ": parameter ", quoted(ref.name), " is a null pointer");
    BRANCHY_CHECK(network_names.insert(ref.name).second, path_for_errors, ": the network has two parameters named ",
                  quoted(ref.name));
    const auto found = stored.find(ref.name);
    if (found == stored.end()) {
      missing.push_back(quoted(ref.name));
    } else if (found->second->shape() != ref.param->value.shape()) {
      mismatched.push_back(quoted(ref.name) + " is " + found->second->shape().str() + " in the file but " +
                           ref.param->value.shape().str() + " in the network");
    }
  }
  for (const NamedTensor& named : checkpoint.tensors)
    if (!network_names.count(named.name)) unexpected.push_back(quoted(named.name));

  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string message = path_for_errors + ": the checkpoint does not match the network:";
    const auto list = [&](const std::vector<std::string>& items, const std::string& title) {
      if (items.empty()) return;
      message += " " + std::to_string(items.size()) + " " + title + " ";
      for (size_t i = 0; i < std::min(items.size(), names_shown); ++i) message += (i ? ", " : "") + items[i];
      if (items.size() > names_shown) message += " and " + std::to_string(items.size() - names_shown) + " more";
      message += ";";
    };
    list(missing, "missing from the file:");
    list(unexpected, "in the file but not in the network:");
    list(mismatched, "with another shape:");
    message.pop_back();  // the last ';'
    throw Error(message);
  }
  // A NaN or infinite weight would give answers from garbage (a NaN branch
  // bias once sent every sample out at the branch): refuse it, by name.
  for (const ParamRef& ref : params) {
    const Tensor& source = *stored.at(ref.name);
    for (int64_t i = 0; i < source.numel(); ++i)
      BRANCHY_CHECK(std::isfinite(source[i]), path_for_errors, ": tensor ", quoted(ref.name), " holds ", source[i],
                    " at element ", i, "; a model's weights must be finite numbers");
  }

  for (const ParamRef& ref : params) {
    const Tensor& source = *stored.at(ref.name);
    std::memcpy(ref.param->value.data(), source.data(), static_cast<size_t>(source.numel()) * sizeof(float));
  }
}

}  // namespace branchy
