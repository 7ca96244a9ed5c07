// cli.h — branchy's command line, `branchy COMMAND [options]`, through CLI11.
//
// Every option is declared once in cli.cpp with its type, range and help;
// --help is generated from those declarations. Exit status:
//   0  success, and --help
//   1  a failure at run time (unreadable file, diverged training)
//   2  a usage error (unknown command or option, bad or missing value),
//      reported as one line on `err` that names the command:
//        branchy eval: unknown option --bogus (see: branchy eval --help)
#pragma once

#include <cstdio>

namespace branchy {

// Parses argv (argv[0] is the program's name) and runs the chosen command.
// Help goes to `out`, usage and run-time errors to `err`; the command's own
// report goes to stdout.
int run_command_line(int argc, const char* const* argv, std::FILE* out, std::FILE* err);

// Parses argv as run_command_line does, reporting usage errors the same way,
// but runs no command: 0 when the command line is valid (the fuzz target of
// the parser calls this).
int check_command_line(int argc, const char* const* argv, std::FILE* out, std::FILE* err);

// The largest --threads accepted: 4 x the number of cores.
int max_threads();

}  // namespace branchy
