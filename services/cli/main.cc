// tartanctl: command-line tools for Tartan (encode, make-test-model, ...).
// Usage: tartanctl <command> [flags]; `tartanctl help` lists the commands.
#include <cstdio>
#include <cstring>
#include <iterator>

#include "services/cli/commands.h"

namespace tartan::cli {
namespace {

// The command table: add a row (and a <name>_command.cc file) per command.
constexpr Command kCommands[] = {
    {"encode", "encode JSON lines {\"text\": ...} from stdin into ColBERT token vectors",
     &RunEncode},
    {"make-test-model", "write a random-weight ColBERT checkpoint in PyLate folder layout",
     &RunMakeTestModel},
    {"ingest", "stream JSON lines or a BEIR corpus into the cluster (resumable)", &RunIngest},
    {"search", "search the cluster with a text query", &RunSearch},
    {"delete", "delete documents by id", &RunDelete},
    {"status", "cluster status: encoder, shards, documents", &RunStatus},
    {"eval", "nDCG@10 / recall@100 / MRR@10 / latency of a BEIR folder's queries", &RunEval},
};

void PrintHelp(FILE* out) {
  std::fprintf(out, "usage: tartanctl <command> [flags]   (tartanctl <command> --help)\n\n");
  std::fprintf(out, "commands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-18s %s\n", c.name, c.help);
}

}  // namespace
}  // namespace tartan::cli

int main(int argc, char** argv) {
  using tartan::cli::kCommands;
  if (argc < 2) {
    tartan::cli::PrintHelp(stderr);
    return 2;
  }
  const char* name = argv[1];
  if (std::strcmp(name, "help") == 0 || std::strcmp(name, "--help") == 0 ||
      std::strcmp(name, "-h") == 0) {
    tartan::cli::PrintHelp(stdout);
    return 0;
  }
  for (const auto& command : kCommands) {
    if (std::strcmp(command.name, name) == 0) return command.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "tartanctl: unknown command \"%s\"\n\n", name);
  tartan::cli::PrintHelp(stderr);
  return 2;
}
