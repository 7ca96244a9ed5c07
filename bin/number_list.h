// number_list.h — the one parser of comma-separated numbers on the command
// line ("0.5,0.75" for --thresholds, --grid, --exit-weights).
#pragma once

#include <string>
#include <vector>

namespace branchy {

// Parses "a,b,c" into numbers, each finite and >= min_value (T: float or int).
// Requires: text is the option's whole value.
// Ensures: one number per item, in order; "" gives an empty list.
// Throws UsageError naming the first bad item ("'x' is not a number",
// "-1 is below 0", an empty item in "1,,2").
template <typename T>
std::vector<T> parse_number_list(const std::string& text, T min_value);

}  // namespace branchy
