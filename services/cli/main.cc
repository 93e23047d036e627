// tartanctl: command-line tools for Tartan. One CLI::App (CLI11) with a sub-command per tool:
// `tartanctl --help` (or `tartanctl help`) lists the commands, `tartanctl <command> --help`
// prints that command's options and exits 0 without doing anything else.
#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "services/cli/commands.h"

namespace tartan::cli {

int Fail(std::string_view command, std::string_view message) {
  std::fprintf(stderr, "tartanctl %.*s: %.*s\n", static_cast<int>(command.size()), command.data(),
               static_cast<int>(message.size()), message.data());
  return 1;
}

int Fail(std::string_view command, const absl::Status& status) {
  const absl::string_view message = status.message();  // not std::string_view in this abseil
  return Fail(command, std::string_view(message.data(), message.size()));
}

namespace {

// Usage errors name the command being parsed and point at its help.
std::string UsageErrorMessage(const CLI::App* tartanctl, const CLI::Error& error) {
  std::string command = "tartanctl";
  for (const CLI::App* sub : tartanctl->get_subcommands()) command += " " + sub->get_name();
  return command + ": " + error.what() + "\nRun '" + command + " --help' for its options.\n";
}

int Main(int argc, char** argv) {
  CLI::App tartanctl("tartanctl: command-line tools for Tartan.", "tartanctl");
  tartanctl.set_help_flag("-h,--help", "print this help and exit");
  tartanctl.get_formatter()->column_width(32);
  tartanctl.failure_message(&UsageErrorMessage);
  tartanctl.require_subcommand(1);

  // The command table: add a line (and a <name>_command.cc file) per command.
  const std::vector<Command> commands = {
      AddEncodeCommand(tartanctl),     AddMakeTestModelCommand(tartanctl),
      AddIngestCommand(tartanctl),     AddSearchCommand(tartanctl),
      AddDeleteCommand(tartanctl),     AddStatusCommand(tartanctl),
      AddEvalCommand(tartanctl),       AddImportPlaidCommand(tartanctl),
      AddTrainCodecCommand(tartanctl),
  };
  std::string help_topic;
  CLI::App* help = tartanctl.add_subcommand("help", "list the commands, or print one's options");
  help->add_option("command", help_topic, "the command to describe");
  // After the commands: they would inherit it.
  tartanctl.footer("Run 'tartanctl <command> --help' for a command's options.");
  // Taken before parsing: once a sub-command is parsed, help() describes that one instead.
  const std::string usage = tartanctl.help();

  if (argc < 2) {
    std::fputs(usage.c_str(), stderr);
    return 2;
  }
  // A first word that names no command: say so rather than CLI11's "a subcommand is required".
  const std::string first = argv[1];
  if (!first.starts_with("-") &&
      tartanctl.get_subcommands([&](const CLI::App* sub) { return sub->check_name(first); })
          .empty()) {
    std::fprintf(stderr, "tartanctl: unknown command \"%s\"\n\n%s", first.c_str(), usage.c_str());
    return 2;
  }
  try {
    tartanctl.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0 (CLI11 prints it to stdout); every other parse error is a usage error.
    return tartanctl.exit(e) == 0 ? 0 : 2;
  }
  if (help->parsed()) {
    if (help_topic.empty()) {
      std::fputs(usage.c_str(), stdout);
      return 0;
    }
    for (const Command& c : commands) {
      if (c.app->check_name(help_topic)) {
        std::fputs(c.app->help("tartanctl").c_str(), stdout);
        return 0;
      }
    }
    std::fprintf(stderr, "tartanctl help: unknown command \"%s\"\n", help_topic.c_str());
    return 2;
  }
  for (const Command& c : commands) {
    if (c.app->parsed()) return c.run();
  }
  return 2;  // unreachable: require_subcommand(1)
}

}  // namespace
}  // namespace tartan::cli

int main(int argc, char** argv) { return tartan::cli::Main(argc, argv); }
