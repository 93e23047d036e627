// tartanctl make-test-model: writes a random-weight ColBERT checkpoint in PyLate folder layout
// (see services/encoder/lib/colbert/test_model.h).
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/cli/args.h"
#include "services/cli/commands.h"
#include "services/encoder/lib/colbert/model_folder.h"
#include "services/encoder/lib/colbert/test_model.h"

namespace tartan::cli {
namespace {

const std::vector<FlagSpec>& MakeTestModelFlags() {
  static const std::vector<FlagSpec> kFlags = {
      {"arch", "modernbert|bert", "backbone architecture (default modernbert)"},
      {"out", "DIR", "output folder (required)"},
      {"shape", "NAME",
       "tiny | modernbert-base | ettin-32m | ettin-17m | lexical (modernbert); tiny | "
       "bert-small | lexical (bert). Default: tiny, or lexical with --lexical"},
      {"layers", "N", "override the shape's layer count"},
      {"hidden", "N", "override the hidden size"},
      {"heads", "N", "override the attention head count"},
      {"intermediate", "N", "override the MLP size"},
      {"dim", "N", "ColBERT vector size (Dense out_features)"},
      {"local-attention", "N", "ModernBERT local window (full width)"},
      {"global-every", "N", "ModernBERT: every N-th layer is global"},
      {"query-length", "N", "query_length (default 32)"},
      {"document-length", "N", "document_length (default 180; 300 with --lexical)"},
      {"vocab-from", "DIR",
       "tokenizer folder (default: <data>/modernbert-tokenizer or "
       "<data>/answerai-colbert-small-v1; <data> = $TARTAN_DATA_DIR, $TARTAN_SHARED_DIR/data "
       "or ../shared/data)"},
      {"seed", "N", "random seed (default 0)"},
      {"lexical", nullptr,
       "zero attention/MLP output projections: each token's vector is its own embedding, so "
       "MaxSim is term matching"},
      {"help", nullptr, "show this help"},
  };
  return kFlags;
}

constexpr char kSynopsis[] = "--out DIR [--arch modernbert|bert] [--shape NAME] [flags]";

// The default tokenizer folder for an architecture, searched in the usual data locations.
std::string DefaultVocabFrom(const std::string& arch) {
  const std::string name =
      arch == "bert" ? "answerai-colbert-small-v1" : "modernbert-tokenizer";
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

}  // namespace

int RunMakeTestModel(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, MakeTestModelFlags());
  if (!args.ok()) {
    std::fprintf(stderr, "tartanctl make-test-model: %s\n\n%s",
                 std::string(args.status().message()).c_str(),
                 Usage("make-test-model", kSynopsis, MakeTestModelFlags()).c_str());
    return 2;
  }
  if (args->Has("help")) {
    std::fputs(Usage("make-test-model", kSynopsis, MakeTestModelFlags()).c_str(), stdout);
    return 0;
  }
  auto fail = [](const absl::Status& status) {
    std::fprintf(stderr, "tartanctl make-test-model: %s\n",
                 std::string(status.message()).c_str());
    return 1;
  };
  const auto out = args->Get("out");
  if (!out) return fail(absl::InvalidArgumentError("--out DIR is required"));
  const std::string arch = args->GetOr("arch", "modernbert");
  const bool lexical = args->Has("lexical");
  const std::string shape = args->GetOr("shape", lexical ? "lexical" : "tiny");
  auto spec = encoder::TestModelPreset(arch, shape);
  if (!spec.ok()) return fail(spec.status());
  spec->lexical = spec->lexical || lexical;
  if (lexical && !args->Has("document-length")) spec->document_length = 300;

  struct IntFlag {
    const char* name;
    int* target;
    long long lo;
  };
  const IntFlag int_flags[] = {
      {"layers", &spec->shape.layers, 1},
      {"hidden", &spec->shape.hidden, 2},
      {"heads", &spec->shape.heads, 1},
      {"intermediate", &spec->shape.intermediate, 1},
      {"dim", &spec->dim, 1},
      {"local-attention", &spec->shape.local_attention, 2},
      {"global-every", &spec->shape.global_every, 1},
      {"query-length", &spec->query_length, 3},
      {"document-length", &spec->document_length, 3},
  };
  for (const IntFlag& f : int_flags) {
    auto v = args->GetInt(f.name, *f.target, f.lo, 1 << 20);
    if (!v.ok()) return fail(v.status());
    *f.target = static_cast<int>(*v);
  }
  auto seed = args->GetInt("seed", 0, 0, (1LL << 62));
  if (!seed.ok()) return fail(seed.status());
  spec->seed = static_cast<uint64_t>(*seed);
  spec->vocab_from = args->GetOr("vocab-from", DefaultVocabFrom(arch));
  if (spec->vocab_from.empty()) {
    return fail(absl::NotFoundError(
        "no tokenizer folder found; pass --vocab-from DIR or set TARTAN_DATA_DIR"));
  }
  if (absl::Status s = encoder::WriteTestModel(*out, *spec); !s.ok()) return fail(s);
  std::fprintf(stderr,
               "wrote %s: %s hidden %d, %d layers, %d heads, dim %d, query/document length "
               "%d/%d%s\n",
               out->c_str(), arch.c_str(), spec->shape.hidden, spec->shape.layers,
               spec->shape.heads, spec->dim, spec->query_length, spec->document_length,
               spec->lexical ? ", lexical" : "");
  return 0;
}

}  // namespace tartan::cli
