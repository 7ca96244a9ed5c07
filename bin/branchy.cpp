// branchy — the command-line program. Subcommands are added as the engine grows.
#include <cstdio>
#include <cstring>
#include <string>

int main(int argc, char** argv) {
  const char* usage = "usage: branchy COMMAND [options]\n  commands: (none yet: see README.md)\n";
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(usage, stdout);
    return argc < 2 ? 2 : 0;
  }
  std::fprintf(stderr, "branchy: unknown command '%s'\n%s", argv[1], usage);
  return 2;
}
