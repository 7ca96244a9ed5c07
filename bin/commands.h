// commands.h — branchy's subcommands; each returns the process exit status.
#pragma once

namespace branchy {

int command_train(int argc, char** argv);
int command_eval(int argc, char** argv);
int command_infer(int argc, char** argv);
int command_info(int argc, char** argv);
int command_calibrate(int argc, char** argv);

}  // namespace branchy
