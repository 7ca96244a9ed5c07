// branchy — the command-line program: `branchy COMMAND [options]`
// (the commands and exit statuses: bin/cli.h).
#include <cstdio>

#include "bin/cli.h"

int main(int argc, char** argv) { return branchy::run_command_line(argc, argv, stdout, stderr); }
