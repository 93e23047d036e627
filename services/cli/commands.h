// tartanctl sub-commands. Each command lives in its own <name>_command.cc (the cluster clients
// search/delete/status share cluster_commands.cc) and is listed once in main.cc. An
// Add<Name>Command function declares the command and its options on the tartanctl CLI::App
// (CLI11 parses the command line and prints the per-command --help); the returned `run` does
// the work with the parsed values and returns the process exit status.
//
// Exit status: 0 success, 1 the command failed, 2 a usage error (unknown or missing option,
// bad value; reported by CLI11 before `run` is called).
#pragma once

#include <functional>
#include <string_view>

#include "absl/status/status.h"

namespace CLI {
class App;
}

namespace tartan::cli {

struct Command {
  CLI::App* app;             // the sub-command, owned by the parent CLI::App
  std::function<int()> run;  // called once, after a successful parse selected `app`
};

Command AddEncodeCommand(CLI::App& tartanctl);         // encode_command.cc
Command AddMakeTestModelCommand(CLI::App& tartanctl);  // make_test_model_command.cc
Command AddImportPlaidCommand(CLI::App& tartanctl);    // import_plaid_command.cc
Command AddTrainCodecCommand(CLI::App& tartanctl);     // train_codec_command.cc
// Cluster clients (talk to tartan-router).
Command AddIngestCommand(CLI::App& tartanctl);  // ingest_command.cc
Command AddSearchCommand(CLI::App& tartanctl);  // cluster_commands.cc
Command AddDeleteCommand(CLI::App& tartanctl);  // cluster_commands.cc
Command AddStatusCommand(CLI::App& tartanctl);  // cluster_commands.cc
Command AddEvalCommand(CLI::App& tartanctl);    // eval_command.cc

// Prints "tartanctl <command>: <message>" on stderr and returns 1.
int Fail(std::string_view command, std::string_view message);
int Fail(std::string_view command, const absl::Status& status);

}  // namespace tartan::cli
