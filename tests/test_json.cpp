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

Json parse(std::string_view text) { return Json::parse(text, "test.json"); }

}  // namespace

TEST_CASE("json parses every kind of value and keeps object order", "[json]") {
  const Json doc = parse(R"( {"net": "b-lenet", "epochs": 10, "lr": 1e-3, "nesterov": true,
                             "dropout": null, "widths": [5, 10, 20], "z": {}, "a": []} )");
  REQUIRE(doc.is_object());
  REQUIRE(doc.size() == 8);
  REQUIRE(doc.get_string("net") == "b-lenet");
  REQUIRE(doc.get_int("epochs") == 10);
  REQUIRE(doc.get_double("lr") == 0.001);
  REQUIRE(doc.get_bool("nesterov"));
  REQUIRE(doc.at("dropout").is_null());
  REQUIRE(doc.at("widths").at(2).as_int() == 20);
  REQUIRE(doc.at("z").is_object());
  REQUIRE(doc.at("a").elements().empty());
  // Insertion order, not sorted order.
  std::string keys;
  for (const auto& [key, value] : doc.items()) keys += key + ",";
  REQUIRE(keys == "net,epochs,lr,nesterov,dropout,widths,z,a,");
  REQUIRE(doc.dump() ==
          R"({"net":"b-lenet","epochs":10,"lr":0.001,"nesterov":true,"dropout":null,"widths":[5,10,20],"z":{},"a":[]})");
  REQUIRE(parse(doc.dump()) == doc);
  REQUIRE(parse(doc.dump(2)) == doc);
}

TEST_CASE("json pretty printing puts one member per line", "[json]") {
  Json doc = Json::object();
  doc.set("name", "x");
  doc.set("dims", Json::array({Json(1), Json(2)}));
  doc.set("empty", Json::array());
  doc.set("name", "y");  // replaces in place, keeps the position
  REQUIRE(doc.dump(2) == "{\n  \"name\": \"y\",\n  \"dims\": [\n    1,\n    2\n  ],\n  \"empty\": []\n}");
  REQUIRE(doc.dump() == R"({"name":"y","dims":[1,2],"empty":[]})");
}

TEST_CASE("json numbers follow the grammar and round-trip exactly", "[json]") {
  REQUIRE(parse("-0.5e+3").as_double() == -500.0);
  REQUIRE(parse("0").as_int() == 0);
  REQUIRE(parse("1E2").as_int() == 100);
  REQUIRE(parse("-9007199254740992").as_int() == -9007199254740992LL);
  REQUIRE(std::signbit(parse("-0").as_double()));

  REQUIRE(Json(3.0).dump() == "3");
  REQUIRE(Json(-42).dump() == "-42");
  REQUIRE(Json(0.1).dump() == "0.1");
  REQUIRE(Json(-0.0).dump() == "-0");
  const double awkward[] = {0.1, 1.0 / 3.0, 1e300, -2.5e-308, 4.9e-324, 9007199254740994.0,
                            1e20, 123456.789, std::numeric_limits<double>::max()};
  for (double x : awkward) {
    INFO(Json(x).dump());
    REQUIRE(parse(Json(x).dump()).as_double() == x);
  }

  for (const char* bad : {"01", "1.", ".5", "-", "1e", "1e+", "+1", "0x10", "NaN", "Infinity", "-Infinity"}) {
    INFO(bad);
    REQUIRE_THROWS_AS(parse(bad), Error);
  }
  REQUIRE_THROWS_WITH(parse("[1, 1e999]"), StartsWith("test.json: line 1 column 5: the number 1e999 is out"));
  REQUIRE_THROWS_WITH(parse("01"), Contains("leading zero"));
  REQUIRE_THROWS_WITH(Json(std::nan("")).dump(), Contains("NaN or infinity"));
  REQUIRE_THROWS_AS(Json(std::numeric_limits<double>::infinity()).dump(), Error);
}

TEST_CASE("json strings: escapes, \\u escapes with surrogate pairs, UTF-8", "[json]") {
  REQUIRE(parse(R"("\"\\\/\b\f\n\r\t")").as_string() == "\"\\/\b\f\n\r\t");
  // A, e-acute (2 bytes), euro sign (3 bytes), grinning face U+1F600 (a surrogate pair, 4 bytes).
  REQUIRE(parse(R"("\u0041\u00e9\u20AC\ud83d\ude00")").as_string() == "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  REQUIRE(parse("\"raw \xC3\xA9 \xF0\x9F\x98\x80\"").as_string() == "raw \xC3\xA9 \xF0\x9F\x98\x80");
  REQUIRE(parse(R"("nul\u0000byte")").as_string() == std::string("nul\0byte", 8));

  const std::string tricky = std::string("quote \" backslash \\ newline \n tab \t bell \x07 nul ") + '\0' +
                             " unicode \xE2\x86\x92 \xF0\x9F\x98\x80";
  const std::string written = Json(tricky).dump();
  REQUIRE(written.find('\n') == std::string::npos);
  REQUIRE(written.find("\\u0007") != std::string::npos);
  REQUIRE(written.find("\\u0000") != std::string::npos);
  REQUIRE(parse(written).as_string() == tricky);

  REQUIRE_THROWS_WITH(parse(R"("\ud83d")"), Contains("not followed by a low surrogate"));
  REQUIRE_THROWS_WITH(parse(R"("\ud83d\u0041")"), Contains("not followed by a low surrogate"));
  REQUIRE_THROWS_WITH(parse(R"("\ude00")"), Contains("unpaired low surrogate"));
  REQUIRE_THROWS_WITH(parse(R"("\u12G4")"), Contains("expected 4 hex digits"));
  REQUIRE_THROWS_WITH(parse("\"tab\there\""), StartsWith("test.json: line 1 column 5: control character"));
  REQUIRE_THROWS_WITH(parse("\"\xFF\""), Contains("invalid UTF-8"));
  REQUIRE_THROWS_WITH(parse("\"\xC0\xAF\""), Contains("invalid UTF-8"));      // overlong '/'
  REQUIRE_THROWS_WITH(parse("\"\xED\xA0\x80\""), Contains("invalid UTF-8"));  // encoded surrogate
  REQUIRE_THROWS_WITH(parse("\"\xE2\x82\""), Contains("invalid UTF-8"));      // cut short
  REQUIRE_THROWS_WITH(Json(std::string("\xFF")).dump(), Contains("not valid UTF-8"));
}

TEST_CASE("json errors name the source, line and column and what was expected", "[json]") {
  REQUIRE_THROWS_WITH(parse("{\n  \"a\": [1, 2,]\n}"), StartsWith("test.json: line 2 column 14: expected a value"));
  REQUIRE_THROWS_WITH(parse(R"({"a": "abc)"), StartsWith("test.json: line 1 column 7: unterminated string"));
  REQUIRE_THROWS_WITH(parse(R"(["\x"])"), StartsWith("test.json: line 1 column 4: bad escape"));
  REQUIRE_THROWS_WITH(parse("{} x"), StartsWith("test.json: line 1 column 4: expected the end of the input after the value, got 'x'"));
  REQUIRE_THROWS_WITH(parse(""), Contains("expected a value (null, true, false, a number, a string, '[' or '{'), "
                                          "got the end of the input"));
  REQUIRE_THROWS_WITH(parse("[1 2]"), StartsWith("test.json: line 1 column 4: expected ',' or ']' in an array"));
  REQUIRE_THROWS_WITH(parse(R"({"a" 1})"), Contains("expected ':' after the key \"a\""));
  REQUIRE_THROWS_WITH(parse(R"({"a": 1,})"), Contains("column 9: expected a string key"));
  REQUIRE_THROWS_WITH(parse(R"({a: 1})"), Contains("expected a string key in an object, got 'a'"));
  REQUIRE_THROWS_WITH(parse(R"({"a": 1 "b": 2})"), Contains("expected ',' or '}' in an object"));
  REQUIRE_THROWS_WITH(parse(R"({"k": 1, "k": 2})"), StartsWith("test.json: line 1 column 10: duplicate key \"k\""));
  REQUIRE_THROWS_WITH(parse("nul"), Contains("expected 'null'"));
  REQUIRE_THROWS_WITH(parse("// comment\n1"), StartsWith("test.json: line 1 column 1:"));

  const std::string deepest_allowed = std::string(Json::max_depth, '[') + std::string(Json::max_depth, ']');
  REQUIRE(parse(deepest_allowed).is_array());
  const std::string too_deep = std::string(Json::max_depth + 1, '[') + std::string(Json::max_depth + 1, ']');
  REQUIRE_THROWS_WITH(parse(too_deep), Contains("column 101: arrays and objects nested deeper than 100"));
}

TEST_CASE("json typed accessors name the key and the types", "[json]") {
  const Json doc = parse(R"({"epochs": 10, "rate": 2.5, "name": "x", "big": 1e20, "list": [1]})");
  REQUIRE_THROWS_WITH(doc.get_int("batch"), "missing key \"batch\"");
  REQUIRE_THROWS_WITH(doc.at("batch"), "missing key \"batch\"");
  REQUIRE_THROWS_WITH(doc.get_string("epochs"), "key \"epochs\": expected a string, got a number");
  REQUIRE_THROWS_WITH(doc.get_int("rate"), "key \"rate\": expected an integer, got the number 2.5");
  REQUIRE_THROWS_WITH(doc.get_int("big"), "key \"big\": expected an integer, got the number 1e+20");
  REQUIRE_THROWS_WITH(doc.get_bool("name"), "key \"name\": expected a boolean, got a string");
  REQUIRE_THROWS_WITH(doc.get_double("list"), "key \"list\": expected a number, got an array");
  REQUIRE_THROWS_WITH(doc.at("list").at(1), Contains("index 1 out of range for an array of 1"));
  REQUIRE_THROWS_WITH(doc.at("list").items(), "expected an object, got an array");
  REQUIRE_THROWS_WITH(doc.at("name").at("x"), "expected an object, got a string");

  REQUIRE(doc.contains("rate"));
  REQUIRE_FALSE(doc.contains("batch"));
  REQUIRE(doc.get_int("batch", 64) == 64);
  REQUIRE(doc.get_int("epochs", 64) == 10);
  REQUIRE(doc.get_string("optimizer", "adam") == "adam");
  REQUIRE(doc.get_double("rate", 1.0) == 2.5);
  REQUIRE_FALSE(doc.get_bool("verbose", false));
  REQUIRE_THROWS_WITH(doc.get_int("name", 3), "key \"name\": expected an integer, got a string");

  Json list = Json::array();
  list.push_back(1);
  list.push_back("two");
  REQUIRE(list.dump() == R"([1,"two"])");
  REQUIRE_THROWS_AS(Json(1).push_back(2), Error);
  REQUIRE_THROWS_AS(Json(1).set("a", 2), Error);
  REQUIRE(Json(1) != Json("1"));
  REQUIRE(parse(R"({"a":1,"b":2})") != parse(R"({"b":2,"a":1})"));  // order matters
}
