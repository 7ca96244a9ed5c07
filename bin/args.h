// args.h — command-line flags for branchy's subcommands.
//
// Each subcommand declares its options (with defaults and help) and
// positionals, then parse() fills them. An unknown flag, a missing value or
// a value of the wrong type throws UsageError: main prints one line and the
// command's --help hint, and exits with status 2.
#pragma once

#include <string>
#include <vector>

#include "engine/error.h"

namespace branchy {

class UsageError : public Error {
 public:
  using Error::Error;
};

class ArgParser {
 public:
  ArgParser(std::string command, std::string summary);

  // --name VALUE (or --name=VALUE), with a default shown in --help.
  void option(const std::string& name, const std::string& value_name, const std::string& default_value,
              const std::string& help);
  // --name, a switch.
  void flag(const std::string& name, const std::string& help);
  void positional(const std::string& name, const std::string& help, bool required = true);

  // Returns false when --help was asked for (help already printed).
  bool parse(int argc, char** argv);

  std::string get(const std::string& name) const;
  bool given(const std::string& name) const;  // set on the command line
  bool is_set(const std::string& name) const { return given(name); }
  int get_int(const std::string& name) const;
  double get_double(const std::string& name) const;
  std::vector<std::string> get_list(const std::string& name) const;  // comma separated
  std::string help() const;

 private:
  struct Option {
    std::string name, value_name, value, help;
    bool is_flag = false, positional = false, required = false, given = false;
  };
  Option* find(const std::string& name);
  const Option& lookup(const std::string& name) const;
  std::string command_, summary_;
  std::vector<Option> options_;
};

}  // namespace branchy
