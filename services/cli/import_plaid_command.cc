// tartanctl import-plaid: imports a PLAID index directory (stanford ColBERT / fast-plaid /
// pylate-rs layout) into an index shard directory, offline: the shard is opened in this
// process (index::Shard::Open), the PLAID index becomes one compressed segment, and the shard
// is closed. A shard has a single writer and nothing locks its directory, so tartan-indexer
// must not be running on it; start (or restart) the indexer afterwards to serve the documents.
#include <cstdio>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "services/cli/commands.h"
#include "services/indexer/lib/npy.h"
#include "services/indexer/lib/shard.h"

namespace tartan::cli {
namespace {

struct ImportPlaidOptions {
  std::string index_dir;
  std::string plaid_dir;
  std::string id_prefix;
  int dim = 0;  // 0: the PLAID index's
  int nbits = 4;
};

// The vector size of a PLAID index: the width of centroids.npy [num_centroids, dim].
absl::StatusOr<int> PlaidDim(const std::string& plaid_dir) {
  const std::string path = plaid_dir + "/centroids.npy";
  absl::StatusOr<index::NpyArray> centroids = index::ReadNpy(path);
  if (!centroids.ok()) return centroids.status();
  if (centroids->shape.size() != 2) {
    return absl::DataLossError(absl::StrCat(path, " is not a 2-D [centroids, dim] array"));
  }
  return static_cast<int>(centroids->shape[1]);
}

int RunImportPlaid(const ImportPlaidOptions& o) {
  auto fail = [](const absl::Status& status) { return Fail("import-plaid", status); };
  // Check the dimension before Open, which would create a new shard with the wrong one.
  absl::StatusOr<int> plaid_dim = PlaidDim(o.plaid_dir);
  if (!plaid_dim.ok()) return fail(plaid_dim.status());
  if (o.dim != 0 && o.dim != *plaid_dim) {
    return fail(absl::InvalidArgumentError(absl::StrCat("--dim ", o.dim, " but the PLAID index ",
                                                        o.plaid_dir, " has dim ", *plaid_dim)));
  }
  index::ShardOptions options;
  options.data_dir = o.index_dir;
  options.dim = *plaid_dim;
  options.nbits = o.nbits;
  options.background_compaction = false;  // one import, then close: no maintenance thread
  absl::StatusOr<std::unique_ptr<index::Shard>> shard = index::Shard::Open(options);
  if (!shard.ok()) return fail(shard.status());
  absl::StatusOr<int> imported = (*shard)->ImportPlaidIndex(o.plaid_dir, o.id_prefix);
  if (!imported.ok()) {
    (*shard)->Close().IgnoreError();  // the import's error is the one to report
    return fail(imported.status());
  }
  const uint64_t documents = (*shard)->Stats().documents;
  if (absl::Status closed = (*shard)->Close(); !closed.ok()) return fail(closed);
  std::printf("imported %d documents from %s into %s (the shard now holds %llu documents)\n",
              *imported, o.plaid_dir.c_str(), o.index_dir.c_str(),
              static_cast<unsigned long long>(documents));
  return 0;
}

}  // namespace

Command AddImportPlaidCommand(CLI::App& tartanctl) {
  auto o = std::make_shared<ImportPlaidOptions>();
  CLI::App* cmd = tartanctl.add_subcommand(
      "import-plaid",
      "import a PLAID index into an index shard directory (offline: stop the indexer first)");
  cmd->footer(
      "Imports a stanford ColBERT / fast-plaid / pylate-rs PLAID index as one compressed segment "
      "of the shard in --index-dir, then closes the shard. tartan-indexer must NOT be running "
      "on that directory: a shard has a single writer and nothing locks the directory. Start "
      "the indexer on it afterwards to serve the documents. Document ids are the id prefix + "
      "the passage number; documents with the same ids are replaced.");
  // Both spellings: tartanctl's own (--index-dir) and tartan-indexer's flag (--index_dir).
  cmd->add_option("--index-dir,--index_dir", o->index_dir,
                  "the shard's data directory (tartan-indexer --index_dir); created if missing")
      ->required()
      ->type_name("DIR");
  cmd->add_option("--plaid-dir,--plaid_dir", o->plaid_dir,
                  "PLAID index directory (metadata.json, centroids.npy, <i>.codes.npy, ...)")
      ->required()
      ->type_name("DIR");
  cmd->add_option("--id-prefix,--id_prefix", o->id_prefix,
                  "prefix of the document ids (default none: ids are \"0\", \"1\", ...)")
      ->type_name("P");
  cmd->add_option("--dim", o->dim,
                  "the shard's vector size; must match the PLAID index (default: the index's)")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--nbits", o->nbits,
                  "residual bits of the segments the shard builds later (flush, compaction); "
                  "the imported segment keeps the PLAID index's")
      ->type_name("N")
      ->check(CLI::IsMember({1, 2, 4}))
      ->capture_default_str();
  return {cmd, [o] { return RunImportPlaid(*o); }};
}

}  // namespace tartan::cli
