// json.h — a small, strict JSON value: parse, inspect, build, write.
//
// Used for safetensors headers, checkpoint metadata and run configs. It is
// strict RFC 8259 JSON: no comments, no trailing commas, no NaN/Infinity, no
// duplicate keys in an object, strings must be valid UTF-8. Objects keep the
// order their keys were written or inserted in, so dump() is deterministic.
//
// Requires: nothing. Ensures: parse(dump(v)) == v for every value v that
// dump() accepts (numbers are written in the shortest form that reads back
// to the same double).
// Fails: parse() throws branchy::Error "<source>: line L column C: <what was
// expected>" on malformed input (L and C count from 1, C in bytes); the typed
// accessors throw Error naming the key, the expected and the actual type;
// dump() throws Error on a NaN or infinite number (JSON cannot hold them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace branchy {

class Json {
 public:
  enum class Kind { null, boolean, number, string, array, object };
  using Array = std::vector<Json>;
  using Object = std::vector<std::pair<std::string, Json>>;  // insertion order

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool value) : kind_(Kind::boolean), bool_(value) {}
  Json(double value) : kind_(Kind::number), number_(value) {}
  Json(int value) : Json(static_cast<double>(value)) {}
  Json(int64_t value) : Json(static_cast<double>(value)) {}
  Json(uint64_t value) : Json(static_cast<double>(value)) {}  // sizes
  Json(const char* value) : kind_(Kind::string), string_(value) {}
  Json(std::string value) : kind_(Kind::string), string_(std::move(value)) {}
  static Json array(Array elements = {});
  static Json object(Object members = {});

  // Parses one JSON value (surrounding whitespace allowed, nothing else after
  // it). Nesting deeper than max_depth arrays/objects is an error.
  static constexpr int max_depth = 100;
  static Json parse(std::string_view text, const std::string& source_name);

  // Compact ({"a":[1,2]}) when indent < 0, else one member per line.
  std::string dump(int indent = -1) const;

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::null; }
  bool is_bool() const { return kind_ == Kind::boolean; }
  bool is_number() const { return kind_ == Kind::number; }
  bool is_string() const { return kind_ == Kind::string; }
  bool is_array() const { return kind_ == Kind::array; }
  bool is_object() const { return kind_ == Kind::object; }
  static const char* kind_name(Kind kind);  // "a string", "an object", ...

  // The value itself; throw Error("expected <type>, got <type>") otherwise.
  // as_int() also requires an integral number that a double holds exactly
  // (|x| <= 2^53).
  bool as_bool() const;
  double as_double() const;
  int64_t as_int() const;
  const std::string& as_string() const;
  const Array& elements() const;  // of an array
  const Object& items() const;    // of an object

  // Members of an object. at() throws Error "missing key "k"" when absent;
  // get_*() throw Error "key "k": expected <type>, got <type>" when the member
  // is absent or of another type; the two-argument forms return the fallback
  // when the key is absent (but still throw on a wrong type).
  bool contains(const std::string& key) const;
  const Json& at(const std::string& key) const;
  const Json& at(size_t index) const;  // of an array, bounds-checked
  size_t size() const;                 // elements or members; 0 for scalars
  bool get_bool(const std::string& key) const;
  double get_double(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  bool get_bool(const std::string& key, bool fallback) const;
  double get_double(const std::string& key, double fallback) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;

  // Building. set() replaces an existing member or appends a new one.
  void push_back(Json element);
  void set(const std::string& key, Json value);

  bool operator==(const Json& other) const;

 private:
  const Json* find(const std::string& key) const;
  void dump_to(std::string& out, int indent, int level) const;

  Kind kind_ = Kind::null;
  bool bool_ = false;
  double number_ = 0.0;
  std::string string_;
  Array array_;
  Object object_;
};

}  // namespace branchy
