#include "nets/net_config.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "engine/error.h"

namespace branchy {

namespace {

// A setting as shown in an error message; a word from the command line may
// not be valid UTF-8, which a message can live with.
std::string shown(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

NetConfig::NetConfig(Json overrides) : overrides_(std::move(overrides)) {
  if (overrides_.is_null()) overrides_ = Json::object();
  BRANCHY_CHECK(overrides_.is_object(), "network config must be a JSON object");
}

const Json* NetConfig::override_of(const std::string& key) {
  used_.insert(key);
  const auto found = overrides_.find(key);
  return found != overrides_.end() ? &*found : nullptr;
}

int NetConfig::integer(const std::string& key, int fallback) {
  int value = fallback;
  if (const Json* given = override_of(key)) {
    BRANCHY_CHECK(given->is_number() && std::floor(given->get<double>()) == given->get<double>() &&
                      std::fabs(given->get<double>()) <= 1e9,
                  "network setting '", key, "' must be an integer of at most 1e9, got ", shown(*given));
    value = static_cast<int>(given->get<double>());
  }
  resolved_[key] = value;
  return value;
}

double NetConfig::number(const std::string& key, double fallback) {
  double value = fallback;
  if (const Json* given = override_of(key)) {
    BRANCHY_CHECK(given->is_number(), "network setting '", key, "' must be a number, got ", shown(*given));
    value = given->get<double>();
  }
  resolved_[key] = value;
  return value;
}

std::string NetConfig::text(const std::string& key, const std::string& fallback) {
  std::string value = fallback;
  if (const Json* given = override_of(key)) {
    BRANCHY_CHECK(given->is_string(), "network setting '", key, "' must be a word, got ", shown(*given));
    value = given->get<std::string>();
  }
  resolved_[key] = value;
  return value;
}

Shape NetConfig::sample_shape() {
  const int channels = integer("channels", 1), height = integer("height", 28), width = integer("width", 28);
  BRANCHY_CHECK(channels > 0 && height > 0 && width > 0, "network input ", channels, "x", height, "x", width,
                " is empty");
  BRANCHY_CHECK(channels <= max_input_channels && height <= max_input_side && width <= max_input_side,
                "network input ", channels, "x", height, "x", width, " is larger than branchy builds (at most ",
                max_input_channels, " channels of ", max_input_side, "x", max_input_side, ")");
  return Shape{1, channels, height, width};
}

int NetConfig::classes() {
  const int count = integer("classes", 10);
  BRANCHY_CHECK(count >= 2 && count <= max_classes, "a classifier needs 2 to ", max_classes, " classes, got ",
                count);
  return count;
}

void NetConfig::check_all_used(const std::string& network) const {
  for (const auto& [key, value] : overrides_.items())
    BRANCHY_CHECK(used_.count(key), network, " has no setting '", key, "'");
}

Json parse_config_overrides(const std::string& text) {
  Json out = Json::object();
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find('=');
    BRANCHY_CHECK(eq != std::string::npos && eq > 0 && eq + 1 < item.size(), "network setting '", item,
                  "' is not key=value");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    int64_t integer = 0;
    const auto [integer_end, integer_error] = std::from_chars(value.data(), value.data() + value.size(), integer);
    char* parse_end = nullptr;
    const double number = std::strtod(value.c_str(), &parse_end);
    if (integer_error == std::errc() && integer_end == value.data() + value.size()) {
      out[key] = integer;  // stays an integer in the saved config
    } else if (parse_end && *parse_end == '\0') {
      BRANCHY_CHECK(std::isfinite(number), "network setting '", key, "' must be finite, got ", value);
      out[key] = number;
    } else {
      out[key] = value;
    }
    start = end + 1;
  }
  return out;
}

}  // namespace branchy
