#include "formats/json.h"

#include <cmath>
#include <cstddef>
#include <iterator>
#include <limits>
#include <set>
#include <vector>

#include "engine/error.h"

namespace branchy {

namespace {

// A key as it appears in error messages: quoted, control characters as '?'.
std::string quoted(const std::string& key) {
  std::string out = "\"";
  for (char c : key) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  return out + "\"";
}

// "line L column C" of the byte at `offset` (from 0; the end of the text is
// offset text.size()).
std::string line_and_column(std::string_view text, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') ++line, column = 1;
    else ++column;
  }
  return "line " + std::to_string(line) + " column " + std::to_string(column);
}

// nlohmann's message without its "[json.exception.parse_error.101] parse
// error at line 1, column 9: " prefix (we give the position ourselves).
std::string nlohmann_detail(const std::string& what) {
  std::string detail = what.substr(what.find("] ") == std::string::npos ? 0 : what.find("] ") + 2);
  if (detail.rfind("parse error", 0) == 0 && detail.find(": ") != std::string::npos)
    detail = detail.substr(detail.find(": ") + 2);
  return detail;
}

// Walks the text for nlohmann one byte at a time and counts the bytes it has
// read, so that errors found in the parser callback (which is given no
// position) can say where they are.
class CountingIterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  CountingIterator(const char* at, size_t* bytes_read) : at_(at), bytes_read_(bytes_read) {}
  reference operator*() const { return *at_; }
  CountingIterator& operator++() {
    ++at_;
    ++*bytes_read_;
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator before = *this;
    ++*this;
    return before;
  }
  bool operator==(const CountingIterator& other) const { return at_ == other.at_; }

 private:
  const char* at_;
  size_t* bytes_read_;
};

// Whether `value` holds a NaN or infinity; if so, `where` gets its path, e.g.
// "/policies/full/speedup_latency" or "/exit_share[2]".
bool find_non_finite(const Json& value, std::string& where) {
  if (value.is_number_float()) return !std::isfinite(value.get<double>());
  if (value.is_array()) {
    for (size_t i = 0; i < value.size(); ++i) {
      if (find_non_finite(value[i], where)) {
        where = "[" + std::to_string(i) + "]" + where;
        return true;
      }
    }
  }
  if (value.is_object()) {
    for (const auto& [key, member] : value.items()) {
      if (find_non_finite(member, where)) {
        where = "/" + key + where;
        return true;
      }
    }
  }
  return false;
}

template <typename Read>
auto read_member(const Json& object, const std::string& key, Read read) {
  const Json& value = json_member(object, key);
  try {
    return read(value);
  } catch (const Error& e) {
    fail("key ", quoted(key), ": ", e.what());
  }
}

bool has_member(const Json& object, const std::string& key) {
  BRANCHY_CHECK(object.is_object(), "expected an object, got ", json_type_name(object));
  return object.contains(key);
}

}  // namespace

Json parse_json(std::string_view text, const std::string& source_name) {
  size_t bytes_read = 0;
  // Keys seen in each object being parsed, innermost last.
  std::vector<std::set<std::string>> open_objects;
  const auto error_here = [&](const std::string& what) {
    fail(source_name, ": ", line_and_column(text, bytes_read == 0 ? 0 : bytes_read - 1), ": ", what);
  };
  const Json::parser_callback_t check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    using Event = Json::parse_event_t;
    // depth counts the arrays and objects around the one that starts.
    if ((event == Event::array_start || event == Event::object_start) && depth >= json_max_depth)
      error_here("arrays and objects nested deeper than " + std::to_string(json_max_depth) + " levels");
    if (event == Event::object_start) open_objects.emplace_back();
    if (event == Event::object_end) open_objects.pop_back();
    if (event == Event::key && !open_objects.back().insert(parsed.get<std::string>()).second)
      error_here("duplicate key " + quoted(parsed.get<std::string>()) + " in an object");
    return true;
  };
  try {
    return Json::parse(CountingIterator(text.data(), &bytes_read),
                       CountingIterator(text.data() + text.size(), &bytes_read), check);
  } catch (const Json::parse_error& e) {
    // e.byte counts the bytes read, the end of the input included.
    fail(source_name, ": ", line_and_column(text, e.byte == 0 ? 0 : e.byte - 1), ": ", nlohmann_detail(e.what()));
  } catch (const Json::exception& e) {  // a number out of the range of a double
    error_here(nlohmann_detail(e.what()));
  }
  return Json();  // not reached: error_here throws
}

std::string dump_json(const Json& value, int indent) {
  std::string where;
  if (find_non_finite(value, where))
    fail("cannot write a NaN or infinity in JSON (at ", where.empty() ? "the top" : where, ")");
  try {
    return value.dump(indent);
  } catch (const Json::type_error& e) {  // the only one dump() throws
    fail("cannot write a JSON string that is not valid UTF-8 (", nlohmann_detail(e.what()), ")");
  }
}

const char* json_type_name(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float: return "a number";
    case Json::value_t::string: return "a string";
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    case Json::value_t::binary: return "binary data";
    case Json::value_t::discarded: break;
  }
  return "nothing";
}

const Json& json_member(const Json& object, const std::string& key) {
  BRANCHY_CHECK(has_member(object, key), "missing key ", quoted(key));
  return *object.find(key);
}

int64_t json_int(const Json& value) {
  BRANCHY_CHECK(value.is_number(), "expected an integer, got ", json_type_name(value));
  if (value.is_number_unsigned()) {
    BRANCHY_CHECK(value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
                  "expected an integer, got the number ", value.dump(), " (more than 64-bit signed)");
  } else if (value.is_number_float()) {
    const double x = value.get<double>();
    BRANCHY_CHECK(x == std::floor(x) && std::fabs(x) <= 9007199254740992.0,  // 2^53
                  "expected an integer, got the number ", value.dump());
  }
  return value.get<int64_t>();
}

double json_double(const Json& value) {
  BRANCHY_CHECK(value.is_number(), "expected a number, got ", json_type_name(value));
  return value.get<double>();
}

std::string json_string(const Json& value) {
  BRANCHY_CHECK(value.is_string(), "expected a string, got ", json_type_name(value));
  return value.get<std::string>();
}

int64_t json_int(const Json& object, const std::string& key) {
  return read_member(object, key, [](const Json& value) { return json_int(value); });
}
double json_double(const Json& object, const std::string& key) {
  return read_member(object, key, [](const Json& value) { return json_double(value); });
}
std::string json_string(const Json& object, const std::string& key) {
  return read_member(object, key, [](const Json& value) { return json_string(value); });
}
int64_t json_int(const Json& object, const std::string& key, int64_t fallback) {
  return has_member(object, key) ? json_int(object, key) : fallback;
}
double json_double(const Json& object, const std::string& key, double fallback) {
  return has_member(object, key) ? json_double(object, key) : fallback;
}
std::string json_string(const Json& object, const std::string& key, const std::string& fallback) {
  return has_member(object, key) ? json_string(object, key) : fallback;
}

}  // namespace branchy
