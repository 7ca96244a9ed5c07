#include "formats/json.h"

#include <charconv>
#include <cmath>
#include <unordered_set>

#include "engine/error.h"

namespace branchy {

namespace {

// Length of the valid UTF-8 sequence starting at text[pos] (2..4 bytes), or 0
// when it is not one: a stray continuation byte, an overlong form, a
// surrogate (U+D800..DFFF) or a code point past U+10FFFF.
size_t utf8_sequence_length(std::string_view text, size_t pos) {
  const unsigned char lead = static_cast<unsigned char>(text[pos]);
  size_t length;
  uint32_t code_point, smallest;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2, code_point = lead & 0x1F, smallest = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, code_point = lead & 0x0F, smallest = 0x800;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4, code_point = lead & 0x07, smallest = 0x10000;
  } else {
    return 0;
  }
  if (pos + length > text.size()) return 0;
  for (size_t i = 1; i < length; ++i) {
    const unsigned char next = static_cast<unsigned char>(text[pos + i]);
    if ((next & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (next & 0x3F);
  }
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  return (code_point < smallest || code_point > 0x10FFFF || surrogate) ? 0 : length;
}

void append_utf8(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else if (code_point < 0x10000) {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code_point >> 18));
    out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// Writes a string as a JSON string literal. Throws on invalid UTF-8, which
// JSON text cannot carry.
void append_quoted(std::string& out, std::string_view text) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 0xF];
        } else if (c < 0x80) {
          out += static_cast<char>(c);
        } else {
          const size_t length = utf8_sequence_length(text, i);
          if (length == 0) fail("cannot write a JSON string that is not valid UTF-8 (byte ", i, ")");
          out.append(text.substr(i, length));
          i += length - 1;
        }
    }
  }
  out += '"';
}

// A key as it appears in error messages: quoted, escapes visible.
std::string quoted(const std::string& key) {
  std::string out = "\"";
  for (char c : key) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
  return out + "\"";
}

void append_number(std::string& out, double x) {
  if (!std::isfinite(x)) fail("cannot write ", x, " in JSON (it has no NaN or infinity)");
  if (x == 0.0 && std::signbit(x)) {
    out += "-0";
  } else if (x == std::floor(x) && std::fabs(x) < 9007199254740992.0) {  // 2^53
    out += std::to_string(static_cast<int64_t>(x));
  } else {
    // Shortest text that reads back as the same double, e.g. 0.1, 1e+20.
    char buffer[32];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, x);
    out.append(buffer, result.ptr);
  }
}

// Recursive descent over the text, tracking only the byte position; line and
// column are worked out when an error is thrown.
class Parser {
 public:
  Parser(std::string_view text, const std::string& source) : text_(text), source_(source) {}

  Json parse_document() {
    skip_whitespace();
    Json value = parse_value(0);
    skip_whitespace();
    if (pos_ != text_.size()) error("expected the end of the input after the value, got " + next());
    return value;
  }

 private:
  [[noreturn]] void error(const std::string& what) const { error_at(pos_, what); }
  [[noreturn]] void error_at(size_t pos, const std::string& what) const {
    size_t line = 1, column = 1;
    for (size_t i = 0; i < pos && i < text_.size(); ++i) {
      if (text_[i] == '\n') ++line, column = 1;
      else ++column;
    }
    fail(source_, ": line ", line, " column ", column, ": ", what);
  }
  // The next byte, described for an error message.
  std::string next() const {
    if (pos_ >= text_.size()) return "the end of the input";
    const unsigned char c = static_cast<unsigned char>(text_[pos_]);
    if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
    static const char hex[] = "0123456789ABCDEF";
    return std::string("byte 0x") + hex[c >> 4] + hex[c & 0xF];
  }
  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }
  bool is_digit() const { return !at_end() && text_[pos_] >= '0' && text_[pos_] <= '9'; }

  void skip_whitespace() {
    while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r')) ++pos_;
  }

  void expect_literal(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) error("expected '" + std::string(word) + "'");
    pos_ += word.size();
  }

  Json parse_value(int depth) {
    switch (peek()) {
      case 'n': expect_literal("null"); return Json();
      case 't': expect_literal("true"); return Json(true);
      case 'f': expect_literal("false"); return Json(false);
      case '"': return Json(parse_string());
      case '[': return parse_array(depth + 1);
      case '{': return parse_object(depth + 1);
      default:
        if (peek() == '-' || is_digit()) return Json(parse_number());
        error("expected a value (null, true, false, a number, a string, '[' or '{'), got " + next());
    }
  }

  Json parse_array(int depth) {
    if (depth > Json::max_depth) error("arrays and objects nested deeper than 100 levels");
    ++pos_;  // '['
    Json::Array elements;
    skip_whitespace();
    if (peek() == ']') {
      ++pos_;
      return Json::array(std::move(elements));
    }
    while (true) {
      skip_whitespace();
      elements.push_back(parse_value(depth));
      skip_whitespace();
      if (peek() == ']') {
        ++pos_;
        return Json::array(std::move(elements));
      }
      if (peek() != ',') error("expected ',' or ']' in an array, got " + next());
      ++pos_;
    }
  }

  Json parse_object(int depth) {
    if (depth > Json::max_depth) error("arrays and objects nested deeper than 100 levels");
    ++pos_;  // '{'
    Json::Object members;
    std::unordered_set<std::string> keys;
    skip_whitespace();
    if (peek() == '}') {
      ++pos_;
      return Json::object(std::move(members));
    }
    while (true) {
      skip_whitespace();
      if (peek() != '"') error("expected a string key in an object, got " + next());
      const size_t key_pos = pos_;
      std::string key = parse_string();
      if (!keys.insert(key).second) error_at(key_pos, "duplicate key " + quoted(key) + " in an object");
      skip_whitespace();
      if (peek() != ':') error("expected ':' after the key " + quoted(key) + ", got " + next());
      ++pos_;
      skip_whitespace();
      Json value = parse_value(depth);
      members.emplace_back(std::move(key), std::move(value));
      skip_whitespace();
      if (peek() == '}') {
        ++pos_;
        return Json::object(std::move(members));
      }
      if (peek() != ',') error("expected ',' or '}' in an object, got " + next());
      ++pos_;
    }
  }

  double parse_number() {
    const size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (!is_digit()) error("expected a digit after '-', got " + next());
    if (peek() == '0') {
      ++pos_;
      if (is_digit()) error("a number may not have a leading zero");
    }
    while (is_digit()) ++pos_;
    if (peek() == '.') {
      ++pos_;
      if (!is_digit()) error("expected a digit after the decimal point, got " + next());
      while (is_digit()) ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!is_digit()) error("expected a digit in the exponent, got " + next());
      while (is_digit()) ++pos_;
    }
    double value = 0.0;
    const char* first = text_.data() + start;
    const auto result = std::from_chars(first, text_.data() + pos_, value);
    if (result.ec != std::errc())
      error_at(start, "the number " + std::string(text_.substr(start, pos_ - start)) +
                          " is out of the range of a double");
    return value;
  }

  uint32_t parse_hex4() {
    uint32_t unit = 0;
    for (int i = 0; i < 4; ++i, ++pos_) {
      const char c = peek();
      int digit = (c >= '0' && c <= '9') ? c - '0'
                  : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                  : -1;
      if (digit < 0) error("expected 4 hex digits after \\u, got " + next());
      unit = unit * 16 + static_cast<uint32_t>(digit);
    }
    return unit;
  }

  // \uXXXX, with a UTF-16 surrogate pair \uD83D\uDE00 making one code point.
  uint32_t parse_unicode_escape() {
    const size_t escape_pos = pos_ - 2;  // at the backslash
    const uint32_t unit = parse_hex4();
    if (unit >= 0xDC00 && unit <= 0xDFFF) error_at(escape_pos, "unpaired low surrogate in a \\u escape");
    if (unit < 0xD800 || unit > 0xDBFF) return unit;
    if (text_.substr(pos_, 2) != "\\u")
      error_at(escape_pos, "high surrogate \\u escape not followed by a low surrogate \\uDC00..\\uDFFF");
    pos_ += 2;
    const uint32_t low = parse_hex4();
    if (low < 0xDC00 || low > 0xDFFF)
      error_at(escape_pos, "high surrogate \\u escape not followed by a low surrogate \\uDC00..\\uDFFF");
    return 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
  }

  std::string parse_string() {
    const size_t start = pos_;
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (at_end()) error_at(start, "unterminated string");
      const unsigned char c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      } else if (c == '\\') {
        ++pos_;
        const char escape = peek();
        ++pos_;
        switch (escape) {
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          case '/': out += '/'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'n': out += '\n'; break;
          case 'r': out += '\r'; break;
          case 't': out += '\t'; break;
          case 'u': append_utf8(out, parse_unicode_escape()); break;
          default:
            --pos_;
            error("bad escape: expected one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX, got " + next());
        }
      } else if (c < 0x20) {
        error("control character in a string (it must be escaped, e.g. \\n)");
      } else if (c < 0x80) {
        out += static_cast<char>(c);
        ++pos_;
      } else {
        const size_t length = utf8_sequence_length(text_, pos_);
        if (length == 0) error("invalid UTF-8 in a string at " + next());
        out.append(text_.substr(pos_, length));
        pos_ += length;
      }
    }
  }

  std::string_view text_;
  const std::string& source_;
  size_t pos_ = 0;
};

// Reads a member with `read`, prefixing any type error with the key's name.
template <typename Read>
auto read_member(const Json& object, const std::string& key, Read read) {
  const Json& value = object.at(key);
  try {
    return read(value);
  } catch (const Error& e) {
    fail("key ", quoted(key), ": ", e.what());
  }
}

}  // namespace

Json Json::array(Array elements) {
  Json json;
  json.kind_ = Kind::array;
  json.array_ = std::move(elements);
  return json;
}

Json Json::object(Object members) {
  Json json;
  json.kind_ = Kind::object;
  json.object_ = std::move(members);
  return json;
}

Json Json::parse(std::string_view text, const std::string& source_name) {
  return Parser(text, source_name).parse_document();
}

const char* Json::kind_name(Kind kind) {
  switch (kind) {
    case Kind::null: return "null";
    case Kind::boolean: return "a boolean";
    case Kind::number: return "a number";
    case Kind::string: return "a string";
    case Kind::array: return "an array";
    case Kind::object: return "an object";
  }
  return "?";
}

bool Json::as_bool() const {
  BRANCHY_CHECK(is_bool(), "expected a boolean, got ", kind_name(kind_));
  return bool_;
}

double Json::as_double() const {
  BRANCHY_CHECK(is_number(), "expected a number, got ", kind_name(kind_));
  return number_;
}

int64_t Json::as_int() const {
  BRANCHY_CHECK(is_number(), "expected an integer, got ", kind_name(kind_));
  BRANCHY_CHECK(number_ == std::floor(number_) && std::fabs(number_) <= 9007199254740992.0,
                "expected an integer, got the number ", dump());
  return static_cast<int64_t>(number_);
}

const std::string& Json::as_string() const {
  BRANCHY_CHECK(is_string(), "expected a string, got ", kind_name(kind_));
  return string_;
}

const Json::Array& Json::elements() const {
  BRANCHY_CHECK(is_array(), "expected an array, got ", kind_name(kind_));
  return array_;
}

const Json::Object& Json::items() const {
  BRANCHY_CHECK(is_object(), "expected an object, got ", kind_name(kind_));
  return object_;
}

const Json* Json::find(const std::string& key) const {
  for (const auto& [name, value] : items())
    if (name == key) return &value;
  return nullptr;
}

bool Json::contains(const std::string& key) const { return find(key) != nullptr; }

const Json& Json::at(const std::string& key) const {
  const Json* value = find(key);
  if (!value) fail("missing key ", quoted(key));
  return *value;
}

const Json& Json::at(size_t index) const {
  BRANCHY_CHECK(index < elements().size(), "index ", index, " out of range for an array of ",
                array_.size());
  return array_[index];
}

size_t Json::size() const {
  return is_array() ? array_.size() : is_object() ? object_.size() : 0;
}

bool Json::get_bool(const std::string& key) const {
  return read_member(*this, key, [](const Json& v) { return v.as_bool(); });
}
double Json::get_double(const std::string& key) const {
  return read_member(*this, key, [](const Json& v) { return v.as_double(); });
}
int64_t Json::get_int(const std::string& key) const {
  return read_member(*this, key, [](const Json& v) { return v.as_int(); });
}
std::string Json::get_string(const std::string& key) const {
  return read_member(*this, key, [](const Json& v) { return v.as_string(); });
}
bool Json::get_bool(const std::string& key, bool fallback) const {
  return contains(key) ? get_bool(key) : fallback;
}
double Json::get_double(const std::string& key, double fallback) const {
  return contains(key) ? get_double(key) : fallback;
}
int64_t Json::get_int(const std::string& key, int64_t fallback) const {
  return contains(key) ? get_int(key) : fallback;
}
std::string Json::get_string(const std::string& key, const std::string& fallback) const {
  return contains(key) ? get_string(key) : fallback;
}

void Json::push_back(Json element) {
  BRANCHY_CHECK(is_array(), "push_back on ", kind_name(kind_), ", not an array");
  array_.push_back(std::move(element));
}

void Json::set(const std::string& key, Json value) {
  BRANCHY_CHECK(is_object(), "set(", quoted(key), ") on ", kind_name(kind_), ", not an object");
  for (auto& [name, existing] : object_) {
    if (name == key) {
      existing = std::move(value);
      return;
    }
  }
  object_.emplace_back(key, std::move(value));
}

bool Json::operator==(const Json& other) const {
  if (kind_ != other.kind_) return false;
  switch (kind_) {
    case Kind::null: return true;
    case Kind::boolean: return bool_ == other.bool_;
    case Kind::number: return number_ == other.number_;
    case Kind::string: return string_ == other.string_;
    case Kind::array: return array_ == other.array_;
    case Kind::object: return object_ == other.object_;
  }
  return false;
}

std::string Json::dump(int indent) const {
  std::string out;
  dump_to(out, indent, 0);
  return out;
}

void Json::dump_to(std::string& out, int indent, int level) const {
  // Before each element: a newline and the indentation of the next level.
  auto new_line = [&](int at_level) {
    if (indent < 0) return;
    out += '\n';
    out.append(static_cast<size_t>(indent * at_level), ' ');
  };
  switch (kind_) {
    case Kind::null: out += "null"; break;
    case Kind::boolean: out += bool_ ? "true" : "false"; break;
    case Kind::number: append_number(out, number_); break;
    case Kind::string: append_quoted(out, string_); break;
    case Kind::array:
      out += '[';
      for (size_t i = 0; i < array_.size(); ++i) {
        if (i) out += ',';
        new_line(level + 1);
        array_[i].dump_to(out, indent, level + 1);
      }
      if (!array_.empty()) new_line(level);
      out += ']';
      break;
    case Kind::object:
      out += '{';
      for (size_t i = 0; i < object_.size(); ++i) {
        if (i) out += ',';
        new_line(level + 1);
        append_quoted(out, object_[i].first);
        out += indent < 0 ? ":" : ": ";
        object_[i].second.dump_to(out, indent, level + 1);
      }
      if (!object_.empty()) new_line(level);
      out += '}';
      break;
  }
}

}  // namespace branchy
