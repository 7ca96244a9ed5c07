// branchy — the command-line program: `branchy COMMAND [options]`.
//
// Exit status: 0 success, 1 a failure at run time (bad file, diverged
// training), 2 a usage error (unknown command or flag, bad value).
#include <cstdio>
#include <cstring>
#include <string>

#include "bin/args.h"
#include "bin/commands.h"

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int, char**);
};

const Command commands[] = {
    {"train", "train a network (any of: branchy train --help)", branchy::command_train},
    {"eval", "evaluate a model on a dataset split", branchy::command_eval},
    {"infer", "classify one image file or one dataset sample", branchy::command_infer},
    {"calibrate", "choose entropy thresholds on the validation split", branchy::command_calibrate},
    {"info", "print a model's network, parameters and MACs per layer", branchy::command_info},
};

void print_usage(FILE* out) {
  std::fputs("usage: branchy COMMAND [options]   (branchy COMMAND --help for its options)\n\ncommands:\n", out);
  for (const Command& c : commands) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  for (const Command& c : commands) {
    if (name != c.name) continue;
    try {
      return c.run(argc - 2, argv + 2);
    } catch (const branchy::UsageError& e) {
      std::fprintf(stderr, "branchy %s: %s (see: branchy %s --help)\n", c.name, e.what(), c.name);
      return 2;
    } catch (const branchy::Error& e) {
      std::fprintf(stderr, "branchy %s: error: %s\n", c.name, e.what());
      return 1;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "branchy %s: error: out of memory\n", c.name);
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "branchy %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "branchy: unknown command '%s'\n", name.c_str());
  print_usage(stderr);
  return 2;
}
