#include "bin/number_list.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

#include "bin/commands.h"

namespace branchy {

namespace {

// The whole of `item` as a T, or UsageError.
template <typename T>
T parse_number(const std::string& item) {
  if (item.empty()) throw UsageError("empty item in the list");
  char* end = nullptr;
  errno = 0;
  if constexpr (std::is_integral_v<T>) {
    const long long value = std::strtoll(item.c_str(), &end, 10);
    if (*end != '\0' || errno == ERANGE || value < std::numeric_limits<T>::lowest() ||
        value > std::numeric_limits<T>::max())
      throw UsageError("'" + item + "' is not an integer");
    return static_cast<T>(value);
  } else {
    const double value = std::strtod(item.c_str(), &end);
    if (*end != '\0' || !std::isfinite(value) || std::abs(value) > std::numeric_limits<T>::max())
      throw UsageError("'" + item + "' is not a finite number");
    return static_cast<T>(value);
  }
}

std::string number_text(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

}  // namespace

template <typename T>
std::vector<T> parse_number_list(const std::string& text, T min_value) {
  std::vector<T> numbers;
  if (text.empty()) return numbers;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const T value = parse_number<T>(item);
    if (value < min_value) throw UsageError(item + " is below " + number_text(min_value));
    numbers.push_back(value);
    if (comma == std::string::npos) return numbers;
    start = comma + 1;
  }
}

template std::vector<float> parse_number_list<float>(const std::string&, float);
template std::vector<int> parse_number_list<int>(const std::string&, int);

}  // namespace branchy
