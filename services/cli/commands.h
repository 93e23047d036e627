// tartanctl sub-commands. Each command lives in its own <name>_command.cc and is listed once in
// the table in main.cc. A command receives argv with argv[0] = the command name and returns
// the process exit status.
#pragma once

namespace tartan::cli {

struct Command {
  const char* name;
  const char* help;  // one line, shown by `tartanctl help`
  int (*run)(int argc, char** argv);
};

int RunEncode(int argc, char** argv);         // encode_command.cc
int RunMakeTestModel(int argc, char** argv);  // make_test_model_command.cc
// Cluster clients (talk to tartan-router).
int RunIngest(int argc, char** argv);  // ingest_command.cc
int RunSearch(int argc, char** argv);  // cluster_commands.cc
int RunDelete(int argc, char** argv);  // cluster_commands.cc
int RunStatus(int argc, char** argv);  // cluster_commands.cc
int RunEval(int argc, char** argv);    // eval_command.cc

}  // namespace tartan::cli
