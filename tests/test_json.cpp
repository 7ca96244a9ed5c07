// Our JSON layer over nlohmann: the strictness, positions and messages we
// add (parse_json, dump_json, the typed getters), not nlohmann's own grammar.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>

#include "engine/error.h"
#include "formats/json.h"

using namespace branchy;
using Catch::Contains;
using Catch::StartsWith;

namespace {

Json parse(std::string_view text) { return parse_json(text, "test.json"); }

// The message parse_json throws for `text`, or "" when it parses.
std::string parse_error(std::string_view text) {
  try {
    parse(text);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("json keeps object order, integers and exact doubles through a round trip", "[json]") {
  const Json doc = parse(R"( {"net": "b-lenet", "epochs": 10, "lr": 1e-3, "nesterov": true,
                             "dropout": null, "widths": [5, 10, 20], "z": {}, "a": []} )");
  std::string keys;
  for (const auto& [key, value] : doc.items()) keys += key + ",";
  REQUIRE(keys == "net,epochs,lr,nesterov,dropout,widths,z,a,");  // as written, not sorted
  REQUIRE(doc["epochs"].is_number_integer());
  REQUIRE(dump_json(doc) ==
          R"({"net":"b-lenet","epochs":10,"lr":0.001,"nesterov":true,"dropout":null,"widths":[5,10,20],"z":{},"a":[]})");
  REQUIRE(parse(dump_json(doc)) == doc);
  REQUIRE(parse(dump_json(doc, 2)) == doc);

  Json built = Json::object();
  built["name"] = "x";
  built["dims"] = {1, 2};
  built["empty"] = Json::array();
  built["name"] = "y";  // replaces in place, keeps the position
  REQUIRE(dump_json(built, 2) == "{\n  \"name\": \"y\",\n  \"dims\": [\n    1,\n    2\n  ],\n  \"empty\": []\n}");

  const double awkward[] = {0.1, 1.0 / 3.0, 1e300, -2.5e-308, 4.9e-324, 9007199254740994.0,
                            1e20, 123456.789, std::numeric_limits<double>::max(), 0.1f};
  for (double x : awkward) {
    INFO(dump_json(x));
    REQUIRE(json_double(parse(dump_json(x))) == x);
  }
  REQUIRE(dump_json(int64_t{1} << 62) == "4611686018427387904");  // integers are not rounded to doubles

  const std::string tricky = std::string("quote \" backslash \\ newline \n tab \t bell \x07 nul ") + '\0' +
                             " unicode \xE2\x86\x92 \xF0\x9F\x98\x80";
  const std::string written = dump_json(tricky);
  REQUIRE(written.find('\n') == std::string::npos);
  REQUIRE(json_string(parse(written)) == tricky);
}

TEST_CASE("json parse errors name the source, line and column", "[json]") {
  REQUIRE_THROWS_WITH(parse("{\n  \"a\": [1, 2,]\n}"), StartsWith("test.json: line 2 column 14: "));
  REQUIRE_THROWS_WITH(parse(R"({"a":   )"), StartsWith("test.json: line 1 column 9: ") && Contains("end of input"));
  REQUIRE_THROWS_WITH(parse(""), StartsWith("test.json: line 1 column 1: ") && Contains("end of input"));
  REQUIRE_THROWS_WITH(parse("{} x"), StartsWith("test.json: line 1 column 4: "));
  REQUIRE_THROWS_WITH(parse("\"tab\there\""), StartsWith("test.json: line 1 column 5: ") && Contains("control character"));
  REQUIRE_THROWS_WITH(parse("[1, 1e999]"), StartsWith("test.json: line 1 column ") && Contains("overflow") &&
                                               Contains("1e999"));
  // Nothing past RFC 8259: no comments, NaN, trailing commas, single quotes, bad UTF-8.
  for (const char* bad : {"// comment\n1", "/* c */ 1", "NaN", "-Infinity", "[1,]", "{\"a\": 1,}", "'a'", "01",
                          "\"\xFF\"", "\"\xC0\xAF\"", "\"\xED\xA0\x80\"", "\"\\ud83d\"", "[1] [2]"}) {
    INFO(bad);
    const std::string message = parse_error(bad);
    REQUIRE_THAT(message, StartsWith("test.json: line "));
    REQUIRE_THAT(message, !Contains("json.exception"));  // nlohmann's prefix is not shown
  }
  REQUIRE_THAT(parse_error("\"\xFF\""), Contains("UTF-8"));
}

TEST_CASE("json objects with a duplicate key are refused, at any depth", "[json]") {
  REQUIRE_THROWS_WITH(parse(R"({"k": 1, "k": 2})"), "test.json: line 1 column 12: duplicate key \"k\" in an object");
  REQUIRE_THROWS_WITH(parse("{\"a\": {\n\"x\": [], \"x\": {}}}"), StartsWith("test.json: line 2 column 12: duplicate key \"x\""));
  REQUIRE_THROWS_WITH(parse(R"([{"a": 1}, {"b": 1, "b": 1}])"), Contains("duplicate key \"b\""));
  // The same key in different objects, or as a value, is fine.
  const Json ok = parse(R"({"a": {"a": "a"}, "b": [{"a": 1}, {"a": 2}]})");
  REQUIRE(ok["b"][1]["a"] == 2);
}

TEST_CASE("json nesting deeper than json_max_depth is an error, not a stack overflow", "[json]") {
  const std::string deepest_allowed = std::string(json_max_depth, '[') + std::string(json_max_depth, ']');
  REQUIRE(parse(deepest_allowed).is_array());
  const std::string too_deep = std::string(json_max_depth + 1, '[') + std::string(json_max_depth + 1, ']');
  REQUIRE_THROWS_WITH(parse(too_deep), "test.json: line 1 column 101: arrays and objects nested deeper than 100 levels");
  std::string deep_objects;
  for (int i = 0; i <= json_max_depth; ++i) deep_objects += "{\"k\":";
  REQUIRE_THROWS_WITH(parse(deep_objects + "1" + std::string(json_max_depth + 1, '}')), Contains("nested deeper"));
  REQUIRE_THROWS_WITH(parse(std::string(1'000'000, '[')), Contains("nested deeper than 100"));
}

TEST_CASE("dump_json refuses what JSON cannot hold instead of writing null", "[json]") {
  Json report = {{"policies", {{"full", {{"speedup", 1.0}}}, {"branchy", {{"speedup", 1.0}}}}}};
  report["policies"]["branchy"]["speedup"] = std::numeric_limits<double>::infinity();
  REQUIRE_THROWS_WITH(dump_json(report), "cannot write a NaN or infinity in JSON (at /policies/branchy/speedup)");
  REQUIRE_THROWS_WITH(dump_json(Json::array({1.0, std::nan("")}), 2), Contains("(at [1])"));
  REQUIRE_THROWS_WITH(dump_json(std::nan("")), Contains("(at the top)"));
  REQUIRE_THROWS_WITH(dump_json(std::string("ok \xFF")), StartsWith("cannot write a JSON string that is not valid UTF-8"));
  REQUIRE_THROWS_WITH(dump_json({{"names", {"a", "\xC3"}}}), StartsWith("cannot write a JSON string that is not valid UTF-8"));
}

TEST_CASE("json typed getters name the key and the types", "[json]") {
  const Json doc = parse(R"({"epochs": 10, "rate": 2.5, "name": "x", "big": 1e20, "list": [1], "whole": 1E2,
                             "huge": 18446744073709551615, "low": -9007199254740992})");
  REQUIRE(json_int(doc, "epochs") == 10);
  REQUIRE(json_int(doc, "whole") == 100);
  REQUIRE(json_int(doc, "low") == -9007199254740992LL);
  REQUIRE(json_double(doc, "rate") == 2.5);
  REQUIRE(json_double(doc, "epochs") == 10.0);
  REQUIRE(json_string(doc, "name") == "x");
  REQUIRE(&json_member(doc, "list") == &doc["list"]);

  REQUIRE_THROWS_WITH(json_int(doc, "batch"), "missing key \"batch\"");
  REQUIRE_THROWS_WITH(json_member(doc, "batch"), "missing key \"batch\"");
  REQUIRE_THROWS_WITH(json_string(doc, "epochs"), "key \"epochs\": expected a string, got a number");
  REQUIRE_THROWS_WITH(json_int(doc, "rate"), "key \"rate\": expected an integer, got the number 2.5");
  REQUIRE_THROWS_WITH(json_int(doc, "big"), "key \"big\": expected an integer, got the number 1e+20");
  REQUIRE_THROWS_WITH(json_int(doc, "huge"), StartsWith("key \"huge\": expected an integer, got the number 18446744073709551615"));
  REQUIRE_THROWS_WITH(json_double(doc, "list"), "key \"list\": expected a number, got an array");
  REQUIRE_THROWS_WITH(json_int(doc["list"], "x"), "expected an object, got an array");
  REQUIRE_THROWS_WITH(json_int(doc["name"]), "expected an integer, got a string");
  REQUIRE_THROWS_WITH(json_string(Json()), "expected a string, got null");

  REQUIRE(json_int(doc, "batch", 64) == 64);
  REQUIRE(json_int(doc, "epochs", 64) == 10);
  REQUIRE(json_string(doc, "optimizer", "adam") == "adam");
  REQUIRE(json_double(doc, "rate", 1.0) == 2.5);
  REQUIRE_THROWS_WITH(json_int(doc, "name", 3), "key \"name\": expected an integer, got a string");
  REQUIRE_THROWS_WITH(json_string(Json::array(), "k", ""), "expected an object, got an array");
}
