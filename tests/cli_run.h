// cli_run.h — runs `branchy ARGS...` in-process, capturing its exit status,
// stdout (the `out` stream the parser prints help to) and stderr.
#pragma once

#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "bin/cli.h"

namespace branchy::testing {

// What one `branchy ...` run gave.
struct Outcome {
  int status = -1;
  std::string out, err;
};

inline std::string read_all(std::FILE* file) {
  std::string text;
  std::rewind(file);
  char buffer[4096];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, file)) > 0;) text.append(buffer, n);
  std::fclose(file);
  return text;
}

inline Outcome branchy_run(std::vector<std::string> args) {
  args.insert(args.begin(), "branchy");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  std::FILE* out = std::tmpfile();
  std::FILE* err = std::tmpfile();
  REQUIRE(out);
  REQUIRE(err);
  Outcome o;
  o.status = run_command_line(static_cast<int>(argv.size()), argv.data(), out, err);
  o.out = read_all(out);
  o.err = read_all(err);
  return o;
}

// A usage error: status 2 and exactly one line on stderr, naming the command.
inline void require_usage_error(const Outcome& o, const std::string& command, const std::string& mentions) {
  INFO("stderr: " << o.err);
  REQUIRE(o.status == 2);
  REQUIRE(o.err.find('\n') == o.err.size() - 1);
  REQUIRE(o.err.rfind("branchy " + command + ": ", 0) == 0);
  REQUIRE(o.err.find(mentions) != std::string::npos);
  REQUIRE(o.err.find("(see: branchy " + command + " --help)") != std::string::npos);
}

}  // namespace branchy::testing
