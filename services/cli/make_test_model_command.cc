// tartanctl make-test-model: writes a random-weight ColBERT checkpoint in PyLate folder layout
// (see services/encoder/lib/colbert/synthetic_checkpoint.h).
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "services/cli/commands.h"
#include "services/encoder/lib/colbert/model_folder.h"
#include "services/encoder/lib/colbert/synthetic_checkpoint.h"

namespace tartan::cli {
namespace {

// The default tokenizer folder for an architecture, searched in the usual data locations.
std::string DefaultVocabFrom(const std::string& arch) {
  const std::string name = arch == "bert" ? "answerai-colbert-small-v1" : "modernbert-tokenizer";
  std::vector<std::string> roots;
  if (const char* d = std::getenv("TARTAN_DATA_DIR"); d && *d) roots.push_back(d);
  if (const char* s = std::getenv("TARTAN_SHARED_DIR"); s && *s) {
    roots.push_back(encoder::JoinPath(s, "data"));
  }
  roots.push_back("../shared/data");
  for (const std::string& root : roots) {
    const std::string dir = encoder::JoinPath(root, name);
    if (encoder::FileExists(encoder::JoinPath(dir, "tokenizer.json"))) return dir;
  }
  return "";
}

struct MakeTestModelOptions {
  std::string arch = "modernbert";
  std::string out;
  std::string shape;       // empty: "tiny", or "lexical" with --lexical
  std::string vocab_from;  // empty: DefaultVocabFrom(arch)
  uint64_t seed = 0;
  bool lexical = false;
  // Overrides of the shape's values, applied when given (count() > 0).
  struct Override {
    const char* flag;
    const char* help;
    int lo;
    int value = 0;
    CLI::Option* option = nullptr;
  };
  Override layers{"--layers", "override the shape's layer count", 1};
  Override hidden{"--hidden", "override the hidden size", 2};
  Override heads{"--heads", "override the attention head count", 1};
  Override intermediate{"--intermediate", "override the MLP size", 1};
  Override dim{"--dim", "ColBERT vector size (Dense out_features)", 1};
  Override local_attention{"--local-attention", "ModernBERT local window (full width)", 2};
  Override global_every{"--global-every", "ModernBERT: every N-th layer is global", 1};
  Override query_length{"--query-length", "query_length (default 32)", 3};
  Override document_length{"--document-length", "document_length (default 180; 300 with --lexical)",
                           3};
};

int RunMakeTestModel(MakeTestModelOptions& o) {
  auto fail = [](const absl::Status& status) { return Fail("make-test-model", status); };
  const std::string shape = !o.shape.empty() ? o.shape : o.lexical ? "lexical" : "tiny";
  auto spec = encoder::SyntheticCheckpointPreset(o.arch, shape);
  if (!spec.ok()) return fail(spec.status());
  spec->lexical = spec->lexical || o.lexical;
  if (o.lexical) spec->document_length = 300;
  const std::pair<MakeTestModelOptions::Override*, int*> overrides[] = {
      {&o.layers, &spec->shape.layers},
      {&o.hidden, &spec->shape.hidden},
      {&o.heads, &spec->shape.heads},
      {&o.intermediate, &spec->shape.intermediate},
      {&o.dim, &spec->dim},
      {&o.local_attention, &spec->shape.local_attention},
      {&o.global_every, &spec->shape.global_every},
      {&o.query_length, &spec->query_length},
      {&o.document_length, &spec->document_length},
  };
  for (const auto& [override, target] : overrides) {
    if (override->option->count() > 0) *target = override->value;
  }
  spec->seed = o.seed;
  spec->vocab_from = !o.vocab_from.empty() ? o.vocab_from : DefaultVocabFrom(o.arch);
  if (spec->vocab_from.empty()) {
    return fail(absl::NotFoundError(
        "no tokenizer folder found; pass --vocab-from DIR or set TARTAN_DATA_DIR"));
  }
  if (absl::Status s = encoder::WriteSyntheticCheckpoint(o.out, *spec); !s.ok()) return fail(s);
  std::fprintf(stderr,
               "wrote %s: %s hidden %d, %d layers, %d heads, dim %d, query/document length "
               "%d/%d%s\n",
               o.out.c_str(), o.arch.c_str(), spec->shape.hidden, spec->shape.layers,
               spec->shape.heads, spec->dim, spec->query_length, spec->document_length,
               spec->lexical ? ", lexical" : "");
  return 0;
}

}  // namespace

Command AddMakeTestModelCommand(CLI::App& tartanctl) {
  auto o = std::make_shared<MakeTestModelOptions>();
  CLI::App* cmd = tartanctl.add_subcommand(
      "make-test-model",
      "write a random-weight ColBERT checkpoint in PyLate folder layout (with a real tokenizer)");
  cmd->add_option("--out", o->out, "output folder")->required()->type_name("DIR");
  cmd->add_option("--arch", o->arch, "backbone architecture")
      ->check(CLI::IsMember({"modernbert", "bert"}))
      ->capture_default_str();
  cmd->add_option("--shape", o->shape,
                  "tiny | modernbert-base | ettin-32m | ettin-17m | lexical (modernbert); tiny | "
                  "bert-small | lexical (bert). Default: tiny, or lexical with --lexical")
      ->type_name("NAME");
  for (MakeTestModelOptions::Override* v :
       {&o->layers, &o->hidden, &o->heads, &o->intermediate, &o->dim, &o->local_attention,
        &o->global_every, &o->query_length, &o->document_length}) {
    v->option = cmd->add_option(v->flag, v->value, v->help)
                    ->type_name("N")
                    ->check(CLI::Range(v->lo, 1 << 20).description(""));
  }
  cmd->add_option("--vocab-from", o->vocab_from,
                  "tokenizer folder (default: <data>/modernbert-tokenizer or "
                  "<data>/answerai-colbert-small-v1; <data> = $TARTAN_DATA_DIR, "
                  "$TARTAN_SHARED_DIR/data or ../shared/data)")
      ->type_name("DIR");
  cmd->add_option("--seed", o->seed, "random seed")
      ->type_name("N")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 62).description(""))
      ->capture_default_str();
  cmd->add_flag("--lexical", o->lexical,
                "zero attention/MLP output projections: each token's vector is its own "
                "embedding, so MaxSim is term matching");
  return {cmd, [o] { return RunMakeTestModel(*o); }};
}

}  // namespace tartan::cli
