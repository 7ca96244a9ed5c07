// json.h — JSON values (nlohmann's ordered_json) and the strict reading and
// writing that files we did not write need.
//
// Json is nlohmann::ordered_json: objects keep the order their keys were
// inserted in, so a dump is deterministic. Build and inspect values with its
// own API (j["k"] = v, j.contains("k"), j.is_number_integer(), j.items());
// integers stay integers, doubles are written in the shortest form that reads
// back to the same double.
//
// parse_json
//   Requires: nothing (the text may be hostile).
//   Ensures: strict RFC 8259 JSON (no comments, no trailing commas, no NaN,
//   strings valid UTF-8) with no duplicate key in an object and at most
//   json_max_depth nested arrays and objects.
//   Fails: Error "<source>: line L column C: <what>" (L and C count from 1, C
//   in bytes).
// dump_json
//   nlohmann's dump (compact when indent < 0, else one member per line), but
//   Error instead of writing null for a NaN or infinity, and Error instead of
//   nlohmann's exception for a string that is not valid UTF-8.
// json_int / json_double / json_string / json_member
//   The value, or Error "expected <type>, got <type>"; the keyed forms read a
//   member of an object and prefix the error with the key: "key "k": ...", or
//   fail with "missing key "k"". With a fallback, an absent key gives the
//   fallback (a present one of another type still fails). json_int wants an
//   exact integer: a JSON integer within int64, or a double with no fraction
//   and |x| <= 2^53.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace branchy {

using Json = nlohmann::ordered_json;

constexpr int json_max_depth = 100;

Json parse_json(std::string_view text, const std::string& source_name);
std::string dump_json(const Json& value, int indent = -1);

// "null", "a boolean", "a number", "a string", "an array", "an object".
const char* json_type_name(const Json& value);

const Json& json_member(const Json& object, const std::string& key);
int64_t json_int(const Json& value);
int64_t json_int(const Json& object, const std::string& key);
int64_t json_int(const Json& object, const std::string& key, int64_t fallback);
double json_double(const Json& value);
double json_double(const Json& object, const std::string& key);
double json_double(const Json& object, const std::string& key, double fallback);
std::string json_string(const Json& value);
std::string json_string(const Json& object, const std::string& key);
std::string json_string(const Json& object, const std::string& key, const std::string& fallback);

}  // namespace branchy
