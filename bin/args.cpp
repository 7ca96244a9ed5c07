#include "bin/args.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace branchy {

ArgParser::ArgParser(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void ArgParser::option(const std::string& name, const std::string& value_name, const std::string& default_value,
                       const std::string& help) {
  options_.push_back({name, value_name, default_value, help});
}

void ArgParser::flag(const std::string& name, const std::string& help) {
  Option o{name, "", "", help};
  o.is_flag = true;
  options_.push_back(o);
}

void ArgParser::positional(const std::string& name, const std::string& help, bool required) {
  Option o{name, "", "", help};
  o.positional = true;
  o.required = required;
  options_.push_back(o);
}

ArgParser::Option* ArgParser::find(const std::string& name) {
  for (Option& o : options_)
    if (!o.positional && o.name == name) return &o;
  return nullptr;
}

const ArgParser::Option& ArgParser::lookup(const std::string& name) const {
  for (const Option& o : options_)
    if (o.name == name) return o;
  fail("internal: command ", command_, " has no option ", name);
}

bool ArgParser::parse(int argc, char** argv) {
  size_t next_positional = 0;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    if (arg.size() > 2 && arg.rfind("--", 0) == 0) {
      std::string name = arg.substr(2), value;
      const size_t eq = name.find('=');
      const bool inline_value = eq != std::string::npos;
      if (inline_value) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      Option* o = find(name);
      if (!o) throw UsageError("unknown option --" + name);
      if (o->is_flag) {
        if (inline_value) throw UsageError("--" + name + " takes no value");
        o->value = "1";
      } else {
        if (!inline_value) {
          if (i + 1 >= argc) throw UsageError("--" + name + " needs a value (" + o->value_name + ")");
          value = argv[++i];
        }
        o->value = value;
      }
      o->given = true;
      continue;
    }
    // A positional argument.
    size_t seen = 0;
    Option* target = nullptr;
    for (Option& o : options_)
      if (o.positional && seen++ == next_positional) target = &o;
    if (!target) throw UsageError("unexpected argument '" + arg + "'");
    target->value = arg;
    target->given = true;
    ++next_positional;
  }
  for (const Option& o : options_)
    if (o.positional && o.required && !o.given) throw UsageError("missing " + o.name);
  return true;
}

std::string ArgParser::get(const std::string& name) const { return lookup(name).value; }

bool ArgParser::given(const std::string& name) const { return lookup(name).given; }

int ArgParser::get_int(const std::string& name) const {
  const std::string& text = lookup(name).value;
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE || value < -2147483647L || value > 2147483647L)
    throw UsageError("--" + name + " wants an integer, got '" + text + "'");
  return static_cast<int>(value);
}

double ArgParser::get_double(const std::string& name) const {
  const std::string& text = lookup(name).value;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value))
    throw UsageError("--" + name + " wants a number, got '" + text + "'");
  return value;
}

std::vector<std::string> ArgParser::get_list(const std::string& name) const {
  std::vector<std::string> items;
  const std::string& text = lookup(name).value;
  size_t start = 0;
  while (start <= text.size() && !text.empty()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) items.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return items;
}

std::string ArgParser::help() const {
  std::string s = "usage: branchy " + command_;
  for (const Option& o : options_)
    if (o.positional) s += o.required ? " " + o.name : " [" + o.name + "]";
  s += " [options]\n\n" + summary_ + "\n\n";
  for (const Option& o : options_) {
    std::string left = o.positional ? "  " + o.name : "  --" + o.name + (o.is_flag ? "" : " " + o.value_name);
    if (left.size() < 28) left.resize(28, ' ');
    else left += "\n" + std::string(28, ' ');
    s += left + o.help;
    if (!o.is_flag && !o.positional && !o.value.empty()) s += " (default " + o.value + ")";
    s += "\n";
  }
  return s;
}

}  // namespace branchy
